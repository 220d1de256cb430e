import type Database from '../sqlite/driver.ts';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { TableModel } from '../prisma/schema-model.ts';
import { fieldExpression, pgTableHash, type Queryable } from '../pg/content-hash.ts';
import { loadSql, sqlWithIdentifiers } from '../files/sql-files.ts';
import { cellFromField, cellWriter } from '../sqlite/prisma-storage.ts';
import type { SqliteValue } from '../sqlite/values.ts';
import { CopyTextReader } from './copy-text.ts';

/**
 * PostgreSQL → the fallback file, one table at a time inside one REPEATABLE READ snapshot: COPY TO streams each
 * table as its canonical row form (the same field expressions the content hash is computed over,
 * lib/pg/content-hash.ts), each field is turned into the cell Prisma would have written (lib/sqlite/prisma-storage.ts)
 * and inserted. The stream pauses while a chunk is written, so memory stays at a chunk whatever the table's size.
 * The table's content hash and count are computed on PostgreSQL in the same snapshot: what the file must match.
 */
const id = (name: string) => pg.escapeIdentifier(name);

export interface ExportedTable {
  name: string;
  rows: number;
  /** Computed on PostgreSQL, same snapshot as the rows. */
  pgRowCount: number;
  pgContentHash: string;
  ms: number;
}

export async function copyTable(
  client: pg.Client,
  schema: string,
  table: TableModel,
  db: Database.Database,
  onRows?: (rows: number) => void,
): Promise<number> {
  const writers = table.columns.map((c) => cellWriter(c.kind));
  const insert = db.prepare(
    sqlWithIdentifiers('fallback-sqlite-insert', {
      table: id(table.name),
      columns: table.columns.map((c) => id(c.name)).join(', '),
      params: table.columns.map(() => '?').join(', '),
    }),
  );
  const fields = table.columns.map((c, i) => `${fieldExpression(c.kind, c.name)} AS f${i}`).join(', ') || 'NULL';
  const stream = client.query(
    copyTo(sqlWithIdentifiers('fallback-copy-out', { fields, table: `${id(schema)}.${id(table.name)}` })),
  );
  const reader = new CopyTextReader();
  const n = writers.length;
  const cells = new Array<SqliteValue>(n);
  let rows = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    for (const row of reader.rows(chunk)) {
      if (row.length !== n) throw new Error(`${table.name}: COPY row with ${row.length} fields, expected ${n}`);
      for (let i = 0; i < n; i++) cells[i] = cellFromField(writers[i], row[i]);
      insert.run(cells);
      rows++;
    }
    onRows?.(rows);
  }
  reader.end();
  return rows;
}

/** Last values of the serial sequences behind autoincrement columns (table → value), in the export's snapshot. */
export async function sequenceValues(
  client: Queryable,
  schema: string,
  tables: TableModel[],
): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (const t of tables) {
    for (const c of t.columns.filter((col) => col.autoincrement)) {
      const { rows } = await client.query<{ last_value: string | null }>(loadSql('fallback-sequence-last-value'), [
        `${id(schema)}.${id(t.name)}`,
        c.name,
      ]);
      if (rows[0]?.last_value) out.set(t.name, BigInt(rows[0].last_value));
    }
  }
  return out;
}

export interface ExportResult {
  tables: ExportedTable[];
  sequences: Map<string, bigint>;
  rows: number;
  /** The snapshot's xmin (xid8 text): every row version written since is at or after it (lib/fallback/catch-up-rows.ts). */
  snapshotXmin: string;
}

/**
 * `hashClient`: a second connection that computes the content hashes and sequence values in the same snapshot
 * (pg_export_snapshot) while the first streams the rows, so PostgreSQL hashes while this process writes the file.
 */
export async function exportPostgres(
  client: pg.Client,
  schema: string,
  tables: TableModel[],
  db: Database.Database,
  options: { hashClient?: pg.Client; onTable?: (table: ExportedTable) => void } = {},
): Promise<ExportResult> {
  const hasher = options.hashClient ?? client;
  const open: pg.Client[] = [];
  try {
    await client.query(loadSql('fallback-snapshot-begin'));
    open.push(client);
    if (hasher !== client) {
      const { rows } = await client.query<{ snapshot: string }>(loadSql('fallback-snapshot-export'));
      await hasher.query(loadSql('fallback-snapshot-begin'));
      open.push(hasher);
      await hasher.query(
        sqlWithIdentifiers('fallback-snapshot-import', { snapshot: pg.escapeLiteral(rows[0].snapshot) }),
      );
    }
    const { rows: horizon } = await client.query<{ xmin: string }>(loadSql('fallback-snapshot-horizon'));
    const hashing = (async () => {
      const hashes = new Map<string, { rowCount: number; contentHash: string }>();
      for (const table of tables) hashes.set(table.name, await pgTableHash(hasher, schema, table));
      return { hashes, sequences: await sequenceValues(hasher, schema, tables) };
    })();
    // Without a second connection the hashes run after the copies (one connection does one thing at a time).
    if (hasher === client) await hashing;
    hashing.catch(() => undefined);
    const copied: { name: string; rows: number; ms: number }[] = [];
    for (const table of tables) {
      const t0 = Date.now();
      copied.push({ name: table.name, rows: await copyTable(client, schema, table, db), ms: Date.now() - t0 });
    }
    const { hashes, sequences } = await hashing;
    const out: ExportedTable[] = copied.map((c) => {
      const h = hashes.get(c.name)!;
      return { ...c, pgRowCount: h.rowCount, pgContentHash: h.contentHash };
    });
    for (const t of out) options.onTable?.(t);
    for (const c of open.reverse()) await c.query(loadSql('fallback-snapshot-end'));
    return { tables: out, sequences, rows: out.reduce((n, t) => n + t.rows, 0), snapshotXmin: horizon[0].xmin };
  } catch (err) {
    for (const c of open) await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
