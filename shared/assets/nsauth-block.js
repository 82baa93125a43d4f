/*
 * nsauth login block: keeps a page in step with its nsauth session (SPEC section 8).
 *
 * Finds every `.nsauth-block` (a login block from getHtmlLogin), `.nsauth-enrol` (an
 * enrolment block from getHtmlEnrol) and `.nsauth-footer` (the marker getHtmlFooter adds
 * to a page). Each one follows its session over the WebSocket in its `data-ws` (text
 * frames `TYPE HSID SERVERID ...`; REGISTER is answered with LOGIN or LOGOUT first, then
 * CANPROVOKE and the rest), reconnecting with exponential backoff; after 3 connections in
 * a row that fail to open (or with no `data-ws`, or no WebSocket in the browser) it polls
 * `data-status` instead.
 *
 * A block shows the progress of the login, the push button, the number to match and the
 * retry button; on LOGIN it calls the global function named by `data-callback` with the
 * hsid, or reloads the page. It ignores LOGOUT (the answer to REGISTER for a session not
 * logged in).
 *
 * An enrolment block shows its QR code and an "open the app" link (`data-applink`, else
 * `data-link`) until ENROLLED, or LOGIN when it was drawn for a session nobody was logged
 * in to (`data-session`; the enrolment logs the new account in):
 * then it says "enrolled" and calls `data-callback` with the hsid, if given (no reload).
 * Its `data-expires` is the enrolment link's end: after it, the block offers a retry.
 *
 * A footer reloads the page when its session is logged out, but only on a page rendered
 * for a logged-in session: `data-loggedin="true"` (or, from servers that do not write
 * the attribute, a footer at all). A footer with `data-loggedin="false"` watches nothing:
 * logging in is the login block's business, and a LOGOUT does not concern such a page.
 *
 * Transactions: a TXSTATUS frame (`TXSTATUS HSID SERVERID TID TSTATUS`) is dispatched as
 * the DOM event `nsauth:transaction` on the block or footer element (it bubbles to
 * `document`), with `detail` {hsid, serverid, tid, tstatus, state}: tstatus "0" (state
 * "new"), "1" ("approved") or "2" ("declined": declined or expired). Each tid and status
 * once per page. Only over the WebSocket: polling learns nothing of transactions, so a
 * page still asks its backend (getTransactionResult); the event only says when. Other
 * unknown frames are ignored (logged with console.info).
 *
 * Rotating QR code (setting `qr_rotation`): a block with `data-qr-key` (the attempt's key,
 * base64url) and `data-qr-time` (the server's time at rendering, unix seconds) draws a
 * new code every second while its QR code shows: the login link with `?t=STEP&m=MAC`,
 * STEP the server's time now (counted from `data-qr-time` by this page's monotonic clock,
 * so a wrong clock in the browser does no harm), MAC the first 16 bytes of
 * HMAC-SHA256(key, "nsauth-qr-v1" 0 hsid 0 STEP) in base64url (docs/phone-protocol.md).
 * The "open the app" link carries the same code. The current link is in the QR element's
 * `data-code`.
 *
 * No framework, no build step. The QR encoder (nsauth-qr.js, global `nsauthQr`) is served
 * in front of this script. Globals: `nsauthQr` and `window.nsauthBlock` (version,
 * `_state(el)`, the state name of a block or footer, and `_qrCode(key, hsid, step)`, for
 * debugging and tests).
 */
(function () {
  "use strict";

  var VERSION = "1";
  var WS_FIRST_DELAY = 1000; // ms before the first reconnect; doubles per failure
  var WS_MAX_DELAY = 30000;
  var WS_MAX_FAILURES = 3; // failures to open in a row before polling
  var WS_STABLE_AFTER = 5000; // an open connection that lasts this long has not failed
  var WS_REREGISTER_EVERY = 240000; // REGISTER again now and then: keeps idle sockets alive
  var POLL_EVERY = 2000;
  var POLL_AFTER_ERROR = 10000;
  var POLL_TIMEOUT = 10000;
  var PUSH_DISABLED_FOR = 5000;
  // Expiry writes nothing on the server, so nothing announces it: once the attempt's
  // `data-expires` has passed (by this browser's clock) the block asks again (REGISTER is
  // answered with EXPIRED), then every few seconds for a while in case the clocks differ.
  var EXPIRY_GRACE = 1000;
  var EXPIRY_RECHECK_EVERY = 5000;
  var EXPIRY_RECHECKS = 24;

  var ENROL_TEXT = {
    pending: "Scan the code with your authenticator app to add this website to it.",
    enrolled: "Enrolled: your phone can log in now.",
    expired: "The enrolment code has expired."
  };

  var TX_STATES = { "0": "new", "1": "approved", "2": "declined" };
  var TID = /^[A-Za-z0-9_-]{43}$/;
  var txSeen = {}; // tid -> the last tstatus dispatched

  var TEXT = {
    pending: "Scan the code with your authenticator app.",
    scanned: "Code scanned - confirm on your phone.",
    pushed: "Request sent - check your phone.",
    loggedin: "Logged in.",
    cancelled: "Login denied on the phone.",
    noaccounts: "Your phone has no account for this site yet.",
    expired: "The code has expired.",
    pushing: "Sending a login request to your phone..."
  };

  // States after which a block (or an enrolment block) waits for nothing more.
  var FINAL = { loggedin: true, cancelled: true, expired: true, enrolled: true };
  var ROTATE_CHECK_EVERY = 200; // ms between looks at the clock: a new code soon after each second

  // ---------------------------------------------------------------------------
  // SHA-256 and HMAC (FIPS 180-4, RFC 2104), synchronous: WebCrypto is async and missing
  // outside secure contexts, and a code must be ready the moment its second begins.
  var SHA_K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ];

  function sha256(bytes) {
    var h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    var n = bytes.length;
    var padded = new Uint8Array(((n + 9 + 63) >> 6) << 6);
    padded.set(bytes);
    padded[n] = 0x80;
    var bits = n * 8;
    for (var b = 0; b < 8; b++) {
      padded[padded.length - 1 - b] = b < 4 ? (bits >>> (8 * b)) & 0xff : Math.floor(bits / 4294967296) >>> (8 * (b - 4)) & 0xff;
    }
    var w = new Array(64);
    for (var off = 0; off < padded.length; off += 64) {
      for (var i = 0; i < 16; i++) {
        w[i] = (padded[off + 4 * i] << 24) | (padded[off + 4 * i + 1] << 16) | (padded[off + 4 * i + 2] << 8) | padded[off + 4 * i + 3];
      }
      for (i = 16; i < 64; i++) {
        var x = w[i - 15], y = w[i - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      var a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
      for (i = 0; i < 64; i++) {
        var t1 = (hh + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + ((e & f) ^ (~e & g)) + SHA_K[i] + w[i]) | 0;
        var t2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) + ((a & bb) ^ (a & c) ^ (bb & c))) | 0;
        hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = bb; bb = a; a = (t1 + t2) | 0;
      }
      h[0] = (h[0] + a) | 0; h[1] = (h[1] + bb) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
      h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + hh) | 0;
    }
    var out = new Uint8Array(32);
    for (i = 0; i < 32; i++) {
      out[i] = (h[i >> 2] >>> (24 - 8 * (i & 3))) & 0xff;
    }
    return out;
  }

  function hmacSha256(key, message) {
    if (key.length > 64) {
      key = sha256(key);
    }
    var inner = new Uint8Array(64 + message.length);
    var outer = new Uint8Array(64 + 32);
    for (var i = 0; i < 64; i++) {
      var k = i < key.length ? key[i] : 0;
      inner[i] = k ^ 0x36;
      outer[i] = k ^ 0x5c;
    }
    inner.set(message, 64);
    outer.set(sha256(inner), 64);
    return sha256(outer);
  }

  function utf8(text) {
    return new TextEncoder().encode(text);
  }

  function b64url(bytes) {
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function b64urlDecode(text) {
    var bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out;
  }

  // The MAC of one step of a rotating login code.
  function qrCode(key, hsid, step) {
    var mac = hmacSha256(key, utf8("nsauth-qr-v1\u0000" + hsid + "\u0000" + step));
    return b64url(mac.subarray(0, 16));
  }

  // `link` with the query of a code, before any query it has (the app-to-app `return`).
  function withCode(link, t, m) {
    var q = "t=" + t + "&m=" + m;
    var i = link.indexOf("?");
    return i < 0 ? link + "?" + q : link.slice(0, i) + "?" + q + "&" + link.slice(i + 1);
  }

  // An SVG of a QR code as the server draws one: module units, a 4-module quiet zone.
  function qrSvg(text, size) {
    var qr = nsauthQr(text);
    var side = qr.size + 8;
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("xmlns", ns);
    svg.setAttribute("version", "1.1");
    svg.setAttribute("width", String(size));
    svg.setAttribute("height", String(size));
    svg.setAttribute("viewBox", "0 0 " + side + " " + side);
    svg.setAttribute("shape-rendering", "crispEdges");
    var bg = document.createElementNS(ns, "rect");
    bg.setAttribute("x", "0");
    bg.setAttribute("y", "0");
    bg.setAttribute("width", String(side));
    bg.setAttribute("height", String(side));
    bg.setAttribute("fill", "#fff");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("fill", "#000");
    path.setAttribute("transform", "translate(4,4)");
    path.setAttribute("d", nsauthQr.svgPath(qr));
    svg.appendChild(bg);
    svg.appendChild(path);
    return svg;
  }

  var all = []; // every live controller
  var byElement = typeof WeakMap === "function" ? new WeakMap() : null;

  function info(msg) {
    try {
      if (window.console && console.info) {
        console.info("nsauth: " + msg);
      }
    } catch (e) {
      /* nothing to do */
    }
  }

  function attr(el, name) {
    var v = el.getAttribute(name);
    return v == null ? "" : String(v).trim();
  }

  function find(el, cls) {
    return el.querySelector("." + cls);
  }

  function show(node, visible) {
    if (!node) {
      return;
    }
    if (visible) {
      node.removeAttribute("hidden");
    } else {
      node.setAttribute("hidden", "");
    }
  }

  function isPhone() {
    try {
      var ua = (navigator.userAgent || "") + "";
      if (/Android|iPhone|iPad|iPod|Mobile|Windows Phone/i.test(ua)) {
        return true;
      }
      // iPadOS reports itself as a Mac: a touch screen on a "Mac" is an iPad.
      var touch = (navigator.maxTouchPoints || 0) > 0 || "ontouchstart" in window;
      var small = window.matchMedia
        ? window.matchMedia("(max-width: 820px)").matches
        : (window.innerWidth || 1024) <= 820;
      return touch && small;
    } catch (e) {
      return false;
    }
  }

  function jitter(ms) {
    return Math.round(ms * (0.75 + Math.random() * 0.5));
  }

  // `data-expires`: unix seconds (or an RFC 3339 time); ms since the epoch, or NaN.
  function parseExpires(v) {
    if (!v) {
      return NaN;
    }
    if (/^\d+$/.test(v)) {
      return Number(v) * 1000;
    }
    return Date.parse(v);
  }

  // Until when the page is leaving by itself (a form was just submitted, e.g. the
  // website's logout button): a reload then would abort that navigation, so it waits.
  var leavingUntil = 0;
  var LEAVING_FOR = 5000;

  function reload() {
    var wait = leavingUntil - Date.now();
    if (wait > 0) {
      // Still here after the navigation should have happened: reload then.
      setTimeout(reload, wait + 100);
      return;
    }
    try {
      window.location.reload();
    } catch (e) {
      info("cannot reload the page: " + e);
    }
  }

  // ---------------------------------------------------------------------------
  // One block or footer.

  // `kind`: "block", "enrol" or "footer".
  function Controller(el, kind) {
    var footer = kind === "footer";
    this.el = el;
    this.footer = footer;
    this.enrol = kind === "enrol";
    // A footer acts on the end of a login only on a page rendered logged in.
    this.loggedinPage = footer && attr(el, "data-loggedin") !== "false";
    this.serverid = attr(el, "data-serverid");
    this.hsid = attr(el, "data-hsid");
    this.wsUrl = attr(el, "data-ws");
    this.statusUrl = attr(el, "data-status");
    this.callback = attr(el, "data-callback");
    this.token = attr(el, "data-token");
    this.canprovoke = attr(el, "data-canprovoke") === "true";
    this.match = attr(el, "data-match");
    this.state = attr(el, "data-state") || (footer ? (this.loggedinPage ? "loggedin" : "loggedout") : "pending");
    // The session's state when the enrolment block was drawn: on a session logged in
    // already (a second device), LOGIN says nothing; ENROLLED does.
    this.sessionAtRender = attr(el, "data-session");
    if (this.enrol && !(this.state in ENROL_TEXT)) {
      // The session's state as the server rendered it: an enrolment waits until LOGIN.
      this.state = "pending";
    }
    this.expires = parseExpires(attr(el, "data-expires"));
    this.expiryTimer = null;
    this.ws = null;
    this.wsOpen = false;
    this.wsFailures = 0;
    this.wsTimer = null;
    this.stableTimer = null;
    this.registerTimer = null;
    this.pollTimer = null;
    this.polling = false;
    this.pollBusy = false;
    this.stopped = false;
    this.pushTimer = null;
    this.pushBusy = false;
    this.note = ""; // a message (ERROR frame) shown instead of the state's text

    this.qr = find(el, "nsauth-qr");
    this.matchBox = find(el, "nsauth-match");
    this.matchNumber = find(el, "nsauth-match-number");
    this.status = find(el, "nsauth-status");
    this.pushButton = find(el, "nsauth-push");
    this.openApp = find(el, "nsauth-open-app");
    this.retryButton = find(el, "nsauth-retry");
    this.phone = !footer && isPhone();
    this.rotation = null;
    var qrKey = attr(el, "data-qr-key");
    var qrTime = parseInt(attr(el, "data-qr-time"), 10);
    if (!footer && !this.enrol && this.qr && qrKey && !isNaN(qrTime)) {
      try {
        this.rotation = { key: b64urlDecode(qrKey), time: qrTime, at: monotonic(), step: null, timer: null };
      } catch (e) {
        info("the block's rotation key is not base64url: the code does not rotate");
      }
    }
  }

  function monotonic() {
    return window.performance && performance.now ? performance.now() : Date.now();
  }

  // Draws the code of the current second (when it changed) while the QR code shows.
  Controller.prototype.rotate = function () {
    var r = this.rotation;
    var self = this;
    if (!r || this.stopped || this.state in FINAL) {
      return;
    }
    var step = r.time + Math.floor((monotonic() - r.at) / 1000);
    if (step !== r.step && !this.qr.hidden) {
      var m = qrCode(r.key, this.hsid, step);
      var link = withCode(attr(this.el, "data-link"), step, m);
      try {
        var svg = qrSvg(link, 240);
        this.qr.textContent = "";
        this.qr.appendChild(svg);
        this.qr.setAttribute("data-code", link);
        r.step = step;
      } catch (e) {
        info("cannot draw the QR code: " + e.message);
      }
      if (this.openApp) {
        this.openApp.setAttribute("href", withCode(attr(this.el, "data-applink") || attr(this.el, "data-link"), step, m));
      }
    }
    r.timer = setTimeout(function () {
      self.rotate();
    }, ROTATE_CHECK_EVERY);
  };

  Controller.prototype.start = function () {
    var self = this;
    if (this.footer && !this.loggedinPage) {
      info("a footer of a page not logged in: nothing to watch");
      this.stopped = true;
      return;
    }
    if (!this.footer) {
      if (this.pushButton) {
        this.pushButton.addEventListener("click", function (ev) {
          ev.preventDefault();
          self.provoke();
        });
      }
      if (this.retryButton) {
        this.retryButton.addEventListener("click", function (ev) {
          ev.preventDefault();
          reload();
        });
      }
      if (this.openApp && !this.rotation) {
        var link = attr(this.el, "data-applink") || attr(this.el, "data-link");
        if (link) {
          this.openApp.setAttribute("href", link);
        }
      }
      this.render();
      this.rotate();
      // A block rendered in a final state waits for nothing (and never reloads by itself).
      if (this.state in FINAL) {
        return;
      }
    }
    // A block's attempt, or a footer's login (session_lifetime), ends without a frame:
    // the server writes nothing then, so ask again at data-expires.
    this.watchExpiry();
    this.connect();
  };

  Controller.prototype.watchExpiry = function () {
    var self = this;
    if (isNaN(this.expires)) {
      return;
    }
    if (this.enrol) {
      // The enrolment link's end: nothing on the server says it, and nothing can change
      // it. (A LOGIN that reaches the page later still wins.)
      this.expiryTimer = setTimeout(function () {
        if (!self.stopped && self.state === "pending") {
          self.setState("expired");
        }
      }, Math.min(2147483647, Math.max(0, this.expires - Date.now()) + EXPIRY_GRACE));
      return;
    }
    var checks = 0;
    var check = function () {
      // A footer watches a logged-in session until it ends; a block an attempt.
      var over = self.footer ? self.state === "loggedout" : self.state in FINAL;
      if (self.stopped || over) {
        return;
      }
      // Polling sees the expiry by itself; over the WebSocket, ask.
      self.send("REGISTER");
      checks += 1;
      if (checks <= EXPIRY_RECHECKS) {
        self.expiryTimer = setTimeout(check, EXPIRY_RECHECK_EVERY);
      }
    };
    var wait = Math.max(0, this.expires - Date.now()) + EXPIRY_GRACE;
    // setTimeout takes at most 2^31-1 ms; a later expiry is caught by the periodic REGISTER.
    if (wait < 2147483647) {
      this.expiryTimer = setTimeout(check, wait);
    }
  };

  // Opens the WebSocket, or polls when there is none.
  Controller.prototype.connect = function () {
    if (this.stopped) {
      return;
    }
    if (!this.wsUrl || typeof window.WebSocket !== "function") {
      this.startPolling(this.wsUrl ? "this browser has no WebSocket" : "no WebSocket URL");
      return;
    }
    this.openSocket();
  };

  Controller.prototype.openSocket = function () {
    var self = this;
    var ws;
    this.wsTimer = null;
    try {
      ws = new window.WebSocket(this.wsUrl);
    } catch (e) {
      this.socketFailed("cannot open the WebSocket: " + e);
      return;
    }
    this.ws = ws;
    var opened = false;
    var lasted = false;
    ws.onopen = function () {
      if (self.ws !== ws) {
        return;
      }
      opened = true;
      self.wsOpen = true;
      self.el.setAttribute("data-transport", "ws");
      self.send("REGISTER");
      self.stableTimer = setTimeout(function () {
        lasted = true;
        self.wsFailures = 0;
      }, WS_STABLE_AFTER);
      self.registerTimer = setInterval(function () {
        self.send("REGISTER");
      }, WS_REREGISTER_EVERY);
      self.render();
    };
    ws.onmessage = function (ev) {
      if (self.ws !== ws) {
        return;
      }
      lasted = true;
      self.wsFailures = 0;
      if (typeof ev.data === "string") {
        self.onFrame(ev.data);
      }
    };
    ws.onerror = function () {
      // A close event follows; nothing to log: failures are expected on bad networks.
    };
    ws.onclose = function () {
      if (self.ws !== ws) {
        return;
      }
      self.ws = null;
      self.wsOpen = false;
      clearTimeout(self.stableTimer);
      clearInterval(self.registerTimer);
      self.render();
      if (self.stopped) {
        return;
      }
      if (opened && lasted) {
        self.wsFailures = 0;
        self.scheduleReconnect("the WebSocket closed");
      } else {
        // Closed before it opened, or dropped at once: a failure to open.
        self.socketFailed(opened ? "the WebSocket closed at once" : "the WebSocket did not open");
      }
    };
  };

  Controller.prototype.socketFailed = function (why) {
    this.wsFailures += 1;
    if (this.wsFailures >= WS_MAX_FAILURES) {
      this.startPolling(why + " (" + this.wsFailures + " times)");
      return;
    }
    this.scheduleReconnect(why);
  };

  Controller.prototype.scheduleReconnect = function (why) {
    var self = this;
    // 1 s after a drop or a first failure, then 2 s, 4 s, ... up to 30 s.
    var delay = WS_FIRST_DELAY * Math.pow(2, Math.max(0, this.wsFailures - 1));
    delay = Math.min(WS_MAX_DELAY, jitter(delay));
    info(why + "; reconnecting in " + delay + " ms");
    clearTimeout(this.wsTimer);
    this.wsTimer = setTimeout(function () {
      self.openSocket();
    }, delay);
  };

  Controller.prototype.closeSocket = function () {
    clearTimeout(this.wsTimer);
    clearTimeout(this.stableTimer);
    clearInterval(this.registerTimer);
    this.wsTimer = null;
    var ws = this.ws;
    this.ws = null;
    this.wsOpen = false;
    if (ws) {
      try {
        ws.close();
      } catch (e) {
        /* already closing */
      }
    }
  };

  Controller.prototype.send = function (type) {
    if (!this.ws || !this.wsOpen) {
      return false;
    }
    try {
      var frame = type + " " + this.hsid + " " + this.serverid;
      // PROVOKE and LOGOUT carry the page's live token: the hsid alone proves nothing.
      if (type !== "REGISTER" && this.token) {
        frame += " " + this.token;
      }
      this.ws.send(frame);
      return true;
    } catch (e) {
      info("cannot send " + type + ": " + e);
      return false;
    }
  };

  // Stops everything this controller runs (final state, page leaving).
  Controller.prototype.stop = function () {
    this.stopped = true;
    if (this.rotation) {
      clearTimeout(this.rotation.timer);
    }
    this.closeSocket();
    this.stopPolling();
    clearTimeout(this.pushTimer);
    clearTimeout(this.expiryTimer);
  };

  // ---------------------------------------------------------------------------
  // Frames from the server.

  Controller.prototype.onFrame = function (text) {
    var parts = text.trim().split(/\s+/);
    var type = (parts[0] || "").toUpperCase();
    if (type === "ERROR") {
      var code = parts[1] || "error";
      var message = parts.slice(2).join(" ") || code;
      this.onError(code, message);
      return;
    }
    // Frames name the session: ignore those of another one.
    if (parts.length >= 2 && parts[1] !== this.hsid) {
      return;
    }
    if (parts.length >= 3 && this.serverid && parts[2] !== this.serverid) {
      return;
    }
    if (type === "TXSTATUS") {
      this.onTransaction(parts[3], parts[4]);
      return;
    }
    if (this.enrol) {
      // The enrolment logs the new account in: LOGIN. Everything else (the LOGOUT that
      // answers REGISTER, the login attempt's frames) is the login block's business.
      if (type === "ENROLLED" || (type === "LOGIN" && this.sessionAtRender !== "loggedin")) {
        this.setState("enrolled");
      }
      return;
    }
    if (this.footer) {
      // A logged-in page only cares about the end of its login.
      if (type === "LOGOUT" || type === "EXPIRED") {
        this.setState("loggedout");
      }
      return;
    }
    switch (type) {
      case "LOGIN":
        this.setState("loggedin");
        break;
      case "LOGOUT":
        // A block ignores it: its session has begun a new attempt since that logout (a
        // late LOGOUT can reach the page that the logout reloaded).
        break;
      case "CONFIRMSCAN":
        this.setState("scanned");
        break;
      case "CONFIRMPROVOKE":
        this.setState("pushed");
        break;
      case "CANCEL":
        this.setState("cancelled");
        break;
      case "NOACCOUNTS":
        this.setState("noaccounts");
        break;
      case "EXPIRED":
        this.setState("expired");
        break;
      case "CANPROVOKE":
        this.canprovoke = true;
        this.render();
        break;
      case "MATCH":
        if (parts[3]) {
          this.match = parts[3];
          this.render();
        }
        break;
      default:
        info("unknown frame " + type);
    }
  };

  // `nsauth:transaction` on the element (bubbling), once per tid and status.
  Controller.prototype.onTransaction = function (tid, tstatus) {
    if (!TID.test(tid || "") || !(tstatus in TX_STATES)) {
      info("bad TXSTATUS frame ignored");
      return;
    }
    if (txSeen[tid] === tstatus) {
      return;
    }
    txSeen[tid] = tstatus;
    var detail = { hsid: this.hsid, serverid: this.serverid, tid: tid, tstatus: tstatus, state: TX_STATES[tstatus] };
    var ev;
    try {
      ev = new window.CustomEvent("nsauth:transaction", { bubbles: true, detail: detail });
    } catch (e) {
      ev = document.createEvent("CustomEvent");
      ev.initCustomEvent("nsauth:transaction", true, false, detail);
    }
    try {
      this.el.dispatchEvent(ev);
    } catch (e) {
      // A listener's exception is the page's; the block goes on.
      info("a nsauth:transaction listener failed: " + e);
    }
  };

  Controller.prototype.onError = function (code, message) {
    if (this.footer || (this.enrol && this.state !== "pending")) {
      info("server error " + code + ": " + message);
      return;
    }
    this.pushBusy = false;
    clearTimeout(this.pushTimer);
    if (this.state === "pushed") {
      this.state = "pending";
    }
    this.note = message;
    this.el.setAttribute("data-error", code);
    this.render();
  };

  // ---------------------------------------------------------------------------
  // Polling.

  Controller.prototype.startPolling = function (why) {
    this.closeSocket();
    if (!this.statusUrl) {
      info(why + " and no status URL: the page will not follow the session");
      return;
    }
    info(why + ": polling " + this.statusUrl);
    this.polling = true;
    this.el.setAttribute("data-transport", "poll");
    this.render();
    this.schedulePoll(0);
  };

  Controller.prototype.stopPolling = function () {
    this.polling = false;
    clearTimeout(this.pollTimer);
    this.pollTimer = null;
  };

  Controller.prototype.schedulePoll = function (delay) {
    var self = this;
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(function () {
      self.poll();
    }, delay);
  };

  Controller.prototype.poll = function () {
    var self = this;
    if (!this.polling || this.stopped || this.pollBusy) {
      return;
    }
    this.pollBusy = true;
    var done = function (ok) {
      self.pollBusy = false;
      if (self.polling && !self.stopped) {
        self.schedulePoll(ok ? POLL_EVERY : POLL_AFTER_ERROR);
      }
    };
    getJson(this.statusUrl, function (err, body) {
      if (err) {
        info("status poll failed (" + err + "); next in " + POLL_AFTER_ERROR / 1000 + " s");
        done(false);
        return;
      }
      try {
        self.onStatus(body);
      } catch (e) {
        info("bad status answer: " + e);
        done(false);
        return;
      }
      done(true);
    });
  };

  Controller.prototype.onStatus = function (body) {
    if (!body || typeof body.state !== "string") {
      throw new Error("no state");
    }
    var s = body.state;
    if (this.footer) {
      if (s === "loggedout" || s === "expired") {
        this.setState("loggedout");
      }
      return;
    }
    if (this.enrol) {
      // Polling sees a login only: enough unless the session was logged in already.
      if (s === "loggedin" && this.sessionAtRender !== "loggedin") {
        this.setState("enrolled");
      }
      return;
    }
    if (typeof body.canprovoke === "boolean") {
      this.canprovoke = body.canprovoke;
    }
    // The answer has a match only while one is outstanding.
    this.match = typeof body.match === "string" ? body.match : "";
    switch (s) {
      case "loggedin":
      case "cancelled":
      case "expired":
      case "scanned":
        this.setState(s);
        break;
      case "pending":
        // A pending poll does not undo what only the WebSocket tells (pushed, noaccounts).
        if (this.state === "scanned") {
          this.setState("pending");
        } else {
          this.render();
        }
        break;
      default:
        // loggedout: the block's own attempt has not begun yet (or a stale answer).
        this.render();
    }
  };

  // GET url as JSON without credentials; cb(errorText, body).
  function getJson(url, cb) {
    var finished = false;
    var finish = function (err, body) {
      if (!finished) {
        finished = true;
        cb(err, body);
      }
    };
    if (typeof window.fetch === "function") {
      var controller = typeof AbortController === "function" ? new AbortController() : null;
      var timer = setTimeout(function () {
        if (controller) {
          controller.abort();
        }
        finish("timed out");
      }, POLL_TIMEOUT);
      var opts = { method: "GET", credentials: "omit", cache: "no-store", mode: "cors" };
      if (controller) {
        opts.signal = controller.signal;
      }
      window
        .fetch(url, opts)
        .then(function (res) {
          if (!res.ok) {
            throw new Error("HTTP " + res.status);
          }
          return res.json();
        })
        .then(
          function (body) {
            clearTimeout(timer);
            finish(null, body);
          },
          function (e) {
            clearTimeout(timer);
            finish(String((e && e.message) || e));
          }
        );
      return;
    }
    try {
      var xhr = new XMLHttpRequest();
      xhr.open("GET", url, true);
      xhr.timeout = POLL_TIMEOUT;
      xhr.onload = function () {
        if (xhr.status < 200 || xhr.status >= 300) {
          finish("HTTP " + xhr.status);
          return;
        }
        try {
          finish(null, JSON.parse(xhr.responseText));
        } catch (e) {
          finish("not JSON");
        }
      };
      xhr.onerror = function () {
        finish("network error");
      };
      xhr.ontimeout = function () {
        finish("timed out");
      };
      xhr.send();
    } catch (e) {
      finish(String(e));
    }
  }

  // ---------------------------------------------------------------------------
  // State and view.

  Controller.prototype.setState = function (state) {
    var before = this.state;
    this.state = state;
    if (this.footer) {
      this.el.setAttribute("data-state", state);
      if (state === "loggedout") {
        this.stop();
        reload();
      }
      return;
    }
    if (this.enrol) {
      if (state !== before) {
        this.note = "";
        this.el.removeAttribute("data-error");
      }
      this.render();
      if (state === "enrolled") {
        this.stop();
        this.callCallback();
      } else if (state === "expired") {
        this.stop();
      }
      return;
    }
    if (state in FINAL) {
      // The number only matters while the phone is deciding.
      this.match = "";
    }
    if (state !== before) {
      this.note = "";
      this.el.removeAttribute("data-error");
    }
    this.render();
    if (state === "loggedin") {
      this.loggedIn();
    } else if (state === "cancelled" || state === "expired") {
      this.stop();
    }
  };

  Controller.prototype.loggedIn = function () {
    this.stop();
    if (!this.callCallback()) {
      reload();
    }
  };

  // Calls the global function named by data-callback with the hsid; false when there is
  // none to call.
  Controller.prototype.callCallback = function () {
    var name = this.callback;
    if (name) {
      // A dotted name (`app.auth.done`) is looked up step by step from window, and called
      // with its object as `this`.
      var owner = window;
      var fn = window;
      var parts = name.split(".");
      for (var i = 0; i < parts.length && fn != null; i++) {
        owner = fn;
        fn = fn[parts[i]];
      }
      if (typeof fn === "function") {
        try {
          fn.call(owner, this.hsid);
        } catch (e) {
          if (window.console && console.warn) {
            console.warn("nsauth: the login callback " + name + " failed:", e);
          }
        }
        return true;
      }
      info("no global function " + name + (this.enrol ? "" : "; reloading instead"));
    }
    return false;
  };

  Controller.prototype.renderEnrol = function () {
    var s = this.state;
    this.el.setAttribute("data-state", s);
    if (this.status) {
      var text = this.note || ENROL_TEXT[s] || ENROL_TEXT.pending;
      if (this.status.textContent !== text) {
        this.status.textContent = text;
      }
    }
    show(this.qr, s === "pending");
    show(this.openApp, s === "pending");
    show(this.retryButton, s === "expired");
  };

  Controller.prototype.render = function () {
    if (this.footer) {
      return;
    }
    if (this.enrol) {
      this.renderEnrol();
      return;
    }
    var s = this.state;
    var final = s in FINAL;
    this.el.setAttribute("data-state", s);
    this.el.setAttribute("data-canprovoke", this.canprovoke ? "true" : "false");
    this.el.setAttribute("data-match", this.match || "");
    if (this.status) {
      var text = this.note || (this.pushBusy && s === "pending" ? TEXT.pushing : "");
      text = text || TEXT[s] || TEXT.pending;
      if (this.status.textContent !== text) {
        this.status.textContent = text;
      }
    }
    show(this.qr, s === "pending" || s === "pushed" || s === "noaccounts");
    var hasMatch = !!this.match && !final;
    if (this.matchNumber) {
      this.matchNumber.textContent = hasMatch ? this.match : "";
    }
    show(this.matchBox, hasMatch);
    if (this.pushButton) {
      show(this.pushButton, this.canprovoke && this.wsOpen && !final && s !== "scanned");
      this.pushButton.disabled = this.pushBusy;
    }
    show(this.openApp, this.phone && !final);
    show(this.retryButton, s === "cancelled" || s === "expired");
  };

  Controller.prototype.provoke = function () {
    var self = this;
    if (this.pushBusy || !this.canprovoke || !this.send("PROVOKE")) {
      return;
    }
    this.pushBusy = true;
    this.note = "";
    this.el.removeAttribute("data-error");
    this.render();
    clearTimeout(this.pushTimer);
    this.pushTimer = setTimeout(function () {
      self.pushBusy = false;
      self.render();
    }, PUSH_DISABLED_FOR);
  };

  // ---------------------------------------------------------------------------
  // Start-up.

  function hasClass(el, name) {
    return new RegExp("(^|\\s)" + name + "(\\s|$)").test(el.className || "");
  }

  function init() {
    var nodes = document.querySelectorAll(".nsauth-block, .nsauth-enrol, .nsauth-footer");
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      if (el.getAttribute("data-nsauth-started") === "1") {
        continue;
      }
      el.setAttribute("data-nsauth-started", "1");
      var kind = hasClass(el, "nsauth-block") ? "block" : hasClass(el, "nsauth-enrol") ? "enrol" : "footer";
      var c = new Controller(el, kind);
      if (!c.hsid) {
        info("a " + kind + " without data-hsid: skipped");
        continue;
      }
      all.push(c);
      if (byElement) {
        byElement.set(el, c);
      }
      try {
        c.start();
      } catch (e) {
        info("cannot start: " + e);
      }
    }
  }

  function controllerOf(el) {
    if (el == null) {
      return all[0] || null;
    }
    if (typeof el === "string") {
      el = document.querySelector(el);
    }
    if (!el) {
      return null;
    }
    if (byElement) {
      return byElement.get(el) || null;
    }
    for (var i = 0; i < all.length; i++) {
      if (all[i].el === el) {
        return all[i];
      }
    }
    return null;
  }

  // A form submission the page's own scripts did not take over navigates away.
  window.addEventListener("submit", function (ev) {
    if (!ev.defaultPrevented) {
      leavingUntil = Date.now() + LEAVING_FOR;
    }
  });

  // Leaving the page: close sockets so nothing reconnects; coming back from the
  // back-forward cache: start again (the session may have changed meanwhile).
  window.addEventListener("pagehide", function () {
    for (var i = 0; i < all.length; i++) {
      all[i].closeSocket();
      all[i].stopPolling();
    }
  });
  window.addEventListener("pageshow", function (ev) {
    if (!ev.persisted) {
      return;
    }
    for (var i = 0; i < all.length; i++) {
      var c = all[i];
      if (!c.stopped) {
        c.wsFailures = 0;
        c.polling = false;
        c.connect();
      }
    }
  });

  window.nsauthBlock = {
    version: VERSION,
    // The MAC of a rotating code (key in base64url), for tests against the documented vector.
    _qrCode: function (key, hsid, step) {
      return qrCode(b64urlDecode(key), hsid, step);
    },
    _state: function (el) {
      var c = controllerOf(el);
      return c ? c.state : null;
    }
  };

  try {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", init);
    } else {
      init();
    }
  } catch (e) {
    info("cannot start: " + e);
  }
})();
