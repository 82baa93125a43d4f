// Shared helpers of the browser tests (node --test, playwright-core driving Debian's
// chromium). Run through infra/scripts/browser-tests.sh, which starts the local stack and
// sets the environment read here.
"use strict";

const assert = require("node:assert/strict");
const { execFile } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const { chromium } = require(process.env.NSAUTH_PLAYWRIGHT_CORE || "playwright-core");

function need(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run the browser tests with infra/scripts/browser-tests.sh`);
  }
  return v;
}

// Read when used, so that tests needing no local stack run without its variables.
const env = {
  get base() {
    return need("NSAUTH_BASE").replace(/\/$/, "");
  },
  get serverid() {
    return need("NSAUTH_SERVERID");
  },
  get apikey() {
    return need("NSAUTH_APIKEY");
  },
  get authenticator() {
    return need("NSAUTH_AUTHENTICATOR");
  },
  chromium: process.env.NSAUTH_CHROMIUM || "/usr/bin/chromium",
  artifacts: process.env.NSAUTH_ARTIFACTS || path.resolve("artifacts/browser"),
};

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// One browser per test file. Playwright launches chromium with a fresh temporary
// user-data-dir of its own (and removes it at close): no profile carries over.
async function launch() {
  fs.mkdirSync(env.artifacts, { recursive: true });
  return chromium.launch({
    executablePath: env.chromium,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
}

// A new context (a new cookie jar: a new demo session) that records console errors, page
// errors and WebSocket frames of all its pages.
async function newContext(browser, options = {}) {
  const { blockWebSocket = false, ...contextOptions } = options;
  const context = await browser.newContext({ viewport: { width: 900, height: 900 }, ...contextOptions });
  const rec = { errors: [], frames: [], statusRequests: 0, sockets: 0 };
  context.on("page", (page) => watchPage(page, rec));
  if (blockWebSocket) {
    if (typeof context.routeWebSocket === "function") {
      // Every WebSocket fails before it opens (the page sees a close event).
      await context.routeWebSocket(/.*/, (ws) => ws.close());
    } else {
      await context.addInitScript(() => {
        delete window.WebSocket;
      });
    }
  }
  const page = await context.newPage();
  return { context, page, rec };
}

function watchPage(page, rec) {
  page.on("console", (msg) => {
    if (msg.type() === "error") {
      rec.errors.push(`console.error: ${msg.text()} (${page.url()})`);
    }
  });
  page.on("pageerror", (err) => rec.errors.push(`page error: ${err && err.stack ? err.stack : err}`));
  page.on("websocket", (ws) => {
    rec.sockets += 1;
    ws.on("framereceived", (f) => rec.frames.push({ dir: "in", at: Date.now(), text: String(f.payload) }));
    ws.on("framesent", (f) => rec.frames.push({ dir: "out", at: Date.now(), text: String(f.payload) }));
  });
  page.on("request", (req) => {
    if (req.url().includes("/status/")) {
      rec.statusRequests += 1;
    }
  });
}

// Fails on any console error or page error, except those matching one of `allowed`.
function assertNoErrors(rec, allowed = []) {
  const errors = rec.errors.filter((e) => !allowed.some((re) => re.test(e)));
  assert.deepEqual(errors, [], "the page logged errors");
}

async function screenshot(page, name) {
  fs.mkdirSync(env.artifacts, { recursive: true });
  await page.screenshot({ path: path.join(env.artifacts, `${name}.png`), fullPage: true });
}

// Runs the authenticator CLI; resolves with its parsed JSON output (or raw text).
function phone(keyFile, ...args) {
  return new Promise((resolve, reject) => {
    execFile(env.authenticator, ["--file", keyFile, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`nsauth-authenticator ${args.join(" ")} failed: ${err.message}\n${stderr}`));
        return;
      }
      let out = stdout.trim();
      try {
        out = out ? JSON.parse(out) : null;
      } catch {
        /* not JSON: keep the text */
      }
      resolve(out);
    });
  });
}

// A key file path for a new phone, in a temporary dir removed when the test file ends.
function tempKeyFile(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nsauth-phone-"));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, `${name}.json`);
}

const LOGGED_IN = "text=/Logged in as /";

async function openDemo(page, base = env.base) {
  const res = await page.goto(`${base}/demo`, { waitUntil: "load" });
  assert.equal(res.status(), 200, "GET /demo");
}

// Waits until the block's script has chosen how it follows the session ("ws" once the
// WebSocket is open, "poll" once it polls).
async function waitTransport(page, transport, timeout = 15_000) {
  await page.waitForSelector(`.nsauth-block[data-transport="${transport}"]`, { timeout });
}

async function blockInfo(page) {
  return page.$eval(".nsauth-block", (el) => ({
    link: el.getAttribute("data-link"),
    hsid: el.getAttribute("data-hsid"),
    serverid: el.getAttribute("data-serverid"),
    state: window.nsauthBlock ? window.nsauthBlock._state(el) : null,
  }));
}

async function logoutFromPage(page) {
  await page.click('form[action$="/demo/logout"] [type="submit"], form[action$="/demo/logout"] button');
  await page.waitForSelector(".nsauth-block .nsauth-qr svg", { state: "visible", timeout: 15_000 });
  await page.waitForLoadState("load");
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

module.exports = {
  env,
  launch,
  newContext,
  assertNoErrors,
  screenshot,
  phone,
  tempKeyFile,
  openDemo,
  waitTransport,
  blockInfo,
  logoutFromPage,
  median,
  LOGGED_IN,
};
