// The block's QR Code encoder (shared/assets/nsauth-qr.js) against two reference encoders
// in Python, module for module: segno (forced version and mask: bit stream, Reed-Solomon,
// block interleaving, function patterns, format and version information, placement, the
// eight masks) and Nayuki's qrcodegen (the same, plus the automatic mask choice, whose
// penalty rules the encoder follows). Needs no browser and no local stack, only the
// Python venv of infra/scripts/tools.sh (or NSAUTH_PYTHON).
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const nsauthQr = require("../../shared/assets/nsauth-qr.js");

const PYTHON = process.env.NSAUTH_PYTHON || path.resolve(__dirname, "../../.tools/py/bin/python");

// Reads [{hex, version, mask, refs}] on stdin (version/mask null: the encoder chooses),
// writes, per case and reference, {version, mask, rows} with rows as strings of 0/1.
const REFERENCE_PY = String.raw`
import json, sys
import segno
from segno import encoder
from qrcodegen import QrCode, QrSegment

# segno (1.6.6 at least) appends 8 zero bits after the terminator when the bit stream
# already ends on a codeword boundary, which byte mode always does: an extra 0x00 data
# codeword before the 0xEC/0x11 pad codewords, against ISO/IEC 18004 7.4.10 (segno
# issues #123 and #148). Symbols still decode, but differ from every other encoder; the
# standard's rule is put back, the rest of segno stays as it is.
assert hasattr(encoder, "write_padding_bits"), "segno changed: revisit the padding patch"
encoder.write_padding_bits = lambda buff, version, length: buff.extend([0] * (-length % 8))

def by_segno(data, version, mask):
    # Bytes, not str: segno would encode a str as ISO 8859-1 when it can. mode="byte"
    # and eci=False (the default) keep it to one byte segment without an ECI header.
    q = segno.make(data, mode="byte", error="m", boost_error=False, micro=False,
                   version=version, mask=mask)
    assert q.error == "M" and q.mode == "byte" and not q.is_micro
    return {"version": q.version, "mask": q.mask,
            "rows": ["".join(str(b) for b in row) for row in q.matrix]}

def by_qrcodegen(data, version, mask):
    q = QrCode.encode_segments([QrSegment.make_bytes(data)], QrCode.Ecc.MEDIUM,
                               minversion=version or 1, maxversion=version or 40,
                               mask=-1 if mask is None else mask, boostecl=False)
    n = q.get_size()
    return {"version": q.get_version(), "mask": q.get_mask(),
            "rows": ["".join("1" if q.get_module(x, y) else "0" for x in range(n)) for y in range(n)]}

out = []
for c in json.load(sys.stdin):
    data = bytes.fromhex(c["hex"])
    out.append({ref: {"segno": by_segno, "qrcodegen": by_qrcodegen}[ref](data, c["version"], c["mask"])
                for ref in c["refs"]})
json.dump(out, sys.stdout)
`;

// Deterministic text, so a failure is reproducible.
function pseudoText(bytes, seed) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_./?=&:%~";
  let s = "";
  let x = seed;
  while (s.length < bytes) {
    x = (x * 1103515245 + 12345) % 2147483648;
    s += alphabet[x % alphabet.length];
  }
  return s;
}

function repeatToBytes(unit, bytes) {
  let s = "";
  while (Buffer.byteLength(s + unit) <= bytes) s += unit;
  return s;
}

const NAMED = {
  "nsauth login link":
    "nsauth://login/AAECAwQFBgcICQoLDA0ODw/AbCdEfGhIjKlMnOpQrStUv?t=1796300000&m=AbCdEfGhIjKlMnOpQrStUv",
  "https link": "https://login.example.org/nsauth/AAECAwQFBgcICQoLDA0ODw/xYz",
  empty: "",
  "one character": "a",
  "non-ASCII UTF-8": "Grüße ✓",
  "ISO 8859-1 representable": "Grüße",
  "4-byte UTF-8": "🔐 Anmeldung bestätigen – ✓",
  "300 bytes (version 10+)": pseudoText(300, 1),
  "1400 bytes (version 27+)": pseudoText(1400, 2),
  "2000 bytes of UTF-8": repeatToBytes("Grüße ✓ nsauth://login/ ", 2000),
  "2331 bytes (version 40, full)": pseudoText(2331, 3),
};

// The byte capacity of each version at level M, as the encoder sees it; the references'
// own version choice below checks every boundary.
function capacity(version) {
  let lo = 0;
  let hi = 4096;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    try {
      nsauthQr("x".repeat(mid), { version, mask: 0 });
      lo = mid;
    } catch {
      hi = mid - 1;
    }
  }
  return lo;
}
const CAPACITY = [0];
for (let v = 1; v <= 40; v++) CAPACITY.push(capacity(v));

// Every comparison: a text, the encoder's options, and which references to ask with
// which version and mask (null = the reference's own choice).
const cases = [];
function compare(group, name, text, opts, refs) {
  cases.push({ group, name, text, opts, refs });
}

for (const [name, text] of Object.entries(NAMED)) {
  const auto = nsauthQr(text);
  compare("auto", name, text, {}, [
    ["qrcodegen", null, null],
    ["segno", auto.version, auto.mask],
    ["segno", null, null], // only its version is compared: segno scores masks its own way
  ]);
  for (let mask = 0; mask < 8; mask++) {
    compare("mask", `${name}, mask ${mask}`, text, { mask }, [
      ["segno", auto.version, mask],
      ["qrcodegen", auto.version, mask],
    ]);
  }
}
for (let v = 1; v <= 40; v++) {
  const full = pseudoText(CAPACITY[v], 100 + v);
  const auto = nsauthQr(full);
  compare("boundary", `version ${v} full (${CAPACITY[v]} bytes)`, full, {}, [
    ["qrcodegen", null, null],
    ["segno", auto.version, auto.mask],
  ]);
  if (v < 40) {
    const over = pseudoText(CAPACITY[v] + 1, 200 + v);
    compare("boundary", `version ${v} full plus one byte`, over, { mask: v % 8 }, [
      ["qrcodegen", null, v % 8],
      ["segno", null, v % 8],
    ]);
  }
}
for (const [version, mask] of [[7, 3], [9, 0], [12, 5], [40, 6]]) {
  compare("forced", `nsauth login link in version ${version}, mask ${mask}`, NAMED["nsauth login link"],
    { version, mask }, [["segno", version, mask], ["qrcodegen", version, mask]]);
}
compare("forced", "https link in version 9, automatic mask", NAMED["https link"], { version: 9 },
  [["qrcodegen", 9, null]]);

// One Python process for all cases, run when a test first needs it; a failure fails
// every test that needs it.
let reference;
function references() {
  if (reference instanceof Error) throw reference;
  if (reference) return reference;
  try {
    reference = askReferences();
  } catch (e) {
    reference = e;
    throw e;
  }
  return reference;
}

function askReferences() {
  if (!fs.existsSync(PYTHON)) {
    throw new Error(`no Python at ${PYTHON} for the reference encoders (segno, qrcodegen): ` +
      "run infra/scripts/tools.sh, or point NSAUTH_PYTHON at a Python that has both");
  }
  // One request per reference of a case (their versions and masks differ).
  const requests = [];
  for (const c of cases) {
    const hex = Buffer.from(c.text, "utf8").toString("hex");
    for (const [ref, version, mask] of c.refs) requests.push({ hex, version, mask, refs: [ref] });
  }
  let out;
  try {
    out = execFileSync(PYTHON, ["-c", REFERENCE_PY], {
      input: JSON.stringify(requests),
      encoding: "utf8",
      maxBuffer: 1 << 28,
      stdio: ["pipe", "pipe", "pipe"],
      timeout: 300_000,
    });
  } catch (e) {
    throw new Error(`the reference encoders failed (${PYTHON}; needs segno and qrcodegen, ` +
      `see infra/scripts/tools.sh): ${e.message}\n${e.stderr || ""}`);
  }
  const answers = JSON.parse(out);
  let k = 0;
  return cases.map((c) => c.refs.map(([ref]) => answers[k++][ref]));
}

const rowsOf = (qr) => qr.modules.map((row) => row.map((d) => (d ? "1" : "0")).join(""));

function checkGroup(group) {
  const ref = references();
  let compared = 0;
  cases.forEach((c, i) => {
    if (c.group !== group) return;
    const ours = nsauthQr(c.text, c.opts);
    assert.equal(ours.size, ours.version * 4 + 17, c.name);
    assert.equal(ours.modules.length, ours.size, c.name);
    c.refs.forEach(([name, version, mask], j) => {
      const theirs = ref[i][j];
      const label = `${c.name}: ${name}${version ? ` v${version}` : ""}${mask !== null ? ` mask ${mask}` : ""}`;
      // No quiet zone in the references' matrices either: a finder pattern's top row
      // starts at the corner.
      assert.equal(theirs.rows.length, theirs.version * 4 + 17, `${label}: reference matrix size`);
      assert.equal(theirs.rows[0].slice(0, 7), "1111111", `${label}: reference has a quiet zone`);
      assert.equal(ours.version, theirs.version, `${label}: version`);
      if (name === "segno" && version === null && mask === null) return; // its mask: see below
      assert.equal(ours.mask, theirs.mask, `${label}: mask`);
      assert.deepEqual(rowsOf(ours), theirs.rows, `${label}: modules`);
      compared++;
    });
  });
  return compared;
}

test("every mask at the chosen version matches segno and qrcodegen", () => {
  assert.equal(checkGroup("mask"), Object.keys(NAMED).length * 8 * 2);
});

test("the automatic choice (version and mask) matches qrcodegen, and segno at that mask", (t) => {
  assert.equal(checkGroup("auto"), Object.keys(NAMED).length * 2);
  // segno scores the masks before the format information and the dark module are drawn
  // (ISO/IEC 18004 7.8.3.1 scores the complete symbol) and counts only 1011101 runs
  // without their scaled forms, so it often picks another mask; reported, not asserted.
  const ref = references();
  let differ = 0;
  cases.forEach((c, i) => {
    if (c.group === "auto" && ref[i][2].mask !== nsauthQr(c.text).mask) differ++;
  });
  t.diagnostic(`segno's own mask choice differs in ${differ} of ${Object.keys(NAMED).length} inputs`);
});

test("the smallest version that fits, at every version boundary 1..40", () => {
  assert.equal(CAPACITY[1], 14);
  assert.equal(CAPACITY[40], 2331);
  assert.equal(checkGroup("boundary"), 40 * 2 + 39 * 2);
});

test("a forced version and mask match the references", () => {
  assert.equal(checkGroup("forced"), 4 * 2 + 1);
});

test("the long inputs reach the high versions", () => {
  assert.ok(nsauthQr(NAMED["300 bytes (version 10+)"]).version >= 10);
  assert.ok(nsauthQr(NAMED["1400 bytes (version 27+)"]).version >= 27);
  assert.ok(nsauthQr(NAMED["2000 bytes of UTF-8"]).version >= 36);
  assert.equal(nsauthQr(NAMED["2331 bytes (version 40, full)"]).version, 40);
});

test("refuses what does not fit and options out of range", () => {
  assert.throws(() => nsauthQr("x".repeat(2332)), RangeError);
  assert.throws(() => nsauthQr("x".repeat(15), { version: 1 }), RangeError);
  assert.throws(() => nsauthQr("x", { version: 41 }), RangeError);
  assert.throws(() => nsauthQr("x", { version: 0 }), RangeError);
  assert.throws(() => nsauthQr("x", { mask: 8 }), RangeError);
  assert.throws(() => nsauthQr("x", { mask: -1 }), RangeError);
  assert.throws(() => nsauthQr("x", { mask: 1.5 }), RangeError);
  assert.deepEqual(nsauthQr("x", { version: null, mask: null }), nsauthQr("x"));
  assert.equal(nsauthQr("x".repeat(14), { version: 1 }).version, 1);
});

// Parses the path strictly, so that any other command or form fails the test.
function matrixFromPath(d, size) {
  const m = Array.from({ length: size }, () => new Array(size).fill(false));
  const re = /M(\d+) (\d+)h(\d+)v1h-(\d+)z/y;
  let runs = 0;
  while (re.lastIndex < d.length) {
    const at = re.lastIndex;
    const hit = re.exec(d);
    assert.ok(hit, `unexpected path data at ${at}: ${d.slice(at, at + 30)}`);
    const [x, y, w, back] = hit.slice(1).map(Number);
    assert.equal(back, w);
    assert.ok(w >= 1 && x + w <= size && y < size, `run out of the symbol: ${hit[0]}`);
    for (let i = x; i < x + w; i++) {
      assert.equal(m[y][i], false, `module ${i},${y} drawn twice`);
      m[y][i] = true;
    }
    runs++;
  }
  return { m, runs };
}

test("svgPath draws exactly the dark modules, one subpath per horizontal run", () => {
  for (const text of [NAMED["nsauth login link"], NAMED["non-ASCII UTF-8"], NAMED["300 bytes (version 10+)"]]) {
    const qr = nsauthQr(text);
    const d = nsauthQr.svgPath(qr);
    const { m, runs } = matrixFromPath(d, qr.size);
    assert.deepEqual(m, qr.modules);
    // As many subpaths as maximal runs: no run is split.
    let expectedRuns = 0;
    qr.modules.forEach((row) => row.forEach((dark, x) => { if (dark && !row[x - 1]) expectedRuns++; }));
    assert.equal(runs, expectedRuns, "runs are not merged");
  }
  assert.equal(nsauthQr.svgPath({ size: 2, modules: [[true, true], [false, true]] }), "M0 0h2v1h-2zM1 1h1v1h-1z");
});
