import { statSync } from 'node:fs';
import Database from './driver.ts';
import pg from 'pg';
import { sourceProblem } from '../errors.ts';
import { loadSql, sqlWithIdentifiers } from '../files/sql-files.ts';
import { keyMayBeNull, type SchemaModel, type TableModel } from '../prisma/schema-model.ts';
import { canonicalRowOf, type CanonicalTable } from './canonical-rows.ts';
import { createCellBytesReader } from './cell-bytes.ts';
import { manifestColumns } from './manifest.ts';
import {
  bothFilesPages,
  changedLeaves,
  comparePages,
  leafRowids,
  type FilePages,
  type TablePages,
} from './btree-pages.ts';
import { decodeTextBytes, type SqliteValue } from './values.ts';

/**
 * The exact difference between two snapshots of one SQLite database (both made by the backup API, so page N of
 * one is page N of the other): which tables changed, and per changed table the rows to delete, update and insert,
 * with the canonical row hashes needed to bring a content hash forward. docs/online-cutover.md argues why no
 * change can be missed; in short:
 *
 * 1. A table whose b-tree (every page SQLite's dbstat lists for it in the newer snapshot: interior, leaf and
 *    overflow pages) is byte-identical to the same pages of the older snapshot, with the same root page, holds
 *    the same rows: reading the table visits exactly those pages, and their bytes decide every value.
 * 2. Every other table is diffed row by row, joined by its key: a row whose every column has the same storage
 *    class and compares equal under BINARY collation is the same value (the only equal-but-different pair, +0.0
 *    and -0.0, is sent to the canonical comparison); the rest are compared by their canonical row form.
 * 3. The schema (sqlite_schema's SQL text) must be identical, or there is no delta to speak of.
 */
export interface TableDelta {
  table: string;
  /** Raw rows of the newer snapshot (schema column order). */
  inserts: SqliteValue[][];
  updates: SqliteValue[][];
  /** Raw rows of the older snapshot that are gone (a changed key is a delete plus an insert). */
  deletes: SqliteValue[][];
  /** Sum of the canonical row hashes the table loses (old versions of updated and deleted rows). */
  hashOut: bigint;
  /** Sum of the canonical row hashes it gains (new versions of updated and inserted rows). */
  hashIn: bigint;
}

export interface SnapshotDelta {
  tables: TableDelta[];
  /** Tables skipped because their pages are byte-identical in both snapshots. */
  unchangedTables: number;
  /** Tables diffed row by row (pages differ), whether or not a row differed. */
  diffedTables: string[];
  /** Of those, the tables diffed on their changed leaves only; the others were joined whole. */
  leafDiffedTables: string[];
  /** How the tables' pages were found: a walk of the interior pages, or dbstat (a changed overflow page). */
  pagesFrom: 'interior walk' | 'dbstat' | 'none';
  rows: { inserts: number; updates: number; deletes: number; total: number };
  pages: { total: number; changed: number };
  seconds: number;
}

const id = (name: string) => pg.escapeIdentifier(name);

export function canonicalTable(table: TableModel): CanonicalTable {
  return {
    name: table.name,
    key: table.key,
    columns: manifestColumns(table),
  };
}

interface SchemaEntry {
  type: string;
  name: string;
  tbl_name: string;
  rootpage: number;
  sql: string | null;
}

function schemaEntries(db: Database.Database): SchemaEntry[] {
  return db.prepare(loadSql('online-delta-sqlite-schema')).all() as SchemaEntry[];
}

/** A one-line description of how the schemas differ, or undefined when the SQL of every object is the same. */
export function schemaDifference(older: Database.Database, newer: Database.Database): string | undefined {
  const a = new Map(schemaEntries(older).map((e) => [`${e.type} ${e.name}`, e.sql]));
  const b = new Map(schemaEntries(newer).map((e) => [`${e.type} ${e.name}`, e.sql]));
  for (const [name, sql] of b) {
    if (!a.has(name)) return `${name} was created`;
    if (a.get(name) !== sql) return `${name} was altered`;
  }
  for (const name of a.keys()) if (!b.has(name)) return `${name} was dropped`;
  return undefined;
}

function pragmaNumber(db: Database.Database, sql: string): number {
  return Number(db.prepare(loadSql(sql)).pluck().get());
}

interface RowTools {
  newRow: ReturnType<typeof canonicalRowOf>;
  oldRow: ReturnType<typeof canonicalRowOf>;
  /** A row of the newer snapshot whose text decoded to U+FFFD is proven real from its bytes, or refused. */
  utf8Checked: (row: SqliteValue[]) => SqliteValue[];
}

function rowTools(
  newer: Database.Database,
  older: Database.Database,
  model: TableModel,
  enums: Record<string, string[]>,
): RowTools {
  const table = canonicalTable(model);
  const columns = model.columns.map((c) => c.name);
  const key = model.key.length ? model.key : columns;
  const newRow = canonicalRowOf(newer, table, enums);
  const oldRow = canonicalRowOf(older, table, enums);
  // The rows leave this function, and the database with them: text decoded to U+FFFD is proven real here or refused.
  const newBytes = createCellBytesReader(newer, model.name, columns, key);
  const utf8Checked = (row: SqliteValue[]): SqliteValue[] => {
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      if (typeof v !== 'string' || !v.includes('\uFFFD')) continue;
      const bytes = newBytes(row, i);
      const text = bytes ? decodeTextBytes(bytes) : v;
      if (typeof text !== 'string')
        throw sourceProblem(
          `table "${model.name}", column "${columns[i]}": a row written while the app ran ${text.reason}`,
        );
    }
    return row;
  };
  return { newRow, oldRow, utf8Checked };
}

/** Only the rows at these rowids (JSON arrays of integers) of each snapshot are diffed. */
interface RowidRestriction {
  rowid: string;
  newer: string;
  older: string;
}

/**
 * The row-by-row difference of one table (each connection has the other snapshot attached as `other`), or of the
 * rows at the rowids `at` names.
 */
function diffTable(
  newer: Database.Database,
  older: Database.Database,
  model: TableModel,
  enums: Record<string, string[]>,
  at?: RowidRestriction,
): TableDelta {
  const columns = model.columns.map((c) => c.name);
  const key = model.key.length ? model.key : columns;
  const eq = keyMayBeNull(model, key) ? 'IS' : '=';
  const match = key.map((k) => `a.${id(k)} ${eq} b.${id(k)} COLLATE BINARY`).join(' AND ');
  const floatish = new Set(model.columns.filter((c) => c.kind === 'float' || c.kind === 'decimal').map((c) => c.name));
  // Same storage class and equal under BINARY is the same value, except +0.0 = -0.0: those rows get compared fully.
  const differs = columns
    .map((c) => {
      const both = `a.${id(c)} IS NOT b.${id(c)} COLLATE BINARY OR typeof(a.${id(c)}) IS NOT typeof(b.${id(c)})`;
      return floatish.has(c) ? `${both} OR (typeof(a.${id(c)}) = 'real' AND a.${id(c)} = 0)` : both;
    })
    .join(' OR ');
  const fragments = {
    table: id(model.name),
    new_columns: columns.map((c) => `a.${id(c)}`).join(', '),
    old_columns: columns.map((c) => `b.${id(c)}`).join(', '),
    columns: columns.map((c) => `b.${id(c)}`).join(', '),
    match,
    differs,
    ...(at ? { rowid: id(at.rowid) } : {}),
  };
  const { newRow, oldRow, utf8Checked } = rowTools(newer, older, model, enums);
  const delta: TableDelta = { table: model.name, inserts: [], updates: [], deletes: [], hashOut: 0n, hashIn: 0n };
  const n = columns.length;
  const changed = newer.prepare(
    sqlWithIdentifiers(at ? 'online-delta-sqlite-changed-at' : 'online-delta-sqlite-changed', fragments),
  );
  changed.raw(true).safeIntegers(true);
  const keyIndexes = key.map((k) => columns.indexOf(k));
  for (const row of (at ? changed.iterate(at.newer) : changed.iterate()) as IterableIterator<SqliteValue[]>) {
    const fresh = row.slice(0, n);
    const before = row.slice(n);
    // No row of the older snapshot has this key (a key column is never NULL in a matched row of a keyed table).
    const inserted = keyIndexes.every((i) => before[i] === null);
    const now = newRow(fresh);
    if (inserted) {
      delta.inserts.push(utf8Checked(fresh));
      delta.hashIn += now.hash;
      continue;
    }
    const then = oldRow(before);
    if (then.hash === now.hash && then.fields.every((f, i) => f === now.fields[i])) continue;
    delta.hashOut += then.hash;
    delta.hashIn += now.hash;
    if (then.keyText === now.keyText) delta.updates.push(utf8Checked(fresh));
    else {
      delta.deletes.push(before);
      delta.inserts.push(utf8Checked(fresh));
    }
  }
  // Rows of the older snapshot no row of the newer one matches by key: deleted (or their key changed).
  const gone = older.prepare(
    sqlWithIdentifiers(at ? 'online-delta-sqlite-deleted-at' : 'online-delta-sqlite-deleted', fragments),
  );
  gone.raw(true).safeIntegers(true);
  for (const row of (at ? gone.iterate(at.older) : gone.iterate()) as IterableIterator<SqliteValue[]>) {
    delta.deletes.push(row);
    delta.hashOut += oldRow(row).hash;
  }
  return delta;
}

/** A name the table's rowid can be read by, unless columns of the table take all three. */
function rowidAlias(model: TableModel): string | undefined {
  const taken = new Set(model.columns.map((c) => c.name.toLowerCase()));
  return ['rowid', '_rowid_', 'oid'].find((alias) => !taken.has(alias));
}

/** Rowids on one table's changed leaves, both snapshots together, beyond which the whole table is joined. */
const MAX_LEAF_DIFF_ROWS = 100_000;

interface PageDiffInput {
  newerFile: string;
  olderFile: string;
  pageSize: number;
  changed: Set<number>;
  newerPages: TablePages;
  olderPages: TablePages | undefined;
  /** Both files' pages: a leaf is stable only when it is a leaf of the same table in the other file too. */
  filePages: { newer: FilePages; older: FilePages };
}

/**
 * The difference of one table restricted to the rows on its changed leaves (lib/sqlite/btree-pages.ts): the newer
 * snapshot's rows there joined by key to the whole older table, and the older snapshot's rows there whose key the
 * newer table lacks. Every row on another leaf is the same row, same rowid, in both snapshots, so it is neither
 * changed nor gone. Undefined when the table cannot be read this way (no unique non-null key, no rowid, or a leaf
 * that is not a table leaf): the caller joins the whole table.
 */
function diffChangedLeaves(
  newer: Database.Database,
  older: Database.Database,
  model: TableModel,
  enums: Record<string, string[]>,
  input: PageDiffInput,
): TableDelta | undefined {
  const alias = rowidAlias(model);
  const uniqueKey = model.key.length > 0 && !keyMayBeNull(model, model.key);
  if (!alias || !uniqueKey) return undefined;
  const newLeaves = changedLeaves(input.newerPages, input.filePages.older, input.changed);
  const oldLeaves = input.olderPages ? changedLeaves(input.olderPages, input.filePages.newer, input.changed) : [];
  // Past the table's leaf count (both sides counted: a VACUUM, a bulk change) the plain join is as cheap, and the
  // rowid lists (held in memory) are capped.
  if (newLeaves.length + oldLeaves.length > input.newerPages.leaves.length) return undefined;
  const newRowids = leafRowids(input.newerFile, input.pageSize, newLeaves);
  const oldRowids = leafRowids(input.olderFile, input.pageSize, oldLeaves);
  if (!newRowids || !oldRowids || newRowids.length + oldRowids.length > MAX_LEAF_DIFF_ROWS) return undefined;
  const list = (rowids: bigint[]) => `[${rowids.join(',')}]`;
  return diffTable(newer, older, model, enums, { rowid: alias, newer: list(newRowids), older: list(oldRowids) });
}

/**
 * The delta from `olderFile` to `newerFile` for the tables of `model`. A schema change between them is a source
 * problem (the target was built for the older schema).
 */
export function snapshotDelta(olderFile: string, newerFile: string, model: SchemaModel): SnapshotDelta {
  const started = performance.now();
  const newer = new Database(newerFile, { readonly: true, fileMustExist: true });
  const older = new Database(olderFile, { readonly: true, fileMustExist: true });
  try {
    const change = schemaDifference(older, newer);
    if (change)
      throw sourceProblem(
        `the SQLite schema changed while the app ran (${change}): the copy on PostgreSQL was made for the old schema; nothing was switched`,
      );
    const pageSize = pragmaNumber(newer, 'online-delta-sqlite-page-size');
    const samePageSize = pageSize === pragmaNumber(older, 'online-delta-sqlite-page-size');
    const names = new Set(model.tables.map((t) => t.name));
    const total = Math.ceil(statSync(newerFile).size / pageSize);
    const compared = samePageSize ? comparePages(olderFile, newerFile, pageSize) : undefined;
    const pages = compared?.changed;
    const roots = new Map(schemaEntries(older).map((e) => [e.name, e.rootpage]));
    const moved = new Set(
      schemaEntries(newer)
        .filter((e) => e.type === 'table' && roots.get(e.name) !== e.rootpage)
        .map((e) => e.name),
    );
    const rootsOf = (db: Database.Database) =>
      new Map([
        ['sqlite_schema', 1],
        ...schemaEntries(db)
          .filter((e) => e.rootpage > 0)
          .map((e): [string, number] => [e.name, e.rootpage]),
      ]);
    const bothPages = compared
      ? bothFilesPages(
          { older: olderFile, newer: newerFile },
          { older, newer },
          pageSize,
          { older: rootsOf(older), newer: rootsOf(newer) },
          names,
          compared,
        )
      : undefined;
    const newerPages = bothPages?.newer.tables;
    const changedNames = new Set(
      newerPages ? [...names].filter((n) => (newerPages.get(n)?.all ?? []).some((p) => pages!.has(p))) : names,
    );
    for (const m of moved) if (names.has(m)) changedNames.add(m);
    const olderPages = bothPages?.older.tables;
    newer.prepare(loadSql('online-delta-sqlite-attach')).run(olderFile);
    older.prepare(loadSql('online-delta-sqlite-attach')).run(newerFile);
    const tables: TableDelta[] = [];
    const diffedTables: string[] = [];
    const leafDiffedTables: string[] = [];
    for (const t of model.tables) {
      if (!changedNames.has(t.name)) continue;
      diffedTables.push(t.name);
      const onPages =
        pages && bothPages && !moved.has(t.name) && newerPages?.get(t.name)
          ? diffChangedLeaves(newer, older, t, model.enums, {
              newerFile,
              olderFile,
              pageSize,
              changed: pages,
              newerPages: newerPages.get(t.name)!,
              olderPages: olderPages?.get(t.name),
              filePages: { newer: bothPages.newer, older: bothPages.older },
            })
          : undefined;
      if (onPages) leafDiffedTables.push(t.name);
      const d = onPages ?? diffTable(newer, older, t, model.enums);
      if (d.inserts.length || d.updates.length || d.deletes.length) tables.push(d);
    }
    const sum = (f: (d: TableDelta) => number) => tables.reduce((n, d) => n + f(d), 0);
    const rows = {
      inserts: sum((d) => d.inserts.length),
      updates: sum((d) => d.updates.length),
      deletes: sum((d) => d.deletes.length),
      total: 0,
    };
    rows.total = rows.inserts + rows.updates + rows.deletes;
    return {
      tables,
      unchangedTables: model.tables.length - diffedTables.length,
      diffedTables,
      leafDiffedTables,
      pagesFrom: bothPages ? (bothPages.walked ? 'interior walk' : 'dbstat') : 'none',
      rows,
      pages: { total, changed: pages?.size ?? total },
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    newer.close();
    older.close();
  }
}
