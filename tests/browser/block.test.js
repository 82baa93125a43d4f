// The block's script alone (shared/assets/nsauth-block.js) against a fake server side
// (fake-server.js): every WebSocket frame, polling, reconnects, the push button, the
// callback, the footer and the phone layout. Needs no local stack.
"use strict";

const { test, before, after, beforeEach } = require("node:test");
const assert = require("node:assert/strict");
const h = require("./helpers");
const { FakeServer, SERVERID, HSID, TOKEN } = require("./fake-server");

let browser;
let fake;

const frame = (type, ...rest) => [type, HSID, SERVERID, ...rest].join(" ");
const status = (page) => page.textContent(".nsauth-block .nsauth-status").then((t) => t.trim());
const state = (page) => page.evaluate(() => window.nsauthBlock._state(document.querySelector(".nsauth-block")));

before(async () => {
  browser = await h.launch();
}, { timeout: 90_000 });

after(() => h.closeBrowser(browser), { timeout: 60_000 });

beforeEach(async () => {
  if (fake) {
    await fake.stop();
  }
  fake = await new FakeServer().start();
}, { timeout: 20_000 });

after(async () => {
  if (fake) {
    await fake.stop();
  }
}, { timeout: 20_000 });

async function openPage(options = {}, contextOptions = {}) {
  const ctx = await h.newContext(browser, contextOptions);
  await ctx.page.goto(fake.url(options));
  return ctx;
}

test("registers over the WebSocket and follows scan, match and deny", { timeout: 30_000 }, async () => {
  const { context, page, rec } = await openPage();
  try {
    await fake.waitForFrame(`REGISTER ${HSID} ${SERVERID}`);
    assert.equal(await page.getAttribute(".nsauth-block", "data-transport"), "ws");
    assert.equal(await state(page), "pending");
    assert.equal(await status(page), "Scan the code with your authenticator app.");
    const globals = await page.evaluate(() => Object.keys(window.nsauthBlock).sort());
    assert.deepEqual(globals, ["_qrCode", "_state", "version"]);

    // Frames of another session are ignored.
    fake.send(`CONFIRMSCAN AAAAAAAAAAAAAAAAAAAAAA ${SERVERID}`);
    fake.send(frame("CONFIRMSCAN"));
    await page.waitForSelector(".nsauth-block .nsauth-qr", { state: "hidden" });
    assert.equal(await status(page), "Code scanned - confirm on your phone.");
    assert.equal(await state(page), "scanned");

    fake.send(frame("MATCH", "42"));
    await page.waitForSelector(".nsauth-block .nsauth-match-number:text('42')", { state: "visible" });
    await h.screenshot(page, "block-match");

    fake.send(frame("CANCEL"));
    await page.waitForSelector(".nsauth-block .nsauth-retry", { state: "visible" });
    assert.equal(await status(page), "Login denied on the phone.");
    assert.equal(await state(page), "cancelled");
    assert.equal(await page.isHidden(".nsauth-block .nsauth-match"), true);
    await h.screenshot(page, "block-cancelled");

    const loads = fake.pageLoads;
    await Promise.all([page.waitForNavigation(), page.click(".nsauth-block .nsauth-retry")]);
    assert.equal(fake.pageLoads, loads + 1, "retry reloads the page");
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});

test("LOGIN reloads the page; a block ignores a late LOGOUT", { timeout: 30_000 }, async () => {
  const { context, page, rec } = await openPage();
  try {
    await fake.waitForFrame(`REGISTER ${HSID} ${SERVERID}`);
    fake.send(frame("LOGOUT"));
    await page.waitForTimeout(300);
    assert.equal(await state(page), "pending");
    const loads = fake.pageLoads;
    await Promise.all([page.waitForNavigation(), fake.send(frame("LOGIN"))]);
    assert.equal(fake.pageLoads, loads + 1);
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});

test("LOGIN calls the data-callback function with the hsid instead of reloading", { timeout: 30_000 }, async () => {
  const { context, page, rec } = await openPage({ callback: "onNsauthLogin" });
  try {
    await fake.waitForFrame(`REGISTER ${HSID} ${SERVERID}`);
    const loads = fake.pageLoads;
    fake.send(frame("LOGIN"));
    await page.waitForFunction(() => window.loginCalls.length === 1);
    assert.deepEqual(await page.evaluate(() => window.loginCalls), [HSID]);
    assert.equal(await status(page), "Logged in.");
    assert.equal(await state(page), "loggedin");
    await page.waitForTimeout(300);
    assert.equal(fake.pageLoads, loads, "no reload");
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});

test("EXPIRED hides the QR code and offers a retry; NOACCOUNTS says so", { timeout: 30_000 }, async () => {
  const { context, page, rec } = await openPage();
  try {
    await fake.waitForFrame(`REGISTER ${HSID} ${SERVERID}`);
    fake.send(frame("NOACCOUNTS"));
    await page.waitForFunction(
      () => document.querySelector(".nsauth-status").textContent === "Your phone has no account for this site yet."
    );
    fake.send(frame("EXPIRED"));
    await page.waitForSelector(".nsauth-block .nsauth-retry", { state: "visible" });
    assert.equal(await status(page), "The code has expired.");
    assert.equal(await page.isHidden(".nsauth-block .nsauth-qr"), true);
    assert.equal(await state(page), "expired");
    await h.screenshot(page, "block-expired");
    // A final state closes the WebSocket: nothing more to wait for.
    await fake.waitFor((s) => s.sockets.size === 0, "the socket to close");
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});

test("once data-expires has passed the block asks again over the WebSocket and shows the expiry", { timeout: 30_000 }, async () => {
  const expires = Math.floor(Date.now() / 1000) + 2;
  const { context, page, rec } = await openPage({ expires });
  try {
    const register = `REGISTER ${HSID} ${SERVERID}`;
    await fake.waitForFrame(register);
    // Pending: REGISTER gets no answer. After the expiry (+1 s) the block registers again.
    await fake.waitForFrame(register, 2, 6000);
    assert.ok(Date.now() >= expires * 1000, "not before the expiry");
    fake.send(frame("EXPIRED"));
    await page.waitForSelector(".nsauth-block .nsauth-retry", { state: "visible" });
    assert.equal(await status(page), "The code has expired.");
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});

test("push button: shown on CANPROVOKE, sends PROVOKE, shows ERROR messages and the request", { timeout: 30_000 }, async () => {
  const { context, page, rec } = await openPage();
  try {
    await fake.waitForFrame(`REGISTER ${HSID} ${SERVERID}`);
    assert.equal(await page.isHidden(".nsauth-block .nsauth-push"), true);
    fake.send(frame("CANPROVOKE"));
    await page.waitForSelector(".nsauth-block .nsauth-push", { state: "visible" });
    await h.screenshot(page, "block-push-button");
    await page.click(".nsauth-block .nsauth-push");
    await fake.waitForFrame(`PROVOKE ${HSID} ${SERVERID} ${TOKEN}`);
    assert.equal(await page.isDisabled(".nsauth-block .nsauth-push"), true, "disabled for a moment");
    fake.send("ERROR push_rate_limited Too many login requests: try again in 10 minutes.");
    await page.waitForFunction(
      () => document.querySelector(".nsauth-status").textContent === "Too many login requests: try again in 10 minutes."
    );
    assert.equal(await page.getAttribute(".nsauth-block", "data-error"), "push_rate_limited");
    assert.equal(await page.isEnabled(".nsauth-block .nsauth-push"), true, "usable again after an error");
    await h.screenshot(page, "block-push-error");
    await page.click(".nsauth-block .nsauth-push");
    await fake.waitForFrame(`PROVOKE ${HSID} ${SERVERID} ${TOKEN}`, 2);
    fake.send(frame("CONFIRMPROVOKE"));
    fake.send(frame("MATCH", "07"));
    await page.waitForSelector(".nsauth-block .nsauth-match-number:text('07')", { state: "visible" });
    assert.equal(await status(page), "Request sent - check your phone.");
    assert.equal(await page.getAttribute(".nsauth-block", "data-error"), null);
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});

test("data-canprovoke shows the push button once the WebSocket is open; not while polling", { timeout: 30_000 }, async () => {
  const { context, page, rec } = await openPage({ canprovoke: "true", match: "31" });
  try {
    await page.waitForSelector(".nsauth-block .nsauth-push", { state: "visible" });
    assert.equal((await page.textContent(".nsauth-block .nsauth-match-number")).trim(), "31");
    await context.close();
    const polled = await openPage({ canprovoke: "true", ws: "" });
    await polled.page.waitForSelector('.nsauth-block[data-transport="poll"]');
    await polled.page.waitForTimeout(300);
    assert.equal(await polled.page.isHidden(".nsauth-block .nsauth-push"), true);
    h.assertNoErrors(rec);
    h.assertNoErrors(polled.rec);
    await polled.context.close();
  } finally {
    await context.close();
  }
});

test("reconnects after the server drops the WebSocket and registers again", { timeout: 30_000 }, async () => {
  const { context, page, rec } = await openPage();
  try {
    await fake.waitForFrame(`REGISTER ${HSID} ${SERVERID}`);
    const t0 = Date.now();
    fake.dropSockets();
    await fake.waitForFrame(`REGISTER ${HSID} ${SERVERID}`, 2);
    const took = Date.now() - t0;
    assert.ok(took >= 500 && took < 5000, `reconnected after ${took} ms (about 1 s)`);
    fake.send(frame("CONFIRMSCAN"));
    await page.waitForSelector(".nsauth-block .nsauth-qr", { state: "hidden" });
    assert.equal(fake.statusRequests, 0);
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});

test("falls back to polling after 3 failed connections; polls every 2 s and stops at a final state", { timeout: 40_000 }, async () => {
  const { context, page, rec } = await openPage({}, { blockWebSocket: true });
  try {
    const t0 = Date.now();
    await page.waitForSelector('.nsauth-block[data-transport="poll"]', { timeout: 15_000 });
    const took = Date.now() - t0;
    assert.ok(took > 1000 && took < 5000, `switched to polling after ${took} ms (1 s + 2 s of backoff)`);
    await fake.waitFor((s) => s.statusRequests >= 1, "a first poll");
    const n0 = fake.statusRequests;
    await page.waitForTimeout(4500);
    const polls = fake.statusRequests - n0;
    assert.ok(polls >= 2 && polls <= 3, `${polls} polls in 4.5 s`);
    fake.status = { state: "scanned", canprovoke: false, match: "55" };
    await page.waitForSelector(".nsauth-block .nsauth-qr", { state: "hidden", timeout: 5000 });
    await page.waitForSelector(".nsauth-block .nsauth-match-number:text('55')", { state: "visible" });
    assert.equal(await status(page), "Code scanned - confirm on your phone.");
    fake.status = { state: "cancelled", canprovoke: false };
    await page.waitForSelector(".nsauth-block .nsauth-retry", { state: "visible", timeout: 5000 });
    const n1 = fake.statusRequests;
    await page.waitForTimeout(4500);
    assert.equal(fake.statusRequests, n1, "no polling after a final state");
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});

test("polling backs off to 10 s after an error, then logs in", { timeout: 40_000 }, async () => {
  const { context, page, rec } = await openPage({ ws: "", callback: "onNsauthLogin" });
  try {
    await fake.waitFor((s) => s.statusRequests >= 1, "a first poll");
    fake.statusCode = 503;
    await fake.waitFor((s) => s.statusRequests >= 2, "a failing poll", 5000);
    const n = fake.statusRequests;
    fake.statusCode = 200;
    await page.waitForTimeout(6000);
    assert.equal(fake.statusRequests, n, "no poll within 6 s of an error");
    fake.status = { state: "loggedin", canprovoke: true };
    await page.waitForFunction(() => window.loginCalls.length === 1, null, { timeout: 10_000 });
    assert.equal(fake.statusRequests, n + 1);
    assert.equal(await status(page), "Logged in.");
    // The browser reports the failed fetch itself; the script logs no error of its own.
    h.assertNoErrors(rec, [/Failed to load resource: the server responded with a status of 503/]);
  } finally {
    await context.close();
  }
});

test("a footer reloads the page when its session is logged out (WebSocket and polling)", { timeout: 40_000 }, async () => {
  const { context, page, rec } = await openPage({ footer: "1" });
  try {
    await fake.waitForFrame(`REGISTER ${HSID} ${SERVERID}`);
    fake.send(frame("LOGIN"));
    fake.send(frame("CANPROVOKE"));
    await page.waitForTimeout(300);
    let loads = fake.pageLoads;
    assert.equal(await page.evaluate(() => window.nsauthBlock._state(document.querySelector(".nsauth-footer"))), "loggedin");
    await Promise.all([page.waitForNavigation(), fake.send(frame("LOGOUT"))]);
    assert.equal(fake.pageLoads, loads + 1);
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
  fake.status = { state: "loggedin", canprovoke: true };
  const polled = await openPage({ footer: "1", ws: "" });
  try {
    await fake.waitFor((s) => s.statusRequests >= 1, "a first poll");
    const loads = fake.pageLoads;
    // One poll answers loggedout; the reloaded page is logged in again for the fake (a
    // real website would show its login block), so it does not reload once more - a
    // second reload could still be starting when the context closes, which stalls
    // Chromium (see helpers.js newContext).
    fake.statusOnce = { state: "loggedout", canprovoke: true };
    await polled.page.waitForNavigation({ timeout: 10_000 });
    assert.equal(fake.pageLoads, loads + 1, "one reload");
    await polled.page.waitForLoadState("load");
    h.assertNoErrors(polled.rec);
  } finally {
    await polled.context.close();
  }
});

test("a footer asks again when its login's data-expires passes (session_lifetime) and reloads on LOGOUT", { timeout: 30_000 }, async () => {
  const expires = Math.floor(Date.now() / 1000) + 2;
  const { context, page, rec } = await openPage({ footer: "1", expires });
  try {
    const register = `REGISTER ${HSID} ${SERVERID}`;
    await fake.waitForFrame(register);
    // Logged in: REGISTER is answered with LOGIN, and nothing else happens until the end.
    fake.send(frame("LOGIN"));
    await fake.waitForFrame(register, 2, 6000);
    assert.ok(Date.now() >= expires * 1000, "not before the expiry");
    const loads = fake.pageLoads;
    // The server decides at read time that the login has ended and answers LOGOUT.
    await Promise.all([page.waitForNavigation(), fake.send(frame("LOGOUT"))]);
    assert.equal(fake.pageLoads, loads + 1, "the footer reloaded the page");
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});

test("a footer does not abort the page's own logout form with a reload", { timeout: 30_000 }, async () => {
  const { context, page, rec } = await openPage({ footer: "1" });
  try {
    await fake.waitForFrame(`REGISTER ${HSID} ${SERVERID}`);
    // The logout reaches the WebSocket while the form's answer is still on its way.
    fake.onLogoutPost = () => fake.send(frame("LOGOUT"));
    await page.click("form button.logout");
    await page.waitForURL(/after=logout/, { timeout: 10_000 });
    await page.waitForSelector(".nsauth-block .nsauth-qr svg");
    assert.equal(fake.logoutPosts, 1);
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});

test("on a phone the block offers to open the app (app link, else the login link)", { timeout: 30_000 }, async () => {
  const phone = {
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
    deviceScaleFactor: 2,
    userAgent:
      "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36",
  };
  const { context, page, rec } = await openPage({ canprovoke: "true" }, phone);
  try {
    await page.waitForSelector(".nsauth-block .nsauth-open-app", { state: "visible" });
    const href = await page.getAttribute(".nsauth-block .nsauth-open-app", "href");
    assert.match(href, /^nsauth:\/\/login\/.+\?return=/);
    await page.waitForSelector(".nsauth-block .nsauth-push", { state: "visible" });
    fake.send(frame("MATCH", "86"));
    await page.waitForSelector(".nsauth-block .nsauth-match-number:text('86')", { state: "visible" });
    const box = await page.$eval(".nsauth-block .nsauth-push", (b) => b.getBoundingClientRect().height);
    assert.ok(box >= 44, `tap target ${box} px high`);
    await h.screenshot(page, "block-phone");
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
  const noApp = await openPage({ applink: "" }, phone);
  try {
    await noApp.page.waitForSelector(".nsauth-block .nsauth-open-app", { state: "visible" });
    assert.equal(
      await noApp.page.getAttribute(".nsauth-block .nsauth-open-app", "href"),
      `nsauth://login/${SERVERID}/${HSID}`
    );
    h.assertNoErrors(noApp.rec);
  } finally {
    await noApp.context.close();
  }
  const desktop = await openPage();
  try {
    await fake.waitForFrame(`REGISTER ${HSID} ${SERVERID}`, 3);
    assert.equal(await desktop.page.isHidden(".nsauth-block .nsauth-open-app"), true, "not on a desktop");
  } finally {
    await desktop.context.close();
  }
});

// ---------------------------------------------------------------------------
// v2.2: REGISTER is answered with LOGIN or LOGOUT first; TXSTATUS frames; the enrolment
// block.

const TID = "oMq6h_iXjjAWw1CR3fzlBAABAgMEBQYHCAkKCwwNDg8";
const footerState = (page) => page.evaluate(() => window.nsauthBlock._state(document.querySelector(".nsauth-footer")));

test("a footer of a logged-in page (data-loggedin=true) takes the LOGIN answer in its stride, reports TXSTATUS as nsauth:transaction and reloads on LOGOUT", { timeout: 30_000 }, async () => {
  const { context, page, rec } = await openPage({ footer: "1", loggedin: "true" });
  try {
    await fake.waitForFrame(`REGISTER ${HSID} ${SERVERID}`);
    const loads = fake.pageLoads;
    fake.send(frame("LOGIN"));
    fake.send(frame("CANPROVOKE"));
    // A transaction of the session: created, then approved; repeats and frames of another
    // session or malformed ones are not reported.
    fake.send(frame("TXSTATUS", TID, "0"));
    fake.send(frame("TXSTATUS", TID, "0"));
    fake.send(`TXSTATUS AAAAAAAAAAAAAAAAAAAAAA ${SERVERID} ${TID} 1`);
    fake.send(frame("TXSTATUS", "short", "1"));
    fake.send(frame("TXSTATUS", TID, "7"));
    fake.send(frame("TXSTATUS", TID, "1"));
    await page.waitForFunction(() => window.txEvents.length >= 2);
    await page.waitForTimeout(300);
    assert.deepEqual(await page.evaluate(() => window.txEvents), [
      { hsid: HSID, serverid: SERVERID, tid: TID, tstatus: "0", state: "new" },
      { hsid: HSID, serverid: SERVERID, tid: TID, tstatus: "1", state: "approved" },
    ]);
    assert.equal(await footerState(page), "loggedin");
    assert.equal(fake.pageLoads, loads, "no reload on LOGIN, CANPROVOKE or TXSTATUS");
    await Promise.all([page.waitForNavigation(), fake.send(frame("LOGOUT"))]);
    assert.equal(fake.pageLoads, loads + 1, "LOGOUT reloads the logged-in page");
    await page.waitForLoadState("load");
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});

test("a footer of a page not logged in (data-loggedin=false) watches nothing: no WebSocket, no polling, no reload", { timeout: 30_000 }, async () => {
  const { context, page, rec } = await openPage({ footer: "1", loggedin: "false" });
  try {
    await page.waitForFunction(() => document.querySelector(".nsauth-footer").getAttribute("data-nsauth-started") === "1");
    await page.waitForTimeout(1500);
    assert.equal(rec.sockets, 0, "no WebSocket");
    assert.equal(fake.statusRequests, 0, "no polling");
    assert.equal(await footerState(page), "loggedout");
    assert.equal(fake.pageLoads, 1);
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});

test("a login block: the LOGOUT answer to REGISTER changes nothing; TXSTATUS is reported, not shown", { timeout: 30_000 }, async () => {
  const { context, page, rec } = await openPage();
  try {
    await fake.waitForFrame(`REGISTER ${HSID} ${SERVERID}`);
    fake.send(frame("LOGOUT"));
    fake.send(frame("CANPROVOKE"));
    fake.send(frame("TXSTATUS", TID, "2"));
    await page.waitForSelector(".nsauth-block .nsauth-push", { state: "visible" });
    await page.waitForFunction(() => window.txEvents.length === 1);
    assert.equal((await page.evaluate(() => window.txEvents))[0].state, "declined");
    assert.equal(await state(page), "pending");
    assert.equal(await status(page), "Scan the code with your authenticator app.");
    assert.equal(await page.isVisible(".nsauth-block .nsauth-qr"), true);
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});

test("an enrolment block shows its QR code and the app link, ignores LOGOUT, and says enrolled on LOGIN (WebSocket and polling)", { timeout: 40_000 }, async () => {
  const enrolState = (page) => page.evaluate(() => window.nsauthBlock._state(document.querySelector(".nsauth-enrol")));
  const enrolStatus = (page) => page.textContent(".nsauth-enrol .nsauth-status").then((t) => t.trim());
  const { context, page, rec } = await openPage({ enrol: "1", callback: "onEnrolled" });
  try {
    await fake.waitForFrame(`REGISTER ${HSID} ${SERVERID}`);
    assert.equal(await page.getAttribute(".nsauth-enrol", "data-transport"), "ws");
    assert.equal(await page.isVisible(".nsauth-enrol .nsauth-qr svg"), true, "the QR code");
    assert.equal(await page.isVisible(".nsauth-enrol .nsauth-open-app"), true, "the app link, on a desktop too");
    assert.match(await page.getAttribute(".nsauth-enrol .nsauth-open-app", "href"), /^nsauth:\/\/enrol\//);
    assert.equal(await enrolStatus(page), "Scan the code with your authenticator app to add this website to it.");
    // The answer to REGISTER for a session not logged in, and a login attempt's frames.
    fake.send(frame("LOGOUT"));
    fake.send(frame("CONFIRMSCAN"));
    fake.send(frame("EXPIRED"));
    await page.waitForTimeout(300);
    assert.equal(await enrolState(page), "pending");
    assert.equal(await page.isVisible(".nsauth-enrol .nsauth-qr svg"), true);
    const loads = fake.pageLoads;
    fake.send(frame("LOGIN"));
    await page.waitForSelector(".nsauth-enrol[data-state='enrolled']");
    assert.equal(await enrolStatus(page), "Enrolled: your phone can log in now.");
    assert.equal(await page.isHidden(".nsauth-enrol .nsauth-qr"), true);
    assert.equal(await page.isHidden(".nsauth-enrol .nsauth-open-app"), true);
    assert.deepEqual(await page.evaluate(() => window.loginCalls), [HSID], "data-callback with the hsid");
    await h.screenshot(page, "enrol-block-enrolled");
    await page.waitForTimeout(300);
    assert.equal(fake.pageLoads, loads, "no reload");
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
  // Polling: the status endpoint's loggedin.
  fake.status = { state: "pending", canprovoke: false };
  const polled = await openPage({ enrol: "1", ws: "" });
  try {
    await fake.waitFor((s) => s.statusRequests >= 1, "a first poll");
    assert.equal(await enrolState(polled.page), "pending");
    fake.status = { state: "loggedin", canprovoke: true };
    await polled.page.waitForSelector(".nsauth-enrol[data-state='enrolled']", { timeout: 10_000 });
    const n = fake.statusRequests;
    await polled.page.waitForTimeout(2500);
    assert.equal(fake.statusRequests, n, "polling stops once enrolled");
    h.assertNoErrors(polled.rec);
  } finally {
    await polled.context.close();
  }
});

test("an enrolment block drawn for a logged-in session waits for ENROLLED, not LOGIN", { timeout: 30_000 }, async () => {
  const { context, page, rec } = await openPage({ enrol: "1", session: "loggedin" });
  try {
    await fake.waitForFrame(`REGISTER ${HSID} ${SERVERID}`);
    // REGISTER's answer for a logged-in session: LOGIN, which is not this enrolment.
    fake.send(frame("LOGIN"));
    fake.send(frame("CANPROVOKE"));
    await page.waitForTimeout(300);
    assert.equal(await page.getAttribute(".nsauth-enrol", "data-state"), "pending");
    assert.equal(await page.isVisible(".nsauth-enrol .nsauth-qr svg"), true);
    fake.send(frame("ENROLLED"));
    await page.waitForSelector(".nsauth-enrol[data-state='enrolled']");
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});

test("an enrolment block offers a retry once its data-expires has passed", { timeout: 30_000 }, async () => {
  const expires = Math.floor(Date.now() / 1000) + 1;
  const { context, page, rec } = await openPage({ enrol: "1", expires });
  try {
    await fake.waitForFrame(`REGISTER ${HSID} ${SERVERID}`);
    await page.waitForSelector(".nsauth-enrol[data-state='expired']", { timeout: 10_000 });
    assert.equal((await page.textContent(".nsauth-enrol .nsauth-status")).trim(), "The enrolment code has expired.");
    assert.equal(await page.isHidden(".nsauth-enrol .nsauth-qr"), true);
    await page.waitForSelector(".nsauth-enrol .nsauth-retry", { state: "visible" });
    const loads = fake.pageLoads;
    await Promise.all([page.waitForNavigation(), page.click(".nsauth-enrol .nsauth-retry")]);
    assert.equal(fake.pageLoads, loads + 1, "retry reloads the page");
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});
