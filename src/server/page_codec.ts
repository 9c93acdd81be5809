/**
 * A tiny MessagePack encoder and decoder in plain browser JavaScript, embedded in the demo page so
 * that it needs no CDN. It covers what protocol v1 uses: nil, booleans, integers, floats, strings,
 * binary, arrays and maps (binary map keys decode as UTF-8 strings). Tests evaluate it against
 * msgpackr.
 *
 * @module
 */

/** Defines `mpEncode(value): Uint8Array` and `mpDecode(bytes: Uint8Array): unknown`. */
export const MSGPACK_JS = `
function mpDecode(buf) {
  var view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength), pos = 0;
  var td = new TextDecoder();
  function take(n) { if (pos + n > buf.length) throw new Error("truncated"); pos += n; return pos - n; }
  function str(n) { var at = take(n); return td.decode(buf.subarray(at, at + n)); }
  function bin(n) { var at = take(n); return buf.slice(at, at + n); }
  function arr(n) { var a = []; for (var i = 0; i < n; i++) a.push(read()); return a; }
  function map(n) {
    var o = {};
    for (var i = 0; i < n; i++) {
      var k = read();
      if (k instanceof Uint8Array) k = td.decode(k);
      o[k] = read();
    }
    return o;
  }
  function u8() { return buf[take(1)]; }
  function u16() { return view.getUint16(take(2)); }
  function u32() { return view.getUint32(take(4)); }
  function read() {
    var b = u8();
    if (b < 0x80) return b;
    if (b < 0x90) return map(b & 15);
    if (b < 0xa0) return arr(b & 15);
    if (b < 0xc0) return str(b & 31);
    if (b >= 0xe0) return b - 256;
    var hi;
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return bin(u8());
      case 0xc5: return bin(u16());
      case 0xc6: return bin(u32());
      case 0xca: return view.getFloat32(take(4));
      case 0xcb: return view.getFloat64(take(8));
      case 0xcc: return u8();
      case 0xcd: return u16();
      case 0xce: return u32();
      case 0xcf: hi = u32(); return hi * 4294967296 + u32();
      case 0xd0: return view.getInt8(take(1));
      case 0xd1: return view.getInt16(take(2));
      case 0xd2: return view.getInt32(take(4));
      case 0xd3: hi = view.getInt32(take(4)); return hi * 4294967296 + u32();
      case 0xd9: return str(u8());
      case 0xda: return str(u16());
      case 0xdb: return str(u32());
      case 0xdc: return arr(u16());
      case 0xdd: return arr(u32());
      case 0xde: return map(u16());
      case 0xdf: return map(u32());
    }
    throw new Error("unsupported MessagePack byte 0x" + b.toString(16));
  }
  var value = read();
  if (pos !== buf.length) throw new Error("trailing bytes");
  return value;
}
function mpEncode(value) {
  var out = [], te = new TextEncoder();
  function u8(b) { out.push(b & 255); }
  function u16(v) { u8(v >> 8); u8(v); }
  function u32(v) { u8(v >>> 24); u8(v >>> 16); u8(v >>> 8); u8(v); }
  function bytes(b) { for (var i = 0; i < b.length; i++) out.push(b[i]); }
  function head(n, fix, small, c16, c32) {
    if (n < small) u8(fix | n);
    else if (n < 65536) { u8(c16); u16(n); }
    else { u8(c32); u32(n); }
  }
  function write(v) {
    if (v === null || v === undefined) u8(0xc0);
    else if (v === true) u8(0xc3);
    else if (v === false) u8(0xc2);
    else if (typeof v === "number") {
      if (Number.isInteger(v) && v >= 0 && v < 4294967296) {
        if (v < 128) u8(v);
        else if (v < 256) { u8(0xcc); u8(v); }
        else if (v < 65536) { u8(0xcd); u16(v); }
        else { u8(0xce); u32(v); }
      } else if (Number.isInteger(v) && v < 0 && v >= -2147483648) {
        if (v >= -32) u8(v); else { u8(0xd2); u32(v); }
      } else {
        var f = new DataView(new ArrayBuffer(8));
        f.setFloat64(0, v);
        u8(0xcb);
        bytes(new Uint8Array(f.buffer));
      }
    } else if (typeof v === "string") {
      var s = te.encode(v);
      if (s.length < 32) u8(0xa0 | s.length);
      else if (s.length < 256) { u8(0xd9); u8(s.length); }
      else if (s.length < 65536) { u8(0xda); u16(s.length); }
      else { u8(0xdb); u32(s.length); }
      bytes(s);
    } else if (v instanceof Uint8Array) {
      if (v.length < 256) { u8(0xc4); u8(v.length); }
      else if (v.length < 65536) { u8(0xc5); u16(v.length); }
      else { u8(0xc6); u32(v.length); }
      bytes(v);
    } else if (Array.isArray(v)) {
      head(v.length, 0x90, 16, 0xdc, 0xdd);
      v.forEach(write);
    } else {
      var keys = Object.keys(v).filter(function (k) { return v[k] !== undefined; });
      head(keys.length, 0x80, 16, 0xde, 0xdf);
      keys.forEach(function (k) { write(k); write(v[k]); });
    }
  }
  write(value);
  return new Uint8Array(out);
}
`;
