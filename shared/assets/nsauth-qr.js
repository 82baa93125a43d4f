// QR Code encoder (ISO/IEC 18004) for the login block: byte mode, error correction
// level M, versions 1-40. Self-contained so the block needs no third-party script; the
// output is checked module for module against segno and Nayuki's qrcodegen by
// tests/browser/qr-encoder.test.js.
// The only top-level name is nsauthQr, because this file is concatenated in front of
// nsauth-block.js.
var nsauthQr = (function () {
  "use strict";

  // Level M columns of the error correction table (ISO/IEC 18004 Table 9), indexed by
  // version: EC codewords per block, and number of blocks.
  var ECC_LEN = [0, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26,
    26, 26, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28];
  var BLOCKS = [0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18,
    20, 21, 23, 25, 26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49];
  // Format information's EC level field: M is 00.
  var LEVEL_M_BITS = 0;
  var N1 = 3, N2 = 3, N3 = 40, N4 = 10;

  function gfMul(x, y) {
    var z = 0;
    for (var i = 7; i >= 0; i--) {
      z = (z << 1) ^ ((z >>> 7) * 0x11d);
      z ^= ((y >>> i) & 1) * x;
    }
    return z;
  }

  // Generator polynomial (x - a^0)...(x - a^(degree-1)), highest coefficient (1) dropped.
  function rsDivisor(degree) {
    var poly = new Array(degree).fill(0);
    poly[degree - 1] = 1;
    var root = 1;
    for (var i = 0; i < degree; i++) {
      for (var j = 0; j < degree; j++) {
        poly[j] = gfMul(poly[j], root);
        if (j + 1 < degree) poly[j] ^= poly[j + 1];
      }
      root = gfMul(root, 2);
    }
    return poly;
  }

  function rsRemainder(data, divisor) {
    var rem = new Array(divisor.length).fill(0);
    data.forEach(function (b) {
      var factor = b ^ rem.shift();
      rem.push(0);
      divisor.forEach(function (c, i) { rem[i] ^= gfMul(c, factor); });
    });
    return rem;
  }

  // Modules left for codewords once function patterns and format/version areas are taken.
  function rawModules(ver) {
    var n = (16 * ver + 128) * ver + 64;
    if (ver >= 2) {
      var align = Math.floor(ver / 7) + 2;
      n -= (25 * align - 10) * align - 55;
      if (ver >= 7) n -= 36;
    }
    return n;
  }

  function dataCodewords(ver) {
    return Math.floor(rawModules(ver) / 8) - ECC_LEN[ver] * BLOCKS[ver];
  }

  // Centres of the alignment patterns (Annex E): evenly spaced from the far edge, with the
  // spacing rounded up to an even number, plus the fixed first one at 6.
  function alignPositions(ver, size) {
    if (ver === 1) return [];
    var count = Math.floor(ver / 7) + 2;
    var step = Math.floor((ver * 8 + count * 3 + 5) / (count * 4 - 4)) * 2;
    var pos = [6];
    for (var p = size - 7; pos.length < count; p -= step) pos.splice(1, 0, p);
    return pos;
  }

  // BCH(15,5) over the 5 format bits, masked so the result is never all zero.
  function formatBits(mask) {
    var data = (LEVEL_M_BITS << 3) | mask, rem = data;
    for (var i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
    return ((data << 10) | rem) ^ 0x5412;
  }

  function versionBits(ver) {
    var rem = ver;
    for (var i = 0; i < 12; i++) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25);
    return (ver << 12) | rem;
  }

  var MASKS = [
    function (x, y) { return (x + y) % 2 === 0; },
    function (x, y) { return y % 2 === 0; },
    function (x, y) { return x % 3 === 0; },
    function (x, y) { return (x + y) % 3 === 0; },
    function (x, y) { return (Math.floor(x / 3) + Math.floor(y / 2)) % 2 === 0; },
    function (x, y) { return (x * y) % 2 + (x * y) % 3 === 0; },
    function (x, y) { return ((x * y) % 2 + (x * y) % 3) % 2 === 0; },
    function (x, y) { return ((x + y) % 2 + (x * y) % 3) % 2 === 0; },
  ];

  function codewords(bytes, ver) {
    var bits = [];
    function put(val, len) { for (var i = len - 1; i >= 0; i--) bits.push((val >>> i) & 1); }
    put(4, 4); // byte mode indicator
    put(bytes.length, ver < 10 ? 8 : 16);
    bytes.forEach(function (b) { put(b, 8); });
    var capBits = dataCodewords(ver) * 8;
    put(0, Math.min(4, capBits - bits.length));
    put(0, (8 - bits.length % 8) % 8);
    for (var pad = 0xec; bits.length < capBits; pad ^= 0xec ^ 0x11) put(pad, 8);
    var data = [];
    for (var i = 0; i < bits.length; i += 8) {
      data.push(bits.slice(i, i + 8).reduce(function (a, b) { return (a << 1) | b; }, 0));
    }

    // Blocks differ in length by at most one data codeword, the short ones first; the
    // symbol reads column-wise across blocks, data then EC codewords.
    var nBlocks = BLOCKS[ver], eccLen = ECC_LEN[ver], raw = Math.floor(rawModules(ver) / 8);
    var nShort = nBlocks - raw % nBlocks, shortLen = Math.floor(raw / nBlocks) - eccLen;
    var divisor = rsDivisor(eccLen), blocks = [];
    for (var b = 0, k = 0; b < nBlocks; b++) {
      var len = shortLen + (b < nShort ? 0 : 1), dat = data.slice(k, k + len);
      k += len;
      blocks.push({ data: dat, ecc: rsRemainder(dat, divisor) });
    }
    var out = [];
    for (var c = 0; c <= shortLen; c++) {
      blocks.forEach(function (bl) { if (c < bl.data.length) out.push(bl.data[c]); });
    }
    for (var e = 0; e < eccLen; e++) blocks.forEach(function (bl) { out.push(bl.ecc[e]); });
    return out;
  }

  // Penalty of ISO/IEC 18004 7.8.3, computed as Nayuki's qrcodegen does: on the complete
  // symbol, format information included (7.8.3.1 evaluates the complete symbol), the area
  // outside it counting as light, and finder-like 1:1:3:1:1 runs at any scale, once per
  // side with 4 light modules.
  function penalty(m, size) {
    var score = 0;
    function line(get) {
      var color = false, run = 0, hist = [0, 0, 0, 0, 0, 0, 0];
      function pushRun(len) {
        if (hist[0] === 0) len += size; // light border before the first run
        hist.pop();
        hist.unshift(len);
      }
      function finders() {
        var n = hist[1];
        var core = n > 0 && hist[2] === n && hist[3] === n * 3 && hist[4] === n && hist[5] === n;
        return (core && hist[0] >= n * 4 && hist[6] >= n ? 1 : 0) +
          (core && hist[6] >= n * 4 && hist[0] >= n ? 1 : 0);
      }
      for (var i = 0; i < size; i++) {
        if (get(i) === color) {
          run++;
          if (run === 5) score += N1;
          else if (run > 5) score++;
        } else {
          pushRun(run);
          if (!color) score += finders() * N3;
          color = get(i);
          run = 1;
        }
      }
      if (color) { pushRun(run); run = 0; }
      pushRun(run + size); // light border after the last run
      score += finders() * N3;
    }
    var dark = 0;
    for (var y = 0; y < size; y++) {
      line(function (x) { return m[y][x]; });
      line(function (x) { return m[x][y]; });
      for (var x = 0; x < size; x++) {
        if (m[y][x]) dark++;
        if (x + 1 < size && y + 1 < size && m[y][x] === m[y][x + 1] &&
          m[y][x] === m[y + 1][x] && m[y][x] === m[y + 1][x + 1]) score += N2;
      }
    }
    var total = size * size;
    return score + (Math.ceil(Math.abs(dark * 20 - total * 10) / total) - 1) * N4;
  }

  function build(bytes, ver, forcedMask) {
    var size = ver * 4 + 17;
    var m = [], fn = [];
    for (var i = 0; i < size; i++) {
      m.push(new Array(size).fill(false));
      fn.push(new Array(size).fill(false));
    }
    function set(x, y, dark) { m[y][x] = dark; fn[y][x] = true; }

    for (i = 0; i < size; i++) { set(6, i, i % 2 === 0); set(i, 6, i % 2 === 0); }
    // Finder patterns with their separators: concentric squares by Chebyshev distance.
    [[3, 3], [size - 4, 3], [3, size - 4]].forEach(function (c) {
      for (var dy = -4; dy <= 4; dy++) {
        for (var dx = -4; dx <= 4; dx++) {
          var x = c[0] + dx, y = c[1] + dy, d = Math.max(Math.abs(dx), Math.abs(dy));
          if (x >= 0 && x < size && y >= 0 && y < size) set(x, y, d !== 2 && d !== 4);
        }
      }
    });
    var al = alignPositions(ver, size);
    al.forEach(function (ay, a) {
      al.forEach(function (ax, b) {
        // Skip the three corners taken by finder patterns.
        if ((a === 0 && b === 0) || (a === 0 && b === al.length - 1) || (a === al.length - 1 && b === 0)) return;
        for (var dy = -2; dy <= 2; dy++) {
          for (var dx = -2; dx <= 2; dx++) set(ax + dx, ay + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
        }
      });
    });
    function drawFormat(mask) {
      var f = formatBits(mask), bit = function (k) { return ((f >>> k) & 1) !== 0; };
      for (var k = 0; k <= 5; k++) set(8, k, bit(k));
      set(8, 7, bit(6));
      set(8, 8, bit(7));
      set(7, 8, bit(8));
      for (k = 9; k < 15; k++) set(14 - k, 8, bit(k));
      for (k = 0; k < 8; k++) set(size - 1 - k, 8, bit(k));
      for (k = 8; k < 15; k++) set(8, size - 15 + k, bit(k));
      set(8, size - 8, true); // the dark module
    }
    drawFormat(0); // reserves the area before data placement
    if (ver >= 7) {
      var v = versionBits(ver);
      for (var k = 0; k < 18; k++) {
        var a = size - 11 + k % 3, b = Math.floor(k / 3), dark = ((v >>> k) & 1) !== 0;
        set(a, b, dark);
        set(b, a, dark);
      }
    }

    // Two-module-wide columns from the right, alternately upwards and downwards,
    // stepping over the vertical timing pattern.
    var cw = codewords(bytes, ver), n = 0;
    for (var right = size - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5;
      for (var vert = 0; vert < size; vert++) {
        for (var j = 0; j < 2; j++) {
          var x = right - j, y = ((right + 1) & 2) === 0 ? size - 1 - vert : vert;
          if (!fn[y][x] && n < cw.length * 8) {
            m[y][x] = ((cw[n >>> 3] >>> (7 - (n & 7))) & 1) !== 0;
            n++;
          }
        }
      }
    }

    function applyMask(mask) {
      for (var y = 0; y < size; y++) {
        for (var x = 0; x < size; x++) if (!fn[y][x] && MASKS[mask](x, y)) m[y][x] = !m[y][x];
      }
    }
    var best = forcedMask;
    if (best < 0) {
      var bestScore = Infinity;
      for (var mask = 0; mask < 8; mask++) {
        applyMask(mask);
        drawFormat(mask);
        var s = penalty(m, size);
        if (s < bestScore) { best = mask; bestScore = s; } // ties: the lowest mask
        applyMask(mask); // XOR again undoes it
      }
    }
    applyMask(best);
    drawFormat(best);
    return { size: size, version: ver, mask: best, modules: m };
  }

  // opts.version and opts.mask, when given (not null), replace the encoder's choice.
  function encode(text, opts) {
    opts = opts || {};
    var bytes = Array.from(new TextEncoder().encode(String(text)));
    // Mode indicator, character count, then the bytes; the count field widens at version 10.
    var fits = function (v) { return 4 + (v < 10 ? 8 : 16) + bytes.length * 8 <= dataCodewords(v) * 8; };
    var ver = opts.version, mask = opts.mask;
    if (mask != null && !(Number.isInteger(mask) && mask >= 0 && mask <= 7)) throw new RangeError("QR mask must be 0..7");
    if (ver == null) {
      for (ver = 1; ver <= 40 && !fits(ver); ver++);
      if (ver > 40) throw new RangeError("text too long for a QR code");
    } else if (!(Number.isInteger(ver) && ver >= 1 && ver <= 40)) {
      throw new RangeError("QR version must be 1..40");
    } else if (!fits(ver)) {
      throw new RangeError("text does not fit QR version " + ver);
    }
    return build(bytes, ver, mask == null ? -1 : mask);
  }

  // One subpath per horizontal run of dark modules, in module units, no quiet zone.
  encode.svgPath = function (qr) {
    var d = [];
    qr.modules.forEach(function (row, y) {
      for (var x = 0; x < qr.size; x++) {
        if (!row[x]) continue;
        var w = 1;
        while (x + w < qr.size && row[x + w]) w++;
        d.push("M" + x + " " + y + "h" + w + "v1h-" + w + "z");
        x += w;
      }
    });
    return d.join("");
  };

  return encode;
})();
if (typeof module !== "undefined" && module.exports) module.exports = nsauthQr;
