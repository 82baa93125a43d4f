// A stand-in for the nsauth server side of the live view, for testing the block's script
// alone: serves a page holding a login block (or a footer, or an enrolment block) in the
// shape getHtmlLogin, getHtmlFooter and getHtmlEnrol produce, the real shared/assets/nsauth-block.{js,css}, a status endpoint
// answering what the test sets, and a WebSocket endpoint (a minimal RFC 6455 server: text
// frames only) whose frames the test sends and reads.
"use strict";

const crypto = require("node:crypto");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");

const ASSETS = path.resolve(__dirname, "../../shared/assets");
const SERVERID = "AAECAwQFBgcICQoLDA0ODw";
const HSID = "oMq6h_iXjjAWw1CR3fzlBA";
// The page's live token (data-token), as the website renders it: PROVOKE and LOGOUT carry it.
const TOKEN = "fakeLiveToken0123456789";
const QR =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 29 29" width="290" height="290">' +
  '<rect width="29" height="29" fill="#fff"/><path d="M4 4h7v7H4zM18 4h7v7h-7zM4 18h7v7H4zM13 13h3v3h-3z" fill="#000"/></svg>';

function escapeAttr(s) {
  return String(s).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
}

class FakeServer {
  constructor() {
    this.sockets = new Set();
    this.received = []; // text frames from the page
    this.status = { state: "pending", canprovoke: false };
    // Served to the next status request only, then `status` again.
    this.statusOnce = null;
    this.statusCode = 200;
    this.statusRequests = 0;
    this.pageLoads = 0;
    this.acceptWs = true;
    this.waiters = [];
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.on("upgrade", (req, socket) => this.onUpgrade(req, socket));
  }

  async start() {
    await new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.base = `http://127.0.0.1:${this.server.address().port}`;
    return this;
  }

  async stop() {
    for (const s of this.sockets) {
      s.destroy();
    }
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(resolve));
  }

  // URL of a page; options become the block's data attributes (see page()).
  url(options = {}) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(options)) {
      q.set(k, String(v));
    }
    return `${this.base}/page?${q}`;
  }

  page(q) {
    const wsUrl = q.has("ws") ? q.get("ws") : `${this.base.replace("http", "ws")}/ws`;
    const statusUrl = `${this.base}/status/${SERVERID}/${HSID}`;
    const link = `nsauth://login/${SERVERID}/${HSID}`;
    const applink = q.has("applink") ? q.get("applink") : `${link}?return=${encodeURIComponent(this.base + "/page")}`;
    const a = (name, value) => ` data-${name}="${escapeAttr(value)}"`;
    let body;
    if (q.get("footer") === "1") {
      // loggedin=true|false: the footer's data-loggedin (left out when not given, as
      // servers before it wrote the footer on logged-in pages only).
      const loggedin = q.get("loggedin");
      body =
        `<p class="logged-in">Logged in as someone</p>` +
        `<form method="post" action="/logout"><button type="submit" class="logout">Log out</button></form>` +
        `<div class="nsauth-footer" hidden${a("serverid", SERVERID)}${a("hsid", HSID)}${a("ws", wsUrl)}` +
        `${a("status", statusUrl)}${loggedin === "false" ? "" : a("state", "loggedin")}${a("token", TOKEN)}` +
        `${loggedin ? a("loggedin", loggedin) : ""}` +
        `${q.has("expires") ? a("expires", q.get("expires")) : ""}></div>`;
    } else if (q.get("enrol") === "1") {
      const enrolLink = `nsauth://enrol/${SERVERID}/q-_0123456789abcdefABC?api=${encodeURIComponent(this.base + "/")}`;
      body =
        `<h1>Fake website: add a phone</h1>` +
        `<div class="nsauth-enrol"${a("serverid", SERVERID)}${a("hsid", HSID)}${a("ws", wsUrl)}` +
        `${a("status", statusUrl)}${a("state", q.get("state") || "pending")}` +
        `${q.has("session") ? a("session", q.get("session")) : ""}` +
        `${q.has("expires") ? a("expires", q.get("expires")) : ""}${a("link", enrolLink)}` +
        `${a("applink", q.get("applink") || "")}${a("callback", q.get("callback") || "")}${a("token", TOKEN)}>` +
        `<div class="nsauth-qr">${QR}</div>` +
        `<p class="nsauth-status" aria-live="polite">Scan the code with your authenticator app to add this website to it.</p>` +
        `<a class="nsauth-open-app" href="${escapeAttr(enrolLink)}">Open the app</a>` +
        `<button type="button" class="nsauth-retry" hidden>Try again</button>` +
        `</div>`;
    } else {
      body =
        `<h1>Fake website</h1>` +
        `<div class="nsauth-block"${a("serverid", SERVERID)}${a("hsid", HSID)}${a("ws", wsUrl)}` +
        `${a("status", statusUrl)}${a("state", q.get("state") || "pending")}` +
        `${a("canprovoke", q.get("canprovoke") || "false")}${a("match", q.get("match") || "")}` +
        `${q.has("expires") ? a("expires", q.get("expires")) : ""}${a("link", link)}${a("applink", applink)}${a("callback", q.get("callback") || "")}${a("token", TOKEN)}>` +
        `<div class="nsauth-qr">${QR}</div>` +
        `<div class="nsauth-match" hidden><span class="nsauth-match-label">Pick this number on your phone</span> <span class="nsauth-match-number"></span></div>` +
        `<p class="nsauth-status" aria-live="polite">Scan the code with your authenticator app.</p>` +
        `<button type="button" class="nsauth-push" hidden>Send a login request to my phone</button>` +
        `<a class="nsauth-open-app" href="${escapeAttr(link)}" hidden>Open the app</a>` +
        `<button type="button" class="nsauth-retry" hidden>Try again</button>` +
        `</div>`;
    }
    const callbackScript =
      (q.get("callback")
        ? `<script>window.loginCalls = []; window.${q.get("callback")} = function (h) { window.loginCalls.push(h); };</script>`
        : "") +
      // Records the nsauth:transaction events that reach the document.
      `<script>window.txEvents = []; document.addEventListener("nsauth:transaction", function (e) { window.txEvents.push(e.detail); });</script>`;
    return (
      `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
      `<meta name="viewport" content="width=device-width, initial-scale=1">` +
      `<title>fake</title><link rel="icon" href="data:,">${callbackScript}</head><body>${body}` +
      `<link rel="stylesheet" href="/assets/nsauth-block.css"><script src="/assets/nsauth-block.js" defer></script>` +
      `</body></html>`
    );
  }

  onRequest(req, res) {
    res.on("finish", () => this.notify());
    const u = new URL(req.url, this.base);
    if (u.pathname === "/logout" && req.method === "POST") {
      // A website's logout: slow enough for the LOGOUT frame to arrive meanwhile.
      this.logoutPosts = (this.logoutPosts || 0) + 1;
      req.resume();
      setTimeout(() => {
        res.writeHead(303, { location: "/page?after=logout" });
        res.end();
      }, 500);
      if (this.onLogoutPost) {
        this.onLogoutPost();
      }
      return;
    }
    if (u.pathname === "/page") {
      this.pageLoads += 1;
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      res.end(this.page(u.searchParams));
      return;
    }
    const asset = /^\/assets\/(nsauth-block\.(js|css))$/.exec(u.pathname);
    if (asset) {
      const type = asset[2] === "js" ? "text/javascript" : "text/css";
      res.writeHead(200, { "content-type": `${type}; charset=utf-8`, "cache-control": "no-store" });
      res.end(fs.readFileSync(path.join(ASSETS, asset[1])));
      return;
    }
    if (u.pathname === `/status/${SERVERID}/${HSID}`) {
      this.statusRequests += 1;
      res.writeHead(this.statusCode, {
        "content-type": "application/json",
        "access-control-allow-origin": "*",
        "cache-control": "no-store",
      });
      const answer = this.statusOnce || this.status;
      this.statusOnce = null;
      res.end(JSON.stringify(answer));
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found");
  }

  onUpgrade(req, socket) {
    const key = req.headers["sec-websocket-key"];
    if (!this.acceptWs || new URL(req.url, this.base).pathname !== "/ws" || !key) {
      socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    const accept = crypto
      .createHash("sha1")
      .update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
      .digest("base64");
    socket.write(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`
    );
    socket.setNoDelay(true);
    this.sockets.add(socket);
    let buf = Buffer.alloc(0);
    socket.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const frame = parseFrame(buf);
        if (!frame) {
          break;
        }
        buf = buf.subarray(frame.length);
        if (frame.opcode === 0x1) {
          const text = frame.payload.toString("utf8");
          this.received.push(text);
          this.notify();
        } else if (frame.opcode === 0x8) {
          socket.end(encodeFrame(0x8, Buffer.alloc(0)));
          this.sockets.delete(socket);
        } else if (frame.opcode === 0x9) {
          socket.write(encodeFrame(0xa, frame.payload));
        }
      }
    });
    const gone = () => {
      this.sockets.delete(socket);
      this.notify();
    };
    socket.on("close", gone);
    socket.on("error", gone);
    this.notify();
  }

  // Sends a text frame to every connected page.
  send(text) {
    for (const s of this.sockets) {
      s.write(encodeFrame(0x1, Buffer.from(text, "utf8")));
    }
  }

  // Closes every WebSocket from the server's side.
  dropSockets() {
    for (const s of this.sockets) {
      s.end(encodeFrame(0x8, Buffer.from([0x03, 0xe9]))); // 1001 going away
      s.destroy();
    }
    this.sockets.clear();
  }

  notify() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      if (!w.check()) {
        this.waiters.push(w);
      }
    }
  }

  // Resolves once predicate(this) holds; rejects after timeout ms.
  waitFor(predicate, what, timeout = 10_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out waiting for ${what}; received ${JSON.stringify(this.received)}`));
      }, timeout);
      const waiter = {
        check: () => {
          if (predicate(this)) {
            clearTimeout(timer);
            resolve();
            return true;
          }
          return false;
        },
      };
      if (!waiter.check()) {
        this.waiters.push(waiter);
      }
    });
  }

  // Resolves once the page has sent `count` frames equal to text.
  waitForFrame(text, count = 1, timeout = 10_000) {
    return this.waitFor((s) => s.received.filter((r) => r === text).length >= count, `${count}x "${text}"`, timeout);
  }
}

function parseFrame(buf) {
  if (buf.length < 2) {
    return null;
  }
  const opcode = buf[0] & 0x0f;
  const masked = (buf[1] & 0x80) !== 0;
  let len = buf[1] & 0x7f;
  let off = 2;
  if (len === 126) {
    if (buf.length < 4) {
      return null;
    }
    len = buf.readUInt16BE(2);
    off = 4;
  } else if (len === 127) {
    if (buf.length < 10) {
      return null;
    }
    len = Number(buf.readBigUInt64BE(2));
    off = 10;
  }
  const maskLen = masked ? 4 : 0;
  if (buf.length < off + maskLen + len) {
    return null;
  }
  const mask = masked ? buf.subarray(off, off + 4) : null;
  const payload = Buffer.from(buf.subarray(off + maskLen, off + maskLen + len));
  if (mask) {
    for (let i = 0; i < payload.length; i++) {
      payload[i] ^= mask[i % 4];
    }
  }
  return { opcode, payload, length: off + maskLen + len };
}

function encodeFrame(opcode, payload) {
  let header;
  if (payload.length < 126) {
    header = Buffer.from([0x80 | opcode, payload.length]);
  } else if (payload.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 126;
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  return Buffer.concat([header, payload]);
}

module.exports = { FakeServer, SERVERID, HSID, TOKEN };
