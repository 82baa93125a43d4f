// A login attempt that times out: the block says so and offers a retry that starts a new
// attempt. Runs against a second local stack whose demo server has login_timeout 30 s
// (NSAUTH_BASE_EXPIRY); the one slow browser test.
"use strict";

const { test } = require("node:test");
const assert = require("node:assert/strict");
const h = require("./helpers");

const base = process.env.NSAUTH_BASE_EXPIRY;

test("an expired code shows the retry button, which starts a new attempt", { skip: !base && "NSAUTH_BASE_EXPIRY not set", timeout: 120_000 }, async () => {
  const browser = await h.launch();
  try {
    const { page, rec } = await h.newContext(browser);
    await h.openDemo(page, base);
    await page.waitForSelector(".nsauth-block .nsauth-qr svg", { state: "visible" });
    const first = await h.blockInfo(page);
    await h.waitTransport(page, "ws");
    const t0 = Date.now();
    await page.waitForFunction(
      () => document.querySelector(".nsauth-block .nsauth-status").textContent.trim() === "The code has expired.",
      null,
      { timeout: 45_000, polling: 200 }
    );
    const waited = Date.now() - t0;
    assert.ok(waited > 20_000, `expired after ${waited} ms, not at once`);
    assert.equal(await page.isVisible(".nsauth-block .nsauth-retry"), true, "retry button shown");
    assert.equal(await page.isHidden(".nsauth-block .nsauth-qr"), true, "QR code hidden");
    assert.equal((await h.blockInfo(page)).state, "expired");
    // Expiry writes nothing on the server: the block asked again once data-expires had
    // passed, and REGISTER was answered with EXPIRED.
    assert.ok(
      rec.frames.some((f) => f.dir === "in" && f.text.startsWith(`EXPIRED ${first.hsid} `)),
      "an EXPIRED frame reached the page"
    );
    await h.screenshot(page, "06-expired");
    await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click(".nsauth-block .nsauth-retry")]);
    await page.waitForSelector(".nsauth-block .nsauth-qr svg", { state: "visible" });
    const again = await h.blockInfo(page);
    assert.equal(again.state, "pending");
    assert.equal(again.hsid, first.hsid, "the same browser session");
    assert.equal(
      (await page.textContent(".nsauth-block .nsauth-status")).trim(),
      "Scan the code with your authenticator app."
    );
    await h.screenshot(page, "06-retried");
    h.assertNoErrors(rec);
  } finally {
    await h.closeBrowser(browser);
  }
});
