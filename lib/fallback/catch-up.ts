import Database from '../sqlite/driver.ts';
import pg from 'pg';
import type { SchemaModel, TableModel } from '../prisma/schema-model.ts';
import { pgTableHash, type TableHash } from '../pg/content-hash.ts';
import { loadSql, sqlWithIdentifiers } from '../files/sql-files.ts';
import { scanTable } from '../sqlite/export-scan.ts';
import { raiseSequences } from '../sqlite/fallback-file.ts';
import { copyTable, sequenceValues, type ExportedTable } from './export-pg.ts';
import { catchUpRows, exportXid, freshCount, rowsCanCatchUp, type FreshCount } from './catch-up-rows.ts';

/**
 * Inside the window (the app stopped): the verified file made equal to what PostgreSQL holds now, in one snapshot.
 * With the export snapshot's xmin at hand, each table is first counted with its fresh rows (row versions written
 * since, lib/fallback/catch-up-rows.ts): none and the same count proves it unchanged; a few are carried row by row.
 * A table without a usable key, with many fresh rows, or a run without a sound xmin comparison falls back to the
 * content hash: a table whose hash and count are the exported ones is unchanged, any other is emptied in the file
 * and copied again whole, then its count and content hash (export-sqlite's scan) checked against PostgreSQL's.
 * Every table written is checked with integrity_check, and foreign_key_check runs on it and the tables pointing at it.
 */
const id = (name: string) => pg.escapeIdentifier(name);

/** Past this many fresh rows in one table, copying it again whole is the simpler and comparable cost. */
const MAX_FRESH_ROWS = 50_000;

export interface CatchUpResult {
  /** The exported tables as the file holds them now. */
  tables: ExportedTable[];
  changed: string[];
  /** Of the changed tables, the ones carried row by row (the others were copied again whole). */
  byRows: string[];
  /** One line per failed check (empty: the file equals PostgreSQL now). */
  failures: string[];
  rowsCopied: number;
  rowsRemoved: number;
  /** False when the export's xmin could not be compared with (every table then hashed whole). */
  rowLevel: boolean;
}

type TablePlan =
  | { action: 'same'; table: TableModel; was: ExportedTable }
  | { action: 'rows'; table: TableModel; was: ExportedTable; now: FreshCount }
  | { action: 'whole'; table: TableModel; now: TableHash };

async function planTable(
  client: pg.Client,
  schema: string,
  table: TableModel,
  was: ExportedTable | undefined,
  xid: string | undefined,
): Promise<TablePlan> {
  if (xid && was && rowsCanCatchUp(table)) {
    const now = await freshCount(client, schema, table, xid);
    if (now.fresh === 0 && now.rowCount === was.pgRowCount) return { action: 'same', table, was };
    if (now.fresh <= MAX_FRESH_ROWS) return { action: 'rows', table, was, now };
  }
  const now = await pgTableHash(client, schema, table);
  if (was && was.pgContentHash === now.contentHash && was.pgRowCount === now.rowCount)
    return { action: 'same', table, was };
  return { action: 'whole', table, now };
}

/** Every table's plan, the tables shared between the two connections (same snapshot) when there are two. */
async function planTables(
  clients: pg.Client[],
  schema: string,
  tables: TableModel[],
  exported: ExportedTable[],
  xid: string | undefined,
): Promise<TablePlan[]> {
  const plans = new Map<string, TablePlan>();
  const queue = [...tables];
  const worker = async (c: pg.Client) => {
    for (let t = queue.shift(); t; t = queue.shift())
      plans.set(
        t.name,
        await planTable(
          c,
          schema,
          t,
          exported.find((e) => e.name === t.name),
          xid,
        ),
      );
  };
  await Promise.all(clients.map(worker));
  return tables.map((t) => plans.get(t.name)!);
}

async function beginSnapshots(client: pg.Client, second: pg.Client | undefined): Promise<void> {
  await client.query(loadSql('fallback-snapshot-begin'));
  if (!second) return;
  const { rows } = await client.query<{ snapshot: string }>(loadSql('fallback-snapshot-export'));
  await second.query(loadSql('fallback-snapshot-begin'));
  await second.query(sqlWithIdentifiers('fallback-snapshot-import', { snapshot: pg.escapeLiteral(rows[0].snapshot) }));
}

/** The file's checks of what was written: integrity, whole copies against PostgreSQL's hash, foreign keys. */
function checkWritten(db: Database.Database, model: SchemaModel, plans: TablePlan[], changed: string[]): string[] {
  const failures: string[] = [];
  for (const name of changed) {
    const integrity = (
      db
        .prepare(sqlWithIdentifiers('fallback-sqlite-integrity-table', { table: id(name) }))
        .pluck()
        .all() as string[]
    ).filter((r) => r !== 'ok');
    if (integrity.length) failures.push(`${name}: integrity_check: ${integrity[0]}`);
  }
  for (const plan of plans) {
    if (plan.action !== 'whole') continue;
    const scan = scanTable(db, plan.table, model.enums);
    if (scan.rowCount !== plan.now.rowCount || scan.contentHash !== plan.now.contentHash)
      failures.push(
        `${plan.table.name}: ${scan.rowCount} rows, content hash ${scan.contentHash} in the file; ${plan.now.rowCount} rows, ${plan.now.contentHash} on PostgreSQL`,
      );
  }
  // PostgreSQL kept its foreign keys, so only a table written again, or one pointing at it, can hold an orphan here.
  const references = db.prepare(loadSql('sqlite-foreign-key-list'));
  const toCheck = model.tables.filter(
    (t) =>
      changed.includes(t.name) ||
      (references.all(t.name) as { parent: string }[]).some((fk) => changed.includes(fk.parent)),
  );
  for (const t of toCheck) {
    const orphans = db
      .prepare(sqlWithIdentifiers('fallback-sqlite-foreign-key-check-table', { table: id(t.name) }))
      .all().length;
    if (orphans) failures.push(`${t.name}: foreign_key_check: ${orphans} row(s) reference a missing parent`);
  }
  return failures;
}

/**
 * `hashClient`: a second connection that shares the counting and hashing in the same snapshot (PostgreSQL on two
 * cores). `exportXmin`: the xmin (xid8 text) of the snapshot the file was exported from.
 */
export async function catchUp(
  client: pg.Client,
  schema: string,
  model: SchemaModel,
  file: string,
  exported: ExportedTable[],
  options: { hashClient?: pg.Client; exportXmin?: string } = {},
): Promise<CatchUpResult> {
  const tables: ExportedTable[] = [];
  const changed: string[] = [];
  const byRows: string[] = [];
  const failures: string[] = [];
  let rowsCopied = 0;
  let rowsRemoved = 0;
  await beginSnapshots(client, options.hashClient);
  const db = new Database(file);
  try {
    const { rows: horizon } = await client.query<{ xmax: string }>(loadSql('fallback-snapshot-horizon'));
    const xid = exportXid(options.exportXmin, horizon[0].xmax);
    const clients = options.hashClient ? [client, options.hashClient] : [client];
    const plans = await planTables(clients, schema, model.tables, exported, xid);
    db.exec(loadSql('fallback-sqlite-foreign-keys-off'));
    db.exec('BEGIN');
    for (const plan of plans) {
      if (plan.action === 'same') {
        tables.push(plan.was);
        continue;
      }
      const t0 = Date.now();
      const name = plan.table.name;
      changed.push(name);
      if (plan.action === 'rows') {
        const out = await catchUpRows(client, schema, plan.table, model.enums, db, { xid: xid!, ...plan });
        byRows.push(name);
        failures.push(...out.failures);
        rowsCopied += out.written;
        rowsRemoved += out.removed;
        // Brought forward from the verified export's hash; the rows written are proven by their own hashes.
        tables.push({
          name,
          rows: plan.now.rowCount,
          pgRowCount: plan.now.rowCount,
          pgContentHash: out.contentHash,
          ms: Date.now() - t0,
        });
      } else {
        rowsRemoved += db.prepare(sqlWithIdentifiers('fallback-sqlite-clear', { table: id(name) })).run().changes;
        const rows = await copyTable(client, schema, plan.table, db);
        rowsCopied += rows;
        tables.push({
          name,
          rows,
          pgRowCount: plan.now.rowCount,
          pgContentHash: plan.now.contentHash,
          ms: Date.now() - t0,
        });
      }
    }
    if (changed.length) raiseSequences(db, await sequenceValues(client, schema, model.tables));
    db.exec('COMMIT');
    await client.query(loadSql('fallback-snapshot-end'));
    await options.hashClient?.query(loadSql('fallback-snapshot-end'));
    failures.push(...checkWritten(db, model, plans, changed));
    return { tables, changed, byRows, failures, rowsCopied, rowsRemoved, rowLevel: xid !== undefined };
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    await client.query('ROLLBACK').catch(() => undefined);
    await options.hashClient?.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    db.close();
  }
}
