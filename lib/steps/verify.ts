import { targetSideError } from '../pg/target-errors.ts';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pgModule from 'pg';
import type pg from 'pg';
import type { StepContext, StepResult } from '../cli/run-cli.ts';
import { Outcome, errorMessage, usageError, type OutcomeKind } from '../errors.ts';
import type { Logger } from '../cli/log.ts';
import { pgBucketRows, pgBucketSums, pgRowCount, pgTableHash, type HashTable } from '../pg/content-hash.ts';
import {
  checkSequences,
  compareSnapshots,
  describeForeignKey,
  findOrphans,
  readSchemaSnapshot,
  referenceSnapshot,
  type Finding,
  type ForeignKeyInfo,
  type SchemaSnapshot,
} from '../pg/integrity.ts';
import { targetSchemaFromUrl } from '../pg/schema-objects.ts';
import { openTarget, type TargetConnection } from '../pg/target.ts';
import { readSchemaSource } from '../prisma/schema-source.ts';
import { checkPrismaClient } from '../prisma/client-check.ts';
import { RUN_FILES, assertOwnedFile, existingRunDir, readRunJson, recordStep, writeRunJson } from '../run/run-dir.ts';
import { claimThisRunDir } from '../run/run-lock.ts';
import { loadSql, sqlWithIdentifiers } from '../files/sql-files.ts';
import { loadSchemaModel, type ColumnKind } from '../prisma/schema-model.ts';
import { PROBLEM_PREFIX, sqliteBucketRows, sqliteBucketSums, type CanonicalTable } from '../sqlite/canonical-rows.ts';
import { prismaEngineHealth, referenceDdl } from '../verify/prisma-engine-gate.ts';
import type { Manifest, ManifestTable } from '../sqlite/manifest.ts';
import type { RowTreatment } from '../sqlite/table-scan.ts';
import { orphanOutline, orphanSummary } from '../sqlite/orphans.ts';

/**
 * verify: prove the PostgreSQL copy equals the SQLite snapshot, and that Prisma is healthy on it.
 *
 * Gates (each pass/fail with a one-line reason and details, all written to <runDir>/report.json):
 * - counts: rows per table vs manifest.json.
 * - content: per-table hash of the canonical row form (docs/design.md) computed ON PostgreSQL (sql/content-*.sql)
 *   vs the manifest; on a mismatch, narrowed by 256 key buckets and then per row, against the same computed in JS
 *   from the run's snapshot.sqlite, to name differing keys with both sides' values.
 * - integrity: the schema compared with a reference built from the Prisma schema's DDL (tables, columns,
 *   primary keys, unique constraints, indexes, sequences, foreign keys), every foreign key validated and free of
 *   orphans, every sequence ahead of max(id).
 * - prisma: migration history clean and zero drift through Prisma's schema engine (wasm), then Prisma Client reads
 *   every model and writes once in a rolled-back transaction through @prisma/adapter-pg.
 *
 * Table-level work runs on two connections (both cores of the server), biggest tables first; the prisma gate
 * runs alongside on its own connections.
 */
export const GATES = ['counts', 'content', 'integrity', 'prisma'] as const;
export type GateName = (typeof GATES)[number];

export interface GateReport {
  gate: GateName;
  ok: boolean;
  reason: string;
  seconds: number;
  details: Record<string, unknown>;
}

export interface VerifyResult extends StepResult {
  runDir: string;
  target: string;
  schema: string;
  gates: GateReport[];
  report: string;
  seconds: number;
}

export interface VerifyExtra extends Record<string, unknown> {
  only?: string;
}

export function parseGates(only: string | undefined): GateName[] {
  if (only === undefined || only.trim() === '') return [...GATES];
  const names = only
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(GATES as readonly string[]).includes(n));
  if (unknown.length)
    throw usageError(`--only: unknown gate ${unknown.map((n) => `"${n}"`).join(', ')} (gates: ${GATES.join(', ')})`);
  if (!names.length) throw usageError(`--only needs at least one gate (${GATES.join(', ')})`);
  return GATES.filter((g) => names.includes(g));
}

function readManifest(runDir: string): Manifest {
  let manifest: Manifest;
  try {
    manifest = readRunJson<Manifest>(runDir, RUN_FILES.manifest);
  } catch (err) {
    throw usageError(`${path.join(runDir, RUN_FILES.manifest)} is not readable JSON: ${errorMessage(err)}`);
  }
  if (!manifest || !Array.isArray(manifest.tables))
    throw usageError(`${path.join(runDir, RUN_FILES.manifest)} has no tables list; run export-sqlite again`);
  return manifest;
}

/**
 * The run's PostgreSQL flavour of the app's schema (written by load-pg); after cutover the app's own schema is
 * PostgreSQL too and serves as well. Undefined (with the reason) when neither is a PostgreSQL schema.
 */
function pgSchemaFile(runDir: string, appSchema: string): { file?: string; problem?: string } {
  const file = path.join(runDir, RUN_FILES.pgSchemaDir, 'schema.prisma');
  if (existsSync(file)) return { file };
  const provider = existsSync(appSchema) ? readSchemaSource(appSchema).provider : undefined;
  if (provider === 'postgresql' || provider === 'postgres') return { file: appSchema };
  return { problem: `${file} is missing and the app's schema is not on PostgreSQL: run load-pg first` };
}

function snapshotFile(runDir: string, manifest: Manifest): string | undefined {
  const candidates = [
    manifest.snapshot?.file ? path.resolve(runDir, manifest.snapshot.file) : undefined,
    path.join(runDir, RUN_FILES.snapshot),
  ];
  const found = candidates.find((f): f is string => Boolean(f && existsSync(f)));
  if (found) assertOwnedFile(found);
  return found;
}

const fmt = (n: number) => n.toLocaleString('en-US');
const secondsSince = (t: number) => Math.round((Date.now() - t) / 10) / 100;

/** Run jobs on the given connections, one job per connection at a time, in queue order. */
async function runOnConnections<T>(
  clients: pg.Client[],
  jobs: T[],
  work: (client: pg.Client, job: T) => Promise<void>,
): Promise<void> {
  const queue = [...jobs];
  await Promise.all(
    clients.map(async (client) => {
      for (let job = queue.shift(); job !== undefined; job = queue.shift()) await work(client, job);
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// counts + content

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

export async function verify(ctx: StepContext<VerifyExtra>): Promise<VerifyResult> {
  const { settings, log } = ctx;
  const started = Date.now();
  const gates = parseGates(typeof ctx.extra.only === 'string' ? ctx.extra.only : undefined);
  const runDir = existingRunDir(settings, RUN_FILES.manifest);
  log.attachFile(path.join(runDir, RUN_FILES.log));
  // A run of every gate is the run's verify step in journal.json (what the runbook's manual steps and a resumed
  // upgrade read); a partial one (--only, e.g. the counts re-check after the switch) is not, so it can never stand
  // in for the full verification.
  const journaled = gates.length === GATES.length;
  const journal = (status: 'running' | 'done' | 'failed', message?: string) => {
    if (!journaled) return;
    try {
      recordStep(runDir, settings.appDir, 'verify', { status, ...(message ? { message } : {}) });
    } catch (err) {
      log.warn(`could not record verify in ${path.join(runDir, RUN_FILES.journal)}: ${errorMessage(err)}`);
    }
  };
  // The run dir's lock: a load-pg still writing it, or another verify sharing its report files and generated Prisma
  // Client folder (one deleting what the other imports), makes this one refuse with exit 2 naming the holder.
  const lock = claimThisRunDir(settings, runDir, 'verify');
  try {
    journal('running');
    const result = await verifyRun(ctx, runDir, gates, started);
    journal(result.ok ? 'done' : 'failed', result.summary);
    return result;
  } catch (err) {
    journal('failed', errorMessage(err));
    throw err;
  } finally {
    lock.release();
  }
}

export const VERIFY_LOCK = RUN_FILES.lock;

async function verifyRun(
  ctx: StepContext<VerifyExtra>,
  runDir: string,
  gates: GateName[],
  started: number,
): Promise<VerifyResult> {
  const { settings, log } = ctx;
  const manifest = readManifest(runDir);
  const pgSchema = targetSchemaFromUrl(settings.targetUrl);
  const target = await openTarget(settings, log);
  log.info(`verify ${target.display} (schema ${pgSchema}) against ${runDir}: ${gates.join(', ')}`);
  const reports: GateReport[] = [];
  const extra: pg.Client[] = [];
  try {
    const second = await target.connect();
    extra.push(second);
    const clients = [target.client, second];
    // The integrity gate's reference schema lives in a transaction; it gets its own connection so the table work
    // (queued on the two main connections) can never run inside it.
    const side = gates.includes('integrity') ? await target.connect() : undefined;
    if (side) extra.push(side);
    const work: Promise<GateReport | GateReport[]>[] = [];
    if (gates.includes('counts') || gates.includes('content'))
      work.push(tableGates(clients, manifest, runDir, pgSchema, gates, settings.schemaPath, log));
    if (side) {
      work.push(
        integrityGate(clients, side, runDir, settings.schemaPath, pgSchema, target, log).catch(
          (err: unknown): GateReport => ({
            gate: 'integrity',
            ok: false,
            reason: `the integrity checks could not run: ${errorMessage(err).split('\n')[0]}`,
            seconds: 0,
            details: {},
          }),
        ),
      );
    }
    // The prisma gate works on its own connections; client generation overlaps with the hashing.
    if (gates.includes('prisma')) work.push(prismaGate(target, runDir, settings.schemaPath, pgSchema, log));
    for (const result of await Promise.all(work)) reports.push(...(Array.isArray(result) ? result : [result]));
  } finally {
    for (const client of extra) await client.end().catch(() => undefined);
    await target.close();
  }
  reports.sort((a, b) => GATES.indexOf(a.gate) - GATES.indexOf(b.gate));
  const failed = reports.filter((r) => !r.ok);
  const seconds = secondsSince(started);
  const ok = failed.length === 0;
  const summary = ok
    ? `verify passed: ${reports.map((r) => r.gate).join(', ')} (${seconds.toFixed(1)} s)`
    : `verify FAILED: ${failed.map((r) => `${r.gate}: ${r.reason}`).join(' | ')}`;
  const reportFile = path.join(runDir, RUN_FILES.report);
  writeRunJson(runDir, RUN_FILES.report, {
    version: 1,
    createdAt: new Date().toISOString(),
    target: target.display,
    schema: pgSchema,
    runDir,
    ok,
    summary,
    seconds,
    gates: reports,
  });
  return {
    ok,
    outcome: (ok ? Outcome.Ok : Outcome.VerificationFailed) as OutcomeKind,
    summary,
    runDir,
    target: target.display,
    schema: pgSchema,
    gates: reports,
    report: reportFile,
    seconds,
  };
}

/**
 * The table sets of both sides: every SQLite table of the snapshot is in the manifest or named there as not migrated
 * (a view, _prisma_migrations, an --exclude-table), and every PostgreSQL table is in the manifest (or is Prisma's
 * _prisma_migrations). A table loaded nowhere, or created on PostgreSQL and left empty, can never pass.
 */
async function tableSetMismatches(
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

async function tableGates(
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

async function integrityGate(
  clients: pg.Client[],
  side: pg.Client,
  runDir: string,
  appSchemaPath: string,
  pgSchema: string,
  target: TargetConnection,
  log: Logger,
): Promise<GateReport> {
  const started = Date.now();
  log.progress('verify integrity: building the reference schema');
  const { file: schemaFile, problem } = pgSchemaFile(runDir, appSchemaPath);
  if (!schemaFile)
    return { gate: 'integrity', ok: false, reason: problem!, seconds: secondsSince(started), details: {} };
  let reference: SchemaSnapshot & { scratch: 'schema' | 'temporary' };
  let referenceSource: string;
  try {
    const ddl = await referenceDdl(schemaFile, target, pgSchema);
    referenceSource = ddl.source;
    reference = await referenceSnapshot(side, ddl.sql);
  } catch (err) {
    return {
      gate: 'integrity',
      ok: false,
      reason: `cannot build the reference schema from ${schemaFile}: ${errorMessage(err)}`,
      seconds: secondsSince(started),
      details: {},
    };
  }
  const actual = await readSchemaSnapshot(side, pgSchema);
  const findings: Finding[] = compareSnapshots(reference, actual);

  // Orphans, checked for every foreign key the Prisma schema defines (so a dropped constraint is still checked).
  const tables = new Set(actual.catalog.filter((e) => e.kind === 'table').map((e) => e.table));
  const columns = new Set(actual.catalog.filter((e) => e.kind === 'column').map((e) => `${e.table}.${e.name}`));
  const checkable = reference.foreignKeys.filter(
    (fk) =>
      tables.has(fk.table) &&
      tables.has(fk.refTable) &&
      fk.columns.every((c) => columns.has(`${fk.table}.${c}`)) &&
      fk.refColumns.every((c) => columns.has(`${fk.refTable}.${c}`)),
  );
  const orphanFindings: Finding[] = [];
  let checked = 0;
  await runOnConnections(clients, checkable, async (client, fk: ForeignKeyInfo) => {
    const result = await findOrphans(client, pgSchema, fk);
    checked++;
    log.progress(`verify integrity: foreign keys ${checked}/${checkable.length}`);
    if (result.orphans.length) {
      orphanFindings.push({
        problem: 'orphans',
        kind: 'foreign key',
        table: fk.table,
        name: describeForeignKey(fk),
        message: `"${fk.table}" ${describeForeignKey(fk)} has rows pointing at no "${fk.refTable}" row: ${result.orphans.join('; ')}`,
      });
    }
  });
  findings.push(...orphanFindings.sort((a, b) => (a.table < b.table ? -1 : 1)));

  const sequences = await checkSequences(side, pgSchema);
  for (const s of sequences.filter((x) => !x.ok)) {
    findings.push({
      problem: 'sequence behind',
      kind: 'sequence',
      table: s.table,
      name: s.column,
      message: `sequence ${s.sequence} of "${s.table}".${s.column} would hand out ${s.nextValue}, but max(${s.column}) is ${s.maxValue}`,
    });
  }
  const first = findings[0];
  return {
    gate: 'integrity',
    ok: findings.length === 0,
    reason: first
      ? `${first.message}${findings.length > 1 ? ` (and ${findings.length - 1} more finding${findings.length > 2 ? 's' : ''})` : ''}`
      : `${tables.size} tables match the Prisma schema (columns, keys, unique constraints, indexes); ${reference.foreignKeys.length} foreign keys valid without orphans; ${sequences.length} sequences ahead of max(id)`,
    seconds: secondsSince(started),
    details: {
      referenceSource,
      referenceBuiltIn:
        reference.scratch === 'schema'
          ? 'a scratch schema (rolled back)'
          : "the session's temporary schema (rolled back)",
      findings,
      foreignKeysChecked: checkable.length,
      sequences,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// prisma

async function prismaGate(
  target: TargetConnection,
  runDir: string,
  appSchemaPath: string,
  pgSchema: string,
  log: Logger,
): Promise<GateReport> {
  const started = Date.now();
  const { file: schemaFile, problem } = pgSchemaFile(runDir, appSchemaPath);
  if (!schemaFile) return { gate: 'prisma', ok: false, reason: problem!, seconds: secondsSince(started), details: {} };
  // The run's migration history (load-pg wrote it); after cutover without it, the app's own next to its schema.
  const runMigrations = path.join(runDir, RUN_FILES.pgSchemaDir, 'migrations');
  const migrationsDir = existsSync(runMigrations) ? runMigrations : path.join(path.dirname(schemaFile), 'migrations');
  const schemaText = readFileSync(schemaFile, 'utf8');
  const problems: string[] = [];
  // The engine's diagnosis and the client's generation are independent: run them side by side.
  let engineSeconds = 0;
  const [engine, client] = await Promise.all([
    prismaEngineHealth({ schemaFile, schemaText, migrationsDir, target, pgSchema })
      .catch((err: unknown) => ({
        problems: [`Prisma's schema engine could not check the database: ${errorMessage(err)}`],
      }))
      .finally(() => (engineSeconds = secondsSince(started))),
    checkPrismaClient({ runDir, schemaText, poolConfig: target.clientConfig as pg.PoolConfig, pgSchema, log }).catch(
      (err: unknown) => ({
        ok: false,
        reason: `Prisma Client check crashed: ${errorMessage(err)}`,
        models: [],
      }),
    ),
  ]);
  problems.push(...engine.problems);
  if (!client.ok) problems.push(client.reason);
  return {
    gate: 'prisma',
    ok: problems.length === 0,
    reason: problems.length
      ? `${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`
      : `migration history clean, no drift; ${client.reason}`,
    seconds: secondsSince(started),
    details: { schemaFile, migrationsDir, problems, engineSeconds, engine, client },
  };
}
