import Database from '../sqlite/driver.ts';
import pg from 'pg';
import type { SchemaModel, TableModel } from '../prisma/schema-model.ts';
import { pgTableHash } from '../pg/content-hash.ts';
import { loadSql, sqlWithIdentifiers } from '../files/sql-files.ts';
import { scanTable } from '../sqlite/export-scan.ts';
import { raiseSequences } from '../sqlite/fallback-file.ts';
import { copyTable, sequenceValues, type ExportedTable } from './export-pg.ts';

/**
 * Inside the window (the app stopped): what PostgreSQL holds now against what the verified file was exported from.
 * Every table's content hash is computed on PostgreSQL again; a table whose hash and count are the exported ones is
 * proven unchanged (and the file already proven equal to it). A table that changed is emptied in the file and copied
 * again from this snapshot, then checked alone: integrity_check of the table, its count and content hash by
 * export-sqlite's scan against PostgreSQL's new one, and foreign_key_check of it and of the tables pointing at it.
 */
const id = (name: string) => pg.escapeIdentifier(name);

export interface CatchUpResult {
  /** The exported tables with PostgreSQL's hashes of now. */
  tables: ExportedTable[];
  changed: string[];
  /** One line per failed check (empty: the file equals PostgreSQL now). */
  failures: string[];
  rowsCopied: number;
}

/** Every table's content hash, the tables shared between the two connections (same snapshot) when there are two. */
async function hashAll(
  client: pg.Client,
  second: pg.Client | undefined,
  schema: string,
  tables: TableModel[],
): Promise<Map<string, { rowCount: number; contentHash: string }>> {
  const hashes = new Map<string, { rowCount: number; contentHash: string }>();
  const queue = [...tables];
  const worker = async (c: pg.Client) => {
    for (let t = queue.shift(); t; t = queue.shift()) hashes.set(t.name, await pgTableHash(c, schema, t));
  };
  await Promise.all(second ? [worker(client), worker(second)] : [worker(client)]);
  return hashes;
}

/** `hashClient`: a second connection that shares the hashing in the same snapshot (PostgreSQL on two cores). */
export async function catchUp(
  client: pg.Client,
  schema: string,
  model: SchemaModel,
  file: string,
  exported: ExportedTable[],
  options: { hashClient?: pg.Client } = {},
): Promise<CatchUpResult> {
  const tables: ExportedTable[] = [];
  const changed: string[] = [];
  const failures: string[] = [];
  let rowsCopied = 0;
  await client.query(loadSql('fallback-snapshot-begin'));
  if (options.hashClient) {
    const { rows } = await client.query<{ snapshot: string }>(loadSql('fallback-snapshot-export'));
    await options.hashClient.query(loadSql('fallback-snapshot-begin'));
    await options.hashClient.query(
      sqlWithIdentifiers('fallback-snapshot-import', { snapshot: pg.escapeLiteral(rows[0].snapshot) }),
    );
  }
  const db = new Database(file);
  try {
    const hashes = await hashAll(client, options.hashClient, schema, model.tables);
    db.exec(loadSql('fallback-sqlite-foreign-keys-off'));
    db.exec('BEGIN');
    for (const t of model.tables) {
      const now = hashes.get(t.name)!;
      const was = exported.find((e) => e.name === t.name);
      const same = was && was.pgContentHash === now.contentHash && was.pgRowCount === now.rowCount;
      if (!same) {
        changed.push(t.name);
        const t0 = Date.now();
        db.prepare(sqlWithIdentifiers('fallback-sqlite-clear', { table: id(t.name) })).run();
        const rows = await copyTable(client, schema, t, db);
        rowsCopied += rows;
        tables.push({
          name: t.name,
          rows,
          pgRowCount: now.rowCount,
          pgContentHash: now.contentHash,
          ms: Date.now() - t0,
        });
      } else tables.push(was!);
    }
    if (changed.length) raiseSequences(db, await sequenceValues(client, schema, model.tables));
    db.exec('COMMIT');
    await client.query(loadSql('fallback-snapshot-end'));
    await options.hashClient?.query(loadSql('fallback-snapshot-end'));
    for (const name of changed) {
      const t = model.tables.find((m) => m.name === name)!;
      const integrity = (
        db
          .prepare(sqlWithIdentifiers('fallback-sqlite-integrity-table', { table: id(name) }))
          .pluck()
          .all() as string[]
      ).filter((r) => r !== 'ok');
      if (integrity.length) failures.push(`${name}: integrity_check: ${integrity[0]}`);
      const scan = scanTable(db, t, model.enums);
      const pgNow = hashes.get(name)!;
      if (scan.rowCount !== pgNow.rowCount || scan.contentHash !== pgNow.contentHash)
        failures.push(
          `${name}: ${scan.rowCount} rows, content hash ${scan.contentHash} in the file; ${pgNow.rowCount} rows, ${pgNow.contentHash} on PostgreSQL`,
        );
    }
    // PostgreSQL kept its foreign keys, so only a table copied again, or one pointing at it, can hold an orphan here.
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
    return { tables, changed, failures, rowsCopied };
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    await client.query('ROLLBACK').catch(() => undefined);
    await options.hashClient?.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    db.close();
  }
}
