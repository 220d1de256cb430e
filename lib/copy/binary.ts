import type { CopyColumnPlan } from './converters.ts';
import {
  columnConverter,
  convertChecked,
  plainDecimal,
  MAX_EPOCH_MS,
  MIN_EPOCH_MS,
  type ConversionProblem,
  type SqliteValue,
} from '../sqlite/values.ts';

/**
 * COPY's binary format for the common PostgreSQL types. Measured on the 1.5 M-row bench: PostgreSQL spends much
 * of a text-format COPY in the types' text input functions (timestamp_in above all); their binary receive functions
 * are trivial, and no COPY escaping is needed on our side. The values are the same ones the text path produces:
 * every slow case goes through sqlite-values' converter (`value()`: the validated canonical value text), so a value
 * that is a problem there is a problem here, with the same reason.
 *
 * Layout (PostgreSQL docs, COPY "Binary Format"): signature + flags + header extension, then per row an int16 field
 * count and per field an int32 byte length (-1 = NULL) and the type's send-format bytes; an int16 -1 trailer.
 */
export const BINARY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
export const BINARY_TRAILER = Buffer.from([0xff, 0xff]);

/** pg_type names whose binary form we write (plus enums, whose receive function takes the label's text). */
const BINARY_BASE_TYPES = new Set([
  'text',
  'varchar',
  'bpchar',
  'int2',
  'int4',
  'int8',
  'float4',
  'float8',
  'numeric',
  'bool',
  'timestamp',
  'timestamptz',
  'date',
  'time',
  'json',
  'jsonb',
  'bytea',
  'uuid',
]);

export function binaryCapable(columns: CopyColumnPlan[]): boolean {
  return columns.every((c) => c.target === 'enum' || (c.baseType !== undefined && BINARY_BASE_TYPES.has(c.baseType)));
}

/** Grows by whole buffers; `take()` hands the filled part over (the stream owns it) and starts a fresh one. */
export class BinaryWriter {
  buf: Buffer;
  pos = 0;
  constructor(private readonly size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.buf = Buffer.allocUnsafe(this.size);
    this.pos = 0;
    return out;
  }
  // Big-endian integers written byte by byte: Buffer's writeInt32BE & co. check their arguments on every call, and
  // these run several times per field (measured: ~0.3 s of the 1.5 M-row load's conversion time).
  private put32(v: number, at: number): void {
    const b = this.buf;
    b[at] = v >>> 24;
    b[at + 1] = v >>> 16;
    b[at + 2] = v >>> 8;
    b[at + 3] = v;
  }
  int16(v: number): void {
    this.ensure(2);
    this.buf[this.pos] = v >>> 8;
    this.buf[this.pos + 1] = v;
    this.pos += 2;
  }
  nullField(): void {
    this.ensure(4);
    this.put32(-1, this.pos);
    this.pos += 4;
  }
  /** A length-prefixed UTF-8 field, optionally after one prefix byte (jsonb's version 1). */
  string(s: string, prefixByte = -1): void {
    const extra = prefixByte >= 0 ? 1 : 0;
    this.ensure(4 + extra + s.length * 3);
    let at = this.pos + 4;
    if (extra) this.buf[at++] = prefixByte;
    const n = this.buf.write(s, at, 'utf8');
    this.put32(n + extra, this.pos);
    this.pos = at + n;
  }
  /**
   * Text that may go out as is: a short ASCII string is copied code unit by code unit (cheaper than the UTF-8
   * encoder's call for ids, slugs and names); anything else goes through Buffer#write. Returns false, writing
   * nothing, when the text holds NUL or U+FFFD (the caller's slow path names or re-checks those).
   */
  plainText(s: string): boolean {
    const len = s.length;
    if (len > 48) {
      if (NEEDS_LOOK.test(s)) return false;
      this.string(s);
      return true;
    }
    this.ensure(4 + len * 3);
    const b = this.buf;
    const start = this.pos + 4;
    for (let i = 0; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c === 0 || c > 0x7f) {
        if (c === 0 || NEEDS_LOOK.test(s)) return false;
        this.string(s);
        return true;
      }
      b[start + i] = c;
    }
    this.put32(len, this.pos);
    this.pos = start + len;
    return true;
  }
  bytes(b: Buffer): void {
    this.ensure(4 + b.length);
    this.put32(b.length, this.pos);
    b.copy(this.buf, this.pos + 4);
    this.pos += 4 + b.length;
  }
  i16(v: number): void {
    this.ensure(6);
    this.put32(2, this.pos);
    this.buf[this.pos + 4] = v >>> 8;
    this.buf[this.pos + 5] = v;
    this.pos += 6;
  }
  i32(v: number): void {
    this.ensure(8);
    this.put32(4, this.pos);
    this.put32(v, this.pos + 4);
    this.pos += 8;
  }
  /** int64 from a safe integer (|v| < 2^53) without a BigInt. */
  i64(v: number): void {
    this.ensure(12);
    this.put32(8, this.pos);
    const hi = Math.floor(v / 4294967296);
    this.put32(hi, this.pos + 4);
    this.put32(v - hi * 4294967296, this.pos + 8);
    this.pos += 12;
  }
  big64(v: bigint): void {
    this.ensure(12);
    this.put32(8, this.pos);
    this.buf.writeBigInt64BE(v, this.pos + 4);
    this.pos += 12;
  }
  f64(v: number): void {
    this.ensure(12);
    this.put32(8, this.pos);
    this.buf.writeDoubleBE(v, this.pos + 4);
    this.pos += 12;
  }
  f32(v: number): void {
    this.ensure(8);
    this.put32(4, this.pos);
    this.buf.writeFloatBE(v, this.pos + 4);
    this.pos += 8;
  }
  bool(v: boolean): void {
    this.ensure(5);
    this.put32(1, this.pos);
    this.buf[this.pos + 4] = v ? 1 : 0;
    this.pos += 5;
  }
  /** numeric_send layout from plain decimal text (`-123.45`, no exponent): base-10000 digits, weight, sign, dscale. */
  numeric(text: string): void {
    let negative = text.charCodeAt(0) === 45;
    const body = negative ? text.slice(1) : text;
    const dot = body.indexOf('.');
    let intPart = dot < 0 ? body : body.slice(0, dot);
    let fracPart = dot < 0 ? '' : body.slice(dot + 1);
    if (/^0*$/.test(intPart)) intPart = '';
    const dscale = fracPart.length;
    intPart = '0'.repeat((4 - (intPart.length % 4)) % 4) + intPart;
    fracPart += '0'.repeat((4 - (fracPart.length % 4)) % 4);
    const digits: number[] = [];
    for (let i = 0; i < intPart.length; i += 4) digits.push(Number(intPart.slice(i, i + 4)));
    let weight = intPart.length / 4 - 1;
    for (let i = 0; i < fracPart.length; i += 4) digits.push(Number(fracPart.slice(i, i + 4)));
    let first = 0;
    while (first < digits.length && digits[first] === 0) first++;
    weight -= first;
    let last = digits.length;
    while (last > first && digits[last - 1] === 0) last--;
    const used = digits.slice(first, last);
    if (used.length === 0) {
      weight = 0;
      negative = false;
    }
    this.ensure(12 + used.length * 2);
    this.buf.writeInt32BE(8 + used.length * 2, this.pos);
    this.buf.writeInt16BE(used.length, this.pos + 4);
    this.buf.writeInt16BE(weight, this.pos + 6);
    this.buf.writeUInt16BE(negative ? 0x4000 : 0, this.pos + 8);
    this.buf.writeInt16BE(dscale, this.pos + 10);
    let at = this.pos + 12;
    for (const d of used) {
      this.buf.writeInt16BE(d, at);
      at += 2;
    }
    this.pos = at;
  }
}

/** Writes one value as its field, or returns the problem (nothing written then). */
export type BinaryEncoder = (
  value: SqliteValue,
  w: BinaryWriter,
  readBytes: () => Buffer | null | undefined,
) => ConversionProblem | undefined;

const EPOCH_2000_MS = 946_684_800_000;
const DAY_MS = 86_400_000;
const MIN_MS = BigInt(MIN_EPOCH_MS);
const MAX_MS = BigInt(MAX_EPOCH_MS);
const INT4_MIN = -2147483648n;
const INT4_MAX = 2147483647n;
const INT2_MIN = -32768n;
const INT2_MAX = 32767n;
/** Text that may be written as is: no NUL (PostgreSQL rejects it) and no U+FFFD (maybe invalid UTF-8, re-checked). */
const NEEDS_LOOK = /[\0\uFFFD]/;
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

function problem(reason: string, value: SqliteValue): ConversionProblem {
  return { reason, value: typeof value === 'string' ? value.slice(0, 80) : String(value).slice(0, 80) };
}

function writeMs(w: BinaryWriter, ms: number, target: string): void {
  switch (target) {
    case 'date':
      w.i32(Math.floor((ms - EPOCH_2000_MS) / DAY_MS));
      return;
    case 'time':
      w.i64((((ms % DAY_MS) + DAY_MS) % DAY_MS) * 1000);
      return;
    default: {
      const micros = (ms - EPOCH_2000_MS) * 1000;
      if (Number.isSafeInteger(micros)) w.i64(micros);
      else w.big64(BigInt(ms - EPOCH_2000_MS) * 1000n);
    }
  }
}

export function binaryEncoderFor(column: CopyColumnPlan, enums: Record<string, string[]>): BinaryEncoder {
  const converter = columnConverter(column.model, enums);
  const base = column.target === 'enum' ? 'enum' : column.baseType!;
  /** The validated canonical value text (null = NULL) or a problem: the slow path of every kind. */
  const slow = (v: SqliteValue, r: () => Buffer | null | undefined) => convertChecked(converter.value, v, r);
  const withText =
    (write: (w: BinaryWriter, text: string) => ConversionProblem | undefined): BinaryEncoder =>
    (v, w, r) => {
      const t = slow(v, r);
      if (t === null) {
        w.nullField();
        return undefined;
      }
      if (typeof t !== 'string') return t;
      return write(w, t);
    };
  // Writers from the canonical value text of each kind (docs/design.md), per target type.
  const fromText = (w: BinaryWriter, t: string): ConversionProblem | undefined => {
    switch (column.kind) {
      case 'text':
      case 'enum':
        if (base === 'uuid') {
          if (!UUID.test(t)) return problem('is not a UUID', t);
          w.bytes(Buffer.from(t.replace(/-/g, ''), 'hex'));
        } else if (base === 'jsonb') w.string(t, 1);
        else w.string(t);
        return undefined;
      case 'json':
        if (base === 'jsonb') w.string(t, 1);
        else w.string(t);
        return undefined;
      case 'int':
      case 'bigint': {
        const n = BigInt(t);
        if (base === 'int2') {
          if (n < INT2_MIN || n > INT2_MAX) return problem('does not fit the smallint column', t);
          w.i16(Number(n));
        } else if (base === 'int4') {
          if (n < INT4_MIN || n > INT4_MAX) return problem('does not fit the integer column', t);
          w.i32(Number(n));
        } else if (base === 'int8') w.big64(n);
        else if (base === 'numeric') w.numeric(t);
        else if (base === 'float4') w.f32(Number(t));
        else w.f64(Number(t));
        return undefined;
      }
      case 'float': {
        // Canonical float text is the 16 hex digits of the double (float8send's bytes).
        const f = Buffer.from(t, 'hex').readDoubleBE(0);
        if (base === 'float8') w.f64(f);
        else if (base === 'float4') w.f32(f);
        else {
          const d = Number.isFinite(f) ? plainDecimal(String(f)) : problem('is not a finite number', t);
          if (typeof d !== 'string') return d;
          w.numeric(d);
        }
        return undefined;
      }
      case 'decimal':
        if (base === 'numeric') w.numeric(t);
        else if (base === 'float4') w.f32(Number(t));
        else w.f64(Number(t));
        return undefined;
      case 'boolean':
        w.bool(t === 't');
        return undefined;
      case 'datetime':
        writeMs(w, Number(t), base);
        return undefined;
      case 'bytes':
        w.bytes(Buffer.from(t, 'hex'));
        return undefined;
    }
  };
  const general = withText(fromText);

  // Fast paths: the common value of each kind, written without building the canonical text.
  switch (column.kind) {
    case 'text':
      if (base === 'text' || base === 'varchar' || base === 'bpchar') {
        return (v, w, r) => (typeof v === 'string' && w.plainText(v) ? undefined : general(v, w, r));
      }
      return general;
    case 'enum': {
      const allowed = new Set(enums[column.model.enumName ?? column.model.prismaType] ?? []);
      return (v, w, r) => {
        if (typeof v === 'string' && allowed.has(v)) {
          w.string(v);
          return undefined;
        }
        return general(v, w, r);
      };
    }
    case 'json':
      // PostgreSQL parses the JSON itself (jsonb keeps the last duplicate key, as sqlite-values' normaliser does);
      // an invalid document comes back as a COPY error that copy-table maps to the row's key.
      if (base === 'jsonb' || base === 'json') {
        const version = base === 'jsonb' ? 1 : -1;
        return (v, w, r) => {
          if (typeof v === 'string' && !NEEDS_LOOK.test(v)) {
            w.string(v, version);
            return undefined;
          }
          return general(v, w, r);
        };
      }
      return general;
    case 'int':
      if (base === 'int4') {
        return (v, w, r) => {
          if (typeof v === 'bigint' && v >= INT4_MIN && v <= INT4_MAX) {
            w.i32(Number(v));
            return undefined;
          }
          return general(v, w, r);
        };
      }
      return general;
    case 'bigint':
      if (base === 'int8') {
        return (v, w, r) => {
          if (typeof v === 'bigint') {
            w.big64(v);
            return undefined;
          }
          return general(v, w, r);
        };
      }
      return general;
    case 'float':
      if (base === 'float8') {
        return (v, w, r) => {
          if (typeof v === 'number') {
            w.f64(v);
            return undefined;
          }
          return general(v, w, r);
        };
      }
      return general;
    case 'boolean':
      return (v, w, r) => {
        if (v === 1n || v === 0n) {
          w.bool(v === 1n);
          return undefined;
        }
        return general(v, w, r);
      };
    case 'datetime':
      return (v, w, r) => {
        if (typeof v === 'bigint' && v >= MIN_MS && v <= MAX_MS) {
          writeMs(w, Number(v), base);
          return undefined;
        }
        return general(v, w, r);
      };
    case 'bytes':
      if (base === 'bytea') {
        return (v, w, r) => {
          if (Buffer.isBuffer(v)) {
            w.bytes(v);
            return undefined;
          }
          return general(v, w, r);
        };
      }
      return general;
    default:
      return general;
  }
}
