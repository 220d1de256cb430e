import type Database from './driver.ts';
import { escapeIdentifier } from 'pg';
import { sourceProblem, usageError } from '../errors.ts';
import { loadSql, sqlWithIdentifiers } from '../files/sql-files.ts';
import type { SchemaModel, TableModel } from '../prisma/schema-model.ts';
import { preview, type SqliteValue } from './values.ts';
import { rowidArray, type RowTreatment } from './table-scan.ts';

/**
 * Orphan rows: children whose parent was deleted while SQLite's foreign_keys was OFF. PostgreSQL refuses them when
 * it validates the foreign key, so export-sqlite finds them on the snapshot first (PRAGMA foreign_key_check, read
 * only) and applies the operator's `--orphans` choice: refuse (default), null (the orphan's foreign-key columns
 * loaded as NULL; nullable relations only) or delete (the orphans left out, and every row depending on them).
 * What it decides is a RowTreatment per table, recorded in the manifest, so load-pg and verify read the same rows.
 */
export const ORPHAN_MODES = ['refuse', 'null', 'delete'] as const;
export type OrphanMode = (typeof ORPHAN_MODES)[number];

/** `--orphans` as given (undefined: refuse), or a usage error naming the choices. */
export function parseOrphanMode(raw: unknown): OrphanMode | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw === 'string' && (ORPHAN_MODES as readonly string[]).includes(raw)) return raw as OrphanMode;
  throw usageError(`--orphans must be ${ORPHAN_MODES.join(', ')}, got "${String(raw)}"`);
}

/** One foreign key of the snapshot with rows pointing at no parent row. */
export interface OrphanForeignKey {
  /** The constraint's name (as PostgreSQL will have it). */
  name: string;
  table: string;
  columns: string[];
  refTable: string;
  refColumns: string[];
  count: number;
  /** Up to three of its rows: `id=7: accountId=3`. */
  examples: string[];
}

/** What export-sqlite found and did, as manifest.json keeps it (load-pg and verify apply `tables`). */
export interface OrphanReport {
  mode: OrphanMode;
  foreignKeys: OrphanForeignKey[];
  /** Rows loaded with foreign-key columns NULL / rows left out (orphans and the rows depending on them). */
  nulledRows: number;
  leftOutRows: number;
  /** The run-dir file listing every nulled or left-out row with its original values (JSON lines). */
  file?: string;
  /** Table → the rows treated; empty when nothing was (no orphans, or refused). */
  tables: Record<string, RowTreatment>;
}

/** One line of orphans.jsonl. */
export interface OrphanRowEntry {
  table: string;
  action: 'nulled' | 'left out';
  /** The row's key (the schema model's key columns) as text, null for NULL. */
  key: Record<string, string | null>;
  rowid: string;
  /** Why: the orphaned foreign key, or the left-out row this one depends on. */
  reason: string;
  /** Columns set to NULL (action nulled). */
  nulledColumns?: string[];
  /** Every column's original value: numbers, text, `\x…` hex for bytes, null. */
  values: Record<string, unknown>;
}

interface SqliteForeignKey {
  id: number;
  table: string;
  columns: string[];
  refTable: string;
  refColumns: string[];
  name: string;
}

interface Found {
  fk: SqliteForeignKey;
  rowids: string[];
}

/** The snapshot's foreign keys between tables the schema loads, by child table and SQLite's fkid. */
function foreignKeysOf(db: Database.Database, model: SchemaModel): Map<string, SqliteForeignKey[]> {
  const loaded = new Set(model.tables.map((t) => t.name));
  const list = db.prepare(loadSql('sqlite-foreign-key-list'));
  const pk = db.prepare(loadSql('sqlite-primary-key')).pluck();
  const ddl = db.prepare(loadSql('sqlite-table-ddl')).pluck();
  const out = new Map<string, SqliteForeignKey[]>();
  for (const table of model.tables) {
    const rows = list.all(table.name) as { id: number; parent: string; col: string; ref: string | null }[];
    const byId = new Map<number, SqliteForeignKey>();
    for (const r of rows) {
      let fk = byId.get(r.id);
      if (!fk) {
        fk = { id: r.id, table: table.name, columns: [], refTable: r.parent, refColumns: [], name: '' };
        byId.set(r.id, fk);
      }
      fk.columns.push(r.col);
      if (r.ref !== null) fk.refColumns.push(r.ref);
    }
    const names = constraintNames((ddl.get(table.name) as string | undefined) ?? '');
    const keys = [...byId.values()].filter((fk) => loaded.has(fk.refTable));
    for (const fk of keys) {
      if (fk.refColumns.length === 0) fk.refColumns = pk.all(fk.refTable) as string[];
      // Prisma writes `CONSTRAINT "<name>" FOREIGN KEY (…)` in SQLite too; its default name when none is found.
      fk.name = names.get(fk.columns.join('\u0000')) ?? `${table.name}_${fk.columns.join('_')}_fkey`;
    }
    out.set(table.name, keys);
  }
  return out;
}

/** Constraint names in a CREATE TABLE statement, by their column list. */
function constraintNames(sql: string): Map<string, string> {
  const names = new Map<string, string>();
  const unquote = (s: string) => {
    const t = s.trim();
    if (/^".*"$/s.test(t)) return t.slice(1, -1).replace(/""/g, '"');
    if (/^(`.*`|\[.*\])$/s.test(t)) return t.slice(1, -1);
    return t;
  };
  const re = /CONSTRAINT\s+("(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\]|\w+)\s+FOREIGN\s+KEY\s*\(([^)]*)\)/gi;
  for (const m of sql.matchAll(re)) names.set(m[2].split(',').map(unquote).join('\u0000'), unquote(m[1]));
  return names;
}

/** JSON form of one SQLite value for orphans.jsonl. */
function jsonValue(v: SqliteValue): unknown {
  if (typeof v === 'bigint')
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : String(v);
  if (Buffer.isBuffer(v)) return `\\x${v.toString('hex')}`;
  return v;
}

/** The rows of `table` with these rowids: rowid → values in the model's column order. */
function rowsByRowid(db: Database.Database, table: TableModel, rowids: string[]): Map<string, SqliteValue[]> {
  const sql = sqlWithIdentifiers('sqlite-rows-by-rowid', {
    columns: table.columns.map((c) => escapeIdentifier(c.name)).join(', '),
    table: escapeIdentifier(table.name),
  });
  const out = new Map<string, SqliteValue[]>();
  for (const row of db.prepare(sql).raw(true).safeIntegers(true).iterate(rowidArray(rowids)) as IterableIterator<
    SqliteValue[]
  >)
    out.set(String(row[0]), row.slice(1));
  return out;
}

function keyOf(table: TableModel, values: SqliteValue[]): Record<string, string | null> {
  const key: Record<string, string | null> = {};
  for (const k of table.key) {
    const v = values[table.columns.findIndex((c) => c.name === k)];
    key[k] = v === null || v === undefined ? null : preview(v);
  }
  return key;
}

const keyLine = (key: Record<string, string | null>) =>
  Object.entries(key)
    .map(([k, v]) => `${k}=${v ?? 'NULL'}`)
    .join(' ');

/**
 * Every foreign key of the snapshot with orphan rows (between tables the schema loads), with its count, three
 * examples and the orphans' rowids. A WITHOUT ROWID table's orphans cannot be named by rowid: a source problem.
 */
export function findOrphanRows(db: Database.Database, model: SchemaModel): Found[] {
  const violations = db.prepare(loadSql('sqlite-foreign-key-check')).safeIntegers(true).all() as {
    table: string;
    rowid: bigint | null;
    parent: string;
    fkid: bigint;
  }[];
  if (!violations.length) return [];
  const fks = foreignKeysOf(db, model);
  const found = new Map<SqliteForeignKey, string[]>();
  for (const v of violations) {
    const fk = fks.get(v.table)?.find((k) => k.id === Number(v.fkid));
    if (!fk) continue; // a table or parent the schema does not load: PostgreSQL gets no such key
    if (v.rowid === null)
      throw sourceProblem(
        `table "${v.table}" (a WITHOUT ROWID table) has rows pointing at no "${v.parent}" row; fix them in the app's SQLite, then backup again`,
      );
    const rowids = found.get(fk) ?? [];
    rowids.push(String(v.rowid));
    found.set(fk, rowids);
  }
  return [...found].map(([fk, rowids]) => ({ fk, rowids }));
}

/** The manifest's view of what was found (counts and three examples per key). */
export function describeOrphans(db: Database.Database, model: SchemaModel, found: Found[]): OrphanForeignKey[] {
  return found.map(({ fk, rowids }) => {
    const table = model.tables.find((t) => t.name === fk.table)!;
    const rows = rowsByRowid(db, table, rowids.slice(0, 3));
    const examples = [...rows.values()].map((values) => {
      const cols = fk.columns
        .map((c) => `${c}=${preview(values[table.columns.findIndex((m) => m.name === c)] ?? null)}`)
        .join(', ');
      return `${keyLine(keyOf(table, values))}: ${cols}`;
    });
    return {
      name: fk.name,
      table: fk.table,
      columns: fk.columns,
      refTable: fk.refTable,
      refColumns: fk.refColumns,
      count: rowids.length,
      examples,
    };
  });
}

/** The one-line refusal (exit 4): the first key with orphans, how many, a few keys, and the two ways on. */
export function orphanRefusal(foreignKeys: OrphanForeignKey[]): string {
  const [first] = foreignKeys;
  const more =
    foreignKeys.length > 1
      ? ` (+${foreignKeys.length - 1} more foreign key${foreignKeys.length > 2 ? 's' : ''}: ${foreignKeys
          .slice(1)
          .map((k) => k.name)
          .join(', ')})`
      : '';
  return (
    `foreign key "${first.name}" is violated by the snapshot's data: ${first.count} row${first.count === 1 ? '' : 's'} of "${first.table}" ` +
    `(${first.examples.join('; ')}${first.count > first.examples.length ? '; …' : ''}) point${first.count === 1 ? 's' : ''} at no "${first.refTable}" row through ${first.columns.join(', ')} ` +
    `(children whose parent was deleted while foreign_keys was OFF)${more}: pass --orphans=null to load them with ${first.columns.join(', ')} NULL ` +
    `(nullable relations only) or --orphans=delete to leave them and the rows depending on them out (both listed in the run dir), or fix them in the app's SQLite and backup again`
  );
}

/**
 * The rows to treat for `mode` (null or delete), and one orphans.jsonl entry per treated row. null: every column
 * of each orphaned key must be nullable (a usage error naming the field otherwise). delete: the orphans, then every
 * row pointing at a left-out row through any foreign key, until none is added.
 */
export function planOrphanTreatment(
  db: Database.Database,
  model: SchemaModel,
  found: Found[],
  mode: 'null' | 'delete',
): { tables: Record<string, RowTreatment>; entries: OrphanRowEntry[]; nulledRows: number; leftOutRows: number } {
  const tableOf = (name: string) => model.tables.find((t) => t.name === name)!;
  const tables: Record<string, RowTreatment> = {};
  const treatmentOf = (name: string) => (tables[name] ??= { leftOut: [], nulled: {} });
  const reasons = new Map<string, Map<string, { reason: string; columns: string[] }>>();
  const note = (table: string, rowid: string, reason: string, columns: string[] = []) => {
    const byRow = reasons.get(table) ?? new Map<string, { reason: string; columns: string[] }>();
    reasons.set(table, byRow);
    const seen = byRow.get(rowid);
    if (seen) {
      seen.columns.push(...columns.filter((c) => !seen.columns.includes(c)));
      return false;
    }
    byRow.set(rowid, { reason, columns: [...columns] });
    return true;
  };
  const describe = (fk: SqliteForeignKey) =>
    `foreign key "${fk.name}": ${fk.columns.join(', ')} points at no "${fk.refTable}" row`;

  if (mode === 'null') {
    for (const { fk, rowids } of found) {
      const table = tableOf(fk.table);
      const required = fk.columns.map((c) => table.columns.find((m) => m.name === c)!).find((c) => !c.nullable);
      if (required)
        throw usageError(
          `--orphans=null: field ${table.model}.${required.field} ("${table.name}"."${required.name}", ${required.prismaType}) is required, so the ${rowids.length} row${rowids.length === 1 ? '' : 's'} of foreign key "${fk.name}" cannot have it NULL; use --orphans=delete, or fix them in the app's SQLite`,
        );
      const treatment = treatmentOf(fk.table);
      for (const column of fk.columns)
        treatment.nulled[column] = [...new Set([...(treatment.nulled[column] ?? []), ...rowids])];
      for (const rowid of rowids) note(fk.table, rowid, describe(fk), fk.columns);
    }
  } else {
    const fks = foreignKeysOf(db, model);
    const children = [...fks.values()].flat();
    let frontier = new Map<string, string[]>();
    for (const { fk, rowids } of found)
      for (const rowid of rowids)
        if (note(fk.table, rowid, describe(fk))) frontier.set(fk.table, [...(frontier.get(fk.table) ?? []), rowid]);
    while (frontier.size) {
      const next = new Map<string, string[]>();
      for (const [parent, rowids] of frontier) {
        treatmentOf(parent).leftOut.push(...rowids);
        for (const fk of children.filter((k) => k.refTable === parent)) {
          const sql = sqlWithIdentifiers('sqlite-orphan-dependants', {
            table: escapeIdentifier(fk.table),
            refTable: escapeIdentifier(parent),
            join: fk.columns
              .map((c, i) => `c.${escapeIdentifier(c)} = p.${escapeIdentifier(fk.refColumns[i])}`)
              .join(' AND '),
          });
          const dependants = db.prepare(sql).pluck().safeIntegers(true).all(rowidArray(rowids)) as bigint[];
          const parentKeys = [...rowsByRowid(db, tableOf(parent), rowids.slice(0, 1)).values()];
          const reason = `depends on a left-out "${parent}" row${parentKeys.length ? ` (${keyLine(keyOf(tableOf(parent), parentKeys[0]))}${rowids.length > 1 ? ' or another' : ''})` : ''} through foreign key "${fk.name}"`;
          for (const d of dependants.map(String))
            if (note(fk.table, d, reason)) next.set(fk.table, [...(next.get(fk.table) ?? []), d]);
        }
      }
      frontier = next;
    }
  }

  const entries: OrphanRowEntry[] = [];
  let nulledRows = 0;
  let leftOutRows = 0;
  for (const [name, byRow] of [...reasons].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const table = tableOf(name);
    const rows = rowsByRowid(db, table, [...byRow.keys()]);
    for (const [rowid, values] of rows) {
      const { reason, columns } = byRow.get(rowid)!;
      entries.push({
        table: name,
        action: mode === 'null' ? 'nulled' : 'left out',
        key: keyOf(table, values),
        rowid,
        reason,
        ...(mode === 'null' ? { nulledColumns: columns } : {}),
        values: Object.fromEntries(table.columns.map((c, i) => [c.name, jsonValue(values[i])])),
      });
    }
    if (mode === 'null') nulledRows += rows.size;
    else leftOutRows += rows.size;
  }
  return { tables, entries, nulledRows, leftOutRows };
}

/** The report without the rowid lists: what summaries and --json show. */
export function orphanOutline(report: OrphanReport): Omit<OrphanReport, 'tables'> {
  const { tables: _tables, ...outline } = report;
  return outline;
}

/** What `--orphans` did, for summaries: counts and the run-dir file. */
export function orphanSummary(o: Pick<OrphanReport, 'mode' | 'nulledRows' | 'leftOutRows' | 'file'>): string {
  return o.mode === 'null'
    ? `${o.nulledRows} orphan row${o.nulledRows === 1 ? '' : 's'} loaded with the foreign key NULL (--orphans=null; listed in ${o.file})`
    : `${o.leftOutRows} row${o.leftOutRows === 1 ? '' : 's'} left out: orphans and the rows depending on them (--orphans=delete; listed in ${o.file})`;
}
