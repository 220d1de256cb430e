import { existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from '../sqlite/driver.ts';
import { escapeIdentifier } from 'pg';
import type { StepResult } from '../cli/run-cli.ts';
import type { Settings } from '../cli/config.ts';
import { Outcome, DomainError, sourceProblem, usageError } from '../errors.ts';
import type { Logger } from '../cli/log.ts';
import {
  assertRunDirOwned,
  listRunDirs,
  readJournal,
  recordStep,
  RUN_FILES,
  runsRoot,
  writeRunJson,
} from '../run/run-dir.ts';
import { loadSchemaModel, type SchemaModel } from '../prisma/schema-model.ts';
import { loadSql, sqlWithIdentifiers } from '../files/sql-files.ts';
import {
  MAX_PROBLEMS,
  scanTable,
  scanTableAsync,
  type ManifestProblem,
  type StorageClassCount,
  type TableScan,
} from '../sqlite/export-scan.ts';
export {
  canonicalField,
  MAX_PROBLEMS,
  scanTable,
  type ManifestProblem,
  type ScanOptions,
  type StorageClassCount,
  type TableScan,
} from '../sqlite/export-scan.ts';
import { helperThreadModule } from '../files/code-location.ts';
import { parseSchemaModelInThread } from '../prisma/schema-model-thread.ts';
import { startCallWorker } from '../threads/worker-call.ts';
import { sqliteProblem, type SourceFileState } from './backup.ts';
import { verifySnapshot } from '../sqlite/snapshot-check.ts';
import { claimThisRunDir } from '../run/run-lock.ts';
import { manifestColumns, type Manifest, type ManifestTable, type NotMigrated } from '../sqlite/manifest.ts';
export type { Manifest, ManifestTable, NotMigrated } from '../sqlite/manifest.ts';
import { cacheSchemaModel, schemaSha256 } from '../prisma/schema-model-cache.ts';
import {
  describeOrphans,
  findOrphanRows,
  orphanOutline,
  orphanRefusal,
  orphanSummary,
  planOrphanTreatment,
  type OrphanMode,
  type OrphanReport,
} from '../sqlite/orphans.ts';
import type { RowTreatment } from '../sqlite/table-scan.ts';
import { writeFileAtomic } from '../files/fs-atomic.ts';

/**
 * export-sqlite: one pass per table over the snapshot (never the live file) → manifest.json with row counts,
 * content hashes over the canonical row form of docs/design.md (verify recomputes them on PostgreSQL), the storage
 * classes found per column, every value that will not convert, named by table, column and key, and the orphan rows
 * with the operator's --orphans choice applied to the rows counted and hashed.
 */
export interface ExportOptions {
  allowProblems?: boolean;
  /** What to do with orphan rows (default refuse: exit 4 naming them). */
  orphans?: OrphanMode;
  /** Snapshots at least this big are scanned on two threads (default 32 MB; tests pass 0 to exercise it). */
  workerThresholdBytes?: number;
}

export interface ExportResult extends StepResult {
  runDir: string;
  manifest: string;
  tables: { name: string; rows: number; seconds: number; mixed: Record<string, Partial<StorageClassCount>> }[];
  totalRows: number;
  problemCount: number;
  firstProblems: ManifestProblem[];
  extraTables: string[];
  notMigrated: NotMigrated[];
  epochSuspects: Manifest['epochSuspects'];
  /** Orphan rows found, and what was done with them (absent when there were none). */
  orphans?: Omit<OrphanReport, 'tables'>;
  seconds: number;
  scanSeconds: number;
  rowsPerSecond: number;
}

const CLASS_KEYS = ['integer', 'real', 'text', 'blob', 'null'] as const;

/** The run directory holding the snapshot, with a usage error telling to run backup when there is none. */
export function snapshotRunDir(settings: Settings): string {
  const dir = settings.runDir ?? listRunDirs(settings).find((run) => existsSync(path.join(run, RUN_FILES.snapshot)));
  if (!dir || !existsSync(path.join(dir, RUN_FILES.snapshot))) {
    throw usageError(
      `no snapshot found in ${dir ?? runsRoot(settings)}: run \`just backup\` first (or pass --run-dir of a run that has ${RUN_FILES.snapshot})`,
    );
  }
  assertRunDirOwned(settings, dir);
  claimThisRunDir(settings, dir, 'export-sqlite');
  return dir;
}

/**
 * Compare the snapshot's tables and columns with the schema model: the table set is the truth. Every SQLite table is
 * loaded (a model's, an @@ignore model's included), or not migrated for a stated reason (a view, Prisma's own
 * _prisma_migrations, an --exclude-table the operator gave); any other table is a source problem naming it, as is a
 * model table or column missing in SQLite and a SQLite column the schema lacks.
 */
export function checkSnapshotAgainstModel(
  db: Database.Database,
  model: SchemaModel,
  excludeTables: string[] = [],
): NotMigrated[] {
  const sqliteTables = new Set(db.prepare(loadSql('export-sqlite-tables')).pluck().all() as string[]);
  const sqliteViews = new Set(db.prepare(loadSql('export-sqlite-views')).pluck().all() as string[]);
  const columnsStmt = db.prepare(loadSql('export-sqlite-columns')).pluck();
  const modelTables = new Set(model.tables.map((t) => t.name));
  for (const name of excludeTables) {
    if (modelTables.has(name))
      throw usageError(
        `--exclude-table ${name}: the table is in the Prisma schema, so PostgreSQL gets it and it must be loaded`,
      );
    if (!sqliteTables.has(name)) throw usageError(`--exclude-table ${name}: the SQLite database has no such table`);
  }
  const mismatches: string[] = [];
  for (const table of model.tables) {
    if (!sqliteTables.has(table.name)) {
      const asView = sqliteViews.has(table.name)
        ? ' (SQLite has a view of that name: declare it as a `view` block)'
        : '';
      mismatches.push(
        `table "${table.name}" (model ${table.model}) of the Prisma schema is missing in the SQLite database${asView}`,
      );
      continue;
    }
    const actual = columnsStmt.all(table.name) as string[];
    const expected = table.columns.map((c) => c.name);
    const missing = expected.filter((c) => !actual.includes(c));
    const extra = actual.filter((c) => !expected.includes(c));
    for (const column of missing) {
      const hint = extra.length ? ` (SQLite has ${extra.map((e) => `"${e}"`).join(', ')} instead: renamed?)` : '';
      mismatches.push(
        `column "${table.name}"."${column}" of the Prisma schema is missing in the SQLite database${hint}`,
      );
    }
    if (!missing.length) {
      // @ignore fields and Unsupported(...) types are absent from Prisma's data model too: their data would be lost.
      for (const column of extra)
        mismatches.push(
          `column "${table.name}"."${column}" in the SQLite database is not in the Prisma schema (its data would not be migrated; an @ignore or Unsupported field?)`,
        );
    }
  }
  if (mismatches.length) {
    throw sourceProblem(
      `the SQLite database does not match the Prisma schema: ${mismatches[0]}${mismatches.length > 1 ? ` (+${mismatches.length - 1} more)` : ''}`,
      { mismatches },
    );
  }
  const countOf = (name: string) =>
    Number(
      db
        .prepare(sqlWithIdentifiers('sqlite-count', { table: escapeIdentifier(name) }))
        .pluck()
        .get(),
    );
  const notMigrated: NotMigrated[] = [];
  const unknown: string[] = [];
  for (const name of [...sqliteTables].sort()) {
    if (modelTables.has(name) || /^sqlite_/.test(name)) continue;
    if (name === '_prisma_migrations')
      notMigrated.push({
        name,
        kind: 'prisma-migrations',
        reason: "Prisma's migration history: load-pg writes PostgreSQL's own",
        rows: countOf(name),
      });
    else if (excludeTables.includes(name))
      notMigrated.push({
        name,
        kind: 'excluded',
        reason: 'excluded by --exclude-table: its rows stay in the SQLite backup only',
        rows: countOf(name),
      });
    else unknown.push(name);
  }
  if (unknown.length) {
    const first = unknown[0];
    throw sourceProblem(
      `SQLite table "${first}" (${countOf(first).toLocaleString('en-US')} rows) is not in the Prisma schema, so its rows would not be migrated: add it to the schema (prisma db pull writes it as an @@ignore model) or pass --exclude-table ${first}${unknown.length > 1 ? ` (+${unknown.length - 1} more: ${unknown.slice(1).join(', ')})` : ''}`,
      { unknownTables: unknown },
    );
  }
  for (const view of model.views ?? []) {
    if (sqliteViews.has(view.name))
      notMigrated.push({
        name: view.name,
        kind: 'view',
        reason: "a view, not data: recreate it on PostgreSQL (its SQL is SQLite's)",
      });
  }
  for (const name of [...sqliteViews].sort()) {
    if (!(model.views ?? []).some((v) => v.name === name))
      notMigrated.push({
        name,
        kind: 'view',
        reason:
          "a SQLite view the schema does not declare: not data; recreate it on PostgreSQL if the app uses it (its SQL is SQLite's)",
      });
  }
  return notMigrated;
}

/** Columns whose non-NULL values come in more than one storage class, or in a class unusual for the kind. */
function mixedClasses(classes: Record<string, StorageClassCount>): Record<string, Partial<StorageClassCount>> {
  const out: Record<string, Partial<StorageClassCount>> = {};
  for (const [column, counts] of Object.entries(classes)) {
    const present = CLASS_KEYS.filter((k) => k !== 'null' && counts[k] > 0);
    if (present.length > 1) out[column] = Object.fromEntries(present.map((k) => [k, counts[k]]));
  }
  return out;
}

/** One warning line per suspect column, with the example's two readings. */
export function epochSuspectLine(s: Manifest['epochSuspects'][number]): string {
  const key = Object.entries(s.example.key)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  const n = Number(s.example.value);
  return (
    `"${s.table}"."${s.column}": ${s.count} integer DateTime value${s.count === 1 ? '' : 's'} near 1970 when read as milliseconds — epoch seconds? ` +
    `(row ${key}: ${s.example.value} → ${new Date(n).toISOString()} as ms, ${new Date(n * 1000).toISOString()} as seconds). ` +
    'They load as milliseconds, as Prisma reads them in the app today; fix them in SQLite first if seconds were meant'
  );
}

/** Below this snapshot size the export scans in the main thread: starting worker threads would cost more. */
const WORKER_THRESHOLD_BYTES = 32 * 1024 * 1024;

/**
 * Scan every table: in the main thread for a small snapshot; otherwise this thread and a worker thread pull
 * tables from one queue, biggest first, so a 300 MB database uses two cores.
 */
export async function scanAll(
  db: Database.Database,
  snapshot: { file: string; bytes: number },
  model: SchemaModel,
  log: Logger,
  workerThresholdBytes: number,
  treatments: Record<string, RowTreatment>,
): Promise<Map<string, { scan: TableScan; seconds: number }>> {
  const out = new Map<string, { scan: TableScan; seconds: number }>();
  if (snapshot.bytes < workerThresholdBytes || os.availableParallelism() < 2) {
    for (const table of model.tables) {
      const started = Date.now();
      const scan = scanTable(db, table, model.enums, {
        treatment: treatments[table.name],
        onProgress: (rows) => log.progress(`${table.name}: ${rows.toLocaleString('en-US')} rows`),
      });
      out.set(table.name, { scan, seconds: (Date.now() - started) / 1000 });
    }
    return out;
  }
  const countOf = (name: string) =>
    Number(
      db
        .prepare(sqlWithIdentifiers('sqlite-count', { table: escapeIdentifier(name) }))
        .pluck()
        .get(),
    );
  const queue = model.tables.map((table) => ({ table, rows: countOf(table.name) })).sort((a, b) => b.rows - a.rows);
  const total = queue.reduce((n, t) => n + t.rows, 0);
  let done = 0;
  const progress = (name: string, rows: number) => {
    done += rows;
    log.progress(`${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} rows (${name} done)`);
  };
  // This thread and one worker thread pull from the same queue (one V8 heap less than two workers: lower peak RSS).
  const worker = startCallWorker(helperThreadModule('sqlite/export-scan'), log);
  try {
    await Promise.all([
      (async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const started = Date.now();
          const scan = await worker.call<TableScan>('scanSnapshotTable', {
            snapshot: snapshot.file,
            table: next.table,
            enums: model.enums,
            maxProblems: MAX_PROBLEMS,
            treatment: treatments[next.table.name],
          });
          out.set(next.table.name, { scan, seconds: (Date.now() - started) / 1000 });
          progress(next.table.name, next.rows);
        }
      })(),
      (async () => {
        await new Promise((resolve) => setImmediate(resolve)); // let the worker take the biggest table first
        for (let next = queue.shift(); next; next = queue.shift()) {
          const started = Date.now();
          const scan = await scanTableAsync(db, next.table, model.enums, { treatment: treatments[next.table.name] });
          out.set(next.table.name, { scan, seconds: (Date.now() - started) / 1000 });
          progress(next.table.name, next.rows);
        }
      })(),
    ]);
  } finally {
    await worker.close();
  }
  return out;
}

export function notMigratedLine(n: NotMigrated): string {
  return `not migrated: ${n.kind === 'view' ? 'view' : 'table'} "${n.name}"${n.rows !== undefined ? ` (${n.rows.toLocaleString('en-US')} rows)` : ''}: ${n.reason}`;
}

export function problemLine(p: ManifestProblem): string {
  const key = Object.entries(p.key)
    .map(([k, v]) => `${k}=${v === null ? 'NULL' : v}`)
    .join(',');
  return `${p.table}.${p.column} ${key} ${p.reason}`;
}

export async function exportSqlite(
  settings: Settings,
  log: Logger,
  options: ExportOptions = {},
): Promise<ExportResult> {
  const started = Date.now();
  const runDir = snapshotRunDir(settings);
  log.attachFile(path.join(runDir, RUN_FILES.log));
  recordStep(runDir, settings.appDir, 'export-sqlite', { status: 'running' });
  try {
    const result = await exportInto(settings, runDir, log, options, started);
    recordStep(runDir, settings.appDir, 'export-sqlite', {
      status: result.ok ? 'done' : 'failed',
      message: result.summary,
      data: { manifest: result.manifest, totalRows: result.totalRows, problemCount: result.problemCount },
    });
    return result;
  } catch (err) {
    recordStep(runDir, settings.appDir, 'export-sqlite', {
      status: 'failed',
      message: err instanceof Error ? err.message : String(err),
    });
    throw err;
  }
}

interface BackupData {
  source?: SourceFileState;
  sha256?: string;
  foreignKeyViolations?: number;
}

/**
 * Orphan rows of the snapshot and the operator's choice: undefined when there are none (backup's foreign_key_check
 * of this very snapshot found none, or this one finds none); for null/delete the treated rows, and the orphans.jsonl
 * lines (each with its original values) written beside the manifest.
 */
function handleOrphans(
  db: Database.Database,
  model: SchemaModel,
  runDir: string,
  mode: OrphanMode,
  backupData: BackupData | undefined,
  snapshotSha: string,
  log: Logger,
): { report: OrphanReport; lines: string } | undefined {
  if (backupData?.sha256 === snapshotSha && backupData.foreignKeyViolations === 0) return undefined;
  const found = findOrphanRows(db, model);
  if (!found.length) return undefined;
  const foreignKeys = describeOrphans(db, model, found);
  for (const fk of foreignKeys)
    log.warn(
      `orphan rows: ${fk.count} row${fk.count === 1 ? '' : 's'} of "${fk.table}" point${fk.count === 1 ? 's' : ''} at no "${fk.refTable}" row through foreign key "${fk.name}" (${fk.examples.join('; ')}${fk.count > fk.examples.length ? '; …' : ''})`,
    );
  if (mode === 'refuse') return { report: { mode, foreignKeys, nulledRows: 0, leftOutRows: 0, tables: {} }, lines: '' };
  const plan = planOrphanTreatment(db, model, found, mode);
  const report: OrphanReport = {
    mode,
    foreignKeys,
    nulledRows: plan.nulledRows,
    leftOutRows: plan.leftOutRows,
    file: path.join(runDir, RUN_FILES.orphans),
    tables: plan.tables,
  };
  log.warn(orphanSummary(report));
  return { report, lines: plan.entries.map((e) => `${JSON.stringify(e)}\n`).join('') };
}

async function exportInto(
  settings: Settings,
  runDir: string,
  log: Logger,
  options: ExportOptions,
  started: number,
): Promise<ExportResult> {
  const snapshot = verifySnapshot(runDir);
  const threshold = options.workerThresholdBytes ?? WORKER_THRESHOLD_BYTES;
  const model =
    snapshot.bytes >= threshold
      ? await parseSchemaModelInThread(settings.schemaPath, log)
      : loadSchemaModel(settings.schemaPath);
  const schemaSha = schemaSha256(settings.schemaPath);
  cacheSchemaModel(runDir, schemaSha, model);
  const backupData = readJournal(runDir)?.steps.backup?.data as BackupData | undefined;

  let db: Database.Database;
  try {
    db = new Database(snapshot.file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw sqliteProblem(snapshot.file, err, 'opening');
  }
  const tables: ManifestTable[] = [];
  const summaries: ExportResult['tables'] = [];
  const problems: ManifestProblem[] = [];
  const epochSuspects: Manifest['epochSuspects'] = [];
  let problemCount = 0;
  let totalRows = 0;
  let extraTables: string[];
  let notMigrated: NotMigrated[];
  let scanSeconds = 0;
  let orphans: OrphanReport | undefined;
  let orphanLines = '';
  try {
    notMigrated = checkSnapshotAgainstModel(db, model, settings.excludeTables);
    extraTables = notMigrated.filter((n) => n.kind === 'excluded').map((n) => n.name);
    for (const n of notMigrated) if (n.kind !== 'prisma-migrations') log.warn(notMigratedLine(n));
    const handled = handleOrphans(db, model, runDir, options.orphans ?? 'refuse', backupData, snapshot.sha256, log);
    orphans = handled?.report;
    orphanLines = handled?.lines ?? '';
    const scanStarted = Date.now();
    const scans = await scanAll(db, snapshot, model, log, threshold, orphans?.tables ?? {});
    for (const table of model.tables) {
      const { scan, seconds } = scans.get(table.name)!;
      // Problems are kept in schema order, at most MAX_PROBLEMS in all (each table counted in full).
      problems.push(...scan.problems.slice(0, Math.max(0, MAX_PROBLEMS - problems.length)));
      problemCount += scan.problemCount;
      epochSuspects.push(...scan.epochSuspects.map((suspect) => ({ table: table.name, ...suspect })));
      totalRows += scan.rowCount;
      tables.push({
        name: table.name,
        model: table.model,
        columns: manifestColumns(table),
        key: table.key,
        rowCount: scan.rowCount,
        contentHash: scan.contentHash,
        storageClasses: scan.storageClasses,
      });
      summaries.push({ name: table.name, rows: scan.rowCount, seconds, mixed: mixedClasses(scan.storageClasses) });
    }
    scanSeconds = (Date.now() - scanStarted) / 1000;
  } catch (err) {
    if (err instanceof DomainError) throw err;
    throw sqliteProblem(snapshot.file, err, 'reading the snapshot');
  } finally {
    db.close();
  }

  const manifest: Manifest = {
    version: 1,
    createdAt: new Date().toISOString(),
    snapshot: { file: snapshot.file, sha256: snapshot.sha256, bytes: snapshot.bytes },
    source: {
      path: backupData?.source?.path ?? null,
      sha256: backupData?.source?.sha256 ?? null,
      size: backupData?.source?.size ?? null,
      wal: backupData?.source?.wal ?? null,
    },
    schema: { path: settings.schemaPath, sha256: schemaSha },
    tables,
    extraTables,
    notMigrated,
    problems,
    problemCount,
    epochSuspects,
    ...(orphans ? { orphans } : {}),
  };
  // The list goes with the manifest it belongs to; one left by an earlier export in this run dir (a resumed upgrade
  // redoes backup and export) would mislead.
  const orphansFile = path.join(runDir, RUN_FILES.orphans);
  if (orphans?.file) writeFileAtomic(orphansFile, orphanLines);
  else rmSync(orphansFile, { force: true });
  writeRunJson(runDir, RUN_FILES.manifest, manifest);
  for (const suspect of epochSuspects) log.warn(epochSuspectLine(suspect));

  const seconds = (Date.now() - started) / 1000;
  // Rows per second of the table scans themselves (checksum, schema parse and file checks excluded).
  const rowsPerSecond = Math.round(totalRows / Math.max(scanSeconds, 0.001));
  const base = {
    runDir,
    manifest: path.join(runDir, RUN_FILES.manifest),
    tables: summaries,
    totalRows,
    problemCount,
    firstProblems: problems.slice(0, 20),
    extraTables,
    notMigrated,
    epochSuspects,
    ...(orphans ? { orphans: orphanOutline(orphans) } : {}),
    seconds,
    scanSeconds,
    rowsPerSecond,
  };
  if (orphans?.mode === 'refuse') {
    return { ok: false, outcome: Outcome.SourceProblem, summary: orphanRefusal(orphans.foreignKeys), ...base };
  }
  const treated = orphans ? `; ${orphanSummary(orphans)}` : '';
  if (problemCount === 0) {
    return {
      ok: true,
      outcome: Outcome.Ok,
      summary: `manifest of ${tables.length} tables, ${totalRows.toLocaleString('en-US')} rows, every value converts${treated} (${seconds.toFixed(1)} s)`,
      ...base,
    };
  }
  const cause = `${problemCount} value${problemCount === 1 ? '' : 's'} will not convert, first: ${problemLine(problems[0])}`;
  if (options.allowProblems) {
    log.warn(`${cause} (--allow-problems: continuing; see manifest.json)`);
    return {
      ok: true,
      outcome: Outcome.Ok,
      summary: `manifest of ${tables.length} tables, ${totalRows.toLocaleString('en-US')} rows; ${problemCount} values will not convert (allowed)${treated}`,
      ...base,
    };
  }
  return { ok: false, outcome: Outcome.SourceProblem, summary: cause, ...base };
}
