import { isUtf8 } from 'node:buffer';
import { hash as oneShotHash } from 'node:crypto';
import type { ColumnKind, ColumnModel } from '../prisma/schema-model.ts';
import { jsonbText } from '../canonical/json.ts';

/**
 * One SQLite value (as better-sqlite3 returns it with `.safeIntegers(true).raw(true)`) → the canonical field text
 * of docs/design.md (what export-sqlite hashes and verify recomputes in SQL) and the PostgreSQL COPY text-format
 * field (what load-pg streams). A value that PostgreSQL would reject or that is of the wrong storage class for its
 * Prisma type becomes a ConversionProblem instead of a guess.
 *
 * Hot path: runs once per cell on millions of rows, so the common cases avoid regexes and allocations.
 */
export type SqliteValue = null | bigint | number | string | Buffer;

export interface ConversionProblem {
  reason: string;
  /** First 80 characters of the value, never more. */
  value: string;
}

export type Converted = string | ConversionProblem;

export const isProblem = (v: Converted): v is ConversionProblem => typeof v !== 'string';

/**
 * better-sqlite3 decodes invalid UTF-8 in TEXT to U+FFFD. A text-like converter returns this marker (compare by
 * identity) for a string containing U+FFFD; the caller re-reads the cell as a BLOB (`CAST(col AS BLOB)`), passes
 * the bytes to decodeTextBytes(), and converts the result again with `utf8Checked = true`.
 */
export const RECHECK_UTF8: ConversionProblem = Object.freeze({
  reason: 'text contains U+FFFD: re-read the cell as a BLOB to tell invalid UTF-8 from a real U+FFFD',
  value: '',
});

/** Bytes of a TEXT cell → the string when they are valid UTF-8, else a problem. */
export function decodeTextBytes(bytes: Buffer): string | ConversionProblem {
  if (!isUtf8(bytes)) return problem('is not valid UTF-8 (PostgreSQL rejects it)', bytes.toString('utf8'));
  return bytes.toString('utf8');
}

export interface ColumnConverter {
  readonly column: ColumnModel;
  /** 'N' or 'V…' (docs/design.md), or a problem (RECHECK_UTF8 included). */
  canonical(value: SqliteValue, utf8Checked?: boolean): Converted;
  /** COPY text-format field (`\N` for NULL, special characters escaped), or a problem (RECHECK_UTF8 included). */
  copy(value: SqliteValue, utf8Checked?: boolean): Converted;
  /**
   * The canonical field without its prefix: null for SQL NULL (field `N`), a string s for field `V`+s, or a problem.
   * The hot path of export-sqlite uses it with RowHasher, which writes the prefix itself (no string concatenation).
   */
  value(value: SqliteValue, utf8Checked?: boolean): string | null | ConversionProblem;
}

/** Convert with the U+FFFD re-read handled: `readBytes` returns the cell as a BLOB (only called when needed). */
export function convertChecked<T extends string | null | ConversionProblem>(
  convert: (value: SqliteValue, utf8Checked?: boolean) => T,
  value: SqliteValue,
  readBytes: () => Buffer | null | undefined,
): T | ConversionProblem {
  const out = convert(value);
  if (out !== RECHECK_UTF8) return out;
  const bytes = readBytes();
  if (!bytes) return convert(value, true);
  const text = decodeTextBytes(bytes);
  return typeof text === 'string' ? convert(text, true) : text;
}

// ---------------------------------------------------------------------------------------------------------------
// Problems and previews

export function preview(value: SqliteValue): string {
  if (value === null) return 'NULL';
  if (typeof value === 'string') return firstChars(value, 80);
  if (typeof value === 'bigint' || typeof value === 'number') return firstChars(String(value), 80);
  return firstChars(`x'${value.subarray(0, 40).toString('hex')}${value.length > 40 ? '…' : ''}'`, 80);
}

function firstChars(s: string, n: number): string {
  if (s.length <= n) return s;
  // Count code points, not UTF-16 units, so a preview never ends in half an emoji.
  let out = '';
  let count = 0;
  for (const ch of s) {
    if (count++ === n) break;
    out += ch;
  }
  return out;
}

function problem(reason: string, value: SqliteValue): ConversionProblem {
  return { reason, value: preview(value) };
}

const CLASS_NAMES = { bigint: 'INTEGER', number: 'REAL', string: 'TEXT' } as Record<string, string>;
export function storageClassOf(value: SqliteValue): 'null' | 'integer' | 'real' | 'text' | 'blob' {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'bigint':
      return 'integer';
    case 'number':
      return 'real';
    case 'string':
      return 'text';
    default:
      return 'blob';
  }
}
function wrongClass(kind: string, value: SqliteValue): ConversionProblem {
  const cls = value === null ? 'NULL' : (CLASS_NAMES[typeof value] ?? 'BLOB');
  return problem(`${cls} value in a ${kind} column`, value);
}

// ---------------------------------------------------------------------------------------------------------------
// COPY text format: backslash, newline, carriage return and tab must be escaped (PostgreSQL docs, COPY "Text Format").

export const COPY_NULL = '\\N';

export function copyEscape(s: string): string {
  const n = s.length;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 92 || c === 10 || c === 13 || c === 9) break;
  }
  if (i === n) return s;
  let out = s.slice(0, i);
  let from = i;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    let rep: string | undefined;
    if (c === 92) rep = '\\\\';
    else if (c === 10) rep = '\\n';
    else if (c === 13) rep = '\\r';
    else if (c === 9) rep = '\\t';
    if (rep !== undefined) {
      out += s.slice(from, i) + rep;
      from = i + 1;
    }
  }
  return out + s.slice(from);
}

// ---------------------------------------------------------------------------------------------------------------
// Per-kind conversions. Each returns the "value text" (no N/V prefix, not COPY-escaped) or a problem.

const INT4_MIN = -2147483648n;
const INT4_MAX = 2147483647n;

function textValue(value: SqliteValue, utf8Checked: boolean, kind: string): string | ConversionProblem {
  if (typeof value !== 'string') return wrongClass(kind, value);
  if (value.indexOf('\u0000') !== -1) return problem('contains NUL (U+0000), which PostgreSQL text rejects', value);
  if (!utf8Checked && value.indexOf('\uFFFD') !== -1) return RECHECK_UTF8;
  return value;
}

// Float: 16 lowercase hex digits of the binary64 value, big-endian (PG: encode(float8send(col), 'hex')).
const floatBuf = Buffer.alloc(8);
export function floatHex(n: number): string {
  floatBuf.writeDoubleBE(n, 0);
  return floatBuf.toString('hex');
}
/** Shortest text that parses back to exactly this double in PostgreSQL's float8in (strtod). */
export function floatText(n: number): string {
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  return String(n); // 'Infinity', '-Infinity', 'NaN', '1e+300' are all float8in input
}

function floatValue(value: SqliteValue): number | ConversionProblem {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value); // correctly rounded, like float8in of the integer's text
  return wrongClass('Float', value);
}

// Decimal: numeric(65,30) in PostgreSQL (Prisma's default mapping) → at most 35 integer and 30 fractional digits.
const DECIMAL_INT_DIGITS = 35;
const DECIMAL_SCALE = 30;

/**
 * Numeric literal text → plain digits like PostgreSQL's trim_scale(x)::text, or a problem. Accepts
 * `[+-]digits[.digits][e[+-]digits]` (also `.5`, `5.`), the syntax numeric_in reads, surrounding spaces trimmed.
 */
export function plainDecimal(text: string): string | ConversionProblem {
  const s = text.trim();
  const n = s.length;
  let i = 0;
  let negative = false;
  if (i < n && (s.charCodeAt(i) === 45 || s.charCodeAt(i) === 43)) negative = s.charCodeAt(i++) === 45;
  const intStart = i;
  while (i < n && isDigit(s.charCodeAt(i))) i++;
  const intDigits = s.slice(intStart, i);
  let fracDigits = '';
  if (i < n && s.charCodeAt(i) === 46) {
    const fracStart = ++i;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
    fracDigits = s.slice(fracStart, i);
  }
  if (intDigits === '' && fracDigits === '') return problem('is not a decimal number', text);
  let exponent = 0;
  if (i < n && (s.charCodeAt(i) === 101 || s.charCodeAt(i) === 69)) {
    i++;
    let expNegative = false;
    if (i < n && (s.charCodeAt(i) === 45 || s.charCodeAt(i) === 43)) expNegative = s.charCodeAt(i++) === 45;
    const expStart = i;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
    if (i === expStart || i - expStart > 6) return problem('is not a decimal number', text);
    exponent = Number(s.slice(expStart, i)) * (expNegative ? -1 : 1);
  }
  if (i !== n) return problem('is not a decimal number', text);
  // All digits with the decimal point after position `point`.
  let digits = intDigits + fracDigits;
  let point = intDigits.length + exponent;
  // Strip leading zeros (keeping the point position) and trailing zeros after the point.
  let lead = 0;
  while (lead < digits.length && digits.charCodeAt(lead) === 48) lead++;
  digits = digits.slice(lead);
  point -= lead;
  if (digits === '') return '0';
  let end = digits.length;
  while (end > 0 && end > point && digits.charCodeAt(end - 1) === 48) end--;
  digits = digits.slice(0, end);
  const intPart =
    point <= 0 ? '0' : point >= digits.length ? digits + '0'.repeat(point - digits.length) : digits.slice(0, point);
  const fracPart = point >= digits.length ? '' : point < 0 ? '0'.repeat(-point) + digits : digits.slice(point);
  if (fracPart.length > DECIMAL_SCALE) {
    return problem(`has ${fracPart.length} fractional digits; numeric(65,30) keeps 30 and would round it`, text);
  }
  if (intPart !== '0' && intPart.length > DECIMAL_INT_DIGITS) {
    return problem(`has ${intPart.length} integer digits; numeric(65,30) holds at most 35`, text);
  }
  return (negative ? '-' : '') + intPart + (fracPart ? '.' + fracPart : '');
}

function decimalValue(value: SqliteValue): string | ConversionProblem {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return problem('is not a finite number', value);
    return plainDecimal(String(value)); // the double's shortest text: what the app showed for it
  }
  if (typeof value === 'string') return plainDecimal(value);
  return wrongClass('Decimal', value);
}

const isDigit = (c: number) => c >= 48 && c <= 57;

// ---------------------------------------------------------------------------------------------------------------
// DateTime: epoch milliseconds (INTEGER, Prisma 6's native engine) or ISO-8601 / SQLite text, UTC unless an offset
// is given. PostgreSQL column: timestamp(3) without time zone holding UTC.

/** 0001-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: four-digit years only (what Prisma and ISO text use). */
export const MIN_EPOCH_MS = -62135596800000;
export const MAX_EPOCH_MS = 253402300799999;
const EPOCH_2000_MS = 946684800000;
const MIN_EPOCH_MS_N = BigInt(MIN_EPOCH_MS);
const MAX_EPOCH_MS_N = BigInt(MAX_EPOCH_MS);

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

function digitsAt(s: string, at: number, count: number): number {
  let v = 0;
  for (let k = 0; k < count; k++) {
    const c = s.charCodeAt(at + k);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  return v;
}

/** rint(): round half to even, as C's default rounding mode does. */
function rint(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Date-time text → epoch milliseconds, or undefined when it is not a date-time we read. Accepted:
 * `YYYY-MM-DD`, `YYYY-MM-DD[T ]HH:MM[:SS[.f…]]` followed by nothing (UTC), `Z`, or an offset `±HH[:MM]`/`±HHMM`
 * (optionally after one space). Sub-millisecond digits are rounded the way PostgreSQL stores them in
 * timestamp(3): fraction → microseconds with rint(), then to milliseconds half away from zero around 2000-01-01.
 */
export function parseDateTimeText(s: string): number | undefined {
  const n = s.length;
  if (n < 10 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return undefined;
  const y = digitsAt(s, 0, 4);
  const mo = digitsAt(s, 5, 2);
  const d = digitsAt(s, 8, 2);
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return undefined;
  let h = 0;
  let mi = 0;
  let sec = 0;
  let micros = 0;
  let offsetMin = 0;
  let i = 10;
  if (i < n) {
    const sep = s.charCodeAt(i);
    if (sep !== 84 && sep !== 32 && sep !== 116) return undefined; // 'T', ' ', 't'
    if (n < i + 6 || s.charCodeAt(i + 3) !== 58) return undefined;
    h = digitsAt(s, i + 1, 2);
    mi = digitsAt(s, i + 4, 2);
    if (h < 0 || h > 23 || mi < 0 || mi > 59) return undefined;
    i += 6;
    if (i < n && s.charCodeAt(i) === 58) {
      sec = digitsAt(s, i + 1, 2);
      if (sec < 0 || sec > 59 || i + 3 > n) return undefined;
      i += 3;
      if (i < n && s.charCodeAt(i) === 46) {
        const start = i;
        i++;
        while (i < n && isDigit(s.charCodeAt(i))) i++;
        if (i === start + 1) return undefined;
        micros = rint(Number(s.slice(start, i)) * 1000000); // PostgreSQL: rint(strtod(".fff…") * 1e6)
      }
    }
    if (i < n && s.charCodeAt(i) === 32) i++;
    if (i < n) {
      const c = s.charCodeAt(i);
      if ((c === 90 || c === 122) && i + 1 === n) {
        i++;
      } else if (c === 43 || c === 45) {
        const oh = digitsAt(s, i + 1, 2);
        if (oh < 0 || oh > 15) return undefined;
        let om = 0;
        let j = i + 3;
        if (j < n) {
          if (s.charCodeAt(j) === 58) j++;
          om = digitsAt(s, j, 2);
          if (om < 0 || om > 59 || j + 2 !== n) return undefined;
          j += 2;
        }
        offsetMin = (c === 45 ? -1 : 1) * (oh * 60 + om);
        i = j;
        if (i !== n) return undefined;
      } else {
        return undefined;
      }
    }
  }
  let ms = (daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offsetMin * 60) * 1000;
  if (micros !== 0) {
    const wholeMs = Math.floor(micros / 1000);
    const sub = micros - wholeMs * 1000;
    ms += wholeMs;
    // timestamp(3): microseconds since 2000-01-01 rounded to milliseconds half away from zero.
    if (sub > 500 || (sub === 500 && ms >= EPOCH_2000_MS)) ms += 1;
  }
  return ms;
}

/** Epoch ms → `YYYY-MM-DD HH:MM:SS.mmm` (UTC), the timestamp(3) input text. */
export function formatTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.slice(0, 10) + ' ' + iso.slice(11, 23);
}

function dateTimeValue(value: SqliteValue): number | ConversionProblem {
  let ms: number | undefined;
  if (typeof value === 'bigint') {
    if (value < MIN_EPOCH_MS_N || value > MAX_EPOCH_MS_N)
      return problem('epoch milliseconds outside years 1–9999', value);
    ms = Number(value);
  } else if (typeof value === 'string') {
    ms = parseDateTimeText(value);
    if (ms === undefined) return problem('is not a date-time (epoch ms or ISO-8601 / YYYY-MM-DD HH:MM:SS text)', value);
  } else {
    return wrongClass('DateTime', value);
  }
  if (ms < MIN_EPOCH_MS || ms > MAX_EPOCH_MS) return problem('date-time outside years 1–9999', value);
  return ms;
}

// ---------------------------------------------------------------------------------------------------------------
// Json: TEXT (or a number SQLite's NUMERIC affinity stored as INTEGER/REAL) → jsonb's text output.

function jsonValue(value: SqliteValue, utf8Checked: boolean): string | ConversionProblem {
  let text: string;
  if (typeof value === 'string') {
    if (!utf8Checked && value.indexOf('\uFFFD') !== -1) return RECHECK_UTF8;
    text = value;
  } else if (typeof value === 'bigint') {
    return value.toString();
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value)) return problem('is not a finite number (JSON has no NaN/Infinity)', value);
    text = floatText(value);
  } else {
    return wrongClass('Json', value);
  }
  const out = jsonbText(text);
  if (typeof out === 'string') return out;
  return problem(out.error, value);
}

// ---------------------------------------------------------------------------------------------------------------

export function columnConverter(column: ColumnModel, enums: Record<string, string[]> = {}): ColumnConverter {
  const kind: ColumnKind = column.kind;
  // `val`: the canonical field without its N/V prefix (null for SQL NULL); `copy`: the COPY field.
  let val: (v: SqliteValue, utf8Checked?: boolean) => string | null | ConversionProblem;
  let copy: (v: SqliteValue, utf8Checked?: boolean) => Converted;
  switch (kind) {
    case 'text':
      val = (v, c = false) => (v === null ? null : textValue(v, c, 'String'));
      copy = (v, c = false) => {
        if (v === null) return COPY_NULL;
        const t = textValue(v, c, 'String');
        return typeof t === 'string' ? copyEscape(t) : t;
      };
      break;
    case 'enum': {
      const allowed = new Set(enums[column.enumName ?? column.prismaType] ?? []);
      const enumValue = (v: SqliteValue, c: boolean): string | ConversionProblem => {
        const t = textValue(v, c, `enum ${column.prismaType}`);
        if (typeof t !== 'string') return t;
        return allowed.has(t) ? t : problem(`is not a value of enum ${column.prismaType}`, v);
      };
      val = (v, c = false) => (v === null ? null : enumValue(v, c));
      copy = (v, c = false) => {
        if (v === null) return COPY_NULL;
        const t = enumValue(v, c);
        return typeof t === 'string' ? copyEscape(t) : t;
      };
      break;
    }
    case 'int': {
      const intValue = (v: SqliteValue): string | ConversionProblem => {
        if (typeof v !== 'bigint') return wrongClass('Int', v);
        if (v < INT4_MIN || v > INT4_MAX) return problem('does not fit a 32-bit Int', v);
        return v.toString();
      };
      val = (v) => (v === null ? null : intValue(v));
      copy = (v) => (v === null ? COPY_NULL : intValue(v));
      break;
    }
    case 'bigint':
      val = (v) => (v === null ? null : typeof v === 'bigint' ? v.toString() : wrongClass('BigInt', v));
      copy = (v) => (v === null ? COPY_NULL : typeof v === 'bigint' ? v.toString() : wrongClass('BigInt', v));
      break;
    case 'float':
      val = (v) => {
        if (v === null) return null;
        const f = floatValue(v);
        return typeof f === 'number' ? floatHex(f) : f;
      };
      copy = (v) => {
        if (v === null) return COPY_NULL;
        if (typeof v === 'bigint') return v.toString();
        const f = floatValue(v);
        return typeof f === 'number' ? floatText(f) : f;
      };
      break;
    case 'decimal':
      val = (v) => (v === null ? null : decimalValue(v));
      copy = (v) => (v === null ? COPY_NULL : decimalValue(v));
      break;
    case 'boolean': {
      const boolValue = (v: SqliteValue): string | ConversionProblem => {
        if (v === 0n) return 'f';
        if (v === 1n) return 't';
        if (typeof v === 'bigint') return problem('is not 0 or 1', v);
        return wrongClass('Boolean', v);
      };
      val = (v) => (v === null ? null : boolValue(v));
      copy = (v) => (v === null ? COPY_NULL : boolValue(v));
      break;
    }
    case 'datetime':
      val = (v) => {
        if (v === null) return null;
        if (typeof v === 'bigint' && v >= MIN_EPOCH_MS_N && v <= MAX_EPOCH_MS_N) return v.toString(); // the common case
        const ms = dateTimeValue(v);
        return typeof ms === 'number' ? String(ms) : ms;
      };
      copy = (v) => {
        if (v === null) return COPY_NULL;
        const ms = dateTimeValue(v);
        return typeof ms === 'number' ? formatTimestamp(ms) : ms;
      };
      break;
    case 'json':
      val = (v, c = false) => (v === null ? null : jsonValue(v, c));
      copy = (v, c = false) => {
        if (v === null) return COPY_NULL;
        const t = jsonValue(v, c);
        return typeof t === 'string' ? copyEscape(t) : t;
      };
      break;
    case 'bytes':
      val = (v) => (v === null ? null : Buffer.isBuffer(v) ? v.toString('hex') : wrongClass('Bytes', v));
      // bytea hex input `\x…`; the backslash itself is escaped for COPY text format.
      copy = (v) =>
        v === null ? COPY_NULL : Buffer.isBuffer(v) ? '\\\\x' + v.toString('hex') : wrongClass('Bytes', v);
      break;
    default: {
      const never: never = kind;
      throw new Error(`unknown column kind ${String(never)}`);
    }
  }
  const canonical = (v: SqliteValue, c?: boolean): Converted => {
    const t = val(v, c);
    return t === null ? 'N' : typeof t === 'string' ? 'V' + t : t;
  };
  return { column, canonical, copy, value: val };
}

// ---------------------------------------------------------------------------------------------------------------
// Canonical row text, row hash, key text, bucket (docs/design.md)

/** `<UTF-8 byte length>:<field>` for every field, concatenated. */
export function rowText(fields: readonly string[]): string {
  let out = '';
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    out += Buffer.byteLength(f, 'utf8') + ':' + f;
  }
  return out;
}

/** First 16 hex digits of md5(row text) as a signed 64-bit integer (PG: ('x'||substr(md5(t),1,16))::bit(64)::bigint). */
export function rowHash(fields: readonly string[]): bigint {
  return oneShotHash('md5', rowText(fields), 'buffer').readBigInt64BE(0);
}

/** Key text: the row text of the key columns only. */
export const keyText = rowText;

/** Bucket of a row: first two hex digits of md5(key text) (256 buckets). */
export function bucketOf(keyFields: readonly string[]): string {
  return oneShotHash('md5', rowText(keyFields), 'hex').slice(0, 2);
}

/** Order-independent table hash: exact sum of row hashes as base-10 text ("0" for an empty table). */
export class TableHash {
  private sum = 0n;
  rows = 0;
  add(hash: bigint): void {
    this.sum += hash;
    this.rows++;
  }
  toString(): string {
    return this.sum.toString();
  }
}
