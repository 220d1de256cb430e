import { targetSideError } from '../pg/target-errors.ts';
import Database from '../sqlite/driver.ts';
import pgModule from 'pg';
import type pg from 'pg';
import type { Manifest, ManifestTable } from '../sqlite/manifest.ts';
import type { RowTreatment } from '../sqlite/table-scan.ts';
import { orphanOutline, orphanSummary } from '../sqlite/orphans.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../cli/log.ts';
import { pgBucketRows, pgBucketSums, pgRowCount, pgTableHash, type HashTable } from '../pg/content-hash.ts';
import { loadSql, sqlWithIdentifiers } from '../files/sql-files.ts';
import { loadSchemaModel, type ColumnKind } from '../prisma/schema-model.ts';
import { PROBLEM_PREFIX, sqliteBucketRows, sqliteBucketSums, type CanonicalTable } from '../sqlite/canonical-rows.ts';
import {
  fmt,
  pgSchemaFile,
  runOnConnections,
  secondsSince,
  snapshotFile,
  type GateName,
  type GateReport,
} from './gate-report.ts';

/**
 * The counts and content gates: row counts and canonical content hashes of every table on both sides, the table
 * sets compared, and a mismatch narrowed by key buckets down to the rows that differ, with both sides' values.
 */
interface TableOutcome {
  table: string;
  expectedRows: number;
  actualRows?: number;
  expectedHash: string;
  actualHash?: string;
  error?: string;
}

export interface FieldDifference {
  column: string;
  sqlite: string;
  postgres: string;
}

export interface RowDifference {
  table: string;
  /** `col=value, …` of the key columns. */
  key: string;
  status: 'changed' | 'missing in PostgreSQL' | 'extra in PostgreSQL';
  columns?: FieldDifference[];
}

export interface TableDifference {
  table: string;
  differingBuckets: number;
  rows: RowDifference[];
  note?: string;
}

/** Canonical field text → what an operator reads: NULL, the value (strings quoted), or the conversion problem. */
export function showField(field: string | undefined, kind?: ColumnKind): string {
  if (field === undefined) return '(absent)';
  if (field === 'N') return 'NULL';
  if (field.startsWith(PROBLEM_PREFIX)) return `(not convertible: ${field.slice(PROBLEM_PREFIX.length)})`;
  const value = field.slice(1);
  const cut = (v: string) => (v.length > 200 ? `${v.slice(0, 200)}… (${v.length} chars)` : v);
  switch (kind) {
    case 'datetime': {
      const date = /^-?\d+$/.test(value) ? new Date(Number(value)) : undefined;
      return date && !Number.isNaN(date.getTime()) ? `${date.toISOString()} (${value} ms)` : value;
    }
    case 'float':
      // The canonical form is the IEEE-754 bits; show the number too (bits tell 0.1+0.2 from 0.3).
      return /^[0-9a-f]{16}$/.test(value) ? `${Buffer.from(value, 'hex').readDoubleBE(0)} (0x${value})` : value;
    case 'bytes':
      return `\\x${cut(value)}`;
    case 'int':
    case 'bigint':
    case 'decimal':
    case 'boolean':
    case 'json':
      return cut(value);
    default:
      return JSON.stringify(cut(value));
  }
}

function keyLabel(table: ManifestTable, fields: string[]): string {
  const keyCols = table.key.length ? table.key : table.columns.map((c) => c.name);
  return keyCols
    .map((k) => {
      const i = table.columns.findIndex((c) => c.name === k);
      const f = fields[i];
      return `${k}=${f === undefined ? '?' : f === 'N' ? 'NULL' : f.startsWith('V') ? f.slice(1) : f}`;
    })
    .join(', ');
}

const MAX_ROW_DIFFS = 5;

const MAX_BUCKETS = 4;

const MAX_TABLES_NARROWED = 3;

async function narrowTable(
  client: pg.Client,
  db: Database.Database,
  pgSchema: string,
  table: ManifestTable,
  enums: Record<string, string[]>,
  treatment: RowTreatment | undefined,
): Promise<TableDifference> {
  const hashTable: HashTable = { name: table.name, columns: table.columns, key: table.key };
  const canonical: CanonicalTable = { name: table.name, columns: table.columns, key: table.key, treatment };
  const [pgSums, sqliteSums] = await Promise.all([
    pgBucketSums(client, pgSchema, hashTable),
    Promise.resolve().then(() => sqliteBucketSums(db, canonical, enums)),
  ]);
  const buckets = [...new Set([...pgSums.keys(), ...sqliteSums.keys()])]
    .filter((b) => {
      const a = pgSums.get(b);
      const s = sqliteSums.get(b);
      return !a || !s || a.sum !== s.sum || a.rowCount !== s.rowCount;
    })
    .sort();
  if (!buckets.length) {
    return {
      table: table.name,
      differingBuckets: 0,
      rows: [],
      note: 'the snapshot and PostgreSQL agree bucket by bucket: the manifest does not match this snapshot (re-run export-sqlite)',
    };
  }
  const chosen = buckets.slice(0, MAX_BUCKETS);
  const pgRows = await pgBucketRows(client, pgSchema, hashTable, chosen);
  const sqliteRows = sqliteBucketRows(db, canonical, enums, new Set(chosen));
  const rows: RowDifference[] = [];
  const keys = [...new Set([...sqliteRows.keys(), ...pgRows.keys()])].sort();
  for (const keyText of keys) {
    if (rows.length >= MAX_ROW_DIFFS) break;
    const s = sqliteRows.get(keyText);
    const p = pgRows.get(keyText);
    if (s && p) {
      if (s.hash === p.hash) continue;
      const columns: FieldDifference[] = [];
      table.columns.forEach((c, i) => {
        if (s.fields[i] !== p.fields[i])
          columns.push({
            column: c.name,
            sqlite: showField(s.fields[i], c.kind),
            postgres: showField(p.fields[i], c.kind),
          });
      });
      rows.push({ table: table.name, key: keyLabel(table, s.fields), status: 'changed', columns });
    } else if (s) {
      rows.push({ table: table.name, key: keyLabel(table, s.fields), status: 'missing in PostgreSQL' });
    } else if (p) {
      rows.push({ table: table.name, key: keyLabel(table, p.fields), status: 'extra in PostgreSQL' });
    }
  }
  return { table: table.name, differingBuckets: buckets.length, rows };
}

export function describeRowDifference(d: RowDifference): string {
  if (d.status !== 'changed') return `"${d.table}" row ${d.key} is ${d.status}`;
  const cols = (d.columns ?? []).map((c) => `${c.column}: SQLite ${c.sqlite} ≠ PostgreSQL ${c.postgres}`).join('; ');
  return `"${d.table}" row ${d.key} differs: ${cols}`;
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * The table sets of both sides: every SQLite table of the snapshot is in the manifest or named there as not migrated
 * (a view, _prisma_migrations, an --exclude-table), and every PostgreSQL table is in the manifest (or is Prisma's
 * _prisma_migrations). A table loaded nowhere, or created on PostgreSQL and left empty, can never pass.
 */
export async function tableSetMismatches(
  client: pg.Client,
  manifest: Manifest,
  runDir: string,
  pgSchema: string,
): Promise<string[]> {
  const inManifest = new Set(manifest.tables.map((t) => t.name));
  const notMigrated = new Map((manifest.notMigrated ?? []).map((n) => [n.name, n]));
  const out: string[] = [];
  const snapshot = snapshotFile(runDir, manifest);
  if (snapshot) {
    const db = new Database(snapshot, { readonly: true, fileMustExist: true });
    try {
      for (const name of db.prepare(loadSql('export-sqlite-tables')).pluck().all() as string[]) {
        if (inManifest.has(name) || notMigrated.has(name) || /^sqlite_/.test(name) || name === '_prisma_migrations')
          continue;
        const rows = Number(
          db
            .prepare(sqlWithIdentifiers('sqlite-count', { table: pgModule.escapeIdentifier(name) }))
            .pluck()
            .get(),
        );
        out.push(
          `SQLite table "${name}" (${fmt(rows)} rows) is neither loaded nor named as not migrated in the manifest: run export-sqlite again`,
        );
      }
    } finally {
      db.close();
    }
  }
  const pgTables = (await client.query<{ name: string }>(loadSql('verify-schema-tables'), [pgSchema])).rows.map(
    (r) => r.name,
  );
  for (const name of pgTables) {
    if (inManifest.has(name) || name === '_prisma_migrations') continue;
    const why = notMigrated.get(name);
    out.push(
      `PostgreSQL table "${name}" has no rows from SQLite: ${why ? `the manifest says ${why.reason}` : 'the manifest does not list it (a model export-sqlite did not load?)'}`,
    );
  }
  return out;
}

export async function tableGates(
  clients: pg.Client[],
  manifest: Manifest,
  runDir: string,
  pgSchema: string,
  gates: GateName[],
  appSchemaPath: string,
  log: Logger,
): Promise<GateReport[]> {
  const started = Date.now();
  const withContent = gates.includes('content');
  const outcomes = new Map<string, TableOutcome>();
  const jobs = [...manifest.tables].sort((a, b) => b.rowCount - a.rowCount);
  const totalRows = manifest.tables.reduce((n, t) => n + t.rowCount, 0);
  let doneTables = 0;
  let doneRows = 0;
  await runOnConnections(clients, jobs, async (client, table) => {
    const outcome: TableOutcome = { table: table.name, expectedRows: table.rowCount, expectedHash: table.contentHash };
    try {
      if (withContent) {
        const hash = await pgTableHash(client, pgSchema, { name: table.name, columns: table.columns, key: table.key });
        outcome.actualRows = hash.rowCount;
        outcome.actualHash = hash.contentHash;
      } else {
        outcome.actualRows = await pgRowCount(client, pgSchema, table.name);
      }
    } catch (err) {
      // The server cut the query short (timeout, disk, privileges): the target's problem, not a mismatch.
      const targetErr = targetSideError(err, `verify ${withContent ? 'content' : 'counts'} on table "${table.name}"`);
      if (targetErr) throw targetErr;
      const e = err as { code?: string };
      outcome.error =
        e.code === '42P01'
          ? `table "${table.name}" does not exist in PostgreSQL`
          : e.code === '42703'
            ? `a column of "${table.name}" does not exist in PostgreSQL: ${errorMessage(err)}`
            : errorMessage(err);
    }
    outcomes.set(table.name, outcome);
    doneTables++;
    doneRows += table.rowCount;
    const pct = totalRows ? Math.floor((doneRows / totalRows) * 100) : 100;
    log.progress(
      `verify ${withContent ? 'content' : 'counts'}: ${doneTables}/${jobs.length} tables, ${fmt(doneRows)}/${fmt(totalRows)} rows (${pct}%), last "${table.name}"`,
    );
  });
  const ordered = manifest.tables.map((t) => outcomes.get(t.name)!);
  const tableSeconds = secondsSince(started);
  const reports: GateReport[] = [];

  if (gates.includes('counts')) {
    const bad = ordered.filter((o) => o.error || o.actualRows !== o.expectedRows);
    const first = bad[0];
    const tableSet = await tableSetMismatches(clients[0], manifest, runDir, pgSchema);
    reports.push({
      gate: 'counts',
      ok: bad.length === 0 && tableSet.length === 0,
      reason: tableSet.length
        ? `${tableSet[0]}${tableSet.length > 1 ? ` (and ${tableSet.length - 1} more table-set difference${tableSet.length > 2 ? 's' : ''})` : ''}`
        : first
          ? `${first.error ?? `"${first.table}" has ${fmt(first.actualRows ?? 0)} rows in PostgreSQL, the manifest says ${fmt(first.expectedRows)}`}${bad.length > 1 ? ` (and ${bad.length - 1} more table${bad.length > 2 ? 's' : ''})` : ''}`
          : `${ordered.length} tables, ${fmt(totalRows)} rows match the manifest; the table sets of SQLite and PostgreSQL agree${manifest.orphans?.mode === 'null' || manifest.orphans?.mode === 'delete' ? `; ${orphanSummary(manifest.orphans)}` : ''}`,
      seconds: tableSeconds,
      details: {
        mismatches: bad.map((o) => ({
          table: o.table,
          expected: o.expectedRows,
          actual: o.actualRows ?? null,
          ...(o.error ? { error: o.error } : {}),
        })),
        tableSet,
        ...(manifest.orphans ? { orphans: orphanOutline(manifest.orphans) } : {}),
        tables: ordered.map((o) => ({ table: o.table, expected: o.expectedRows, actual: o.actualRows ?? null })),
      },
    });
  }

  if (withContent) {
    const contentStarted = Date.now();
    const bad = ordered.filter((o) => o.error || o.actualHash !== o.expectedHash);
    const differences: TableDifference[] = [];
    if (bad.length) {
      const snapshot = snapshotFile(runDir, manifest);
      if (!snapshot) {
        for (const o of bad)
          differences.push({
            table: o.table,
            differingBuckets: -1,
            rows: [],
            note: 'snapshot.sqlite is not in the run directory: cannot narrow down to keys',
          });
      } else {
        const schemaFile = pgSchemaFile(runDir, appSchemaPath).file ?? appSchemaPath;
        let enums: Record<string, string[]> = {};
        try {
          enums = loadSchemaModel(schemaFile).enums;
        } catch (err) {
          log.warn(`cannot read enums from ${schemaFile}: ${errorMessage(err)}`);
        }
        const db = new Database(snapshot, { readonly: true, fileMustExist: true });
        try {
          for (const o of bad.filter((b) => !b.error).slice(0, MAX_TABLES_NARROWED)) {
            log.progress(`verify content: narrowing "${o.table}" down to keys`);
            const table = manifest.tables.find((t) => t.name === o.table)!;
            try {
              differences.push(
                await narrowTable(clients[0], db, pgSchema, table, enums, manifest.orphans?.tables[table.name]),
              );
            } catch (err) {
              differences.push({
                table: o.table,
                differingBuckets: -1,
                rows: [],
                note: `could not narrow down: ${errorMessage(err)}`,
              });
            }
          }
        } finally {
          db.close();
        }
      }
    }
    const firstBad = bad[0];
    const firstRow = differences.find((d) => d.rows.length)?.rows[0];
    let reason: string;
    if (!firstBad) reason = `${ordered.length} tables, ${fmt(totalRows)} rows: every content hash matches the manifest`;
    else if (firstBad.error) reason = firstBad.error;
    else if (firstRow) reason = describeRowDifference(firstRow);
    else
      reason = `"${firstBad.table}" content hash ${firstBad.actualHash} ≠ manifest ${firstBad.expectedHash}${differences[0]?.note ? ` (${differences[0].note})` : ''}`;
    if (bad.length > 1)
      reason += ` (${bad.length} tables differ: ${bad
        .slice(0, 5)
        .map((b) => b.table)
        .join(', ')}${bad.length > 5 ? ', …' : ''})`;
    reports.push({
      gate: 'content',
      ok: bad.length === 0,
      reason,
      seconds: Math.round((tableSeconds + secondsSince(contentStarted)) * 100) / 100,
      details: {
        mismatches: bad.map((o) => ({
          table: o.table,
          expected: o.expectedHash,
          actual: o.actualHash ?? null,
          ...(o.error ? { error: o.error } : {}),
        })),
        differences,
        tables: ordered.map((o) => ({
          table: o.table,
          rows: o.actualRows ?? null,
          contentHash: o.actualHash ?? null,
          ok: !o.error && o.actualHash === o.expectedHash,
        })),
      },
    });
  }
  return reports;
}

// ---------------------------------------------------------------------------------------------------------------
// integrity
