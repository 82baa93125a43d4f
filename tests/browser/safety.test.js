// Login safety in the demo, as README's "Login safety in the demo" steps do it by hand:
// the phone simulator against a local stack of its own (NSAUTH_BASE_SAFETY) whose settings
// change through the management API (root key NSAUTH_ROOTKEY). A push fetched by the phone
// itself (push_delivery pull), the proximity warning and refusal (the simulator's "another
// network" switch), and the PIN the user-verification policy asks for.
"use strict";

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const h = require("./helpers");

const base = process.env.NSAUTH_BASE_SAFETY;
const rootKey = process.env.NSAUTH_ROOTKEY;
const skip = !(base && rootKey) && "NSAUTH_BASE_SAFETY or NSAUTH_ROOTKEY not set";
const DESKTOP = { width: 1280, height: 900 };

let browser;

before(async () => {
  if (!skip) {
    browser = await h.launch();
  }
}, { timeout: 90_000 });

after(() => browser && h.closeBrowser(browser), { timeout: 60_000 });

// updateServer with one setting, as README's `set_` does.
async function setting(name, value) {
  const res = await fetch(`${base}/servers/${h.env.serverid}/`, {
    method: "PUT",
    headers: { "X-apikey": rootKey, "Content-Type": "application/json" },
    body: JSON.stringify({ settings: { [name]: value } }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.settings[name], value, `${name} is now ${value}`);
}

async function logoutOnSite(site) {
  await site.click('form[action="/logout"] button');
  await site.waitForSelector(".nsauth-block .nsauth-qr svg", { state: "visible", timeout: 15_000 });
  await site.waitForLoadState("load");
  await h.waitTransport(site, "ws");
}

test("the simulator fetches a push itself, warns of another network, and asks for its PIN", { skip, timeout: 180_000 }, async () => {
  const { context, page: site, rec } = await h.newContext(browser, { viewport: DESKTOP });
  try {
    // ---- enrol the simulator from the landing page: the website logs in
    const res = await site.goto(`${base}/`, { waitUntil: "load" });
    assert.equal(res.status(), 200, "GET /");
    await h.waitTransport(site, "ws");
    const [phone] = await Promise.all([context.waitForEvent("page"), site.click("a.open-in-phone")]);
    await phone.setViewportSize({ width: 1100, height: 1000 });
    await phone.waitForSelector('#phone[data-ready="true"]', { timeout: 15_000 });
    await phone.click("#link-open");
    await phone.waitForSelector('#notice[data-kind="ok"]', { timeout: 15_000 });
    await site.waitForSelector(h.LOGGED_IN, { timeout: 15_000 });

    // ---- pushes without a push service: the inbox shows the request fetched from the server
    await setting("push_delivery", "pull");
    await logoutOnSite(site);
    const { hsid } = await h.blockInfo(site);
    await site.waitForSelector(".nsauth-block .nsauth-push", { state: "visible", timeout: 15_000 });
    await site.click(".nsauth-block .nsauth-push");
    await site.waitForSelector(".nsauth-block .nsauth-match-number", { state: "visible", timeout: 15_000 });
    const number = (await site.textContent(".nsauth-block .nsauth-match-number")).trim();
    // The simulator asks again within 30 s of learning that pull was off.
    const item = phone.locator(`.inbox-item[data-hsid="${hsid}"][data-via="fetched from the server"]`);
    await item.waitFor({ timeout: 40_000 });
    assert.equal(await phone.locator(`.inbox-item[data-hsid="${hsid}"][data-via="push service"]`).count(), 0, "nothing went through the push service");
    await h.screenshot(phone, "safety-01-fetched-push");
    await item.locator(`.choice[data-match="${number}"]`).click();
    await site.waitForSelector(h.LOGGED_IN, { timeout: 15_000 });

    // ---- proximity: the switch puts the simulator on another network
    await setting("proximity", "require");
    await logoutOnSite(site);
    await phone.check("#other-network");
    const { link } = await h.blockInfo(site);
    await phone.fill("#link-input", link);
    await phone.click("#link-open");
    const request = phone.locator(`#request[data-hsid="${hsid}"]`);
    await request.locator(".proximity-warning").waitFor({ timeout: 15_000 });
    assert.match(await request.locator(".proximity-warning").textContent(), /not on the network of the browser/);
    assert.equal(await request.locator(".proximity-warning").getAttribute("data-proximity"), "different_network");
    await h.screenshot(phone, "safety-02-another-network");
    await request.locator(".approve").click();
    await phone.waitForFunction(() => /same network as the browser/.test(document.querySelector("#notice").textContent), null, { timeout: 15_000 });
    assert.equal((await h.blockInfo(site)).state, "scanned", "refused: still waiting for the phone");
    // Back on the browser's network, the same request is taken.
    await phone.uncheck("#other-network");
    await request.locator(".approve").click();
    await site.waitForSelector(h.LOGGED_IN, { timeout: 15_000 });

    // ---- user verification required: no PIN, refused; with the PIN, taken
    await setting("proximity", "warn");
    await setting("user_verification", "required");
    await logoutOnSite(site);
    const second = await h.blockInfo(site);
    await phone.fill("#link-input", second.link);
    await phone.click("#link-open");
    await request.locator(".pin-missing").waitFor({ timeout: 15_000 });
    assert.match(await request.locator(".proximity").textContent(), /on the browser's network/);
    await request.locator(".approve").click();
    await phone.waitForFunction(() => /verified on the phone/.test(document.querySelector("#notice").textContent), null, { timeout: 15_000 });
    await phone.fill("#pin-new", "2468");
    await phone.click("#pin-set");
    await request.locator(".pin-input").waitFor({ timeout: 15_000 });
    await request.locator(".pin-input").fill("2468");
    await request.locator(".approve").click();
    await site.waitForSelector(h.LOGGED_IN, { timeout: 15_000 });
    await h.screenshot(site, "safety-03-verified-login");
    // The refusals the test asked for are the only errors the pages logged.
    h.assertNoErrors(rec, [/Failed to load resource: the server responded with a status of 403 \(Forbidden\)/]);
  } finally {
    await context.close();
  }
});
