import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { escapeIdentifier } from 'pg';
import type { StepResult } from '../cli.ts';
import type { Settings } from '../config.ts';
import { ExitCode, TaskError, sourceProblem, usageError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { newestRunDir, readJournal, recordStep, RUN_FILES, runsRoot, writeRunJson } from '../run-dir.ts';
import { loadSchemaModel, type ColumnKind, type SchemaModel, type TableModel } from '../schema-model.ts';
import { loadSql, sqlWithIdentifiers } from '../sql-files.ts';
import {
  columnConverter,
  decodeTextBytes,
  preview,
  RECHECK_UTF8,
  type ColumnConverter,
  type ConversionProblem,
  type SqliteValue,
} from '../sqlite-values.ts';
import { RowHasher } from '../row-hash.ts';
import { parseChecksumFile, sha256File, sqliteProblem, type SourceFileState } from './backup.ts';

/**
 * export-sqlite: one pass per table over the snapshot (never the live file) → manifest.json with row counts,
 * content hashes over the canonical row form of docs/design.md (verify recomputes them on PostgreSQL), the storage
 * classes found per column, and every value that will not convert, named by table, column and key.
 */
export interface StorageClassCount {
  integer: number;
  real: number;
  text: number;
  blob: number;
  null: number;
}

export interface ManifestTable {
  name: string;
  model: string;
  columns: { name: string; kind: ColumnKind; prismaType: string; nullable: boolean }[];
  key: string[];
  rowCount: number;
  contentHash: string;
  storageClasses: Record<string, StorageClassCount>;
}

export interface ManifestProblem {
  table: string;
  column: string;
  /** Key column → value (as text; null for SQL NULL). */
  key: Record<string, string | null>;
  value: string;
  reason: string;
}

export interface Manifest {
  version: 1;
  createdAt: string;
  snapshot: { file: string; sha256: string; bytes: number };
  source: { path: string | null; sha256: string | null; size: number | null; wal: SourceFileState['wal'] };
  schema: { path: string; sha256: string };
  tables: ManifestTable[];
  /** SQLite tables the Prisma schema does not know (besides _prisma_migrations and sqlite_*): not migrated. */
  extraTables: string[];
  problems: ManifestProblem[];
  problemCount: number;
}

export interface ExportOptions {
  allowProblems?: boolean;
}

export interface ExportResult extends StepResult {
  runDir: string;
  manifest: string;
  tables: { name: string; rows: number; seconds: number; mixed: Record<string, Partial<StorageClassCount>> }[];
  totalRows: number;
  problemCount: number;
  firstProblems: ManifestProblem[];
  extraTables: string[];
  seconds: number;
  rowsPerSecond: number;
}

/** At most this many problems are kept in manifest.json (all are counted). */
export const MAX_PROBLEMS = 1000;
const IGNORED_SQLITE_TABLES = /^(_prisma_migrations$|sqlite_)/;
const CLASS_KEYS = ['integer', 'real', 'text', 'blob', 'null'] as const;

/** The run directory holding the snapshot, with a usage error telling to run backup when there is none. */
export function snapshotRunDir(settings: Settings): string {
  const dir = settings.runDir ?? newestRunDir(settings);
  if (!dir || !existsSync(path.join(dir, RUN_FILES.snapshot))) {
    throw usageError(`no snapshot found in ${dir ?? runsRoot(settings)}: run \`just backup\` first (or pass --run-dir of a run that has ${RUN_FILES.snapshot})`);
  }
  return dir;
}

/** sha256 of the snapshot checked against snapshot.sqlite.sha256 (a changed or damaged snapshot is a source problem). */
export async function verifySnapshotChecksum(runDir: string): Promise<{ file: string; sha256: string; bytes: number }> {
  const file = path.join(runDir, RUN_FILES.snapshot);
  const checksumFile = path.join(runDir, RUN_FILES.snapshotChecksum);
  if (!existsSync(checksumFile)) throw sourceProblem(`${checksumFile} is missing: the snapshot cannot be trusted; run \`just backup\` again`);
  const expected = parseChecksumFile(readFileSync(checksumFile, 'utf8'));
  if (!expected) throw sourceProblem(`${checksumFile} does not hold a sha256; run \`just backup\` again`);
  const actual = await sha256File(file);
  if (actual !== expected) {
    throw sourceProblem(`snapshot ${file} does not match its checksum (sha256 ${actual.slice(0, 12)}…, expected ${expected.slice(0, 12)}…): it changed after the backup; run \`just backup\` again`);
  }
  return { file, sha256: actual, bytes: statSync(file).size };
}

/**
 * Compare the snapshot's tables and columns with the schema model. Throws a source problem naming the first
 * mismatch (a model table missing, a column missing, an extra column); returns SQLite tables the model lacks.
 */
export function checkSnapshotAgainstModel(db: Database.Database, model: SchemaModel): string[] {
  const sqliteTables = new Set((db.prepare(loadSql('export-sqlite-tables')).pluck().all() as string[]));
  const columnsStmt = db.prepare(loadSql('export-sqlite-columns')).pluck();
  const mismatches: string[] = [];
  for (const table of model.tables) {
    if (!sqliteTables.has(table.name)) {
      mismatches.push(`table "${table.name}" (model ${table.model}) of the Prisma schema is missing in the SQLite database`);
      continue;
    }
    const actual = columnsStmt.all(table.name) as string[];
    const expected = table.columns.map((c) => c.name);
    const missing = expected.filter((c) => !actual.includes(c));
    const extra = actual.filter((c) => !expected.includes(c));
    for (const column of missing) {
      const hint = extra.length ? ` (SQLite has ${extra.map((e) => `"${e}"`).join(', ')} instead: renamed?)` : '';
      mismatches.push(`column "${table.name}"."${column}" of the Prisma schema is missing in the SQLite database${hint}`);
    }
    if (!missing.length) {
      for (const column of extra) mismatches.push(`column "${table.name}"."${column}" in the SQLite database is not in the Prisma schema`);
    }
  }
  if (mismatches.length) {
    throw sourceProblem(
      `the SQLite database does not match the Prisma schema: ${mismatches[0]}${mismatches.length > 1 ? ` (+${mismatches.length - 1} more)` : ''}`,
      { mismatches },
    );
  }
  const modelTables = new Set(model.tables.map((t) => t.name));
  return [...sqliteTables].filter((t) => !modelTables.has(t) && !IGNORED_SQLITE_TABLES.test(t)).sort();
}

export interface TableScan {
  rowCount: number;
  contentHash: string;
  storageClasses: Record<string, StorageClassCount>;
  problems: ManifestProblem[];
  problemCount: number;
}

export interface ScanOptions {
  /** Keep at most this many problems (all are counted). */
  maxProblems?: number;
  /** Called for every row with its hash and canonical key fields (verify uses it to narrow a mismatch). */
  onRow?: (hash: bigint, keyFields: string[]) => void;
  /** Called every `progressEvery` rows. */
  onProgress?: (rows: number) => void;
  progressEvery?: number;
}

/**
 * One pass over one table: canonical fields → row hash → exact sum; storage-class census; conversion problems.
 * A value that does not convert hashes as `X` (a field PostgreSQL can never produce), so the content hash of a
 * table with problems never matches by accident.
 */
export function scanTable(db: Database.Database, table: TableModel, enums: Record<string, string[]>, options: ScanOptions = {}): TableScan {
  const maxProblems = options.maxProblems ?? MAX_PROBLEMS;
  const columns = table.columns;
  const n = columns.length;
  const converters: ColumnConverter[] = columns.map((c) => columnConverter(c, enums));
  const convert = converters.map((c) => c.value);
  const keyIndexes = table.key.map((k) => columns.findIndex((c) => c.name === k));
  const columnList = columns.map((c) => escapeIdentifier(c.name)).join(', ');
  const stmt = db.prepare(sqlWithIdentifiers('export-sqlite-select', { columns: columnList, table: escapeIdentifier(table.name) })).raw(true).safeIntegers(true);
  // Storage classes per column: [integer, real, text, blob, null] counters.
  const census = new Float64Array(n * 5);
  const values: (string | null | undefined)[] = new Array<string | null | undefined>(n);
  const hasher = new RowHasher();
  const problems: ManifestProblem[] = [];
  let problemCount = 0;
  let rows = 0;
  const every = options.progressEvery ?? 50_000;
  const onRow = options.onRow;

  const keyOf = (row: SqliteValue[]): Record<string, string | null> => {
    const key: Record<string, string | null> = {};
    for (let k = 0; k < keyIndexes.length; k++) {
      const v = row[keyIndexes[k]];
      key[table.key[k]] = v === null ? null : preview(v);
    }
    return key;
  };
  // Only for a text cell containing U+FFFD (rare): re-read it as bytes by the row's key to tell invalid UTF-8 apart.
  const cellBytes = new Map<number, Database.Statement>();
  const readBytes = (row: SqliteValue[], column: number): Buffer | null => {
    let read = cellBytes.get(column);
    if (!read) {
      read = db
        .prepare(
          sqlWithIdentifiers('export-sqlite-cell-bytes', {
            column: escapeIdentifier(columns[column].name),
            table: escapeIdentifier(table.name),
            keyMatch: table.key.map((k) => `${escapeIdentifier(k)} IS ?`).join(' AND '),
          }),
        )
        .raw(true)
        .safeIntegers(true);
      cellBytes.set(column, read);
    }
    const got = read.get(...keyIndexes.map((i) => row[i])) as [Buffer | null] | undefined;
    return got ? got[0] : null;
  };

  for (const row of stmt.iterate() as IterableIterator<SqliteValue[]>) {
    for (let c = 0; c < n; c++) {
      const v = row[c];
      const base = c * 5;
      if (v === null) census[base + 4]++;
      else {
        const t = typeof v;
        if (t === 'bigint') census[base]++;
        else if (t === 'string') census[base + 2]++;
        else if (t === 'number') census[base + 1]++;
        else census[base + 3]++;
      }
      let f = convert[c](v);
      if (f !== null && typeof f !== 'string') {
        if (f === RECHECK_UTF8) {
          const bytes = readBytes(row, c);
          // No bytes: the key itself holds the undecodable text, so the row cannot be found again; report it.
          const text = bytes ? decodeTextBytes(bytes) : { reason: 'contains U+FFFD and its bytes could not be re-read (invalid UTF-8 in the key?)', value: preview(v) };
          f = typeof text === 'string' ? convert[c](text, true) : text;
        }
        if (f !== null && typeof f !== 'string') {
          problemCount++;
          if (problems.length < maxProblems) {
            const p = f as ConversionProblem;
            problems.push({ table: table.name, column: columns[c].name, key: keyOf(row), value: p.value, reason: p.reason });
          }
          values[c] = undefined; // hashed as field `X`
          continue;
        }
      }
      values[c] = f;
    }
    hasher.addValues(values);
    rows++;
    if (onRow) onRow(hasher.lastHash(), keyIndexes.map((i) => canonicalField(values[i])));
    if (options.onProgress && rows % every === 0) options.onProgress(rows);
  }

  const storageClasses: Record<string, StorageClassCount> = {};
  columns.forEach((c, i) => {
    const base = i * 5;
    storageClasses[c.name] = { integer: census[base], real: census[base + 1], text: census[base + 2], blob: census[base + 3], null: census[base + 4] };
  });
  return { rowCount: rows, contentHash: hasher.total(), storageClasses, problems, problemCount };
}

/** A prefix-less value (ColumnConverter.value) as its canonical field: null → `N`, undefined (no conversion) → `X`. */
export function canonicalField(value: string | null | undefined): string {
  return value === null ? 'N' : value === undefined ? 'X' : 'V' + value;
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

export function problemLine(p: ManifestProblem): string {
  const key = Object.entries(p.key)
    .map(([k, v]) => `${k}=${v === null ? 'NULL' : v}`)
    .join(',');
  return `${p.table}.${p.column} ${key} ${p.reason}`;
}

export async function exportSqlite(settings: Settings, log: Logger, options: ExportOptions = {}): Promise<ExportResult> {
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
    recordStep(runDir, settings.appDir, 'export-sqlite', { status: 'failed', message: err instanceof Error ? err.message : String(err) });
    throw err;
  }
}

async function exportInto(settings: Settings, runDir: string, log: Logger, options: ExportOptions, started: number): Promise<ExportResult> {
  const snapshot = await verifySnapshotChecksum(runDir);
  const model = loadSchemaModel(settings.schemaPath);
  const schemaSha = createHash('sha256').update(readFileSync(settings.schemaPath)).digest('hex');
  const backupData = readJournal(runDir)?.steps.backup?.data as { source?: SourceFileState } | undefined;

  let db: Database.Database;
  try {
    db = new Database(snapshot.file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw sqliteProblem(snapshot.file, err, 'opening');
  }
  const tables: ManifestTable[] = [];
  const summaries: ExportResult['tables'] = [];
  const problems: ManifestProblem[] = [];
  let problemCount = 0;
  let totalRows = 0;
  let extraTables: string[];
  try {
    extraTables = checkSnapshotAgainstModel(db, model);
    for (const t of extraTables) log.warn(`SQLite table "${t}" is not in the Prisma schema: it will not be migrated`);
    for (const table of model.tables) {
      const tableStarted = Date.now();
      const scan = scanTable(db, table, model.enums, {
        maxProblems: Math.max(0, MAX_PROBLEMS - problems.length),
        onProgress: (rows) => log.progress(`${table.name}: ${rows.toLocaleString('en-US')} rows`),
      });
      problems.push(...scan.problems);
      problemCount += scan.problemCount;
      totalRows += scan.rowCount;
      tables.push({
        name: table.name,
        model: table.model,
        columns: table.columns.map((c) => ({ name: c.name, kind: c.kind, prismaType: c.prismaType, nullable: c.nullable })),
        key: table.key,
        rowCount: scan.rowCount,
        contentHash: scan.contentHash,
        storageClasses: scan.storageClasses,
      });
      summaries.push({ name: table.name, rows: scan.rowCount, seconds: (Date.now() - tableStarted) / 1000, mixed: mixedClasses(scan.storageClasses) });
    }
  } catch (err) {
    if (err instanceof TaskError) throw err;
    throw sqliteProblem(snapshot.file, err, 'reading the snapshot');
  } finally {
    db.close();
  }

  const manifest: Manifest = {
    version: 1,
    createdAt: new Date().toISOString(),
    snapshot,
    source: {
      path: backupData?.source?.path ?? null,
      sha256: backupData?.source?.sha256 ?? null,
      size: backupData?.source?.size ?? null,
      wal: backupData?.source?.wal ?? null,
    },
    schema: { path: settings.schemaPath, sha256: schemaSha },
    tables,
    extraTables,
    problems,
    problemCount,
  };
  writeRunJson(runDir, RUN_FILES.manifest, manifest);

  const seconds = (Date.now() - started) / 1000;
  const rowsPerSecond = Math.round(totalRows / Math.max(seconds, 0.001));
  const base = { runDir, manifest: path.join(runDir, RUN_FILES.manifest), tables: summaries, totalRows, problemCount, firstProblems: problems.slice(0, 20), extraTables, seconds, rowsPerSecond };
  if (problemCount === 0) {
    return { ok: true, exitCode: ExitCode.Ok, summary: `manifest of ${tables.length} tables, ${totalRows.toLocaleString('en-US')} rows, every value converts (${seconds.toFixed(1)} s)`, ...base };
  }
  const cause = `${problemCount} value${problemCount === 1 ? '' : 's'} will not convert, first: ${problemLine(problems[0])}`;
  if (options.allowProblems) {
    log.warn(`${cause} (--allow-problems: continuing; see manifest.json)`);
    return { ok: true, exitCode: ExitCode.Ok, summary: `manifest of ${tables.length} tables, ${totalRows.toLocaleString('en-US')} rows; ${problemCount} values will not convert (allowed)`, ...base };
  }
  return { ok: false, exitCode: ExitCode.SourceProblem, summary: cause, ...base };
}
