import type { CopyColumnPlan } from './converters.ts';
import {
  columnConverter,
  convertChecked,
  formatTimestamp,
  MAX_EPOCH_MS,
  MIN_EPOCH_MS,
  type Converted,
  type SqliteValue,
} from '../sqlite/values.ts';

/**
 * One function per column: a better-sqlite3 value (raw rows, safeIntegers) → one COPY text-format field
 * (`\N` for NULL, escaped), or a ConversionProblem. The value rules are sqlite-values' (shared with
 * export-sqlite's manifest, so what the manifest calls a problem is exactly what fails here).
 *
 * This module adds fast paths for the common cases, measured on the benchmark (1.5 M rows): plain text without any
 * character that needs a look (one native regex test instead of three scans), epoch-ms DateTimes (integer
 * arithmetic and a per-day cache instead of Date#toISOString), in-range integers and 0/1 booleans. Each fast path
 * returns exactly what the sqlite-values converter returns for that value (tests/data/load-pg.test.ts compares
 * them); anything else goes through the converter. It also adapts the date-time text for the few target types a
 * Prisma native-type attribute can choose (@db.Date, @db.Time, @db.Timestamptz).
 */
export type FieldEncoder = (value: SqliteValue, readBytes: () => Buffer | null | undefined) => Converted;

/** A text value containing none of these is copied as is: COPY specials, NUL, and U+FFFD (maybe invalid UTF-8). */
const NEEDS_LOOK = /[\\\n\r\t\0\uFFFD]/;

const TWO = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const THREE = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
const DAY_MS = 86_400_000;
const dayPrefix = new Map<number, string>();
const MIN_MS = BigInt(MIN_EPOCH_MS);
const MAX_MS = BigInt(MAX_EPOCH_MS);

/** formatTimestamp(ms) (`YYYY-MM-DD HH:MM:SS.mmm`, UTC) without Date: the date part is cached per day. */
export function fastTimestamp(ms: number): string {
  const day = Math.floor(ms / DAY_MS);
  let prefix = dayPrefix.get(day);
  if (prefix === undefined) {
    prefix = formatTimestamp(day * DAY_MS).slice(0, 11);
    // Bounded: a real table spans a few thousand distinct days; beyond that, stop caching.
    if (dayPrefix.size < 200_000) dayPrefix.set(day, prefix);
  }
  let rest = ms - day * DAY_MS;
  const h = (rest / 3_600_000) | 0;
  rest -= h * 3_600_000;
  const m = (rest / 60_000) | 0;
  rest -= m * 60_000;
  const s = (rest / 1000) | 0;
  rest -= s * 1000;
  return prefix + TWO[h] + ':' + TWO[m] + ':' + TWO[s] + '.' + THREE[rest];
}

const INT4_MIN = -2147483648n;
const INT4_MAX = 2147483647n;

export function encoderFor(column: CopyColumnPlan, enums: Record<string, string[]>): FieldEncoder {
  const converter = columnConverter(column.model, enums);
  const slow = (value: SqliteValue, readBytes: () => Buffer | null | undefined): Converted =>
    convertChecked(converter.copy, value, readBytes);
  switch (column.kind) {
    case 'text':
      return (v, r) => (typeof v === 'string' && !NEEDS_LOOK.test(v) ? v : slow(v, r));
    case 'enum': {
      const allowed = new Set(enums[column.model.enumName ?? column.model.prismaType] ?? []);
      return (v, r) => (typeof v === 'string' && allowed.has(v) && !NEEDS_LOOK.test(v) ? v : slow(v, r));
    }
    case 'int':
      return (v, r) => (typeof v === 'bigint' && v >= INT4_MIN && v <= INT4_MAX ? v.toString() : slow(v, r));
    case 'bigint':
      return (v, r) => (typeof v === 'bigint' ? v.toString() : slow(v, r));
    case 'boolean':
      return (v, r) => (v === 1n ? 't' : v === 0n ? 'f' : slow(v, r));
    case 'datetime': {
      const base: FieldEncoder = (v, r) =>
        typeof v === 'bigint' && v >= MIN_MS && v <= MAX_MS ? fastTimestamp(Number(v)) : slow(v, r);
      // timestamp(3) gets the text as is; adapt it for the other date-time targets.
      switch (column.target) {
        case 'timestamptz':
          return (v, r) => {
            const out = base(v, r);
            return typeof out === 'string' && v !== null ? out + '+00' : out;
          };
        case 'date':
          return (v, r) => {
            const out = base(v, r);
            return typeof out === 'string' && v !== null ? out.slice(0, 10) : out;
          };
        case 'time':
          return (v, r) => {
            const out = base(v, r);
            return typeof out === 'string' && v !== null ? out.slice(11) : out;
          };
        default:
          return base;
      }
    }
    case 'json':
      // PostgreSQL parses the JSON itself (jsonb keeps the last duplicate key, as sqlite-values' normaliser does),
      // so well-formed text is sent unchanged and an invalid document comes back as a COPY error that copy-table
      // maps to the row's key. Numbers and text needing escapes go through the converter.
      return column.target === 'json'
        ? (v, r) => (typeof v === 'string' && !NEEDS_LOOK.test(v) ? v : slow(v, r))
        : slow;
    default:
      return slow;
  }
}
