import { createHash } from 'node:crypto';
import Database from './driver.ts';
import type { ColumnKind, ColumnModel } from '../prisma/schema-model.ts';
import { createCellBytesReader } from './cell-bytes.ts';
import { scanTableRows, type RowTreatment } from './table-scan.ts';
import { columnConverter, convertChecked, isProblem, rowHash, rowText, type SqliteValue } from './values.ts';

/**
 * The SQLite side of the content gate's narrowing: the snapshot's rows in the canonical form of docs/design.md,
 * computed with the very converters export-sqlite hashes with (lib/sqlite/values.ts), grouped into the same 256
 * buckets PostgreSQL computes in sql/content-bucket-*.sql. Only used after a table's hash differs, to find
 * which keys differ and show both sides' values.
 */
export interface CanonicalColumn {
  name: string;
  kind: ColumnKind;
  prismaType: string;
  nullable: boolean;
  enumName?: string;
}

export interface CanonicalTable {
  name: string;
  columns: CanonicalColumn[];
  key: string[];
  /** The manifest's --orphans treatment of the table: the rows as they were loaded. */
  treatment?: RowTreatment;
}

export interface SqliteRow {
  keyText: string;
  hash: bigint;
  fields: string[];
}

/** A value that would not convert gets a field text no PostgreSQL row can have, so it always shows as a difference. */
export const PROBLEM_PREFIX = '!';

/**
 * One raw row (better-sqlite3 raw array, safe integers, the table's columns in schema order) → its canonical form.
 * `db` is the database the row was read from: a text cell holding U+FFFD is re-read there as bytes by the row's key.
 */
export type CanonicalRowOf = (row: unknown[]) => SqliteRow;

export function canonicalRowOf(
  db: Database.Database,
  table: CanonicalTable,
  enums: Record<string, string[]>,
): CanonicalRowOf {
  const converters = table.columns.map((c) =>
    columnConverter(
      {
        name: c.name,
        field: c.name,
        kind: c.kind,
        prismaType: c.prismaType,
        nullable: c.nullable,
        autoincrement: false,
        ...(c.enumName ? { enumName: c.enumName } : {}),
      },
      enums,
    ),
  );
  const keyIndexes = (table.key.length ? table.key : table.columns.map((c) => c.name)).map((k) =>
    table.columns.findIndex((c) => c.name === k),
  );
  const readCell = createCellBytesReader(
    db,
    table.name,
    table.columns.map((c) => c.name),
    table.key.length ? table.key : table.columns.map((c) => c.name),
  );
  const readBytes = (row: unknown[], column: number) => (): Buffer | undefined => {
    try {
      return readCell(row, column);
    } catch {
      // A connection busy with the scan may refuse the re-read: then the text is taken as it decoded (display only).
      return undefined;
    }
  };
  const n = converters.length;
  return (row) => {
    const fields = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const out = convertChecked(converters[i].canonical, row[i] as SqliteValue, readBytes(row, i));
      fields[i] = isProblem(out) ? `${PROBLEM_PREFIX}${out.reason}` : out;
    }
    const keyFields = keyIndexes.map((i) => fields[i]);
    return { keyText: rowText(keyFields), hash: rowHash(fields), fields };
  };
}

function* canonicalRows(
  db: Database.Database,
  table: CanonicalTable,
  enums: Record<string, string[]>,
): Generator<SqliteRow> {
  const rows = scanTableRows(
    db,
    table.name,
    table.columns.map((c) => c.name),
    table.treatment,
  );
  const canonical = canonicalRowOf(db, table, enums);
  for (const row of rows) yield canonical(row);
}

export interface BucketSum {
  rowCount: number;
  sum: bigint;
}

export function sqliteBucketSums(
  db: Database.Database,
  table: CanonicalTable,
  enums: Record<string, string[]>,
): Map<string, BucketSum> {
  const sums = new Map<string, BucketSum>();
  for (const row of canonicalRows(db, table, enums)) {
    const bucket = bucketOfKeyText(row.keyText);
    const entry = sums.get(bucket);
    if (entry) {
      entry.rowCount++;
      entry.sum += row.hash;
    } else {
      sums.set(bucket, { rowCount: 1, sum: row.hash });
    }
  }
  return sums;
}

export function sqliteBucketRows(
  db: Database.Database,
  table: CanonicalTable,
  enums: Record<string, string[]>,
  buckets: Set<string>,
): Map<string, SqliteRow> {
  const rows = new Map<string, SqliteRow>();
  for (const row of canonicalRows(db, table, enums)) {
    if (buckets.has(bucketOfKeyText(row.keyText))) rows.set(row.keyText, row);
  }
  return rows;
}

/** Bucket of a row from its key text: first two hex digits of md5(key text), as sql/content-bucket-*.sql. */
function bucketOfKeyText(keyText: string): string {
  return createHash('md5').update(keyText, 'utf8').digest('hex').slice(0, 2);
}
