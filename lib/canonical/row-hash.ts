/**
 * Fast canonical row hashing for export-sqlite's hot loop (docs/design.md): row text = `<UTF-8 byte length>:<field>`
 * per field, row hash = first 64 bits of md5(row text) as a signed integer, table hash = exact sum.
 *
 * Why not node:crypto: one md5 call per row costs ~3 µs in call and buffer overhead, which made hashing the
 * slowest part of the export. Here the row text is UTF-8-encoded straight into a reusable byte array and hashed by
 * a plain JS MD5 (RFC 1321), and the sum is kept in two exact doubles instead of a BigInt per row. Tests check every
 * result against node:crypto and PostgreSQL's md5().
 */

export class RowHasher {
  private buf: Utf8Buffer = Buffer.allocUnsafe(4096) as Utf8Buffer;
  private len = 0;
  /** Words of the last digest: hi = first 4 bytes big-endian (signed), lo = next 4 bytes big-endian (unsigned). */
  hi = 0;
  lo = 0;
  private sumHi = 0;
  private sumLo = 0;
  private flushed = 0n;
  private pending = 0;
  rows = 0;

  /** Hash one row's canonical fields (`N`, `V…`) and add it to the table sum. */
  add(fields: readonly string[]): void {
    this.len = 0;
    for (let i = 0; i < fields.length; i++) this.field(fields[i], false);
    this.finish();
  }

  /**
   * The same from prefix-less values (ColumnConverter.value): null → field `N`, undefined (a value that did not
   * convert) → field `X`, a string s → field `V`+s, without building the `V`+s string.
   */
  addValues(values: readonly (string | null | undefined)[]): void {
    this.len = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v === 'string') this.field(v, true);
      else this.marker(v === null ? 78 : 88); // 'N' / 'X'
    }
    this.finish();
  }

  private finish(): void {
    this.md5();
    this.sumHi += this.hi;
    this.sumLo += this.lo;
    this.rows++;
    // Doubles stay exact while |sumHi| < 2^53 and sumLo < 2^53: fold into the BigInt every 2^20 rows.
    if (++this.pending === 1 << 20) this.flush();
  }

  private marker(code: number): void {
    this.ensure(3);
    const buf = this.buf;
    buf[this.len] = 49; // '1'
    buf[this.len + 1] = 58; // ':'
    buf[this.len + 2] = code;
    this.len += 3;
  }

  /** The last row's hash as a signed 64-bit integer. */
  lastHash(): bigint {
    return (BigInt(this.hi) << 32n) + BigInt(this.lo);
  }

  /** Exact sum of every row hash so far, base 10 ("0" when no rows). */
  total(): string {
    this.flush();
    return this.flushed.toString();
  }

  private flush(): void {
    this.flushed += BigInt(this.sumHi) * 4294967296n + BigInt(this.sumLo);
    this.sumHi = 0;
    this.sumLo = 0;
    this.pending = 0;
  }

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + extra) size *= 2;
    const next = Buffer.allocUnsafe(size) as Utf8Buffer;
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  /** Append `<byte length>:<field>`, the field being `V`+s when `v` is set. */
  private field(s: string, v: boolean): void {
    const n = s.length;
    const extra = v ? 1 : 0;
    const at = this.len;
    if (n < 48) {
      // Short strings: one JS pass, optimistic that they are ASCII (byte length = n).
      this.prefix(n + extra);
      this.ensure(n + extra);
      const buf = this.buf;
      let p = this.len;
      if (v) buf[p++] = 86; // 'V'
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 128) break;
        buf[p++] = c;
      }
      if (i === n) {
        this.len = p;
        return;
      }
      this.len = at; // not ASCII after all: start over on the general path
    }
    // General path: encode after a reserved prefix slot (native UTF-8 encoder), then close the gap if the prefix
    // is shorter than the slot.
    const maxBytes = n * 3 + extra;
    const slot = String(maxBytes).length + 1;
    this.ensure(slot + maxBytes);
    const buf = this.buf;
    const start = at + slot;
    if (v) buf[start] = 86;
    const bytes = buf.utf8Write(s, start + extra, maxBytes) + extra;
    const prefix = String(bytes);
    const prefixLen = prefix.length + 1;
    if (prefixLen !== slot) buf.copyWithin(at + prefixLen, start, start + bytes);
    for (let i = 0; i < prefix.length; i++) buf[at + i] = prefix.charCodeAt(i);
    buf[at + prefix.length] = 58;
    this.len = at + prefixLen + bytes;
  }

  private prefix(value: number): void {
    const text = value < 10 ? DIGITS[value] : String(value);
    this.ensure(text.length + 1);
    const buf = this.buf;
    let p = this.len;
    for (let i = 0; i < text.length; i++) buf[p++] = text.charCodeAt(i);
    buf[p++] = 58; // ':'
    this.len = p;
  }

  private md5(): void {
    const msgLen = this.len;
    // Padding: 0x80, zeros to 56 mod 64, then the bit length as 64-bit little-endian.
    const total = ((msgLen + 8) >>> 6) * 64 + 64;
    this.ensure(total - msgLen);
    const b = this.buf;
    b[msgLen] = 0x80;
    b.fill(0, msgLen + 1, total - 8);
    const bits = msgLen * 8;
    b[total - 8] = bits & 0xff;
    b[total - 7] = (bits >>> 8) & 0xff;
    b[total - 6] = (bits >>> 16) & 0xff;
    b[total - 5] = (bits >>> 24) & 0xff;
    const high = Math.floor(bits / 4294967296);
    b[total - 4] = high & 0xff;
    b[total - 3] = (high >>> 8) & 0xff;
    b[total - 2] = (high >>> 16) & 0xff;
    b[total - 1] = (high >>> 24) & 0xff;

    let a0 = 0x67452301 | 0;
    let b0 = 0xefcdab89 | 0;
    let c0 = 0x98badcfe | 0;
    let d0 = 0x10325476 | 0;
    for (let off = 0; off < total; off += 64) {
      const x0 = b[off + 0] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24);
      const x1 = b[off + 4] | (b[off + 5] << 8) | (b[off + 6] << 16) | (b[off + 7] << 24);
      const x2 = b[off + 8] | (b[off + 9] << 8) | (b[off + 10] << 16) | (b[off + 11] << 24);
      const x3 = b[off + 12] | (b[off + 13] << 8) | (b[off + 14] << 16) | (b[off + 15] << 24);
      const x4 = b[off + 16] | (b[off + 17] << 8) | (b[off + 18] << 16) | (b[off + 19] << 24);
      const x5 = b[off + 20] | (b[off + 21] << 8) | (b[off + 22] << 16) | (b[off + 23] << 24);
      const x6 = b[off + 24] | (b[off + 25] << 8) | (b[off + 26] << 16) | (b[off + 27] << 24);
      const x7 = b[off + 28] | (b[off + 29] << 8) | (b[off + 30] << 16) | (b[off + 31] << 24);
      const x8 = b[off + 32] | (b[off + 33] << 8) | (b[off + 34] << 16) | (b[off + 35] << 24);
      const x9 = b[off + 36] | (b[off + 37] << 8) | (b[off + 38] << 16) | (b[off + 39] << 24);
      const x10 = b[off + 40] | (b[off + 41] << 8) | (b[off + 42] << 16) | (b[off + 43] << 24);
      const x11 = b[off + 44] | (b[off + 45] << 8) | (b[off + 46] << 16) | (b[off + 47] << 24);
      const x12 = b[off + 48] | (b[off + 49] << 8) | (b[off + 50] << 16) | (b[off + 51] << 24);
      const x13 = b[off + 52] | (b[off + 53] << 8) | (b[off + 54] << 16) | (b[off + 55] << 24);
      const x14 = b[off + 56] | (b[off + 57] << 8) | (b[off + 58] << 16) | (b[off + 59] << 24);
      const x15 = b[off + 60] | (b[off + 61] << 8) | (b[off + 62] << 16) | (b[off + 63] << 24);
      let a = a0;
      let bb = b0;
      let c = c0;
      let d = d0;
      let n: number;
      n = (a + ((bb & c) | (~bb & d)) + x0 + -680876936) | 0;
      a = (((n << 7) | (n >>> 25)) + bb) | 0;
      n = (d + ((a & bb) | (~a & c)) + x1 + -389564586) | 0;
      d = (((n << 12) | (n >>> 20)) + a) | 0;
      n = (c + ((d & a) | (~d & bb)) + x2 + 606105819) | 0;
      c = (((n << 17) | (n >>> 15)) + d) | 0;
      n = (bb + ((c & d) | (~c & a)) + x3 + -1044525330) | 0;
      bb = (((n << 22) | (n >>> 10)) + c) | 0;
      n = (a + ((bb & c) | (~bb & d)) + x4 + -176418897) | 0;
      a = (((n << 7) | (n >>> 25)) + bb) | 0;
      n = (d + ((a & bb) | (~a & c)) + x5 + 1200080426) | 0;
      d = (((n << 12) | (n >>> 20)) + a) | 0;
      n = (c + ((d & a) | (~d & bb)) + x6 + -1473231341) | 0;
      c = (((n << 17) | (n >>> 15)) + d) | 0;
      n = (bb + ((c & d) | (~c & a)) + x7 + -45705983) | 0;
      bb = (((n << 22) | (n >>> 10)) + c) | 0;
      n = (a + ((bb & c) | (~bb & d)) + x8 + 1770035416) | 0;
      a = (((n << 7) | (n >>> 25)) + bb) | 0;
      n = (d + ((a & bb) | (~a & c)) + x9 + -1958414417) | 0;
      d = (((n << 12) | (n >>> 20)) + a) | 0;
      n = (c + ((d & a) | (~d & bb)) + x10 + -42063) | 0;
      c = (((n << 17) | (n >>> 15)) + d) | 0;
      n = (bb + ((c & d) | (~c & a)) + x11 + -1990404162) | 0;
      bb = (((n << 22) | (n >>> 10)) + c) | 0;
      n = (a + ((bb & c) | (~bb & d)) + x12 + 1804603682) | 0;
      a = (((n << 7) | (n >>> 25)) + bb) | 0;
      n = (d + ((a & bb) | (~a & c)) + x13 + -40341101) | 0;
      d = (((n << 12) | (n >>> 20)) + a) | 0;
      n = (c + ((d & a) | (~d & bb)) + x14 + -1502002290) | 0;
      c = (((n << 17) | (n >>> 15)) + d) | 0;
      n = (bb + ((c & d) | (~c & a)) + x15 + 1236535329) | 0;
      bb = (((n << 22) | (n >>> 10)) + c) | 0;
      n = (a + ((bb & d) | (c & ~d)) + x1 + -165796510) | 0;
      a = (((n << 5) | (n >>> 27)) + bb) | 0;
      n = (d + ((a & c) | (bb & ~c)) + x6 + -1069501632) | 0;
      d = (((n << 9) | (n >>> 23)) + a) | 0;
      n = (c + ((d & bb) | (a & ~bb)) + x11 + 643717713) | 0;
      c = (((n << 14) | (n >>> 18)) + d) | 0;
      n = (bb + ((c & a) | (d & ~a)) + x0 + -373897302) | 0;
      bb = (((n << 20) | (n >>> 12)) + c) | 0;
      n = (a + ((bb & d) | (c & ~d)) + x5 + -701558691) | 0;
      a = (((n << 5) | (n >>> 27)) + bb) | 0;
      n = (d + ((a & c) | (bb & ~c)) + x10 + 38016083) | 0;
      d = (((n << 9) | (n >>> 23)) + a) | 0;
      n = (c + ((d & bb) | (a & ~bb)) + x15 + -660478335) | 0;
      c = (((n << 14) | (n >>> 18)) + d) | 0;
      n = (bb + ((c & a) | (d & ~a)) + x4 + -405537848) | 0;
      bb = (((n << 20) | (n >>> 12)) + c) | 0;
      n = (a + ((bb & d) | (c & ~d)) + x9 + 568446438) | 0;
      a = (((n << 5) | (n >>> 27)) + bb) | 0;
      n = (d + ((a & c) | (bb & ~c)) + x14 + -1019803690) | 0;
      d = (((n << 9) | (n >>> 23)) + a) | 0;
      n = (c + ((d & bb) | (a & ~bb)) + x3 + -187363961) | 0;
      c = (((n << 14) | (n >>> 18)) + d) | 0;
      n = (bb + ((c & a) | (d & ~a)) + x8 + 1163531501) | 0;
      bb = (((n << 20) | (n >>> 12)) + c) | 0;
      n = (a + ((bb & d) | (c & ~d)) + x13 + -1444681467) | 0;
      a = (((n << 5) | (n >>> 27)) + bb) | 0;
      n = (d + ((a & c) | (bb & ~c)) + x2 + -51403784) | 0;
      d = (((n << 9) | (n >>> 23)) + a) | 0;
      n = (c + ((d & bb) | (a & ~bb)) + x7 + 1735328473) | 0;
      c = (((n << 14) | (n >>> 18)) + d) | 0;
      n = (bb + ((c & a) | (d & ~a)) + x12 + -1926607734) | 0;
      bb = (((n << 20) | (n >>> 12)) + c) | 0;
      n = (a + (bb ^ c ^ d) + x5 + -378558) | 0;
      a = (((n << 4) | (n >>> 28)) + bb) | 0;
      n = (d + (a ^ bb ^ c) + x8 + -2022574463) | 0;
      d = (((n << 11) | (n >>> 21)) + a) | 0;
      n = (c + (d ^ a ^ bb) + x11 + 1839030562) | 0;
      c = (((n << 16) | (n >>> 16)) + d) | 0;
      n = (bb + (c ^ d ^ a) + x14 + -35309556) | 0;
      bb = (((n << 23) | (n >>> 9)) + c) | 0;
      n = (a + (bb ^ c ^ d) + x1 + -1530992060) | 0;
      a = (((n << 4) | (n >>> 28)) + bb) | 0;
      n = (d + (a ^ bb ^ c) + x4 + 1272893353) | 0;
      d = (((n << 11) | (n >>> 21)) + a) | 0;
      n = (c + (d ^ a ^ bb) + x7 + -155497632) | 0;
      c = (((n << 16) | (n >>> 16)) + d) | 0;
      n = (bb + (c ^ d ^ a) + x10 + -1094730640) | 0;
      bb = (((n << 23) | (n >>> 9)) + c) | 0;
      n = (a + (bb ^ c ^ d) + x13 + 681279174) | 0;
      a = (((n << 4) | (n >>> 28)) + bb) | 0;
      n = (d + (a ^ bb ^ c) + x0 + -358537222) | 0;
      d = (((n << 11) | (n >>> 21)) + a) | 0;
      n = (c + (d ^ a ^ bb) + x3 + -722521979) | 0;
      c = (((n << 16) | (n >>> 16)) + d) | 0;
      n = (bb + (c ^ d ^ a) + x6 + 76029189) | 0;
      bb = (((n << 23) | (n >>> 9)) + c) | 0;
      n = (a + (bb ^ c ^ d) + x9 + -640364487) | 0;
      a = (((n << 4) | (n >>> 28)) + bb) | 0;
      n = (d + (a ^ bb ^ c) + x12 + -421815835) | 0;
      d = (((n << 11) | (n >>> 21)) + a) | 0;
      n = (c + (d ^ a ^ bb) + x15 + 530742520) | 0;
      c = (((n << 16) | (n >>> 16)) + d) | 0;
      n = (bb + (c ^ d ^ a) + x2 + -995338651) | 0;
      bb = (((n << 23) | (n >>> 9)) + c) | 0;
      n = (a + (c ^ (bb | ~d)) + x0 + -198630844) | 0;
      a = (((n << 6) | (n >>> 26)) + bb) | 0;
      n = (d + (bb ^ (a | ~c)) + x7 + 1126891415) | 0;
      d = (((n << 10) | (n >>> 22)) + a) | 0;
      n = (c + (a ^ (d | ~bb)) + x14 + -1416354905) | 0;
      c = (((n << 15) | (n >>> 17)) + d) | 0;
      n = (bb + (d ^ (c | ~a)) + x5 + -57434055) | 0;
      bb = (((n << 21) | (n >>> 11)) + c) | 0;
      n = (a + (c ^ (bb | ~d)) + x12 + 1700485571) | 0;
      a = (((n << 6) | (n >>> 26)) + bb) | 0;
      n = (d + (bb ^ (a | ~c)) + x3 + -1894986606) | 0;
      d = (((n << 10) | (n >>> 22)) + a) | 0;
      n = (c + (a ^ (d | ~bb)) + x10 + -1051523) | 0;
      c = (((n << 15) | (n >>> 17)) + d) | 0;
      n = (bb + (d ^ (c | ~a)) + x1 + -2054922799) | 0;
      bb = (((n << 21) | (n >>> 11)) + c) | 0;
      n = (a + (c ^ (bb | ~d)) + x8 + 1873313359) | 0;
      a = (((n << 6) | (n >>> 26)) + bb) | 0;
      n = (d + (bb ^ (a | ~c)) + x15 + -30611744) | 0;
      d = (((n << 10) | (n >>> 22)) + a) | 0;
      n = (c + (a ^ (d | ~bb)) + x6 + -1560198380) | 0;
      c = (((n << 15) | (n >>> 17)) + d) | 0;
      n = (bb + (d ^ (c | ~a)) + x13 + 1309151649) | 0;
      bb = (((n << 21) | (n >>> 11)) + c) | 0;
      n = (a + (c ^ (bb | ~d)) + x4 + -145523070) | 0;
      a = (((n << 6) | (n >>> 26)) + bb) | 0;
      n = (d + (bb ^ (a | ~c)) + x11 + -1120210379) | 0;
      d = (((n << 10) | (n >>> 22)) + a) | 0;
      n = (c + (a ^ (d | ~bb)) + x2 + 718787259) | 0;
      c = (((n << 15) | (n >>> 17)) + d) | 0;
      n = (bb + (d ^ (c | ~a)) + x9 + -343485551) | 0;
      bb = (((n << 21) | (n >>> 11)) + c) | 0;
      a0 = (a0 + a) | 0;
      b0 = (b0 + bb) | 0;
      c0 = (c0 + c) | 0;
      d0 = (d0 + d) | 0;
    }
    // Digest bytes are a0, b0 little-endian; the design reads the first 8 bytes big-endian.
    this.hi = bswap(a0) | 0;
    this.lo = bswap(b0) >>> 0;
  }
}

/**
 * Buffer#utf8Write(string, offset, length) → bytes written: the encoder behind Buffer#write without its argument
 * juggling (present on every Node Buffer; typed here because @types/node does not list it). Lone surrogates are
 * written as U+FFFD, exactly as Buffer.from(s) and node:crypto do.
 */
type Utf8Buffer = Buffer & { utf8Write(s: string, offset: number, length: number): number };

const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

function bswap(x: number): number {
  return ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | ((x >>> 24) & 0xff);
}
