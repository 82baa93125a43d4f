/*
 * The phone simulator of the nsauth local stack (GET /phone): the phone's side of the
 * protocol (docs/phone-protocol.md) in a browser tab, with no framework.
 *
 * - Keys: one ECDSA P-256 key pair per account from WebCrypto (`generateKey`, the private
 *   key not extractable). Accounts (serverid, servername, API base, accountid, userid,
 *   push token and the CryptoKey objects, which IndexedDB stores as they are) live in
 *   IndexedDB, so a reload keeps them.
 * - Signing: `Authorization: NSAuth-P256 server=,account=,ts=,sig=` over
 *   "NSAUTH-P256-V1\n" METHOD "\n" PATH_WITH_QUERY "\n" ts "\n" hex(SHA-256(body)), the
 *   signature being WebCrypto's raw r||s in base64url.
 * - Push: enrolment registers a made-up FCM token (`sim-...`); the inbox reads the local
 *   stack's push outbox (`GET /local/outbox?token=`) every 2 s.
 * - Transactions: a transaction link (`{link_base}tx/{serverid}/{tid}`) or a transaction
 *   push (FCM type `nsauth-transaction` with a `tid`) opens the transaction (a signed
 *   `GET /app/v1/transactions/{tid}`): its `signed` text must read back as the server
 *   writes it (compact JSON, fields in order, type `nsauth-transaction-v1`) and name this
 *   transaction, server and account; amount and beneficiary are shown from it. Approving
 *   signs the UTF-8 bytes of `signed` exactly as received (ECDSA P-256, base64url r||s).
 *
 * Calls go to the API base of the enrolment link: the local stack serves this page, so
 * they are same-origin. Global: `window.nsauthPhone` (the signing functions, for tests).
 */
(function () {
  "use strict";

  var CONTEXT = "NSAUTH-P256-V2";
  var KEY_ALG = { name: "ECDSA", namedCurve: "P-256" };
  var SIGN_ALG = { name: "ECDSA", hash: "SHA-256" };
  var CLIENT_VERSION = "nsauth-phone-simulator/1";
  var POLL_EVERY = 2000;
  var SESSIONS_EVERY = 5000;
  var DB_NAME = "nsauth-phone-simulator";
  var DB_STORE = "accounts";
  var HANDLED_KEY = "nsauth-phone-simulator.handled";
  var PIN_KEY = "nsauth-phone-simulator.pin";
  var NETWORK_KEY = "nsauth-phone-simulator.network";
  // The address the simulator stands for when switched to "another network": the local
  // stack believes X-Nsauth-Local-Source-Ip from this machine (API Gateway never does).
  // The browser is at 127.0.0.1 for the local stack; 10.77.0.23 is another private network.
  var OTHER_NETWORK_IP = "10.77.0.23";
  // The app PIN's slow hash, as the reference authenticator keeps it (PBKDF2-HMAC-SHA256).
  var PIN_ROUNDS = 600000;
  var ID22 = /^[A-Za-z0-9_-]{22}$/;
  var TID = /^[A-Za-z0-9_-]{43}$/;
  var SIGNED_TYPE = "nsauth-transaction-v1";
  var SIGNED_FIELDS = ["type", "serverid", "servername", "tid", "accountid", "amount", "benificiary", "description", "created"];
  var SNS_KEYS = { fcm: "GCM", apns: "APNS", apns_sandbox: "APNS_SANDBOX" };

  var utf8 = new TextEncoder();

  function PhoneError(code, message, status) {
    this.name = "PhoneError";
    this.code = code;
    this.message = message;
    this.status = status || 0;
  }
  PhoneError.prototype = Object.create(Error.prototype);
  PhoneError.prototype.constructor = PhoneError;

  function sleep(ms) {
    return new Promise(function (resolve) {
      setTimeout(resolve, ms);
    });
  }

  // ---------------------------------------------------------------------------
  // Encodings

  function bytesOf(data) {
    if (data == null) {
      return new Uint8Array(0);
    }
    if (typeof data === "string") {
      return utf8.encode(data);
    }
    if (data instanceof ArrayBuffer) {
      return new Uint8Array(data);
    }
    if (ArrayBuffer.isView(data)) {
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    }
    throw new TypeError("expected a string or bytes");
  }

  // base64url without padding.
  function b64url(data) {
    var bytes = bytesOf(data);
    var s = "";
    for (var i = 0; i < bytes.length; i++) {
      s += String.fromCharCode(bytes[i]);
    }
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function b64urlDecode(text) {
    var s = String(text);
    if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) {
      throw new PhoneError("bad_encoding", "not base64url: " + s.slice(0, 40));
    }
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out;
  }

  function hex(data) {
    var bytes = bytesOf(data);
    var s = "";
    for (var i = 0; i < bytes.length; i++) {
      s += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    }
    return s;
  }


  // ---------------------------------------------------------------------------
  // Visual hash (docs/phone-protocol.md, "Visual hash"): the picture the website's
  // enrolment page shows too, computed from the enrolment link alone.

  var VASH_CELL = 16;
  var VASH_SIDE = 160;

  // {cells: 8 rows of 8 booleans, colour: [r, g, b]} of a server id and API base.
  async function vash(serverid, api) {
    var d = new Uint8Array(
      await crypto.subtle.digest("SHA-256", utf8.encode("nsauth-vash-v1\u0000" + serverid + "\u0000" + api))
    );
    var cells = [];
    for (var r = 0; r < 8; r++) {
      var row = [];
      for (var c = 0; c < 8; c++) {
        var bit = c < 4 ? c : 7 - c;
        row.push(((d[r] >> bit) & 1) === 1);
      }
      cells.push(row);
    }
    return { cells: cells, colour: [40 + (d[8] % 160), 40 + (d[9] % 160), 40 + (d[10] % 160)] };
  }

  // The picture's RGBA pixels, VASH_SIDE x VASH_SIDE (white margin of one cell).
  function vashPixels(v) {
    var px = new Uint8ClampedArray(VASH_SIDE * VASH_SIDE * 4);
    for (var y = 0; y < VASH_SIDE; y++) {
      for (var x = 0; x < VASH_SIDE; x++) {
        var cy = Math.floor(y / VASH_CELL);
        var cx = Math.floor(x / VASH_CELL);
        var filled = cy >= 1 && cy <= 8 && cx >= 1 && cx <= 8 && v.cells[cy - 1][cx - 1];
        var i = (y * VASH_SIDE + x) * 4;
        px[i] = filled ? v.colour[0] : 255;
        px[i + 1] = filled ? v.colour[1] : 255;
        px[i + 2] = filled ? v.colour[2] : 255;
        px[i + 3] = 255;
      }
    }
    return px;
  }

  function drawVash(canvas, v) {
    canvas.width = VASH_SIDE;
    canvas.height = VASH_SIDE;
    canvas.getContext("2d").putImageData(new ImageData(vashPixels(v), VASH_SIDE, VASH_SIDE), 0, 0);
  }

  // Shows the picture of the enrolment link in the input, or hides it.
  var vashShown = "";
  async function showVash(link) {
    var box = $("vash");
    var key = link && link.kind === "enrol" ? link.serverid + "\u0000" + link.api : "";
    if (key === vashShown) {
      return;
    }
    vashShown = key;
    if (!key) {
      box.hidden = true;
      return;
    }
    var v = await vash(link.serverid, link.api);
    if (vashShown !== key) {
      return;
    }
    drawVash($("vash-canvas"), v);
    box.dataset.colour = "#" + v.colour.map(function (t) { return (t < 16 ? "0" : "") + t.toString(16); }).join("");
    box.hidden = false;
  }

  // ---------------------------------------------------------------------------
  // Signing (docs/phone-protocol.md, "Signing")

  // The bytes a request's signature covers (NSAUTH-P256-V2), a Uint8Array, from
  // {method, host, pathWithQuery, serverid, account, ts, body}: the API host (as the Host
  // header carries it), the server and the account are signed with the request.
  async function canonical(c) {
    var hash = await crypto.subtle.digest("SHA-256", bytesOf(c.body));
    var text = [
      CONTEXT,
      String(c.method).toUpperCase(),
      String(c.host).toLowerCase(),
      String(c.pathWithQuery),
      String(c.serverid),
      String(c.account),
      String(c.ts),
      hex(hash)
    ].join("\n");
    return utf8.encode(text);
  }

  // base64url of the raw r||s signature (WebCrypto's ECDSA output is already r||s).
  async function sign(privateKey, canonicalBytes) {
    var sig = await crypto.subtle.sign(SIGN_ALG, privateKey, bytesOf(canonicalBytes));
    return b64url(sig);
  }

  function authorization(serverid, account, ts, sig) {
    return "NSAuth-P256 server=" + serverid + ",account=" + account + ",ts=" + ts + ",sig=" + sig;
  }

  // Signs `method path` (relative to the API base) with `body` (a string) at `ts`. The
  // signed path is the URL's path and query as they go on the request line, including any
  // path of the API base.
  async function signRequest(privateKey, r) {
    var url = new URL(String(r.path).replace(/^\/+/, ""), r.api);
    var method = String(r.method).toUpperCase();
    var pathWithQuery = url.pathname + url.search;
    var body = r.body == null ? "" : String(r.body);
    // URL.host is what the browser sends as Host: the port only when not the default.
    var bytes = await canonical({
      method: method,
      host: url.host,
      pathWithQuery: pathWithQuery,
      serverid: r.serverid,
      account: r.account,
      ts: r.ts,
      body: body
    });
    var sig = await sign(privateKey, bytes);
    return {
      url: url.href,
      method: method,
      host: url.host,
      pathWithQuery: pathWithQuery,
      ts: r.ts,
      body: body,
      authorization: authorization(r.serverid, r.account, r.ts, sig)
    };
  }

  // ---------------------------------------------------------------------------
  // Links (docs/phone-protocol.md, "Links")

  function parseQuery(query) {
    var out = {};
    query.split("&").forEach(function (part) {
      if (!part) {
        return;
      }
      var eq = part.indexOf("=");
      var k = eq < 0 ? part : part.slice(0, eq);
      var v = eq < 0 ? "" : part.slice(eq + 1);
      var dec = function (s) {
        try {
          return decodeURIComponent(s.replace(/\+/g, " "));
        } catch (e) {
          throw new PhoneError("bad_link", "the link's query is not valid percent-encoding");
        }
      };
      k = dec(k);
      if (!(k in out)) {
        out[k] = dec(v);
      }
    });
    return out;
  }

  // A login link `{link_base}login/{serverid}/{hsid}[?return=]`, an enrolment link
  // `{link_base}enrol/{serverid}/{token}?api=<API base>` or a transaction link
  // `{link_base}tx/{serverid}/{tid}`.
  function parseLink(text) {
    var link = String(text || "").trim();
    var hashAt = link.indexOf("#");
    if (hashAt >= 0) {
      link = link.slice(0, hashAt);
    }
    var q = link.indexOf("?");
    var path = q >= 0 ? link.slice(0, q) : link;
    var query = q >= 0 ? link.slice(q + 1) : "";
    var segs = path.split("/");
    var at = Math.max(segs.lastIndexOf("login"), segs.lastIndexOf("enrol"), segs.lastIndexOf("tx"));
    if (!link || at < 0) {
      throw new PhoneError(
        "bad_link",
        "not an nsauth link: expected ...login/<serverid>/<hsid>, ...enrol/<serverid>/<token>?api=<API base> or ...tx/<serverid>/<tid>"
      );
    }
    var kind = segs[at];
    var rest = segs.slice(at + 1);
    if (rest.length !== 2) {
      throw new PhoneError("bad_link", kind + " link: expected " + kind + "/<serverid>/<id> at the end of the path");
    }
    if (!ID22.test(rest[0])) {
      throw new PhoneError("bad_link", kind + " link: the server id is not 22 base64url characters");
    }
    if (kind === "tx") {
      if (!TID.test(rest[1])) {
        throw new PhoneError("bad_link", "transaction link: the tid is not 43 base64url characters");
      }
      return { kind: "tx", linkBase: segs.slice(0, at).join("/") + "/", serverid: rest[0], tid: rest[1] };
    }
    if (!ID22.test(rest[1])) {
      throw new PhoneError(
        "bad_link",
        kind + " link: the " + (kind === "login" ? "hsid" : "token") + " is not 22 base64url characters"
      );
    }
    var params = parseQuery(query);
    var linkBase = segs.slice(0, at).join("/") + "/";
    if (kind === "login") {
      // A rotating code (`t` and `m`) goes to the show call, which checks it.
      var code = null;
      if (params.t !== undefined || params.m !== undefined) {
        if (!/^[0-9]{1,20}$/.test(params.t || "") || !/^[A-Za-z0-9_-]{22}$/.test(params.m || "")) {
          throw new PhoneError("bad_link", "login link: t= (a time step) and m= (22 base64url characters) go together");
        }
        code = { t: params.t, m: params.m };
      }
      return { kind: "login", linkBase: linkBase, serverid: rest[0], hsid: rest[1], returnUrl: params["return"] || null, code: code };
    }
    var api = params.api;
    if (!api) {
      throw new PhoneError("bad_link", "enrolment link: api= (the URL-encoded API base URL) is missing");
    }
    var parsed;
    try {
      parsed = new URL(api);
    } catch (e) {
      throw new PhoneError("bad_link", "enrolment link: api= is not a URL");
    }
    if ((parsed.protocol !== "https:" && parsed.protocol !== "http:") || !/\/$/.test(parsed.pathname) || parsed.search) {
      throw new PhoneError("bad_link", "enrolment link: api= must be an http(s) URL ending in /");
    }
    return { kind: "enrol", linkBase: linkBase, serverid: rest[0], token: rest[1], api: api };
  }

  function loginLink(linkBase, serverid, hsid) {
    return (linkBase || "nsauth://") + "login/" + serverid + "/" + hsid;
  }

  // ---------------------------------------------------------------------------
  // Transactions (the signed text: shared/protocol/src/transaction.rs)

  // The signed text read back, or null when it is not exactly what the server writes:
  // compact JSON with the fields in their order, the type tag first.
  function parseSigned(text) {
    var o;
    try {
      o = JSON.parse(String(text));
    } catch (e) {
      return null;
    }
    if (!o || typeof o !== "object" || Array.isArray(o) || Object.keys(o).join(",") !== SIGNED_FIELDS.join(",")) {
      return null;
    }
    if (o.type !== SIGNED_TYPE || !Number.isSafeInteger(o.accountid) || o.accountid < 0) {
      return null;
    }
    for (var i = 0; i < SIGNED_FIELDS.length; i++) {
      if (SIGNED_FIELDS[i] !== "accountid" && typeof o[SIGNED_FIELDS[i]] !== "string") {
        return null;
      }
    }
    return JSON.stringify(o) === text ? o : null;
  }

  // Checks a transaction the server showed before it is shown or signed; its content, from
  // the signed text. Throws a PhoneError("bad_transaction") saying what is wrong.
  function checkTransaction(account, serverid, tid, shown) {
    var refuse = function (why) {
      throw new PhoneError("bad_transaction", "This transaction cannot be signed: " + why + ".");
    };
    if (!shown || shown.tid !== tid || shown.serverid !== serverid) {
      refuse("the server answered for another transaction");
    }
    var t = parseSigned(shown.signed);
    if (!t) {
      refuse("its text to sign is not a transaction text");
    }
    if (t.tid !== tid || t.serverid !== serverid) {
      refuse("its text to sign names another transaction or website");
    }
    if (t.accountid !== account.accountid) {
      refuse("its text to sign names account " + t.accountid + ", not this phone's " + account.accountid);
    }
    if (shown.amount !== t.amount || shown.benificiary !== t.benificiary || shown.description !== t.description) {
      refuse("what it shows differs from its text to sign");
    }
    return t;
  }

  // Text from the server made safe to read: control and bidirectional formatting
  // characters (which can show 100 as 001) become U+FFFD.
  function visible(text) {
    return String(text == null ? "" : text).replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, "\ufffd");
  }

  // ---------------------------------------------------------------------------
  // Push messages (docs/push.md, "What the app receives")

  // One outbox entry `{platform, token, message, attributes}` (message: the SNS message with
  // a payload per platform) as `{serverid, hsid, servername, body, announceinfo, choices,
  // tid}` (tid: a transaction push; null for a login), or null when it is neither.
  // A push: an outbox entry (the SNS message for a token), or the FCM data a phone
  // fetches itself (`GET /app/v1/pushes`, which answers exactly the FCM data).
  function parsePush(entry) {
    try {
      var key;
      var payload;
      if (entry && entry.type && entry.serverid && !entry.platform) {
        key = "GCM";
        payload = { fcmV1Message: { message: { data: entry } } };
      } else {
        key = SNS_KEYS[entry.platform];
        var raw = key && entry.message && entry.message[key];
        if (typeof raw !== "string") {
          return null;
        }
        payload = JSON.parse(raw);
      }
      var p;
      if (key === "GCM") {
        var d = payload.fcmV1Message.message.data;
        if (d.type !== "nsauth-login" && d.type !== "nsauth-transaction" && d.type !== "nsauth-notice") {
          return null;
        }
        p = {
          serverid: d.serverid,
          hsid: d.hsid,
          servername: d.servername || "",
          body: d.body || "",
          announceinfo: d.announceinfo ? JSON.parse(d.announceinfo) : {},
          choices: d.choices ? d.choices.split(",") : null,
          tid: d.type === "nsauth-transaction" ? d.tid : null,
          notice: d.type === "nsauth-notice"
        };
      } else {
        var n = payload.nsauth;
        if (!n || (n.type !== "login" && n.type !== "transaction" && n.type !== "notice")) {
          return null;
        }
        p = {
          serverid: n.serverid,
          hsid: n.hsid,
          servername: n.servername || "",
          body: (payload.aps && payload.aps.alert && payload.aps.alert.body) || "",
          announceinfo: n.announceinfo || {},
          choices: Array.isArray(n.choices) ? n.choices : null,
          tid: n.type === "transaction" ? n.tid : null,
          notice: n.type === "notice"
        };
      }
      if (p.tid != null) {
        if (!TID.test(p.tid) || !ID22.test(p.serverid)) {
          return null;
        }
        p.choices = null;
        return p;
      }
      if (!ID22.test(p.serverid) || !ID22.test(p.hsid)) {
        return null;
      }
      return p;
    } catch (e) {
      return null;
    }
  }

  // ---------------------------------------------------------------------------
  // Storage: accounts in IndexedDB (CryptoKey objects are structured-cloneable), the
  // pushes already acted on in localStorage.

  var dbPromise = null;

  function openDb() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var r = indexedDB.open(DB_NAME, 1);
        r.onupgradeneeded = function () {
          r.result.createObjectStore(DB_STORE, { keyPath: "serverid" });
        };
        r.onsuccess = function () {
          resolve(r.result);
        };
        r.onerror = function () {
          reject(r.error);
        };
      });
    }
    return dbPromise;
  }

  async function withStore(mode, fn) {
    var db = await openDb();
    return new Promise(function (resolve, reject) {
      var t = db.transaction(DB_STORE, mode);
      var req = fn(t.objectStore(DB_STORE));
      var result;
      if (req) {
        req.onsuccess = function () {
          result = req.result;
        };
      }
      t.oncomplete = function () {
        resolve(result);
      };
      t.onerror = function () {
        reject(t.error);
      };
      t.onabort = function () {
        reject(t.error || new Error("the IndexedDB transaction was aborted"));
      };
    });
  }

  var storage = {
    all: function () {
      return withStore("readonly", function (s) {
        return s.getAll();
      });
    },
    put: function (account) {
      return withStore("readwrite", function (s) {
        return s.put(account);
      });
    },
    remove: function (serverid) {
      return withStore("readwrite", function (s) {
        return s["delete"](serverid);
      });
    }
  };

  var handled = (function () {
    var set = new Set();
    try {
      JSON.parse(localStorage.getItem(HANDLED_KEY) || "[]").forEach(function (id) {
        set.add(id);
      });
    } catch (e) {
      /* nothing kept */
    }
    return {
      has: function (id) {
        return set.has(id);
      },
      add: function (id) {
        set.add(id);
        try {
          localStorage.setItem(HANDLED_KEY, JSON.stringify(Array.from(set).slice(-500)));
        } catch (e) {
          /* kept in memory only */
        }
      }
    };
  })();

  // ---------------------------------------------------------------------------
  // Signed calls

  function signerOf(account) {
    return {
      privateKey: account.privateKey,
      serverid: account.serverid,
      account: String(account.accountid),
      api: account.api
    };
  }

  // Sends a signed request; answers {status, body (parsed JSON or null), text}. A request
  // the server calls a replay (the same call in the same second) is signed again once,
  // a second later.
  async function send(signer, method, path, body) {
    var bodyText = body === undefined || body === null ? "" : JSON.stringify(body);
    for (var attempt = 0; ; attempt++) {
      var req = await signRequest(signer.privateKey, {
        serverid: signer.serverid,
        account: signer.account,
        api: signer.api,
        method: method,
        path: path,
        body: bodyText,
        ts: Math.floor(Date.now() / 1000)
      });
      var headers = { Authorization: req.authorization };
      if (onOtherNetwork()) {
        headers["X-Nsauth-Local-Source-Ip"] = OTHER_NETWORK_IP;
      }
      if (bodyText) {
        headers["Content-Type"] = "application/json";
      }
      var res;
      try {
        res = await fetch(req.url, {
          method: req.method,
          headers: headers,
          body: bodyText || undefined,
          credentials: "omit",
          cache: "no-store"
        });
      } catch (e) {
        var origin = new URL(req.url).origin;
        var hint = origin === window.location.origin ? "" :
          " (the API is on another origin, which this page may not call: open the simulator at " + origin + "/phone)";
        throw new PhoneError("network", "cannot reach " + req.url + ": " + ((e && e.message) || e) + hint);
      }
      var text = await res.text();
      var json = null;
      try {
        json = text ? JSON.parse(text) : null;
      } catch (e) {
        json = null;
      }
      if (res.status === 401 && json && json.error === "replayed_request" && attempt === 0) {
        await sleep(1100);
        continue;
      }
      return { status: res.status, body: json, text: text };
    }
  }

  function errorOf(answer) {
    var b = answer.body || {};
    return new PhoneError(
      b.error || "http_" + answer.status,
      b.message || answer.text || "HTTP " + answer.status,
      answer.status
    );
  }

  async function call(account, method, path, body) {
    var answer = await send(signerOf(account), method, path, body);
    if (answer.status < 200 || answer.status >= 300) {
      var err = errorOf(answer);
      if (err.code === "unknown_account") {
        markStale(account);
      }
      throw err;
    }
    return answer.body;
  }

  // ---------------------------------------------------------------------------
  // State

  var state = {
    accounts: [], // stored accounts, by serverid
    sessions: {}, // serverid -> {list, error}
    stale: {}, // serverid -> true when the server no longer knows the account
    inbox: [], // open pushed logins and transactions
    inboxNote: "",
    // The login being decided: {account, serverid, hsid, shown, result, resultKind}; or the
    // transaction: {kind: "tx", account, serverid, tid, shown, signed, problem, result,
    // resultKind}.
    request: null,
    busy: false,
    transfers: {} // serverid -> the last transfer link made (moving to a new phone)
  };
  var firstSeen = {}; // push id -> Date

  function accountFor(serverid) {
    for (var i = 0; i < state.accounts.length; i++) {
      if (state.accounts[i].serverid === serverid) {
        return state.accounts[i];
      }
    }
    return null;
  }

  function markStale(account) {
    if (!state.stale[account.serverid]) {
      state.stale[account.serverid] = true;
      renderAccounts();
    }
  }

  async function loadAccounts() {
    var all = await storage.all();
    all.sort(function (a, b) {
      return String(a.enrolled).localeCompare(String(b.enrolled));
    });
    state.accounts = all;
  }

  // ---------------------------------------------------------------------------
  // What the phone does

  async function enrol(linkText, description) {
    var link = parseLink(linkText);
    if (link.kind !== "enrol") {
      throw new PhoneError("bad_link", "that is a login link; enrol with an enrolment link first");
    }
    var existing = accountFor(link.serverid);
    if (existing) {
      throw new PhoneError(
        "already_enrolled",
        "this phone already has account " + existing.accountid + " of " + (existing.servername || link.serverid) +
          "; remove it first to enrol again"
      );
    }
    var keys = await crypto.subtle.generateKey(KEY_ALG, false, ["sign", "verify"]);
    var publickey = b64url(await crypto.subtle.exportKey("spki", keys.publicKey));
    var pushToken = "sim-" + b64url(crypto.getRandomValues(new Uint8Array(16)));
    var body = {
      token: link.token,
      publickey: publickey,
      description: description,
      clientversion: CLIENT_VERSION,
      push: { platform: "fcm", token: pushToken }
    };
    var answer = await send(
      { privateKey: keys.privateKey, serverid: link.serverid, account: "new", api: link.api },
      "POST",
      "app/v1/enrol",
      body
    );
    if (answer.status !== 201) {
      throw errorOf(answer);
    }
    var a = answer.body || {};
    if (a.serverid !== link.serverid || !(Number.isInteger(a.accountid) && a.accountid > 0)) {
      throw new PhoneError("protocol", "unexpected enrol answer: " + answer.text);
    }
    var account = {
      serverid: link.serverid,
      servername: a.servername || "",
      api: link.api,
      linkBase: link.linkBase,
      accountid: a.accountid,
      userid: typeof a.userid === "string" ? a.userid : null,
      description: description,
      publickey: publickey,
      privateKey: keys.privateKey,
      publicKey: keys.publicKey,
      push: a.push === true ? { platform: "fcm", token: pushToken } : null,
      enrolled: new Date().toISOString()
    };
    await storage.put(account);
    state.accounts.push(account);
    delete state.stale[account.serverid];
    return account;
  }

  // The account that signs for a login link: the link's server's, or (so that the website
  // learns that this phone has no account for it) any other of this phone.
  function signingAccount(serverid) {
    var a = accountFor(serverid) || state.accounts[0];
    if (!a) {
      throw new PhoneError("no_accounts", "this phone has no account yet: enrol with an enrolment link first");
    }
    return a;
  }

  async function show(serverid, hsid, linkBase, code) {
    var account = signingAccount(serverid);
    var query = code ? "?t=" + code.t + "&m=" + code.m : "";
    var shown = await call(account, "GET", "app/v1/sessions/" + hsid + query);
    state.request = {
      account: account,
      serverid: serverid,
      hsid: hsid,
      link: loginLink(linkBase || account.linkBase, serverid, hsid),
      shown: shown,
      result: "",
      resultKind: ""
    };
    dropFromInbox(serverid, hsid);
    renderRequest();
    return shown;
  }

  // The transaction of a link or a push: shown (GET) and checked. `problem` is why it
  // cannot be signed (then it can only be declined); `signed` its content otherwise.
  async function fetchTransaction(serverid, tid) {
    var account = accountFor(serverid);
    if (!account) {
      throw new PhoneError("no_account", "This phone has no account for that website, so it cannot confirm its transactions.");
    }
    var shown = await call(account, "GET", "app/v1/transactions/" + tid);
    var tx = { kind: "tx", account: account, serverid: serverid, tid: tid, shown: shown, signed: null, problem: "", result: "", resultKind: "" };
    try {
      tx.signed = checkTransaction(account, serverid, tid, shown);
    } catch (e) {
      tx.problem = e.message;
    }
    return tx;
  }

  async function showTransaction(serverid, tid) {
    var tx = await fetchTransaction(serverid, tid);
    state.request = tx;
    dropTransactionFromInbox(tid);
    renderRequest();
    return tx;
  }

  // Signs the exact bytes of the text the server sent (checked again first).
  async function approveTransaction(tx) {
    var signed = checkTransaction(tx.account, tx.serverid, tx.tid, tx.shown);
    var verification = await verifyUser();
    var sig = await sign(tx.account.privateKey, utf8.encode(tx.shown.signed));
    var answer = await call(tx.account, "POST", "app/v1/transactions/" + tx.tid + "/approve", { signature: sig, verification: verification });
    return { answer: answer, signed: signed, signature: sig };
  }

  async function declineTransaction(tx) {
    return call(tx.account, "POST", "app/v1/transactions/" + tx.tid + "/decline", {});
  }

  // ---------------------------------------------------------------------------
  // The app PIN: kept as a salted PBKDF2 hash in localStorage. With one set, every
  // approval needs it (the PIN field of the request card) and says `pin` in its signed
  // body; without one it says `none`.
  async function pinHash(pin, salt) {
    var base = await crypto.subtle.importKey("raw", utf8.encode(pin), "PBKDF2", false, ["deriveBits"]);
    var bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt: salt, iterations: PIN_ROUNDS }, base, 256);
    return b64url(new Uint8Array(bits));
  }

  function storedPin() {
    try {
      return JSON.parse(localStorage.getItem(PIN_KEY) || "null");
    } catch (e) {
      return null;
    }
  }

  async function setPin(pin) {
    if (typeof pin !== "string" || pin.length < 4 || pin.length > 64) {
      throw new PhoneError("bad_pin", "A PIN is 4 to 64 characters.");
    }
    var salt = crypto.getRandomValues(new Uint8Array(16));
    localStorage.setItem(PIN_KEY, JSON.stringify({ salt: b64url(salt), rounds: PIN_ROUNDS, hash: await pinHash(pin, salt) }));
    renderPin();
  }

  function clearPin() {
    localStorage.removeItem(PIN_KEY);
    renderPin();
  }

  // How the user is verified for an approval: the PIN typed in the request card.
  async function verifyUser() {
    var stored = storedPin();
    if (!stored) {
      return "none";
    }
    var input = $("pin-input");
    var pin = input ? input.value : "";
    if (!pin) {
      throw new PhoneError("pin_needed", "Enter your app PIN to approve.");
    }
    if ((await pinHash(pin, b64urlDecode(stored.salt))) !== stored.hash) {
      input.value = "";
      throw new PhoneError("wrong_pin", "Wrong PIN.");
    }
    return "pin";
  }

  function onOtherNetwork() {
    try {
      return localStorage.getItem(NETWORK_KEY) === "other";
    } catch (e) {
      return false;
    }
  }

  // "City, Region, Country" of a location from the server's GeoIP database, as the
  // authenticator writes it; null when nothing is known.
  function placeLabel(l) {
    if (!l) return null;
    const parts = [];
    for (const p of [l.city, l.region, l.country_name || l.country]) {
      if (p && parts[parts.length - 1] !== p) parts.push(p);
    }
    return parts.length ? parts.join(", ") : null;
  }

  // Where the server's GeoIP database (when the operator gave it one) puts each side.
  function locationNote(s) {
    const browser = placeLabel(s.browser_location), phone = placeLabel(s.phone_location);
    if (!browser && !phone) return null;
    return el("p", { class: "small muted locations", "data-browser-location": browser || "", "data-phone-location": phone || "",
      text: "The browser that asked is near " + (browser || "an unknown place") + "; this phone is near " + (phone || "an unknown place") + "." });
  }

  // What the server says about this phone's network against the browser's (setting
  // `proximity`): a warning before approving from another network.
  function proximityNote(s) {
    if (s.proximity === "different_network") {
      return el("p", { class: "small warning proximity-warning", "data-proximity": s.proximity },
        s.proximity_required
          ? "This phone is not on the network of the browser that asked, and this website refuses such approvals. If you are not at that computer, someone may be relaying its login page to you: deny."
          : "Careful: this phone is not on the network of the browser that asked. If you did not just scan this code at your own computer, someone may be relaying a login page to you: deny.");
    }
    if (s.proximity) {
      return el("p", { class: "small muted proximity", "data-proximity": s.proximity, text: s.proximity === "same_network" ? "This phone is on the browser's network." : "The browser's network is not known." });
    }
    return null;
  }

  function renderPin() {
    var st = $("pin-state");
    if (st) {
      st.textContent = storedPin() ? "A PIN is set: approvals ask for it." : "No PIN: approvals are not verified (websites that require it refuse them, and so do transactions).";
    }
    var clear = $("pin-clear");
    if (clear) {
      clear.hidden = !storedPin();
    }
    if (state.request) {
      renderRequest();
    }
  }

  // The PIN field of a request card (only when a PIN is set), and what the website asks.
  function pinField(policy, needed) {
    var stored = storedPin();
    var want = needed || policy === "required";
    if (!stored) {
      return want ? el("p", { class: "small warning pin-missing", text: "This needs your app PIN, and none is set: set one below first." }) : null;
    }
    return el("label", { class: "pin-label" }, "App PIN ", el("input", { id: "pin-input", class: "pin-input", type: "password", inputmode: "numeric", autocomplete: "off", maxlength: "64" }));
  }

  async function approve(account, hsid, match) {
    var body = { verification: await verifyUser() };
    if (match) {
      body.match = match;
    }
    return call(account, "POST", "app/v1/sessions/" + hsid + "/approve", body);
  }

  async function deny(account, hsid, fraud) {
    return call(account, "POST", "app/v1/sessions/" + hsid + "/deny", { reason: fraud ? "fraud" : "user" });
  }

  async function logoutSession(account, hsid) {
    return call(account, "POST", "app/v1/sessions/" + hsid + "/logout");
  }

  // Session list requests on their way (removing an account waits for them, so that none
  // arrives after the account is gone).
  var listing = new Set();

  function refreshSessions(account) {
    var p = (async function () {
      try {
        var list = await call(account, "GET", "app/v1/sessions?limit=20");
        if (accountFor(account.serverid) === account) {
          state.sessions[account.serverid] = { list: (list && list.sessions) || [], error: "" };
        }
      } catch (e) {
        state.sessions[account.serverid] = { list: [], error: e.message };
      }
    })();
    listing.add(p);
    p.then(function () {
      listing["delete"](p);
    });
    return p;
  }

  var refreshingAll = null;

  function refreshAllSessions() {
    if (!refreshingAll) {
      refreshingAll = (async function () {
        var accounts = state.accounts.slice();
        for (var i = 0; i < accounts.length; i++) {
          if (!state.stale[accounts[i].serverid]) {
            await refreshSessions(accounts[i]);
          }
        }
        renderAccounts();
      })();
      refreshingAll.then(function () {
        refreshingAll = null;
      });
    }
    return refreshingAll;
  }

  async function removeAccount(account) {
    var gone = false;
    await Promise.all(Array.from(listing));
    try {
      await call(account, "DELETE", "app/v1/account");
      gone = true;
    } catch (e) {
      // The server no longer knows it: forget it here too.
      if (e.code !== "unknown_account") {
        throw e;
      }
    }
    await storage.remove(account.serverid);
    state.accounts = state.accounts.filter(function (a) {
      return a.serverid !== account.serverid;
    });
    delete state.sessions[account.serverid];
    delete state.stale[account.serverid];
    if (state.request && state.request.account === account) {
      state.request = null;
    }
    return gone;
  }

  // ---------------------------------------------------------------------------
  // The inbox

  var polling = false;

  async function publicStatus(account, serverid, hsid) {
    // A real phone learns the state when the user opens the push (the show call); the
    // simulator asks the public status endpoint instead, so that listing has no effect.
    var res = await fetch(new URL("status/" + serverid + "/" + hsid, account.api).href, {
      cache: "no-store",
      credentials: "omit"
    });
    if (res.status === 404) {
      return { state: "unknown" };
    }
    if (!res.ok) {
      throw new PhoneError("http_" + res.status, "the status endpoint answered " + res.status);
    }
    return res.json();
  }

  // Servers whose website delivered by push service only (push_delivery sns) when last
  // asked: asked again only every 30 s (the setting may change).
  var pullOff = {};
  var PULL_RECHECK_EVERY = 30000;

  // The login requests the server keeps for this account to fetch (push_delivery
  // sns_and_pull or pull): the same content as a push, with no push service in between.
  async function fetchPulls(a, items) {
    if (pullOff[a.serverid] && Date.now() - pullOff[a.serverid] < PULL_RECHECK_EVERY) {
      return;
    }
    var answer;
    try {
      answer = await call(a, "GET", "app/v1/pushes");
    } catch (e) {
      return;
    }
    if (answer.pull === false) {
      pullOff[a.serverid] = Date.now();
      return;
    }
    delete pullOff[a.serverid];
    (answer.pushes || []).forEach(function (d) {
      var p = parsePush(d);
      if (p && p.serverid === a.serverid && !p.tid) {
        p.id = "pull#" + p.serverid + "#" + p.hsid + "#" + (p.choices || []).join(",");
        p.account = a;
        p.via = "fetched from the server";
        items.push(p);
      }
    });
  }

  async function pollInbox() {
    if (polling) {
      return;
    }
    polling = true;
    var notes = [];
    try {
      var items = [];
      for (var i = 0; i < state.accounts.length; i++) {
        var a = state.accounts[i];
        if (state.stale[a.serverid]) {
          continue;
        }
        await fetchPulls(a, items);
        if (!a.push) {
          continue;
        }
        var res;
        try {
          res = await fetch(new URL("local/outbox?token=" + encodeURIComponent(a.push.token), a.api).href, {
            cache: "no-store",
            credentials: "omit"
          });
        } catch (e) {
          notes.push("cannot reach the outbox of " + a.api);
          continue;
        }
        if (!res.ok) {
          notes.push(a.api + " has no push outbox (" + res.status + ")");
          continue;
        }
        var messages = (await res.json()).messages || [];
        for (var m = 0; m < messages.length; m++) {
          var p = parsePush(messages[m]);
          if (p && p.serverid === a.serverid) {
            p.id = a.push.token + "#" + m + "#" + (p.tid || p.hsid);
            p.account = a;
            p.via = "push service";
            items.push(p);
          }
        }
      }
      // Only the newest push of a session counts (FCM collapses them by hsid too); each
      // transaction counts by itself.
      var newest = new Map();
      items.forEach(function (it) {
        newest.set(it.tid ? "tx/" + it.tid : (it.notice ? "notice/" : "") + it.serverid + "/" + it.hsid, it);
      });
      var open = [];
      var entries = Array.from(newest.values());
      for (var k = 0; k < entries.length; k++) {
        var it = entries[k];
        if (handled.has(it.id)) {
          continue;
        }
        if (it.tid) {
          // A transaction: open while it is new (a signed GET, as the app does when the
          // push is opened; it changes nothing on the server).
          try {
            it.tx = await fetchTransaction(it.serverid, it.tid);
          } catch (e) {
            if (e.status >= 400 && e.status < 500) {
              handled.add(it.id); // unknown, not this account's, or the account is gone
            }
            continue;
          }
          if (it.tx.shown.state !== "new") {
            handled.add(it.id);
            continue;
          }
          if (!firstSeen[it.id]) {
            firstSeen[it.id] = new Date();
          }
          open.push(it);
          continue;
        }
        if (it.notice) {
          // A login notice: nothing to decide; shown until dismissed.
          if (!firstSeen[it.id]) {
            firstSeen[it.id] = new Date();
          }
          open.push(it);
          continue;
        }
        var st = await publicStatus(it.account, it.serverid, it.hsid);
        var live = (st.state === "pending" || st.state === "scanned") && (!it.choices || typeof st.match === "string");
        if (!live) {
          // Over (decided elsewhere, expired, or a new attempt without this push's number).
          handled.add(it.id);
          continue;
        }
        if (!firstSeen[it.id]) {
          firstSeen[it.id] = new Date();
        }
        open.push(it);
      }
      open.reverse();
      state.inbox = open;
    } catch (e) {
      notes.push("cannot read the inbox: " + ((e && e.message) || e));
    } finally {
      polling = false;
    }
    state.inboxNote = notes.join("; ");
    renderInbox();
  }

  // ---------------------------------------------------------------------------
  // View

  var $ = function (id) {
    return document.getElementById(id);
  };

  function el(tag, props) {
    var e = document.createElement(tag);
    var k;
    for (k in props || {}) {
      var v = props[k];
      if (v == null || v === false) {
        continue;
      }
      if (k === "class") {
        e.className = v;
      } else if (k === "text") {
        e.textContent = v;
      } else if (k.slice(0, 2) === "on") {
        e.addEventListener(k.slice(2), v);
      } else {
        e.setAttribute(k, v === true ? "" : String(v));
      }
    }
    for (var i = 2; i < arguments.length; i++) {
      append(e, arguments[i]);
    }
    return e;
  }

  function append(parent, child) {
    if (child == null || child === false) {
      return;
    }
    if (Array.isArray(child)) {
      child.forEach(function (c) {
        append(parent, c);
      });
      return;
    }
    parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }

  function notify(kind, text) {
    var n = $("notice");
    n.textContent = text;
    n.setAttribute("data-kind", kind);
    n.hidden = !text;
  }

  function fmtTime(iso) {
    if (!iso) {
      return "";
    }
    var d = iso instanceof Date ? iso : new Date(iso);
    if (isNaN(d.getTime())) {
      return String(iso);
    }
    var today = new Date().toDateString() === d.toDateString();
    return today ? d.toLocaleTimeString() : d.toLocaleString();
  }

  function shortUa(ua) {
    if (!ua) {
      return "";
    }
    var m = /(Edg|OPR|Firefox|HeadlessChrome|Chrome|Safari)\/([\d]+)/.exec(ua);
    var os = /Windows|Mac OS X|Android|iPhone|iPad|Linux|CrOS/.exec(ua);
    if (!m) {
      return ua.length > 60 ? ua.slice(0, 57) + "..." : ua;
    }
    var names = { Edg: "Edge", OPR: "Opera", HeadlessChrome: "Headless Chrome" };
    return (names[m[1]] || m[1]) + " " + m[2] + (os ? " on " + os[0].replace("Mac OS X", "macOS") : "");
  }

  // A button that runs `fn` (async) with every action button disabled meanwhile; errors
  // become the notice.
  function action(label, cls, fn, extra) {
    var props = { type: "button", class: "button " + cls, text: label, onclick: function () {
      run(fn);
    } };
    for (var k in extra || {}) {
      props[k] = extra[k];
    }
    if (state.busy) {
      props.disabled = true;
    }
    return el("button", props);
  }

  async function run(fn) {
    if (state.busy) {
      return;
    }
    state.busy = true;
    setBusy(true);
    try {
      await fn();
    } catch (e) {
      notify("error", (e && e.message) || String(e));
    } finally {
      state.busy = false;
      setBusy(false);
    }
  }

  function setBusy(busy) {
    var phone = $("phone");
    phone.setAttribute("data-busy", busy ? "true" : "false");
    var buttons = phone.querySelectorAll("button");
    for (var i = 0; i < buttons.length; i++) {
      if (buttons[i].getAttribute("data-keep") !== "1") {
        buttons[i].disabled = busy;
      }
    }
  }

  function infoList(info) {
    var dl = el("dl", { class: "kv small" });
    var keys = Object.keys((info && info.info) || {});
    keys.forEach(function (k) {
      append(dl, [el("dt", { text: k }), el("dd", { text: String(info.info[k]) })]);
    });
    if (info && info.ip) {
      append(dl, [el("dt", { text: "from" }), el("dd", { text: info.ip })]);
    }
    if (info && info.useragent) {
      append(dl, [el("dt", { text: "browser" }), el("dd", { text: shortUa(info.useragent), title: info.useragent })]);
    }
    return keys.length || (info && (info.ip || info.useragent)) ? dl : null;
  }

  // After a decision: the result, and the sessions of the account (a login shows there).
  async function decided(account, text) {
    notify("ok", text);
    await refreshSessions(account);
    renderAccounts();
  }

  function decisionButtons(account, hsid, choices, after) {
    var buttons = [];
    if (choices && choices.length) {
      buttons.push(el("p", { class: "small pick", text: "Pick the number the website shows:" }));
      buttons.push(
        el(
          "div",
          { class: "choices" },
          choices.map(function (c) {
            return action(c, "choice", async function () {
              try {
                await approve(account, hsid, c);
              } catch (e) {
                after(e.code === "wrong_match" ? "wrong" : "error", e.message);
                throw e;
              }
              after("approved", "Approved with " + c + ": you are logged in on " + (account.servername || "the website") + ".");
            }, { "data-match": c });
          })
        )
      );
    } else {
      buttons.push(
        el("div", { class: "choices" }, action("Approve", "approve", async function () {
          try {
            await approve(account, hsid, null);
          } catch (e) {
            after("error", e.message);
            throw e;
          }
          after("approved", "Approved: you are logged in on " + (account.servername || "the website") + ".");
        }))
      );
    }
    buttons.push(
      el(
        "div",
        { class: "deny-row" },
        action("Deny", "secondary deny", async function () {
          await deny(account, hsid, false);
          after("denied", "Denied: the website shows the login as denied.");
        }),
        action("Not me: report fraud", "danger fraud", async function () {
          await deny(account, hsid, true);
          after("denied", "Denied and reported as fraud.");
        })
      )
    );
    return buttons;
  }

  // A checked transaction's amount, beneficiary and description (from its signed text),
  // or why it cannot be signed.
  function transactionView(tx) {
    if (!tx.signed) {
      return el("p", { class: "tx-problem error-text", text: tx.problem });
    }
    var t = tx.signed;
    return [
      el("p", { class: "tx-amount", text: visible(t.amount) || "(no amount)" }),
      el("p", { class: "tx-beneficiary" }, el("span", { class: "muted", text: "to " }), el("b", { text: visible(t.benificiary) || "(no beneficiary)" })),
      t.description ? el("p", { class: "tx-description", text: visible(t.description) }) : null
    ];
  }

  // Approve (only for a transaction that checked out) and decline.
  function transactionButtons(tx, after) {
    var approveButton = tx.signed
      ? action("Approve and sign", "tx-approve", async function () {
          var done;
          try {
            done = await approveTransaction(tx);
          } catch (e) {
            after("error", e.message);
            throw e;
          }
          tx.shown.state = (done.answer && done.answer.state) || "approved";
          after("approved", "Approved: " + (visible(done.signed.amount) || "the transaction") + " to " + (visible(done.signed.benificiary) || "the beneficiary") + ", signed with this phone's key.");
        })
      : null;
    return el(
      "div",
      { class: "choices tx-buttons" },
      approveButton,
      action("Decline", "secondary tx-decline", async function () {
        var answer = await declineTransaction(tx);
        tx.shown.state = (answer && answer.state) || "declined";
        after("denied", "Declined: the website shows the transaction as declined.");
      })
    );
  }

  function renderTransactionRequest(box, r) {
    box.setAttribute("data-tid", r.tid);
    var s = r.shown || {};
    var head = el("div", { class: "request-head" });
    if (s.logo) {
      append(head, el("img", { class: "request-logo", alt: "", src: "data:image/png;base64," + s.logo }));
    }
    var name = (r.signed && r.signed.servername) || s.servername || r.serverid;
    append(head, el("div", null, el("h2", { class: "card-title", text: visible(name) }), el("p", { class: "request-action", text: "Confirm a transaction" })));
    append(box, head);
    append(box, transactionView(r));
    var open = !r.result && s.state === "new";
    append(box, el("p", { class: "small muted request-state" }, "Transaction " + r.tid.slice(0, 8) + "... is ", el("span", { class: "state state-" + s.state, text: s.state })));
    if (open) {
      append(box, pinField("required", true));
      append(
        box,
        transactionButtons(r, function (kind, text) {
          // An error leaves the request open (a PIN to set, a network to join).
          if (kind === "error") {
            return;
          }
          r.result = text;
          r.resultKind = kind;
          renderRequest();
          notify("ok", text);
        })
      );
    } else if (r.result) {
      append(box, el("p", { class: "request-result result-" + r.resultKind, text: r.result }));
    } else {
      append(box, el("p", { class: "request-result", text: "Nothing to decide: the transaction is " + s.state + "." }));
    }
  }

  function renderRequest() {
    var box = $("request");
    box.textContent = "";
    box.removeAttribute("data-hsid");
    box.removeAttribute("data-tid");
    var r = state.request;
    if (!r) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    box.setAttribute("data-kind", r.kind || "login");
    if (r.kind === "tx") {
      renderTransactionRequest(box, r);
      append(box, closeFoot());
      return;
    }
    box.setAttribute("data-hsid", r.hsid);
    var s = r.shown || {};
    var ann = s.announceinfo || {};
    var action_ = (ann.info && ann.info.action) || "Log in to " + (s.servername || "the website") + "?";
    var head = el("div", { class: "request-head" });
    if (s.logo) {
      append(head, el("img", { class: "request-logo", alt: "", src: "data:image/png;base64," + s.logo }));
    }
    append(head, el("div", null, el("h2", { class: "card-title", text: s.servername || r.serverid }), el("p", { class: "request-action", text: action_ })));
    append(box, head);
    var others = {};
    Object.keys(ann.info || {}).forEach(function (k) {
      if (k !== "action") {
        others[k] = ann.info[k];
      }
    });
    append(box, infoList({ info: others, ip: ann.ip, useragent: ann.useragent }));
    var open = !r.result && (s.state === "pending" || s.state === "scanned");
    append(box, el("p", { class: "small muted request-state" }, "Session " + r.hsid.slice(0, 8) + "... is ", el("span", { class: "state state-" + s.state, text: s.state })));
    if (open) {
      append(box, locationNote(s));
      append(box, proximityNote(s));
      append(box, pinField(s.user_verification, false));
      append(
        box,
        decisionButtons(r.account, r.hsid, s.choices, function (kind, text) {
          if (kind === "error") {
            return;
          }
          r.result = text;
          r.resultKind = kind;
          if (kind === "approved" || kind === "denied" || kind === "wrong") {
            renderRequest();
            decided(r.account, text);
          }
        })
      );
    } else if (r.result) {
      append(box, el("p", { class: "request-result result-" + r.resultKind, text: r.result }));
    } else {
      append(box, el("p", { class: "request-result", text: "Nothing to decide: the login is " + s.state + "." }));
    }
    append(box, closeFoot());
  }

  function closeFoot() {
    return el("div", { class: "request-foot" }, el("button", {
      type: "button",
      class: "button link close",
      text: "Close",
      "data-keep": "1",
      onclick: function () {
        state.request = null;
        renderRequest();
      }
    }));
  }

  var inboxSignature = "";

  // The pushes of a session leave the inbox once the login is opened or decided.
  function dropFromInbox(serverid, hsid) {
    var left = state.inbox.filter(function (it) {
      if (!it.tid && it.serverid === serverid && it.hsid === hsid) {
        handled.add(it.id);
        return false;
      }
      return true;
    });
    if (left.length !== state.inbox.length) {
      state.inbox = left;
      renderInbox();
    }
  }

  // A transaction's push leaves the inbox once it is opened.
  function dropTransactionFromInbox(tid) {
    var left = state.inbox.filter(function (it) {
      if (it.tid === tid) {
        handled.add(it.id);
        return false;
      }
      return true;
    });
    if (left.length !== state.inbox.length) {
      state.inbox = left;
      renderInbox();
    }
  }

  function txInboxItem(it) {
    return el(
      "li",
      { class: "inbox-item inbox-tx", "data-tid": it.tid, "data-serverid": it.serverid, "data-hsid": it.hsid, "data-id": it.id },
      el("div", { class: "inbox-head" }, el("b", { text: it.servername || it.serverid }), " ", el("span", { class: "muted small", text: fmtTime(firstSeen[it.id]) })),
      el("p", { class: "inbox-body", text: "Confirm a transaction" }),
      transactionView(it.tx),
      transactionButtons(it.tx, function (kind, text) {
        if (kind !== "error") {
          handled.add(it.id);
          state.inbox = state.inbox.filter(function (x) {
            return x.id !== it.id;
          });
          inboxSignature = "";
          renderInbox();
          notify("ok", text);
        }
      }),
      el("div", { class: "inbox-foot" }, action("Details", "link details", async function () {
        await showTransaction(it.serverid, it.tid);
      }))
    );
  }

  function renderInbox() {
    $("inbox-state").textContent = state.inboxNote || (state.accounts.some(function (a) {
      return a.push;
    }) ? "checked " + new Date().toLocaleTimeString() : "");
    var signature = state.inbox.map(function (it) {
      return it.id;
    }).join(",") + "|" + state.busy;
    if (signature === inboxSignature) {
      return;
    }
    var arrived = state.inbox.some(function (it) {
      return inboxSignature.indexOf(it.id) < 0;
    });
    inboxSignature = signature;
    if (arrived && !state.busy) {
      // A push begins a new login attempt: the session list changes too.
      refreshAllSessions();
    }
    var list = $("inbox");
    list.textContent = "";
    $("inbox-empty").hidden = state.inbox.length > 0;
    state.inbox.forEach(function (it) {
      if (it.tid) {
        list.appendChild(txInboxItem(it));
        return;
      }
      if (it.notice) {
        list.appendChild(el(
          "li",
          { class: "inbox-item inbox-notice", "data-hsid": it.hsid, "data-serverid": it.serverid, "data-id": it.id },
          el("div", { class: "inbox-head" }, el("b", { text: it.servername || it.serverid }), " ", el("span", { class: "muted small", text: fmtTime(firstSeen[it.id]) })),
          el("p", { class: "inbox-body warning", text: it.body }),
          el("div", { class: "inbox-foot" }, action("Dismiss", "link dismiss", async function () {
            handled.add(it.id);
            state.inbox = state.inbox.filter(function (x) {
              return x.id !== it.id;
            });
            inboxSignature = "";
            renderInbox();
          }))
        ));
        return;
      }
      var ann = it.announceinfo || {};
      var item = el(
        "li",
        { class: "inbox-item", "data-hsid": it.hsid, "data-serverid": it.serverid, "data-id": it.id, "data-via": it.via || "" },
        el("div", { class: "inbox-head" }, el("b", { text: it.servername || it.serverid }), " ", el("span", { class: "muted small", text: fmtTime(firstSeen[it.id]) + (it.via ? " - " + it.via : "") })),
        el("p", { class: "inbox-body", text: it.body || "Log in?" }),
        ann.useragent ? el("p", { class: "small muted", text: shortUa(ann.useragent) }) : null,
        decisionButtons(it.account, it.hsid, it.choices, function (kind, text) {
          if (kind !== "error") {
            handled.add(it.id);
            state.inbox = state.inbox.filter(function (x) {
              return x.id !== it.id;
            });
            inboxSignature = "";
            renderInbox();
            decided(it.account, text);
          }
        }),
        el("div", { class: "inbox-foot" }, action("Details", "link details", async function () {
          await show(it.serverid, it.hsid, it.account.linkBase);
        }))
      );
      list.appendChild(item);
    });
  }

  function renderAccounts() {
    var box = $("accounts");
    box.textContent = "";
    if (!state.accounts.length) {
      append(box, el("p", { class: "muted small accounts-empty", text: "No accounts yet. Paste the enrolment link shown under the login block on the demo website, or open it from there." }));
      return;
    }
    state.accounts.forEach(function (a) {
      var sess = state.sessions[a.serverid] || { list: [], error: "" };
      var stale = !!state.stale[a.serverid];
      var rows = sess.list.map(function (s) {
        var si = s.sessioninfo || {};
        var where = [si.ip, shortUa(si.useragent)].filter(Boolean).join(" - ");
        var info = Object.keys(si.info || {}).map(function (k) {
          return k + ": " + si.info[k];
        }).join(", ");
        return el(
          "li",
          { class: "session", "data-hsid": s.hsid, "data-state": s.state },
          el("div", { class: "session-main" },
            el("span", { class: "state state-" + s.state, text: s.state }), " ",
            el("span", { class: "small", text: s.login_at ? (s.loggedin ? "since " : "last login ") + fmtTime(s.login_at) : "" })),
          where ? el("div", { class: "small muted", text: where }) : null,
          info ? el("div", { class: "small muted", text: info }) : null,
          s.loggedin ? action("Log out", "secondary small session-logout", async function () {
            var ans = await logoutSession(a, s.hsid);
            notify("ok", "Logged out of " + (a.servername || "the website") + " (" + ((ans && ans.state) || "done") + ").");
            await refreshSessions(a);
            renderAccounts();
          }) : null
        );
      });
      var removeLabel = stale ? "Forget this account" : "Remove account";
      var confirmTimer = null;
      var removeButton = el("button", {
        type: "button",
        class: "button danger small remove-account",
        text: removeLabel,
        onclick: function () {
          // Two clicks: the first asks, the second removes (no dialog to dismiss).
          if (removeButton.getAttribute("data-confirm") !== "1") {
            removeButton.setAttribute("data-confirm", "1");
            removeButton.textContent = "Really remove? Click again";
            confirmTimer = setTimeout(function () {
              removeButton.removeAttribute("data-confirm");
              removeButton.textContent = removeLabel;
            }, 5000);
            return;
          }
          clearTimeout(confirmTimer);
          run(async function () {
            var told = await removeAccount(a);
            notify("ok", told ? "Account " + a.accountid + " removed: the server deleted it, and its key is gone from this phone." : "Account " + a.accountid + " forgotten (the server no longer knew it).");
            renderAccounts();
            renderRequest();
            pollInbox();
          });
        }
      });
      if (state.busy) {
        removeButton.disabled = true;
      }
      append(
        box,
        el(
          "article",
          { class: "account" + (stale ? " account-stale" : ""), "data-serverid": a.serverid, "data-accountid": a.accountid },
          el("div", { class: "account-head" },
            el("b", { text: a.servername || a.serverid }), " ",
            el("span", { class: "muted", text: "account " + a.accountid }), " ",
            a.userid ? el("span", { class: "tag", text: "user " + a.userid }) : null),
          el("p", { class: "small muted account-meta", text: (a.push ? "push: " + a.push.platform + " " + a.push.token.slice(0, 12) + "..." : "no push") + " - " + a.api }),
          stale ? el("p", { class: "small error-text", text: "The server no longer knows this account (deleted by the website, or the local stack was restarted with the memory store)." }) : null,
          el("h3", { class: "small-title" }, "Sessions ", action("Refresh", "link small sessions-refresh", async function () {
            await refreshSessions(a);
            renderAccounts();
          })),
          sess.error ? el("p", { class: "small error-text", text: sess.error }) : null,
          rows.length ? el("ul", { class: "sessions" }, rows) : (sess.error ? null : el("p", { class: "small muted", text: "No sessions yet." })),
          state.transfers[a.serverid] ? el("p", { class: "small transfer-link" }, "On the new phone, enrol with: ", el("code", { text: state.transfers[a.serverid] })) : null,
          el("div", { class: "account-foot" },
            a.userid && !stale ? action("Move to a new phone", "secondary small transfer", async function () {
              // A single-use link (5 minutes) for the new phone; this account stays.
              var t = await call(a, "POST", "app/v1/transfer", { remove_after: false });
              state.transfers[a.serverid] = t.link;
              notify("ok", "Scan or paste this link on the new phone within 5 minutes: it enrols there for user " + t.userid + ".");
              renderAccounts();
            }) : null,
            removeButton)
        )
      );
    });
  }

  function updateOpenButton() {
    var text = $("link-input").value.trim();
    var kind = "";
    var link = null;
    try {
      link = text ? parseLink(text) : null;
      kind = link ? link.kind : "";
    } catch (e) {
      kind = "";
    }
    showVash(link).catch(function () {
      $("vash").hidden = true;
    });
    $("link-open").textContent = kind === "enrol" ? "Enrol" : kind === "login" ? "Show login" : kind === "tx" ? "Show transaction" : "Open";
    $("device-name").parentNode.hidden = kind === "login" || kind === "tx";
  }

  async function openLink() {
    var text = $("link-input").value.trim();
    if (!text) {
      throw new PhoneError("bad_link", "paste an enrolment, login or transaction link first");
    }
    var link = parseLink(text);
    if (link.kind === "tx") {
      await showTransaction(link.serverid, link.tid);
      $("link-input").value = "";
      updateOpenButton();
      notify("", "");
      return;
    }
    if (link.kind === "enrol") {
      var description = $("device-name").value.trim() || "Phone simulator";
      var a = await enrol(text, description);
      $("link-input").value = "";
      updateOpenButton();
      notify("ok", "Enrolled: account " + a.accountid + " of " + (a.servername || a.serverid) + (a.userid ? " for user " + a.userid : "") + ". The browser session that showed the link is logged in now.");
      await refreshSessions(a);
      renderAccounts();
      pollInbox();
      return;
    }
    if (!accountFor(link.serverid) && state.accounts.length) {
      // The show call goes out anyway, so that the website learns about it (NOACCOUNTS).
      try {
        await show(link.serverid, link.hsid, link.linkBase, link.code);
      } catch (e) {
        if (e.code === "no_account") {
          throw new PhoneError("no_account", "This phone has no account for that website; the website was told so. Enrol first.");
        }
        throw e;
      }
      return;
    }
    await show(link.serverid, link.hsid, link.linkBase, link.code);
    notify("", "");
  }

  // ---------------------------------------------------------------------------
  // Start-up

  var readyResolve;
  var ready = new Promise(function (resolve) {
    readyResolve = resolve;
  });

  async function start() {
    $("link-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      run(openLink);
    });
    $("link-input").addEventListener("input", updateOpenButton);
    $("pin-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      run(async function () {
        await setPin($("pin-new").value);
        $("pin-new").value = "";
        notify("ok", "PIN set: approvals now ask for it.");
      });
    });
    $("pin-clear").addEventListener("click", function () {
      clearPin();
      notify("ok", "PIN removed.");
    });
    renderPin();
    $("other-network").checked = onOtherNetwork();
    $("other-network").addEventListener("change", function () {
      localStorage.setItem(NETWORK_KEY, $("other-network").checked ? "other" : "same");
    });
    var prefill = new URLSearchParams(window.location.search).get("link");
    if (prefill) {
      $("link-input").value = prefill;
      // The link is in the box now; a reload should not bring a used one back.
      try {
        window.history.replaceState(null, "", window.location.pathname);
      } catch (e) {
        /* keep the URL */
      }
    }
    updateOpenButton();
    if (prefill) {
      $("link-open").focus();
      notify("info", "Press " + $("link-open").textContent + " to use the link.");
    }
    if (!window.crypto || !crypto.subtle) {
      notify("error", "This browser offers no WebCrypto here (it needs a secure context: http://127.0.0.1 or https).");
      readyResolve(false);
      return;
    }
    try {
      await loadAccounts();
    } catch (e) {
      notify("error", "IndexedDB is not available, so accounts cannot be kept: " + ((e && e.message) || e));
    }
    renderAccounts();
    renderInbox();
    $("phone").setAttribute("data-ready", "true");
    readyResolve(true);
    refreshAllSessions();
    pollInbox();
    setInterval(pollInbox, POLL_EVERY);
    setInterval(function () {
      if (!document.hidden && !state.busy) {
        refreshAllSessions();
      }
    }, SESSIONS_EVERY);
  }

  window.nsauthPhone = {
    version: "1",
    vash: vash,
    vashPixels: vashPixels,
    canonical: canonical,
    sign: sign,
    authorization: authorization,
    signRequest: signRequest,
    b64url: b64url,
    b64urlDecode: b64urlDecode,
    hex: hex,
    parseLink: parseLink,
    parsePush: parsePush,
    parseSigned: parseSigned,
    setPin: setPin,
    clearPin: clearPin,
    ready: ready,
    // The stored accounts without their keys (for tests and curious users).
    accounts: function () {
      return state.accounts.map(function (a) {
        return { serverid: a.serverid, servername: a.servername, api: a.api, accountid: a.accountid, userid: a.userid, publickey: a.publickey, push: a.push };
      });
    }
  };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      start().catch(function (e) {
        notify("error", "cannot start: " + ((e && e.message) || e));
      });
    });
  } else {
    start().catch(function (e) {
      notify("error", "cannot start: " + ((e && e.message) || e));
    });
  }
})();
