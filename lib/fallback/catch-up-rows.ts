import type Database from '../sqlite/driver.ts';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { keyMayBeNull, type TableModel } from '../prisma/schema-model.ts';
import { contentFragments, fieldExpression, type Queryable } from '../pg/content-hash.ts';
import { sqlWithIdentifiers } from '../files/sql-files.ts';
import { canonicalRowOf, type CanonicalRowOf } from '../sqlite/canonical-rows.ts';
import { cellFromField, cellWriter, type CellWriter } from '../sqlite/prisma-storage.ts';
import { canonicalTable } from '../sqlite/snapshot-delta.ts';
import type { SqliteValue } from '../sqlite/values.ts';
import { CopyTextReader } from './copy-text.ts';
import type { ExportedTable } from './export-pg.ts';

/**
 * The catch-up of one table row by row (docs/design.md, "The fallback's catch-up"). PostgreSQL never changes a row
 * version in place: an INSERT or UPDATE writes a new version stamped (xmin) with its transaction's id. So a row whose
 * xmin is older than the export snapshot's xmin is exactly the row the export copied, and only the "fresh" rows (xmin
 * at or after it) can be new or changed. What is gone shows in the counts: the file's rows are the unchanged ones,
 * the ones at a fresh row's key, and the deleted ones; only when some are deleted are the keys compared.
 *
 * The result is proven on its own: the fresh rows read back from the file hash (export-sqlite's converters) to what
 * PostgreSQL hashed them to, the table's count is PostgreSQL's, and the table's content hash is brought forward from
 * the verified export's (the hash sum is additive): minus the rows taken out, plus the fresh ones.
 */
const id = (name: string) => pg.escapeIdentifier(name);
const KEYS = 'temp."fallback_pg_keys"';

export interface FreshCount {
  rowCount: number;
  /** Rows whose version was written at or after the export's snapshot xmin. */
  fresh: number;
}

export async function freshCount(
  client: Queryable,
  schema: string,
  table: TableModel,
  xid: string,
): Promise<FreshCount> {
  const { rows } = await client.query<{ row_count: string; fresh: string }>(
    sqlWithIdentifiers('fallback-catch-up-count', { table: `${id(schema)}.${id(table.name)}` }),
    [xid],
  );
  return { rowCount: Number(rows[0].row_count), fresh: Number(rows[0].fresh) };
}

/** The key can find one row: declared unique (not the every-column stand-in) and never NULL. */
export function rowsCanCatchUp(table: TableModel): boolean {
  const keyIsDeclared = table.implicitManyToMany || (table.key.length > 0 && table.key.length < table.columns.length);
  return keyIsDeclared && !keyMayBeNull(table);
}

export interface RowsCaughtUp {
  /** Rows written into the file (the fresh ones). */
  written: number;
  /** Rows taken out of the file: at a fresh row's key, or gone from PostgreSQL. */
  removed: number;
  contentHash: string;
  failures: string[];
}

interface TableStatements {
  writers: CellWriter[];
  keyIndexes: number[];
  canonical: CanonicalRowOf;
  rowsAt: Database.Statement;
  deleteAt: Database.Statement;
  insert: Database.Statement;
}

function tableStatements(db: Database.Database, table: TableModel, enums: Record<string, string[]>): TableStatements {
  const fragments = {
    table: id(table.name),
    columns: table.columns.map((c) => id(c.name)).join(', '),
    key_match: table.key.map((k) => `${id(k)} = ?`).join(' AND '),
    params: table.columns.map(() => '?').join(', '),
  };
  return {
    writers: table.columns.map((c) => cellWriter(c.kind)),
    keyIndexes: table.key.map((k) => table.columns.findIndex((c) => c.name === k)),
    canonical: canonicalRowOf(db, canonicalTable(table), enums),
    rowsAt: db.prepare(sqlWithIdentifiers('fallback-sqlite-rows-at-key', fragments)).raw(true).safeIntegers(true),
    deleteAt: db.prepare(sqlWithIdentifiers('fallback-sqlite-delete-at-key', fragments)),
    insert: db.prepare(sqlWithIdentifiers('fallback-sqlite-insert', fragments)),
  };
}

interface FreshRow {
  hash: bigint;
  cells: SqliteValue[];
}

async function freshRows(
  client: Queryable,
  schema: string,
  table: TableModel,
  writers: CellWriter[],
  xid: string,
): Promise<FreshRow[]> {
  const { fields, row_text, table: qualified } = contentFragments(schema, table);
  const { rows } = await client.query<string[]>({
    text: sqlWithIdentifiers('fallback-catch-up-fresh-rows', { fields, row_text, table: qualified }),
    values: [xid],
    rowMode: 'array',
  });
  return rows.map((r) => ({
    hash: BigInt(r[0]),
    cells: writers.map((w, i) => cellFromField(w, r[i + 1])),
  }));
}

/**
 * Take out of the file every row whose key PostgreSQL no longer has: PostgreSQL's keys are streamed into a temporary
 * table beside the file, the rows without a match hashed, then deleted in one statement.
 */
async function removeGoneRows(
  client: pg.Client,
  schema: string,
  table: TableModel,
  db: Database.Database,
  statements: TableStatements,
): Promise<{ rows: number; hashSum: bigint }> {
  const keyColumns = table.key.map((_k, i) => `k${i}`);
  const fragments = {
    keys: KEYS,
    table: id(table.name),
    columns: keyColumns.join(', '),
    params: keyColumns.map(() => '?').join(', '),
    key_match: table.key.map((k, i) => `k.${keyColumns[i]} = t.${id(k)}`).join(' AND '),
  };
  db.exec(sqlWithIdentifiers('fallback-sqlite-keys-create', fragments));
  try {
    const insert = db.prepare(sqlWithIdentifiers('fallback-sqlite-keys-insert', fragments));
    const keyWriters = statements.keyIndexes.map((i) => statements.writers[i]);
    const fields = table.key
      .map((k, i) => `${fieldExpression(table.columns[statements.keyIndexes[i]].kind, k)} AS f${i}`)
      .join(', ');
    const stream = client.query(
      copyTo(sqlWithIdentifiers('fallback-copy-out', { fields, table: `${id(schema)}.${id(table.name)}` })),
    );
    const reader = new CopyTextReader();
    for await (const chunk of stream as AsyncIterable<Buffer>)
      for (const row of reader.rows(chunk)) insert.run(row.map((f, i) => cellFromField(keyWriters[i], f)));
    reader.end();
    const columns = table.columns.map((c) => `t.${id(c.name)}`).join(', ');
    const stale = db
      .prepare(sqlWithIdentifiers('fallback-sqlite-rows-not-in-keys', { ...fragments, columns }))
      .raw(true)
      .safeIntegers(true);
    let hashSum = 0n;
    let rows = 0;
    for (const row of stale.iterate() as IterableIterator<unknown[]>) {
      hashSum += statements.canonical(row).hash;
      rows++;
    }
    const deleted = db.prepare(sqlWithIdentifiers('fallback-sqlite-delete-not-in-keys', fragments)).run().changes;
    if (deleted !== rows) throw new Error(`${table.name}: ${deleted} row(s) deleted, ${rows} found gone`);
    return { rows, hashSum };
  } finally {
    db.exec(sqlWithIdentifiers('fallback-sqlite-keys-drop', fragments));
  }
}

/**
 * One table of the file (inside the caller's SQLite transaction, foreign keys off) made equal to PostgreSQL's rows
 * now: `was` is the table as exported and verified, `now` its count and fresh rows in the window's snapshot.
 */
export async function catchUpRows(
  client: pg.Client,
  schema: string,
  table: TableModel,
  enums: Record<string, string[]>,
  db: Database.Database,
  input: { xid: string; was: ExportedTable; now: FreshCount },
): Promise<RowsCaughtUp> {
  const { was, now } = input;
  const failures: string[] = [];
  const statements = tableStatements(db, table, enums);
  const keyOf = (cells: SqliteValue[]) => statements.keyIndexes.map((i) => cells[i]);
  const fresh = await freshRows(client, schema, table, statements.writers, input.xid);
  if (fresh.length !== now.fresh)
    failures.push(`${table.name}: ${fresh.length} fresh row(s) read, ${now.fresh} counted in the same snapshot`);
  let removed = 0;
  let removedSum = 0n;
  let freshSum = 0n;
  for (const row of fresh) {
    freshSum += row.hash;
    const key = keyOf(row.cells);
    for (const old of statements.rowsAt.all(key) as unknown[][]) removedSum += statements.canonical(old).hash;
    removed += statements.deleteAt.run(key).changes;
  }
  // The file holds the export's rows: the unchanged ones, the ones just taken out, and those PostgreSQL deleted.
  const expectedGone = was.pgRowCount - (now.rowCount - now.fresh) - removed;
  if (expectedGone < 0)
    failures.push(
      `${table.name}: PostgreSQL has ${now.rowCount - now.fresh} unchanged row(s), more than the ${was.pgRowCount - removed} the export left`,
    );
  else if (expectedGone > 0) {
    const out = await removeGoneRows(client, schema, table, db, statements);
    removed += out.rows;
    removedSum += out.hashSum;
    if (out.rows !== expectedGone)
      failures.push(`${table.name}: ${out.rows} row(s) gone from PostgreSQL found by key, ${expectedGone} by count`);
  }
  for (const row of fresh) statements.insert.run(row.cells);
  let readBack = 0n;
  for (const row of fresh)
    for (const back of statements.rowsAt.all(keyOf(row.cells)) as unknown[][])
      readBack += statements.canonical(back).hash;
  if (readBack !== freshSum)
    failures.push(
      `${table.name}: the ${fresh.length} row(s) written hash to ${readBack} in the file, ${freshSum} on PostgreSQL`,
    );
  const count = Number(
    db
      .prepare(sqlWithIdentifiers('sqlite-count', { table: id(table.name) }))
      .pluck()
      .safeIntegers(true)
      .get(),
  );
  if (count !== now.rowCount) failures.push(`${table.name}: ${count} rows in the file, ${now.rowCount} on PostgreSQL`);
  return {
    written: fresh.length,
    removed,
    contentHash: (BigInt(was.pgContentHash) - removedSum + freshSum).toString(),
    failures,
  };
}

/** The export snapshot's xmin as the 32-bit xid the catch-up compares with, when the comparison is sound now. */
export function exportXid(exportXmin: string | undefined, nowXmax: string): string | undefined {
  if (!exportXmin) return undefined;
  const from = BigInt(exportXmin);
  const span = BigInt(nowXmax) - from;
  const xid = from & 0xffffffffn;
  // age() is exact while the ids are less than 2^31 apart; ids 0–2 are special, never an ordinary transaction's.
  if (span < 0n || span >= 2n ** 31n - 1n || xid < 3n) return undefined;
  return xid.toString();
}
