// The local demo as a first impression: the landing page (`/`) with the demo website, the
// phone simulator (`/phone`, the phone's side in the browser with WebCrypto keys) and the
// accounts page (`/admin`). Here the simulator is the only phone: no reference
// authenticator. The tests run in order; the second one's steps build on each other.
"use strict";

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const nodeCrypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const h = require("./helpers");

const VECTOR = JSON.parse(
  fs.readFileSync(path.join(__dirname, "..", "..", "shared", "testdata", "signing_vector.json"), "utf8")
);
const DESKTOP = { width: 1280, height: 800 };

let browser;

before(async () => {
  browser = await h.launch();
}, { timeout: 90_000 });

after(() => h.closeBrowser(browser), { timeout: 60_000 });

async function openLanding(page) {
  const res = await page.goto(`${h.env.base}/`, { waitUntil: "load" });
  assert.equal(res.status(), 200, "GET /");
}

async function openPhone(page, query = "") {
  const res = await page.goto(`${h.env.base}/phone${query}`, { waitUntil: "load" });
  assert.equal(res.status(), 200, "GET /phone");
  await page.waitForSelector('#phone[data-ready="true"]', { timeout: 15_000 });
}

// The website's logout button on `/`; back on the login block.
async function logoutOnSite(page) {
  await page.click('form[action="/logout"] button');
  await page.waitForSelector(".nsauth-block .nsauth-qr svg", { state: "visible", timeout: 15_000 });
  await page.waitForLoadState("load");
}

async function siteStatus(page) {
  return (await page.textContent(".nsauth-block .nsauth-status")).trim();
}

// Presses the block's push button and answers the number it shows.
async function pushFromSite(page) {
  await h.waitTransport(page, "ws");
  await page.waitForSelector(".nsauth-block .nsauth-push", { state: "visible", timeout: 15_000 });
  await page.click(".nsauth-block .nsauth-push");
  await page.waitForSelector(".nsauth-block .nsauth-match-number", { state: "visible", timeout: 15_000 });
  const number = (await page.textContent(".nsauth-block .nsauth-match-number")).trim();
  assert.match(number, /^\d{2}$/, "the website shows a two-digit number");
  return number;
}

test("the landing page explains what to do and shows the demo website with the login block", { timeout: 60_000 }, async () => {
  const { context, page, rec } = await h.newContext(browser, { viewport: DESKTOP });
  try {
    await openLanding(page);
    const steps = await page.$$eval("ol.steps li", (els) => els.map((e) => e.textContent.replace(/\s+/g, " ").trim()));
    assert.equal(steps.length, 3, "three steps");
    assert.match(steps[0], /^Open the phone simulator in another tab or window\.$/);
    assert.match(steps[1], /^Enrol it with the link below the login block \(or scan with a real app\)\.$/);
    assert.match(steps[2], /^Log in: approve on the phone\.$/);
    await page.waitForSelector(".nsauth-block .nsauth-qr svg", { state: "visible" });
    assert.equal(await siteStatus(page), "Scan the code with your authenticator app.");
    const info = await h.blockInfo(page);
    assert.equal(info.serverid, h.env.serverid);
    assert.equal(info.state, "pending");
    // The enrolment link below the block, its QR code and the way into the simulator.
    const link = (await page.textContent(".demo-enrol-link")).trim();
    assert.match(link, new RegExp(`^nsauth://enrol/${h.env.serverid}/[A-Za-z0-9_-]{22}\\?api=`));
    assert.ok(await page.isVisible(".demo-enrol-link"), "the enrolment link is shown");
    assert.ok(await page.isVisible(".enrol-qr svg"), "the enrolment QR code is shown");
    const open = await page.getAttribute("a.open-in-phone", "href");
    assert.equal(open, `/phone?link=${encodeURIComponent(link).replace(/[!'()*.~_-]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase())}`);
    // Links to the simulator and the accounts page.
    assert.ok((await page.$$('a[href="/phone"]')).length >= 1, "a link to /phone");
    assert.ok((await page.$$('a[href="/admin"]')).length >= 1, "a link to /admin");
    await h.waitTransport(page, "ws");
    await h.screenshot(page, "demo-landing");
    // /demo is still the demo website alone, in the same browser session.
    const res = await page.goto(`${h.env.base}/demo`, { waitUntil: "load" });
    assert.equal(res.status(), 200);
    assert.equal((await h.blockInfo(page)).hsid, info.hsid, "/ and /demo share the browser session");
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});

test("the simulator signs as docs/phone-protocol.md says: the committed vector checks out in the browser", { timeout: 60_000 }, async () => {
  const { context, page, rec } = await h.newContext(browser);
  try {
    await openPhone(page);
    const got = await page.evaluate(async (v) => {
      const P = window.nsauthPhone;
      const alg = { name: "ECDSA", namedCurve: "P-256" };
      const sig = { name: "ECDSA", hash: "SHA-256" };
      const key = await crypto.subtle.importKey("spki", P.b64urlDecode(v.publickey_spki_b64url), alg, true, ["verify"]);
      const cases = [];
      for (const c of v.cases) {
        const covered = {
          method: c.method, host: c.host, pathWithQuery: c.path_with_query,
          serverid: v.serverid, account: c.account, ts: c.ts, body: c.body,
        };
        const bytes = await P.canonical(covered);
        const other = await P.canonical({ ...covered, body: c.body + " " });
        const otherServer = await P.canonical({ ...covered, serverid: "BBECAwQFBgcICQoLDA0ODw" });
        const sigBytes = P.b64urlDecode(c.signature_b64url);
        cases.push({
          canonical: new TextDecoder().decode(bytes),
          verifies: await crypto.subtle.verify(sig, key, sigBytes, bytes),
          verifiesOtherBody: await crypto.subtle.verify(sig, key, sigBytes, other),
          verifiesOtherServer: await crypto.subtle.verify(sig, key, sigBytes, otherServer),
          authorization: P.authorization(v.serverid, c.account, c.ts, c.signature_b64url),
        });
      }
      // The page's own signing with a fresh key, as it signs its calls.
      const pair = await crypto.subtle.generateKey(alg, false, ["sign", "verify"]);
      const req = await P.signRequest(pair.privateKey, {
        serverid: v.serverid,
        account: "7",
        api: "http://127.0.0.1:9/stage/",
        method: "post",
        path: "/app/v1/sessions/5KvIv6Y0y8IgLQULP8ZR_Q/approve",
        body: '{"match":"42"}',
        ts: 1800000000,
      });
      const signed = new TextDecoder().decode(await P.canonical({
        method: req.method, host: req.host, pathWithQuery: req.pathWithQuery,
        serverid: v.serverid, account: "7", ts: req.ts, body: req.body,
      }));
      return {
        cases,
        req,
        signed,
        spki: P.b64url(await crypto.subtle.exportKey("spki", pair.publicKey)),
      };
    }, VECTOR);
    VECTOR.cases.forEach((c, i) => {
      assert.equal(got.cases[i].canonical, c.canonical, `canonical bytes of "${c.name}"`);
      assert.equal(got.cases[i].verifies, true, `WebCrypto verifies the vector's signature of "${c.name}"`);
      assert.equal(got.cases[i].verifiesOtherBody, false, `a changed body fails "${c.name}"`);
      assert.equal(got.cases[i].verifiesOtherServer, false, `another server fails "${c.name}"`);
      assert.equal(got.cases[i].authorization, c.authorization, `Authorization header of "${c.name}"`);
    });
    // The fresh signature: the path of the API base is signed, and Node (OpenSSL) verifies
    // the raw r||s signature over the canonical bytes.
    assert.equal(got.req.method, "POST");
    assert.equal(got.req.pathWithQuery, "/stage/app/v1/sessions/5KvIv6Y0y8IgLQULP8ZR_Q/approve");
    assert.equal(got.req.url, "http://127.0.0.1:9/stage/app/v1/sessions/5KvIv6Y0y8IgLQULP8ZR_Q/approve");
    const m = /^NSAuth-P256 server=AAECAwQFBgcICQoLDA0ODw,account=7,ts=1800000000,sig=([A-Za-z0-9_-]{86})$/.exec(got.req.authorization);
    assert.ok(m, `Authorization header: ${got.req.authorization}`);
    assert.equal(
      got.signed,
      VECTOR.cases[0].canonical.replace("\napi.example.com\n/app/", "\n127.0.0.1:9\n/stage/app/")
    );
    const pub = nodeCrypto.createPublicKey({ key: Buffer.from(got.spki, "base64url"), format: "der", type: "spki" });
    assert.equal(
      nodeCrypto.verify("sha256", Buffer.from(got.signed), { key: pub, dsaEncoding: "ieee-p1363" }, Buffer.from(m[1], "base64url")),
      true,
      "Node verifies the simulator's signature"
    );
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});

test("the simulator as the only phone: enrol, QR and push logins with number matching, deny, sessions, admin, removal", { timeout: 180_000 }, async () => {
  const { context, page: site, rec } = await h.newContext(browser, { viewport: DESKTOP });
  let phone;
  try {
    // ---- enrol from the link below the block, opened in the simulator: the website logs in
    await openLanding(site);
    await h.waitTransport(site, "ws");
    const enrolLink = (await site.textContent(".demo-enrol-link")).trim();
    [phone] = await Promise.all([context.waitForEvent("page"), site.click("a.open-in-phone")]);
    await phone.setViewportSize({ width: 1100, height: 1000 });
    await phone.waitForSelector('#phone[data-ready="true"]', { timeout: 15_000 });
    assert.equal(new URL(phone.url()).pathname, "/phone");
    assert.equal(new URL(phone.url()).search, "", "the used link leaves the address bar");
    assert.equal(await phone.isVisible(".accounts-empty"), true, "no accounts yet");
    assert.equal(await phone.inputValue("#link-input"), enrolLink, "?link= fills the link in");
    assert.equal((await phone.textContent("#link-open")).trim(), "Enrol");
    await phone.click("#link-open");
    await phone.waitForSelector('#notice[data-kind="ok"]', { timeout: 15_000 });
    assert.match(await phone.textContent("#notice"), /^Enrolled: account \d+ of Demo website for user demo-user\./);
    const [account] = await phone.evaluate(() => window.nsauthPhone.accounts());
    assert.equal(account.serverid, h.env.serverid);
    assert.equal(account.userid, "demo-user");
    assert.equal(account.api, `${h.env.base}/`);
    assert.match(account.push.token, /^sim-[A-Za-z0-9_-]{22}$/);
    assert.equal(account.push.platform, "fcm");
    await site.waitForSelector(h.LOGGED_IN, { timeout: 15_000 });
    assert.match(await site.textContent("body"), new RegExp(`Logged in as demo-user \\(account ${account.accountid}\\)`));
    const enrolHsid = await site.$eval(".nsauth-footer", (el) => el.getAttribute("data-hsid"));
    await phone.waitForSelector(`.account .session[data-hsid="${enrolHsid}"][data-state="loggedin"]`, { timeout: 15_000 });
    await h.screenshot(site, "demo-01-enrolled");
    await h.screenshot(phone, "demo-02-phone-enrolled");

    // A reload keeps the account: keys and account data are in IndexedDB.
    await phone.reload({ waitUntil: "load" });
    await phone.waitForSelector('#phone[data-ready="true"]');
    const again = await phone.evaluate(() => window.nsauthPhone.accounts());
    assert.deepEqual(again, [account], "the account survives a reload");

    // ---- push with number matching: the website shows the number, the inbox the choices
    await logoutOnSite(site);
    const { hsid } = await h.blockInfo(site);
    assert.equal(hsid, enrolHsid, "one browser session throughout");
    const number = await pushFromSite(site);
    await h.screenshot(site, "demo-03-push-number");
    const push = phone.locator(`.inbox-item[data-hsid="${hsid}"]`);
    await push.waitFor({ timeout: 15_000 });
    const choices = (await push.locator(".choice").allTextContents()).map((c) => c.trim());
    assert.equal(choices.length, 3, `three choices: ${choices}`);
    assert.ok(choices.includes(number), `the phone offers ${number}: ${choices}`);
    assert.match(await push.textContent(".inbox-body"), /Log in to the demo website \(from 127\.0\.0\.1\)/);
    await h.screenshot(phone, "demo-04-phone-inbox");
    await push.locator(`.choice[data-match="${number}"]`).click();
    await site.waitForSelector(h.LOGGED_IN, { timeout: 15_000 });
    assert.ok(
      rec.frames.some((f) => f.dir === "in" && f.text.startsWith(`MATCH ${hsid} `)),
      "a MATCH frame reached the website"
    );
    await phone.waitForSelector(`.inbox-item[data-hsid="${hsid}"]`, { state: "detached", timeout: 10_000 });

    // ---- log out from the phone: the website's footer sees it and reloads
    const row = phone.locator(`.account .session[data-hsid="${hsid}"][data-state="loggedin"]`);
    await row.waitFor({ timeout: 15_000 });
    await Promise.all([
      site.waitForSelector(".nsauth-block .nsauth-qr svg", { state: "visible", timeout: 15_000 }),
      row.locator(".session-logout").click(),
    ]);
    await site.waitForLoadState("load");
    await phone.waitForFunction(
      () => document.getElementById("notice").textContent === "Logged out of Demo website (loggedout).",
      null,
      { timeout: 10_000 }
    );
    // (The reloaded page may have begun a new attempt already: pending rather than loggedout.)
    await phone.waitForSelector(`.account .session[data-hsid="${hsid}"]:not([data-state="loggedin"])`, { timeout: 15_000 });

    // ---- push, denied on the phone: the website shows the denial
    await pushFromSite(site);
    const denied = phone.locator(`.inbox-item[data-hsid="${hsid}"]`);
    await denied.waitFor({ timeout: 15_000 });
    await denied.locator(".deny").click();
    await site.waitForFunction(
      () => document.querySelector(".nsauth-block .nsauth-status").textContent.includes("Login denied on the phone."),
      null,
      { timeout: 15_000 }
    );
    assert.equal(await site.isVisible(".nsauth-block .nsauth-retry"), true, "the retry button");
    await phone.waitForFunction(() => document.getElementById("notice").textContent.startsWith("Denied"), null, {
      timeout: 10_000,
    });
    await h.screenshot(site, "demo-05-denied");

    // ---- a push answered with a wrong number cancels the attempt too
    await Promise.all([site.waitForEvent("load"), site.click(".nsauth-block .nsauth-retry")]);
    const right = await pushFromSite(site);
    const wrongPush = phone.locator(`.inbox-item[data-hsid="${hsid}"]`);
    await wrongPush.waitFor({ timeout: 15_000 });
    const wrong = (await wrongPush.locator(".choice").allTextContents()).map((c) => c.trim()).find((c) => c !== right);
    await wrongPush.locator(`.choice[data-match="${wrong}"]`).click();
    await site.waitForFunction(
      () => document.querySelector(".nsauth-block .nsauth-status").textContent.includes("Login denied on the phone."),
      null,
      { timeout: 15_000 }
    );
    await phone.waitForSelector('#notice[data-kind="error"]', { timeout: 10_000 });
    assert.match(await phone.textContent("#notice"), /not the number the website shows/);

    // ---- the login link pasted into the simulator: announceinfo, then approve
    await Promise.all([site.waitForEvent("load"), site.click(".nsauth-block .nsauth-retry")]);
    await h.waitTransport(site, "ws");
    const { link } = await h.blockInfo(site);
    await phone.fill("#link-input", link);
    assert.equal((await phone.textContent("#link-open")).trim(), "Show login");
    await phone.click("#link-open");
    await phone.waitForSelector(`#request[data-hsid="${hsid}"] .approve`, { timeout: 15_000 });
    assert.equal((await phone.textContent("#request .request-action")).trim(), "Log in to the demo website");
    assert.match(await phone.textContent("#request .kv"), /from127\.0\.0\.1/);
    assert.match(await phone.textContent("#request .request-state"), /scanned/);
    await site.waitForFunction(
      () => document.querySelector(".nsauth-block .nsauth-status").textContent.startsWith("Code scanned"),
      null,
      { timeout: 15_000 }
    );
    await h.screenshot(phone, "demo-06-phone-login-link");
    await phone.click("#request .approve");
    await site.waitForSelector(h.LOGGED_IN, { timeout: 15_000 });
    await phone.waitForSelector("#request .result-approved", { timeout: 10_000 });

    // ---- the accounts page lists the account and its session
    const admin = await context.newPage();
    const res = await admin.goto(`${h.env.base}/admin`, { waitUntil: "load" });
    assert.equal(res.status(), 200, "GET /admin");
    const card = admin.locator(`.admin-account[data-accountid="${account.accountid}"]`);
    await card.waitFor();
    assert.match(await card.textContent("h2"), /user demo-user/);
    assert.match(await card.textContent(".kv"), /Simulator|Phone simulator/);
    const session = card.locator(`.admin-session[data-hsid="${hsid}"]`);
    assert.equal(await session.getAttribute("data-state"), "loggedin");
    assert.match(await session.textContent(), /nsauth local demo website/, "the sessioninfo");
    assert.match(await session.textContent(), /127\.0\.0\.1/);
    const settings = await admin.$$eval(".admin-settings tr", (rows) =>
      Object.fromEntries(rows.map((r) => [r.querySelector("th").textContent.trim(), r.querySelector("td").textContent.trim()]))
    );
    assert.equal(settings.name, "Demo website");
    assert.equal(settings.number_match, "push");
    await h.screenshot(admin, "demo-07-admin");

    // ---- removing the account: the server deletes it (its login ends), the phone forgets it
    const remove = phone.locator(`.account[data-accountid="${account.accountid}"] .remove-account`);
    await remove.click();
    assert.match(await remove.textContent(), /Click again/);
    await Promise.all([
      site.waitForSelector(".nsauth-block .nsauth-qr svg", { state: "visible", timeout: 15_000 }),
      remove.click(),
    ]);
    await phone.waitForSelector(".accounts-empty", { timeout: 10_000 });
    assert.match(await phone.textContent("#notice"), /removed/);
    await phone.reload({ waitUntil: "load" });
    await phone.waitForSelector('#phone[data-ready="true"]');
    assert.deepEqual(await phone.evaluate(() => window.nsauthPhone.accounts()), [], "gone after a reload too");
    await admin.reload({ waitUntil: "load" });
    assert.equal(await admin.locator(`.admin-account[data-accountid="${account.accountid}"]`).count(), 0);
    // The wrong number's answer (409 wrong_match) is the only failed request.
    const conflict = /Failed to load resource: the server responded with a status of 409/;
    assert.equal(rec.errors.filter((e) => conflict.test(e)).length, 1, "one 409");
    h.assertNoErrors(rec, [conflict]);
  } finally {
    await context.close();
  }
});

test("the simulator shows the server's visual hash before enrolling, pixel for pixel the website's", { timeout: 60_000 }, async () => {
  const { context, page, rec } = await h.newContext(browser, { viewport: DESKTOP });
  try {
    await openLanding(page);
    const link = (await page.textContent(".demo-enrol-link")).trim();
    const src = await page.getAttribute(".demo-vash img", "src");
    assert.match(src, /^data:image\/png;base64,/, "the website shows getServerVash's PNG");
    const phone = await context.newPage();
    await openPhone(phone);
    assert.equal(await phone.isVisible("#vash"), false, "no picture without an enrolment link");
    await phone.fill("#link-input", link);
    await phone.waitForSelector("#vash", { state: "visible", timeout: 15_000 });
    const cmp = await phone.evaluate(async (src) => {
      const img = new Image();
      img.src = src;
      await img.decode();
      const c = document.createElement("canvas");
      c.width = img.width;
      c.height = img.height;
      const ctx = c.getContext("2d");
      ctx.drawImage(img, 0, 0);
      const server = ctx.getImageData(0, 0, c.width, c.height).data;
      const shown = document.getElementById("vash-canvas");
      const phoneSide = shown.getContext("2d").getImageData(0, 0, shown.width, shown.height).data;
      let differ = 0;
      for (let i = 0; i < server.length; i++) if (server[i] !== phoneSide[i]) differ++;
      // Another server's link gives another picture.
      const P = window.nsauthPhone;
      const a = await P.vash("AAECAwQFBgcICQoLDA0ODw", location.origin + "/");
      const b = await P.vash("BBECAwQFBgcICQoLDA0ODw", location.origin + "/");
      return {
        size: [img.width, img.height, shown.width, shown.height],
        length: server.length === phoneSide.length,
        differ,
        filled: Array.from(phoneSide).some((v, i) => i % 4 !== 3 && v !== 255),
        others: JSON.stringify(a) !== JSON.stringify(b),
      };
    }, src);
    assert.deepEqual(cmp.size, [160, 160, 160, 160]);
    assert.ok(cmp.length);
    assert.equal(cmp.differ, 0, "the phone's picture is the server's, pixel for pixel");
    assert.ok(cmp.filled, "the picture is not blank");
    assert.ok(cmp.others, "two servers, two pictures");
    await h.screenshot(phone, "phone-vash");
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});
