// The demo website page of the local stack with the nsauth login block, end to end: a real
// browser, the real server, the reference authenticator as the phone. The tests run in
// order and share one phone (enrolled in the second test).
"use strict";

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const h = require("./helpers");

let browser;
const keyFile = h.tempKeyFile("login-phone");
// The context of the enrol test: its session has had a login (canprovoke), used again by
// the push test.
let enrolled;

before(async () => {
  browser = await h.launch();
}, { timeout: 90_000 });

after(() => h.closeBrowser(browser), { timeout: 60_000 });

test("the demo page shows the QR code and the status text", { timeout: 60_000 }, async () => {
  const { context, page, rec } = await h.newContext(browser);
  try {
    await h.openDemo(page);
    await page.waitForSelector(".nsauth-block .nsauth-qr svg", { state: "visible" });
    const status = (await page.textContent(".nsauth-block .nsauth-status")).trim();
    assert.equal(status, "Scan the code with your authenticator app.");
    const info = await h.blockInfo(page);
    assert.equal(info.state, "pending");
    assert.equal(info.serverid, h.env.serverid);
    assert.match(info.staticLink, new RegExp(`login/${h.env.serverid}/${info.hsid}$`));
    assert.match(info.link, new RegExp(`login/${h.env.serverid}/${info.hsid}\\?t=\\d+&m=[A-Za-z0-9_-]{22}$`), "the QR code rotates (qr_rotation block)");
    assert.equal(await page.isHidden(".nsauth-block .nsauth-retry"), true, "retry button hidden");
    assert.equal(await page.isHidden(".nsauth-block .nsauth-push"), true, "no push button on a new session");
    assert.equal(await page.isHidden(".nsauth-block .nsauth-open-app"), true, "no app button on a desktop");
    assert.equal(await page.isHidden(".nsauth-block .nsauth-match"), true, "no number to match");
    await h.waitTransport(page, "ws");
    await h.screenshot(page, "01-qr");
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});

test("enrolling a phone logs the page in through the WebSocket; the button logs out", { timeout: 60_000 }, async () => {
  const { context, page, rec } = await h.newContext(browser);
  enrolled = { context, page, rec };
  await h.openDemo(page);
  const link = (await page.textContent(".demo-enrol-link")).trim();
  assert.match(link, /enrol\//, "the demo page shows an enrolment link");
  await h.waitTransport(page, "ws");
  const out = await h.phone(keyFile, "enrol", link, "--push", "fcm:browser-test-token");
  assert.ok(out && out.accountid, `enrol answered ${JSON.stringify(out)}`);
  await page.waitForSelector(h.LOGGED_IN, { timeout: 15_000 });
  const text = await page.textContent("body");
  assert.match(text, new RegExp(`Logged in as demo-user \\(account ${out.accountid}\\)`));
  assert.ok(
    rec.frames.some((f) => f.dir === "in" && f.text.startsWith("LOGIN ")),
    "a LOGIN frame reached the page"
  );
  assert.equal(rec.statusRequests, 0, "no status polling while the WebSocket works");
  // The logged-in page carries the footer, which follows the session too.
  await page.waitForSelector(".nsauth-footer", { state: "attached" });
  await h.screenshot(page, "02-enrolled-logged-in");
  await h.logoutFromPage(page);
  assert.equal(await h.blockInfo(page).then((i) => i.state), "pending");
  await h.screenshot(page, "02-logged-out");
  h.assertNoErrors(rec);
});

test("approving the login link logs a new session in through the WebSocket", { timeout: 60_000 }, async () => {
  const { context, page, rec } = await h.newContext(browser);
  try {
    await h.openDemo(page);
    await h.waitTransport(page, "ws");
    const { link } = await h.blockInfo(page);
    await h.phone(keyFile, "approve", link);
    await page.waitForSelector(h.LOGGED_IN, { timeout: 15_000 });
    assert.ok(
      rec.frames.some((f) => f.dir === "in" && f.text.startsWith("LOGIN ")),
      "a LOGIN frame reached the page"
    );
    assert.equal(rec.statusRequests, 0, "no status polling while the WebSocket works");
    await h.screenshot(page, "03-approved-ws");
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});

test("with the WebSocket blocked the block polls and still logs in", { timeout: 90_000 }, async () => {
  const { context, page, rec } = await h.newContext(browser, { blockWebSocket: true });
  try {
    await h.openDemo(page);
    // Three failed connections (about 1 + 2 s of backoff) before polling.
    await h.waitTransport(page, "poll", 20_000);
    const { link } = await h.blockInfo(page);
    await h.phone(keyFile, "approve", link);
    await page.waitForSelector(h.LOGGED_IN, { timeout: 20_000 });
    assert.ok(rec.statusRequests > 0, "the block polled the status URL");
    assert.ok(!rec.frames.some((f) => f.dir === "in"), "no WebSocket frame reached the page");
    await h.screenshot(page, "04-approved-polling");
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});

test("push with number matching: the page shows the number the phone must pick", { timeout: 90_000 }, async () => {
  assert.ok(enrolled, "needs the enrol test's session");
  const { context, page, rec } = enrolled;
  try {
    // Logged in once and logged out: the block offers the push button.
    await h.waitTransport(page, "ws");
    await page.waitForSelector(".nsauth-block .nsauth-push", { state: "visible", timeout: 15_000 });
    const { hsid } = await h.blockInfo(page);
    await h.screenshot(page, "05-push-button");
    await page.click(".nsauth-block .nsauth-push");
    await page.waitForSelector(".nsauth-block .nsauth-match-number", { state: "visible", timeout: 15_000 });
    const number = (await page.textContent(".nsauth-block .nsauth-match-number")).trim();
    assert.match(number, /^\d{2}$/, "a two-digit number");
    await page.waitForFunction(
      () => document.querySelector(".nsauth-block .nsauth-status").textContent.includes("Request sent"),
      null,
      { timeout: 10_000 }
    );
    await h.screenshot(page, "05-push-match");
    const inbox = await h.phone(keyFile, "inbox");
    const pushes = (Array.isArray(inbox) ? inbox : []).filter((p) => p.hsid === hsid);
    assert.ok(pushes.length > 0, `the phone got the push for ${hsid}: ${JSON.stringify(inbox)}`);
    const push = pushes[pushes.length - 1];
    assert.ok(push.choices && push.choices.includes(number), `the phone offers ${number}: ${push.choices}`);
    await h.phone(keyFile, "approve", push.link, "--match", number);
    await page.waitForSelector(h.LOGGED_IN, { timeout: 15_000 });
    assert.ok(
      rec.frames.some((f) => f.dir === "in" && f.text.startsWith(`MATCH ${hsid} `)),
      "a MATCH frame reached the page"
    );
    await h.screenshot(page, "05-push-logged-in");
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});
