/*
 * The demo website's transfers (GET /local/demo.js, on / and /demo once logged in): the
 * form `#demo-tx` asks the phone to confirm a transfer, as a bank's page would.
 *
 * - Submit: `POST /demo/transactions` (the demo's backend calls createTransaction for its
 *   browser session); the page shows the transaction's QR code and link.
 * - Then it asks `GET /demo/transactions/{tid}` (getTransactionResult) every second, and
 *   at once when the footer's script reports the transaction's new status (the DOM event
 *   `nsauth:transaction` from a TXSTATUS frame, see shared/assets/nsauth-block.js).
 * - Approved: the page checks the phone's signature itself with WebCrypto: `pk` (base64
 *   SPKI) over the UTF-8 bytes of `signed`, `signature` being base64url r||s; then it
 *   shows what was signed, read from `signed`. Declined or expired: says so.
 *
 * `#demo-tx` carries `data-tid`, `data-state` (new, approved, declined, expired) and, once
 * approved, `data-verified` ("true" or "false") for tests.
 */
(function () {
  "use strict";

  var POLL_EVERY = 1000;
  var POLL_AFTER_ERROR = 3000;
  var ALG = { name: "ECDSA", namedCurve: "P-256" };
  var SIG = { name: "ECDSA", hash: "SHA-256" };

  var box = null;
  var current = null; // {tid, timer, busy, over}

  function q(sel) {
    return box.querySelector(sel);
  }

  function show(node, visible) {
    if (node) {
      node.hidden = !visible;
    }
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) {
      e.className = cls;
    }
    if (text != null) {
      e.textContent = text;
    }
    return e;
  }

  function bytesOfBase64(text, url) {
    var s = String(text || "");
    if (url) {
      s = s.replace(/-/g, "+").replace(/_/g, "/");
      while (s.length % 4) {
        s += "=";
      }
    }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out;
  }

  // Whether `signature` (base64url r||s) is `pk`'s (base64 SPKI) over the bytes of `signed`.
  async function verifySignature(pk, signed, signature) {
    var key = await crypto.subtle.importKey("spki", bytesOfBase64(pk, false), ALG, false, ["verify"]);
    return crypto.subtle.verify(SIG, key, bytesOfBase64(signature, true), new TextEncoder().encode(signed));
  }

  function setError(text) {
    var e = q(".demo-tx-error");
    e.textContent = text || "";
    show(e, !!text);
  }

  function stop() {
    if (current) {
      current.over = true;
      clearTimeout(current.timer);
    }
  }

  async function submit(ev) {
    ev.preventDefault();
    var form = ev.target;
    var button = q(".demo-tx-submit");
    var expect = {
      amount: form.elements.amount.value,
      benificiary: form.elements.beneficiary.value,
      description: form.elements.description.value
    };
    setError("");
    button.disabled = true;
    try {
      var res = await fetch("/demo/transactions", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(expect),
        credentials: "same-origin",
        cache: "no-store"
      });
      var body = await res.json().catch(function () {
        return {};
      });
      if (!res.ok) {
        setError("The transfer was not created: " + (body.message || "HTTP " + res.status) + (body.error ? " (" + body.error + ")" : ""));
        return;
      }
      started(body);
    } catch (e) {
      setError("The transfer was not created: " + ((e && e.message) || e));
    } finally {
      button.disabled = false;
    }
  }

  // A new transaction: its QR code and link, then wait for the phone.
  function started(created) {
    stop();
    current = { tid: created.tid, timer: null, busy: false, over: false };
    box.setAttribute("data-tid", created.tid);
    box.setAttribute("data-state", "new");
    box.removeAttribute("data-verified");
    show(q(".demo-tx-result"), false);
    q(".demo-tx-how").textContent = created.pushed
      ? "Sent to your phone: open it from the phone's inbox - or scan the code, or open the link."
      : "Scan the code with your authenticator app, or open the link on the phone.";
    q(".demo-tx-qr").innerHTML = created.qr || "";
    var link = q(".demo-tx-link");
    link.setAttribute("href", created.txlink);
    link.querySelector("code").textContent = created.txlink;
    q(".demo-tx-open").setAttribute("href", created.simulator);
    q(".demo-tx-wait").textContent = "Waiting for your phone...";
    show(q(".demo-tx-pending"), true);
    schedule(POLL_EVERY);
  }

  function schedule(delay) {
    var c = current;
    clearTimeout(c.timer);
    c.timer = setTimeout(function () {
      poll(c);
    }, delay);
  }

  async function poll(c) {
    if (c.over || c.busy || c !== current) {
      return;
    }
    c.busy = true;
    var next = POLL_EVERY;
    try {
      var res = await fetch("/demo/transactions/" + encodeURIComponent(c.tid), { credentials: "same-origin", cache: "no-store" });
      var body = await res.json();
      if (!res.ok) {
        throw new Error(body.message || "HTTP " + res.status);
      }
      if (c === current && body.state !== "new") {
        c.over = true;
        await finished(c, body);
      }
    } catch (e) {
      if (c === current) {
        q(".demo-tx-wait").textContent = "Waiting for your phone... (" + ((e && e.message) || e) + ")";
      }
      next = POLL_AFTER_ERROR;
    } finally {
      c.busy = false;
    }
    if (!c.over && c === current) {
      schedule(next);
    }
  }

  function kv(dl, name, value) {
    dl.appendChild(el("dt", null, name));
    dl.appendChild(el("dd", null, value));
  }

  // The result: approved (signature checked here), declined or expired.
  async function finished(c, result) {
    show(q(".demo-tx-pending"), false);
    q(".demo-tx-qr").textContent = "";
    var out = q(".demo-tx-result");
    out.textContent = "";
    box.setAttribute("data-state", result.state);
    if (result.state !== "approved") {
      var text = result.state === "declined"
        ? "Declined on the phone: nothing was transferred."
        : "Expired: the phone did not answer in time (or a newer transfer replaced it).";
      out.appendChild(el("p", "demo-tx-outcome demo-tx-bad", text));
      show(out, true);
      return;
    }
    var ok = false;
    var why = "";
    var signed = null;
    try {
      ok = await verifySignature(result.pk, result.signed, result.signature);
      signed = JSON.parse(result.signed);
      if (ok && signed.tid !== c.tid) {
        ok = false;
        why = "it names another transaction";
      } else if (ok && (signed.amount !== result.amount || signed.benificiary !== result.benificiary || signed.description !== result.description)) {
        // The website's own record of what it asked (getTransactionResult) against what
        // the phone signed.
        ok = false;
        why = "it is not the transfer the website asked for";
      } else if (!ok) {
        why = "it is not the account key's signature of the signed text";
      }
    } catch (e) {
      ok = false;
      why = "it cannot be checked: " + ((e && e.message) || e);
    }
    box.setAttribute("data-verified", ok ? "true" : "false");
    out.appendChild(
      el(
        "p",
        "demo-tx-outcome " + (ok ? "demo-tx-verified" : "demo-tx-bad"),
        ok
          ? "\u2713 Approved on the phone. The signature verifies in this browser (WebCrypto, ECDSA P-256 with the account's key)."
          : "Approved, but the signature does NOT check out: " + why + "."
      )
    );
    if (signed) {
      out.appendChild(el("p", "demo-tx-amount", signed.amount));
      var to = el("p", "demo-tx-beneficiary", "to ");
      to.appendChild(el("b", null, signed.benificiary));
      out.appendChild(to);
      if (signed.description) {
        out.appendChild(el("p", "demo-tx-description", signed.description));
      }
      var dl = el("dl", "kv small demo-tx-proof");
      kv(dl, "account", String(result.accountid) + (result.userid ? " (user " + result.userid + ")" : ""));
      kv(dl, "signed text", result.signed);
      kv(dl, "signature", result.signature);
      out.appendChild(dl);
    }
    show(out, true);
  }

  function start() {
    box = document.getElementById("demo-tx");
    if (!box) {
      return;
    }
    var form = q(".demo-tx-form");
    if (!form) {
      return;
    }
    if (!window.crypto || !crypto.subtle) {
      setError("This browser offers no WebCrypto here, so the phone's signature cannot be checked.");
    }
    form.addEventListener("submit", submit);
    // The footer's WebSocket says when a transaction of this session changes: ask now.
    document.addEventListener("nsauth:transaction", function (ev) {
      var d = ev.detail || {};
      // (A poll on its way schedules the next one itself.)
      if (current && !current.over && !current.busy && d.tid === current.tid && d.tstatus !== "0") {
        clearTimeout(current.timer);
        poll(current);
      }
    });
    window.addEventListener("pagehide", stop);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
