// The rotating QR code of the login block (setting qr_rotation, default `block`) in a real
// browser against the local stack: the code changes every second, a code captured and
// scanned 10 s later is refused by the phone's show call, and the live code logs in.
"use strict";

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const h = require("./helpers");

let browser;
const keyFile = h.tempKeyFile("rotation-phone");

before(async () => {
  browser = await h.launch();
}, { timeout: 90_000 });

after(() => h.closeBrowser(browser), { timeout: 60_000 });

const current = (page) =>
  page.$eval(".nsauth-block .nsauth-qr", (el) => ({
    code: el.getAttribute("data-code"),
    drawn: el.querySelector("svg path").getAttribute("d"),
    // What the block's encoder makes of the code it claims to show.
    expected: nsauthQr.svgPath(nsauthQr(el.getAttribute("data-code"))),
    href: document.querySelector(".nsauth-block .nsauth-open-app").getAttribute("href"),
  }));

test("the block's code rotates every second, matches the documented MAC, and works only while live", { timeout: 120_000 }, async () => {
  const { context, page, rec } = await h.newContext(browser);
  try {
    // A phone for this test: enrolled through the demo page (which logs it in), then out.
    await h.openDemo(page);
    await h.waitTransport(page, "ws");
    const enrol = (await page.textContent(".demo-enrol-link")).trim();
    await h.phone(keyFile, "enrol", enrol);
    await page.waitForSelector(h.LOGGED_IN, { timeout: 15_000 });
    await h.logoutFromPage(page);
    await h.waitTransport(page, "ws");

    // The documented test vector (docs/phone-protocol.md), computed by the page's script.
    const vector = await page.evaluate(() =>
      window.nsauthBlock._qrCode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "AAECAwQFBgcICQoLDA0ODw", 1800000000)
    );
    assert.equal(vector, "YPftQoZwsP9XA9fzFqQi_g");

    const info = await h.blockInfo(page);
    const block = await page.$eval(".nsauth-block", (el) => ({ key: el.getAttribute("data-qr-key"), time: Number(el.getAttribute("data-qr-time")) }));
    assert.ok(block.key && block.time > 0, "the block carries the attempt's key and the server's time");
    const first = await current(page);
    assert.match(first.code, new RegExp(`^${info.staticLink.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\?t=\\d+&m=[A-Za-z0-9_-]{22}$`));
    assert.equal(first.drawn, first.expected, "the QR code drawn is the code's");
    // The MAC is the documented one, under the block's key.
    const t1 = Number(new URL(first.code.replace(/^[a-z]+:\/\//, "https://x/")).searchParams.get("t"));
    const m1 = new URL(first.code.replace(/^[a-z]+:\/\//, "https://x/")).searchParams.get("m");
    assert.equal(await page.evaluate(([k, hs, t]) => window.nsauthBlock._qrCode(k, hs, t), [block.key, info.hsid, t1]), m1);
    assert.ok(Math.abs(t1 - Math.floor(Date.now() / 1000)) <= 3, "the step is the server's time (this machine's)");

    // It changes every second: five looks, 1.1 s apart, five different codes.
    const seen = new Set([first.code]);
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 1100));
      const now = await current(page);
      assert.equal(now.drawn, now.expected);
      assert.ok(now.href.includes(new URL(now.code.replace(/^[a-z]+:\/\//, "https://x/")).search.slice(1)), "the app link carries the same code");
      seen.add(now.code);
    }
    assert.equal(seen.size, 5, `a new code each second: ${[...seen].join(", ")}`);
    await h.screenshot(page, "rotation-01-qr");

    // The static link (no code) is refused, and so is the first code 10 s after it was shown.
    await assert.rejects(h.phone(keyFile, "show", info.staticLink), /qr_code_required/);
    const wait = 10_500 - (Date.now() - t1 * 1000);
    await new Promise((r) => setTimeout(r, Math.max(0, wait)));
    await assert.rejects(h.phone(keyFile, "show", first.code), /stale_qr_code/);
    assert.equal((await h.blockInfo(page)).state, "pending", "a refused code changes nothing");

    // The live code: shown (the page sees the scan) and approved (the page logs in).
    const live = await current(page);
    const shown = await h.phone(keyFile, "show", live.code);
    assert.equal(shown.state, "scanned");
    await page.waitForSelector(".nsauth-block .nsauth-qr", { state: "hidden", timeout: 15_000 });
    await h.phone(keyFile, "approve", live.code);
    await page.waitForSelector(h.LOGGED_IN, { timeout: 15_000 });
    h.assertNoErrors(rec);
  } finally {
    await context.close();
  }
});
