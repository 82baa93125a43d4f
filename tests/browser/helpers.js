// Shared helpers of the browser tests (node --test, playwright-core driving Debian's
// chromium). Run through infra/scripts/browser-tests.sh, which starts the local stack and
// sets the environment read here.
"use strict";

const assert = require("node:assert/strict");
const { execFile, execFileSync } = require("node:child_process");
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

// Closes a browser, and never hangs a test file: a browser.close() that has not returned
// after 20 s (a Chromium stuck in its shutdown) is given up on, and the Chromium
// processes this process started are killed. Teardown trouble is reported on stderr, not
// as a test failure: the tests have already said what they checked.
async function closeBrowser(browser) {
  if (!browser) {
    return;
  }
  try {
    await bounded(browser.close(), 20_000, "browser.close()");
  } catch (e) {
    console.error(`closeBrowser: ${e.message}; killing chromium`);
    killChildBrowsers();
  }
}

// Resolves as `promise` does, or rejects after `ms` with a message naming `what`.
function bounded(promise, ms, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => {
      console.error(`${what} has not returned after ${ms} ms; giving up on it`);
      reject(new Error(`${what} hung for ${ms} ms`));
    }, ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

// SIGKILLs the chromium processes that are children of this process (Playwright spawns the
// browser directly; its zygote and renderers end with it).
function killChildBrowsers() {
  try {
    execFileSync("pkill", ["-KILL", "-P", String(process.pid), "chromium"], { stdio: "ignore" });
  } catch {
    /* none left: pkill exits 1 */
  }
}

// The last guard of a test file: whatever hangs (a hook, a browser that never answers),
// the file's process ends within NSAUTH_BROWSER_FILE_LIMIT_S (default 10 minutes) with
// a failure, instead of holding up `make test`. unref(): the timer alone keeps nothing
// alive.
const FILE_LIMIT_S = Number(process.env.NSAUTH_BROWSER_FILE_LIMIT_S || 600);
setTimeout(() => {
  console.error(`${path.basename(require.main ? require.main.filename : "test file")}: still running after ${FILE_LIMIT_S} s; killing chromium and failing the file`);
  killChildBrowsers();
  process.exit(1);
}, FILE_LIMIT_S * 1000).unref();

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
  // context.close() can hang when a page is starting a navigation at that moment (a
  // block reloading on LOGIN or LOGOUT): Chromium 156 then stalls for about two minutes
  // and dies. Tests wait for such reloads before closing; this bound turns a missed one
  // into a message and a quick failure instead of a stalled run.
  const close = context.close.bind(context);
  context.close = (...args) => bounded(close(...args), 20_000, "context.close()");
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
    // The link the QR code shows now: with rotation, the current code's.
    link: el.querySelector(".nsauth-qr").getAttribute("data-code") || el.getAttribute("data-link"),
    staticLink: el.getAttribute("data-link"),
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
  closeBrowser,
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
