// Transaction signing end to end on the local stack: the demo website, logged in with the
// phone simulator, asks the phone to confirm transfers (createTransaction); the simulator
// shows amount and beneficiary and signs the exact text the server wrote (WebCrypto), or
// declines; the website's page checks the signature with WebCrypto, and this test checks
// it once more with Node's crypto (OpenSSL), independently of the server's Rust code.
"use strict";

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const nodeCrypto = require("node:crypto");
const h = require("./helpers");

const DESKTOP = { width: 1280, height: 900 };

let browser;

before(async () => {
  browser = await h.launch();
}, { timeout: 90_000 });

after(() => h.closeBrowser(browser), { timeout: 60_000 });

// getTransactionResult with the demo server's key, as a website backend asks.
async function transactionResult(tid) {
  const res = await fetch(`${h.env.base}/servers/${h.env.serverid}/transactions/${tid}`, {
    headers: { "X-apikey": h.env.apikey },
  });
  assert.equal(res.status, 200, `getTransactionResult ${tid}`);
  return res.json();
}

// Node's check of a phone's signature: `pk` (base64 SPKI DER) over the UTF-8 bytes of
// `signed`, `signature` base64url of r||s (IEEE P1363).
function verifies(pk, signed, signature) {
  const key = nodeCrypto.createPublicKey({ key: Buffer.from(pk, "base64"), format: "der", type: "spki" });
  return nodeCrypto.verify("sha256", Buffer.from(signed, "utf8"), { key, dsaEncoding: "ieee-p1363" }, Buffer.from(signature, "base64url"));
}

// Fills the demo website's transfer form and submits it; the new transaction's tid.
async function createTransfer(site, { amount, beneficiary, description }) {
  const before = await site.getAttribute("#demo-tx", "data-tid");
  await site.fill("#demo-tx input[name=amount]", amount);
  await site.fill("#demo-tx input[name=beneficiary]", beneficiary);
  await site.fill("#demo-tx input[name=description]", description);
  await site.click("#demo-tx .demo-tx-submit");
  await site.waitForFunction(
    (old) => {
      const box = document.getElementById("demo-tx");
      const tid = box.getAttribute("data-tid");
      return tid && tid !== old && box.getAttribute("data-state") === "new";
    },
    before,
    { timeout: 15_000 }
  );
  return site.getAttribute("#demo-tx", "data-tid");
}

test("a transfer confirmed in the phone simulator: approved with a signature the page and Node verify; the next one declined", { timeout: 180_000 }, async () => {
  const { context, page: site, rec } = await h.newContext(browser, { viewport: DESKTOP });
  try {
    // ---- log in: the simulator enrols with the link below the login block
    const res = await site.goto(`${h.env.base}/`, { waitUntil: "load" });
    assert.equal(res.status(), 200);
    await h.waitTransport(site, "ws");
    assert.equal(await site.$("#demo-tx"), null, "no transfer form before the login");
    const [phone] = await Promise.all([context.waitForEvent("page"), site.click("a.open-in-phone")]);
    await phone.setViewportSize({ width: 1100, height: 1000 });
    await phone.waitForSelector('#phone[data-ready="true"]', { timeout: 15_000 });
    await phone.click("#link-open");
    await phone.waitForSelector('#notice[data-kind="ok"]', { timeout: 15_000 });
    const [account] = await phone.evaluate(() => window.nsauthPhone.accounts());
    await site.waitForSelector(h.LOGGED_IN, { timeout: 15_000 });
    await site.waitForLoadState("load");
    await site.waitForSelector("#demo-tx .demo-tx-form", { state: "visible" });
    const hsid = await site.$eval(".nsauth-footer", (el) => el.getAttribute("data-hsid"));

    // ---- the first transfer: shown on the website as a QR code and a link
    const first = { amount: "EUR 1,234.56", beneficiary: "Zoë's Bakery Ltd", description: "Invoice 2027-042: cakes & coffee" };
    const tid = await createTransfer(site, first);
    assert.match(tid, /^[A-Za-z0-9_-]{43}$/);
    await site.waitForSelector("#demo-tx .demo-tx-qr svg", { state: "visible" });
    const link = (await site.textContent("#demo-tx .demo-tx-link code")).trim();
    assert.equal(link, `nsauth://tx/${h.env.serverid}/${tid}`);
    assert.equal(await site.getAttribute("#demo-tx .demo-tx-open", "href"), `/phone?link=${encodeURIComponent(link).replace(/[!'()*.~_-]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase())}`);
    assert.match(await site.textContent("#demo-tx .demo-tx-how"), /^Sent to your phone/, "pushed to the simulator's token");
    const created = await transactionResult(tid);
    assert.equal(created.tstatus, "0");
    assert.equal(created.state, "new");
    assert.equal(created.hsid, hsid);
    assert.equal(created.signature, undefined, "no signature before the approval");
    await h.screenshot(site, "tx-01-site-waiting");

    // ---- the simulator opens the link: amount and beneficiary first, the description below
    await phone.fill("#link-input", link);
    assert.equal((await phone.textContent("#link-open")).trim(), "Show transaction");
    await phone.click("#link-open");
    const request = phone.locator(`#request[data-kind="tx"][data-tid="${tid}"]`);
    await request.waitFor({ timeout: 15_000 });
    assert.equal((await request.locator(".tx-amount").textContent()).trim(), first.amount);
    assert.equal((await request.locator(".tx-beneficiary b").textContent()).trim(), first.beneficiary);
    assert.equal((await request.locator(".tx-description").textContent()).trim(), first.description);
    assert.equal((await request.locator(".request-action").textContent()).trim(), "Confirm a transaction");
    assert.match(await request.locator(".request-state").textContent(), /is new$/);
    const sizes = await phone.evaluate(() => ({
      amount: parseFloat(getComputedStyle(document.querySelector("#request .tx-amount")).fontSize),
      description: parseFloat(getComputedStyle(document.querySelector("#request .tx-description")).fontSize),
    }));
    assert.ok(sizes.amount > sizes.description * 1.5, `the amount stands out: ${JSON.stringify(sizes)}`);
    await h.screenshot(phone, "tx-02-phone-transaction");
    // A transaction needs the user verified on the phone: without an app PIN the server
    // refuses the approval (403 user_verification_required) and the transaction stays new.
    assert.equal(await request.locator(".pin-missing").count(), 1, "the card says a PIN is needed");
    await request.locator(".tx-approve").click();
    await phone.waitForFunction(() => /verified on the phone/.test(document.querySelector("#notice").textContent), null, { timeout: 15_000 });
    assert.equal((await transactionResult(tid)).state, "new", "refused: still new");
    // The user sets a PIN; the card asks for it; a wrong one sends nothing.
    await phone.fill("#pin-new", "2468");
    await phone.click("#pin-set");
    await request.locator(".pin-input").waitFor({ timeout: 15_000 });
    await request.locator(".pin-input").fill("1357");
    await request.locator(".tx-approve").click();
    await phone.waitForFunction(() => document.querySelector("#notice").textContent === "Wrong PIN.", null, { timeout: 15_000 });
    assert.equal((await transactionResult(tid)).state, "new", "a wrong PIN sends nothing");
    await request.locator(".pin-input").fill("2468");
    await request.locator(".tx-approve").click();
    await phone.waitForSelector("#request .result-approved", { timeout: 15_000 });
    assert.match(await request.locator(".request-state").textContent(), /is approved$/);
    assert.equal(await request.locator(".tx-approve").count(), 0, "decided: no buttons");
    assert.match(await phone.textContent("#notice"), /^Approved: EUR 1,234\.56 to Zoë's Bakery Ltd, signed with this phone's key\./);
    // The push of this transaction leaves the inbox (opened, then decided).
    await phone.waitForSelector(`.inbox-tx[data-tid="${tid}"]`, { state: "detached", timeout: 10_000 });

    // ---- the website: approved, and the signature verified in the page (WebCrypto)
    await site.waitForSelector(`#demo-tx[data-tid="${tid}"][data-state="approved"][data-verified="true"]`, { timeout: 15_000 });
    assert.match(await site.textContent("#demo-tx .demo-tx-outcome"), /Approved on the phone\. The signature verifies in this browser/);
    assert.equal((await site.textContent("#demo-tx .demo-tx-amount")).trim(), first.amount);
    assert.equal((await site.textContent("#demo-tx .demo-tx-beneficiary b")).trim(), first.beneficiary);
    await h.screenshot(site, "tx-03-site-approved");

    // ---- Node checks the proof by itself
    const approved = await transactionResult(tid);
    assert.equal(approved.tstatus, "1");
    assert.equal(approved.state, "approved");
    assert.equal(approved.verification, "pin", "the signed approval said the PIN was checked");
    assert.equal(approved.accountid, account.accountid);
    assert.equal(Buffer.from(approved.pk, "base64").toString("base64url"), account.publickey, "pk is the account's key");
    const signed = JSON.parse(approved.signed);
    assert.deepEqual(Object.keys(signed), ["type", "serverid", "servername", "tid", "accountid", "amount", "benificiary", "description", "created"]);
    assert.equal(signed.type, "nsauth-transaction-v1");
    assert.equal(signed.serverid, h.env.serverid);
    assert.equal(signed.tid, tid);
    assert.equal(signed.accountid, account.accountid);
    assert.equal(signed.amount, first.amount);
    assert.equal(signed.benificiary, first.beneficiary);
    assert.equal(signed.description, first.description);
    assert.equal(verifies(approved.pk, approved.signed, approved.signature), true, "Node verifies the phone's signature");
    for (const tampered of [
      approved.signed.replace("EUR 1,234.56", "EUR 9,234.56"),
      approved.signed.replace("Zoë's Bakery Ltd", "Mallory Ltd"),
      approved.signed.replace(tid, tid.slice(0, 42) + (tid[42] === "A" ? "B" : "A")),
      approved.signed.replace(",\"", ", \""),
    ]) {
      assert.notEqual(tampered, approved.signed);
      assert.equal(verifies(approved.pk, tampered, approved.signature), false, `a tampered text fails: ${tampered}`);
    }
    // The simulator reads back only the exact text the server writes.
    const readBack = await phone.evaluate((text) => {
      const P = window.nsauthPhone;
      const o = JSON.parse(text);
      const reordered = JSON.stringify({ serverid: o.serverid, type: o.type, ...o });
      return {
        exact: P.parseSigned(text) !== null,
        spaced: P.parseSigned(text.replace(",\"", ", \"")) !== null,
        reordered: P.parseSigned(reordered) !== null,
        extra: P.parseSigned(text.replace("}", ",\"x\":1}")) !== null,
        otherType: P.parseSigned(text.replace("nsauth-transaction-v1", "nsauth-transaction-v2")) !== null,
      };
    }, approved.signed);
    assert.deepEqual(readBack, { exact: true, spaced: false, reordered: false, extra: false, otherType: false });

    // ---- the second transfer, pushed to the simulator's inbox and declined there
    const second = { amount: "EUR 99.00", beneficiary: "Mallory Ltd", description: "" };
    const tid2 = await createTransfer(site, second);
    assert.notEqual(tid2, tid);
    const pushed = phone.locator(`.inbox-item.inbox-tx[data-tid="${tid2}"]`);
    await pushed.waitFor({ timeout: 15_000 });
    assert.equal((await pushed.locator(".tx-amount").textContent()).trim(), second.amount);
    assert.equal((await pushed.locator(".tx-beneficiary b").textContent()).trim(), second.beneficiary);
    assert.equal(await pushed.locator(".tx-description").count(), 0, "no description given");
    await h.screenshot(phone, "tx-04-phone-inbox");
    await pushed.locator(".tx-decline").click();
    await pushed.waitFor({ state: "detached", timeout: 10_000 });
    assert.match(await phone.textContent("#notice"), /^Declined/);
    await site.waitForSelector(`#demo-tx[data-tid="${tid2}"][data-state="declined"]`, { timeout: 15_000 });
    assert.match(await site.textContent("#demo-tx .demo-tx-outcome"), /Declined on the phone/);
    assert.equal(await site.getAttribute("#demo-tx", "data-verified"), null);
    await h.screenshot(site, "tx-05-site-declined");
    const declined = await transactionResult(tid2);
    assert.equal(declined.tstatus, "2");
    assert.equal(declined.state, "declined");
    assert.equal(declined.signature, undefined);
    assert.equal(declined.signed, undefined);

    // ---- the website heard of both over its WebSocket (the footer's TXSTATUS frames)
    const frames = rec.frames.filter((f) => f.dir === "in" && f.text.startsWith("TXSTATUS ")).map((f) => f.text);
    for (const want of [`TXSTATUS ${hsid} ${h.env.serverid} ${tid} 1`, `TXSTATUS ${hsid} ${h.env.serverid} ${tid2} 2`]) {
      assert.ok(frames.includes(want), `${want} in ${JSON.stringify(frames)}`);
    }
    // The one refusal the test asks for: the approval without the user verified (403).
    h.assertNoErrors(rec, [/Failed to load resource: the server responded with a status of 403 \(Forbidden\) \(http:\/\/127\.0\.0\.1:\d+\/phone\)/]);
  } finally {
    await context.close();
  }
});

test("the demo's transfer routes: JSON only, this browser's session only", { timeout: 60_000 }, async () => {
  // No browser session: refused.
  let res = await fetch(`${h.env.base}/demo/transactions`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: "{}",
  });
  assert.equal(res.status, 401);
  const { context, page, rec } = await h.newContext(browser);
  try {
    await h.openDemo(page);
    // A session not logged in: createTransaction's refusal comes through.
    const answers = await page.evaluate(async () => {
      const post = (body, type) =>
        fetch("/demo/transactions", { method: "POST", headers: { "Content-Type": type }, body }).then(async (r) => ({
          status: r.status,
          body: await r.json(),
        }));
      return {
        notLoggedIn: await post(JSON.stringify({ amount: "EUR 1" }), "application/json"),
        form: await post("amount=EUR+1", "application/x-www-form-urlencoded"),
        unknown: await fetch("/demo/transactions/" + "A".repeat(43)).then((r) => r.status),
        badTid: await fetch("/demo/transactions/..%2F..%2Fsessions").then((r) => r.status),
      };
    });
    assert.equal(answers.notLoggedIn.status, 403, JSON.stringify(answers.notLoggedIn));
    assert.equal(answers.notLoggedIn.body.error, "not_logged_in");
    assert.equal(answers.form.status, 415);
    assert.equal(answers.unknown, 404);
    assert.equal(answers.badTid, 404);
    // The browser logs the refused requests; nothing else.
    h.assertNoErrors(rec, [/Failed to load resource: the server responded with a status of (403|404|415)/]);
  } finally {
    await context.close();
  }
});
