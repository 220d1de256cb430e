import type { ColumnKind } from '../prisma/schema-model.ts';
import type { SqliteValue } from './values.ts';

/**
 * The way back of lib/sqlite/values.ts: one canonical value text of docs/design.md (the field without its `V`, as
 * PostgreSQL computes it in lib/pg/content-hash.ts) → the SQLite cell Prisma 6's native engine binds for that
 * Prisma type, so the app reads exactly what it wrote on PostgreSQL. SQLite's column affinity then stores it the way
 * it stores Prisma's own writes (a Json `42` or a Decimal `7` in a NUMERIC-affinity column ends up INTEGER).
 *
 *   String, enum → TEXT · Int, BigInt → INTEGER · Float → REAL (the exact IEEE-754 bits) · Boolean → INTEGER 0/1
 *   DateTime → INTEGER epoch milliseconds · Json → jsonb's text · Bytes → BLOB
 *   Decimal → the double Prisma binds when that double prints back as the same decimal, else the exact text. A
 *   DECIMAL column's NUMERIC affinity still turns text with more digits than a double holds into a REAL, as it does
 *   with Prisma's own writes: the fallback's content hash then differs from PostgreSQL's and the fallback stops
 *   (Float -0.0, stored as 0.0, likewise). Nothing is rounded silently.
 *
 * Hot path: runs once per cell; no regexes.
 */
export type CellWriter = (text: string) => SqliteValue;

const floatBuf = Buffer.alloc(8);

function floatFromHex(hex: string): number {
  floatBuf.write(hex, 0, 8, 'hex');
  return floatBuf.readDoubleBE(0);
}

function decimalCell(text: string): SqliteValue {
  const n = Number(text);
  // String(n) is the double's shortest text; equal to PostgreSQL's trim_scale text only when nothing was rounded.
  return Number.isFinite(n) && String(n) === text ? n : text;
}

const WRITERS: Readonly<Record<ColumnKind, CellWriter>> = Object.freeze({
  text: (t) => t,
  enum: (t) => t,
  int: (t) => BigInt(t),
  bigint: (t) => BigInt(t),
  float: floatFromHex,
  decimal: decimalCell,
  boolean: (t) => (t === 't' ? 1n : 0n),
  datetime: (t) => BigInt(t),
  json: (t) => t,
  bytes: (t) => Buffer.from(t, 'hex'),
});

export function cellWriter(kind: ColumnKind): CellWriter {
  const writer = WRITERS[kind];
  if (!writer) throw new Error(`no SQLite cell writer for column kind "${kind}"`);
  return writer;
}

/** A canonical field (`N` or `V…`) → the SQLite cell. */
export function cellFromField(writer: CellWriter, field: string): SqliteValue {
  return field === 'N' ? null : writer(field.slice(1));
}
