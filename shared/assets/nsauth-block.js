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
 * No framework, no build step. Globals: only `window.nsauthBlock` (version, and
 * `_state(el)`, the state name of a block or footer, for debugging and tests).
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
  }

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
      if (this.openApp) {
        var link = attr(this.el, "data-applink") || attr(this.el, "data-link");
        if (link) {
          this.openApp.setAttribute("href", link);
        }
      }
      this.render();
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
