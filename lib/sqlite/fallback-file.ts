import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, readSync, rmSync } from 'node:fs';
import path from 'node:path';
import Database from './driver.ts';
import pg from 'pg';
import type { TableModel } from '../prisma/schema-model.ts';
import { loadSql, sqlWithIdentifiers } from '../files/sql-files.ts';
import type { SqliteValue } from './values.ts';

/**
 * The new SQLite file of a fallback, built the way the app's own Prisma built its file: the app's SQLite migrations
 * applied in name order (what `prisma migrate deploy` runs), `_prisma_migrations` created and filled exactly as the
 * app's file had it (from the run's snapshot), the original file's page size, journal mode and user_version (read
 * from its header, the original is never opened). The rows come from PostgreSQL (lib/fallback/export-pg.ts).
 */
const id = (name: string) => pg.escapeIdentifier(name);
export const PRISMA_MIGRATIONS = '_prisma_migrations';

export interface SqliteHeader {
  pageSize: number;
  wal: boolean;
  userVersion: number;
}

/** Page size, WAL flag and user_version from a database file's 100-byte header (sqlite.org/fileformat.html). */
export function readSqliteHeader(file: string): SqliteHeader {
  const fd = openSync(file, 'r');
  const header = Buffer.alloc(100);
  try {
    readSync(fd, header, 0, 100, 0);
  } finally {
    closeSync(fd);
  }
  if (header.toString('latin1', 0, 16) !== 'SQLite format 3\u0000') throw new Error(`${file} is not a SQLite database`);
  const raw = header.readUInt16BE(16);
  return { pageSize: raw === 1 ? 65536 : raw, wal: header[18] === 2, userVersion: header.readInt32BE(60) };
}

/** Migration folders (those holding migration.sql) in the order Prisma applies them. */
export function migrationDirs(migrationsDir: string): string[] {
  return readdirSync(migrationsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(migrationsDir, d.name, 'migration.sql')))
    .map((d) => d.name)
    .sort();
}

export interface SchemaObject {
  type: string;
  name: string;
  tbl_name: string;
  sql: string;
}

export function schemaObjects(db: Database.Database): SchemaObject[] {
  return db.prepare(loadSql('fallback-sqlite-objects')).all() as SchemaObject[];
}

/** Objects that differ between the two files, one line each (empty: the same schema, DDL text for DDL text). */
export function schemaDifferences(built: SchemaObject[], original: SchemaObject[]): string[] {
  const key = (o: SchemaObject) => `${o.type} ${o.name}`;
  const mine = new Map(built.map((o) => [key(o), o]));
  const theirs = new Map(original.map((o) => [key(o), o]));
  const out: string[] = [];
  for (const [k, o] of theirs) {
    const m = mine.get(k);
    if (!m) out.push(`${k} is missing`);
    else if (m.sql !== o.sql || m.tbl_name !== o.tbl_name) out.push(`${k} has other DDL`);
  }
  for (const k of mine.keys()) if (!theirs.has(k)) out.push(`${k} is not in the app's file`);
  return out;
}

export interface BuildResult {
  db: Database.Database;
  migrations: string[];
  /** The app's migrations, or (when one of them does not run here) the DDL of the app's file, with why. */
  schemaFrom: { source: 'migrations' | 'snapshot'; reason?: string };
  prismaMigrations: number;
  /** Tables the Prisma schema does not know, copied from the snapshot as the app had them. */
  extraTables: { name: string; rows: number }[];
  /** Indexes of the model tables, dropped for the load: finishPrismaSqliteFile creates them again. */
  deferredIndexes: SchemaObject[];
}

/** Copy every row of one table from the snapshot, raw cells (exact integers, blobs) in column order. */
function copyFromSnapshot(snapshot: Database.Database, db: Database.Database, table: string): number {
  const columns = snapshot.prepare(loadSql('export-sqlite-columns')).pluck().all(table) as string[];
  const insert = db.prepare(
    sqlWithIdentifiers('fallback-sqlite-insert', {
      table: id(table),
      columns: columns.map(id).join(', '),
      params: columns.map(() => '?').join(', '),
    }),
  );
  const select = snapshot
    .prepare(sqlWithIdentifiers('sqlite-table-scan', { columns: columns.map(id).join(', '), table: id(table) }))
    .raw(true)
    .safeIntegers(true);
  let rows = 0;
  for (const row of select.iterate() as IterableIterator<SqliteValue[]>) {
    insert.run(...row);
    rows++;
  }
  return rows;
}

/**
 * A new file at `file` (replaced if a crashed attempt left one) with the app's schema and migration history and
 * empty model tables, inside one open transaction the export fills; `snapshotFile` is the run's copy of the app's
 * file (read only).
 */
export function buildPrismaSqliteFile(options: {
  file: string;
  migrationsDir: string;
  snapshotFile: string;
  header: SqliteHeader;
  tables: TableModel[];
}): BuildResult {
  const snapshot = new Database(options.snapshotFile, { readonly: true, fileMustExist: true });
  const pageSize = options.header.pageSize;
  if (!Number.isInteger(pageSize) || pageSize < 512 || pageSize > 65536) throw new Error(`bad page size ${pageSize}`);
  const open = () => {
    for (const suffix of ['', '-journal', '-wal', '-shm']) rmSync(options.file + suffix, { force: true });
    const fresh = new Database(options.file);
    fresh.exec(sqlWithIdentifiers('fallback-sqlite-build', { page_size: String(pageSize) }));
    return fresh;
  };
  let db = open();
  try {
    const migrations = migrationDirs(options.migrationsDir);
    let schemaFrom: BuildResult['schemaFrom'] = { source: 'migrations' };
    try {
      for (const name of migrations)
        db.exec(readFileSync(path.join(options.migrationsDir, name, 'migration.sql'), 'utf8'));
    } catch (err) {
      // e.g. a hand-written migration with double-quoted string literals, which this SQLite build refuses.
      db.close();
      db = open();
      for (const o of snapshot.prepare(loadSql('fallback-sqlite-ddl')).all() as SchemaObject[]) db.exec(o.sql);
      schemaFrom = { source: 'snapshot', reason: (err as Error).message };
    }
    // Prisma's redefine-a-table migrations turn foreign keys back on; rows arrive in table order, not parent first.
    db.exec(loadSql('fallback-sqlite-foreign-keys-off'));
    const original = schemaObjects(snapshot);
    const history = original.find((o) => o.type === 'table' && o.name === PRISMA_MIGRATIONS);
    db.exec('BEGIN');
    let prismaMigrations = 0;
    if (history) {
      db.exec(history.sql);
      prismaMigrations = copyFromSnapshot(snapshot, db, PRISMA_MIGRATIONS);
    }
    const modelTables = new Set(options.tables.map((t) => t.name));
    const builtTables = new Set(
      schemaObjects(db)
        .filter((o) => o.type === 'table')
        .map((o) => o.name),
    );
    // A migration may seed rows: the model tables' rows all come from PostgreSQL, which has those too.
    for (const t of options.tables)
      if (builtTables.has(t.name)) db.prepare(sqlWithIdentifiers('fallback-sqlite-clear', { table: id(t.name) })).run();
    const deferredIndexes = schemaObjects(db).filter((o) => o.type === 'index' && o.sql && modelTables.has(o.tbl_name));
    for (const index of deferredIndexes)
      db.prepare(sqlWithIdentifiers('fallback-sqlite-drop-index', { index: id(index.name) })).run();
    const extraTables: BuildResult['extraTables'] = [];
    for (const o of original) {
      if (o.type !== 'table' || modelTables.has(o.name) || o.name === PRISMA_MIGRATIONS) continue;
      if (o.name.startsWith('sqlite_') || !builtTables.has(o.name)) continue;
      db.prepare(sqlWithIdentifiers('fallback-sqlite-clear', { table: id(o.name) })).run();
      extraTables.push({ name: o.name, rows: copyFromSnapshot(snapshot, db, o.name) });
    }
    return { db, migrations, schemaFrom, prismaMigrations, extraTables, deferredIndexes };
  } catch (err) {
    db.close();
    throw err;
  } finally {
    snapshot.close();
  }
}

/** AUTOINCREMENT tables: raise sqlite_sequence to what PostgreSQL's sequence handed out (`lastValues`: table → value). */
export function raiseSequences(db: Database.Database, lastValues: Map<string, bigint>): void {
  const hasSequenceTable = schemaObjects(db).some((o) => o.type === 'table' && o.name === 'sqlite_sequence');
  if (!hasSequenceTable) return;
  const raise = db.prepare(loadSql('fallback-sqlite-sequence-raise'));
  const insert = db.prepare(loadSql('fallback-sqlite-sequence'));
  for (const [table, value] of lastValues) {
    raise.run(value, table);
    insert.run(table, value, table);
  }
}

export interface FinishResult {
  integrity: string[];
  foreignKeyViolations: number;
  sha256?: string;
}

/**
 * The deferred indexes created again from their own DDL text, commit, the original's journal mode and user_version,
 * integrity and foreign keys checked, fsync, close.
 */
export function finishPrismaSqliteFile(
  db: Database.Database,
  file: string,
  header: SqliteHeader,
  deferredIndexes: SchemaObject[],
): FinishResult {
  try {
    for (const index of deferredIndexes) db.exec(index.sql);
    db.exec('COMMIT');
    db.exec(sqlWithIdentifiers('fallback-sqlite-finish', { user_version: String(header.userVersion | 0) }));
    if (header.wal) db.prepare(loadSql('fallback-sqlite-journal-wal')).get();
    const integrity = (db.prepare(loadSql('backup-sqlite-integrity-check')).pluck().all() as string[]).filter(
      (r) => r !== 'ok',
    );
    const foreignKeyViolations = db.prepare(loadSql('sqlite-foreign-key-check')).all().length;
    return { integrity, foreignKeyViolations };
  } finally {
    db.close();
    const fd = openSync(file, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}
