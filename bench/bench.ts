/**
 * `npm run bench [-- --rows N] [--scaling] [--no-pgloader] [--jobs N] [--keep]`
 * `npm run bench -- --window [--rows N]`: the upgrade's window, offline against online, at N and 3×N rows with a
 * live writer (bench/window.ts).
 *
 * Builds a VisionSuit-shaped SQLite file (the fixture schema: 30 tables; default 1.5 M rows; cached in bench/out),
 * then measures in one run, each against a fresh database of one embedded PostgreSQL server:
 *   - load-pg (the real CLI as a child process: schema through Prisma's engine, COPY, indexes/FKs, sequences, ANALYZE)
 *   - the raw limit: COPY of pre-converted text files (written beforehand) over 2 connections, indexes/FKs after
 *   - pgloader on the same SQLite file, when `which pgloader` finds it (its exit code and error count are reported)
 *   - verify (issue 4 wants it faster than load-pg) and export-sqlite, when those tasks exist
 * Each contender runs as its own process under /usr/bin/time, so peak RSS is the child's own (worker threads
 * included). Prints a markdown table on stdout and writes it (plus JSON) to bench/out/.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from '../lib/sqlite/driver.ts';
import pg from 'pg';
import { buildSeededSqlite, TEMPLATE_DIR } from '../fixtures/sample-install.ts';
import { startEmbeddedServer, type EmbeddedServer } from '../lib/pg/embedded-pg.ts';
import { tableCopyChunks } from '../lib/copy/rows.ts';
import { readTargetColumns } from '../lib/pg/schema-objects.ts';
import { loadSchemaModel } from '../lib/prisma/schema-model.ts';
import { planTables } from '../lib/copy/load-plan.ts';
import { taskNodeArgs } from '../lib/files/code-location.ts';
import { loadSql, sqlWithIdentifiers } from '../lib/files/sql-files.ts';
import { sha256OfFile } from '../lib/files/file-tree.ts';
import { runWindowBench } from './window.ts';
import { jsonOutput } from './json-output.ts';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.dirname(BENCH_DIR);
const OUT = path.join(BENCH_DIR, 'out');

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1500000' },
    seed: { type: 'string', default: '1' },
    scaling: { type: 'boolean', default: false },
    'no-pgloader': { type: 'boolean', default: false },
    'pgloader-timeout': { type: 'string', default: '900' },
    jobs: { type: 'string' },
    // Also run load-pg with --single-thread (every table converted in the main thread) for comparison.
    'compare-threads': { type: 'boolean', default: false },
    // Also run load-pg with COPY's text format instead of binary, for comparison.
    'compare-format': { type: 'boolean', default: false },
    // Run load-pg and the raw COPY N more times (alternating) and also report the fastest of each. Two by default:
    // on a shared 2-core machine the same code varies by ± 0.4 s a run, and noise only ever adds time, so the
    // fastest of three is the better measure of each; --repeat 0 for a single run of each.
    repeat: { type: 'string', default: '2' },
    // Pass --verbose to load-pg and print its per-phase RSS lines (tuning aid).
    'rss-lines': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    // The upgrade's window (app down) offline against online, at --rows and 3× that, with a live writer.
    window: { type: 'boolean', default: false },
    // Comma-separated subset of: backup,export,load-pg,verify,fallback,raw,pgloader (for tuning one contender).
    only: { type: 'string' },
    // Create the databases with the cluster's default collation (libc C.UTF-8 here) instead of create-role's
    // byte-order one (builtin C.UTF-8 on this PostgreSQL 18).
    'cluster-collation': { type: 'boolean', default: false },
  },
});
const ROWS = Number(args.rows);
const ONLY = args.only ? new Set(args.only.split(',')) : undefined;
const wanted = (name: string) => !ONLY || ONLY.has(name);
const SEED = Number(args.seed);
mkdirSync(OUT, { recursive: true });

interface Measured {
  name: string;
  seconds: number;
  rows: number;
  peakRssMb?: number;
  /** user + sys CPU seconds of the contender's own process (PostgreSQL's work is not in it). */
  cpuSeconds?: number;
  exitCode: number | null;
  note?: string;
  phases?: Record<string, number>;
}

const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

/** SQLite file with `rows` rows of the fixture schema, cached in bench/out (same rows + seed → same file). */
function benchSqlite(rows: number): { file: string; totalRows: number; rowCounts: Record<string, number> } {
  const file = path.join(OUT, `visionsuit-${rows}-s${SEED}.sqlite`);
  const meta = `${file}.json`;
  if (existsSync(file) && existsSync(meta)) return { file, ...JSON.parse(readFileSync(meta, 'utf8')) };
  log(`building ${file} (${rows.toLocaleString('en-US')} rows)…`);
  const seeded = buildSeededSqlite(file, { rows, seed: SEED });
  writeFileSync(meta, JSON.stringify({ totalRows: seeded.totalRows, rowCounts: seeded.rowCounts }));
  log(`built in ${seeded.seconds.toFixed(1)}s`);
  return { file, totalRows: seeded.totalRows, rowCounts: seeded.rowCounts };
}

const TIME_BIN = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

/** Run a child process, wall-clocked, with peak RSS from /usr/bin/time (when installed). Secrets only via env. */
async function runMeasured(
  command: string,
  argv: string[],
  env: Record<string, string | undefined>,
  timeoutSeconds = 3600,
): Promise<{
  code: number | null;
  seconds: number;
  peakRssMb?: number;
  cpuSeconds?: number;
  stdout: string;
  stderr: string;
}> {
  const timeFile = path.join(os.tmpdir(), `bench-time-${process.pid}-${Date.now()}`);
  const [cmd, cmdArgs] = TIME_BIN ? [TIME_BIN, ['-f', '%M %U %S', '-o', timeFile, command, ...argv]] : [command, argv];
  const started = performance.now();
  return await new Promise((resolve, reject) => {
    const child = spawn(cmd, cmdArgs, {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (stderr.length > 4_000_000) stderr = stderr.slice(-1_000_000);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutSeconds * 1000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const seconds = (performance.now() - started) / 1000;
      let peakRssMb: number | undefined;
      let cpuSeconds: number | undefined;
      if (existsSync(timeFile)) {
        // The last line is ours (earlier lines may say "Command exited with non-zero status").
        const m = /(\d+) ([\d.]+) ([\d.]+)\s*$/.exec(readFileSync(timeFile, 'utf8').trim());
        if (m) {
          peakRssMb = Math.round(Number(m[1]) / 1024);
          cpuSeconds = Math.round((Number(m[2]) + Number(m[3])) * 10) / 10;
        }
        rmSync(timeFile, { force: true });
      }
      resolve({ code, seconds, peakRssMb, cpuSeconds, stdout, stderr });
    });
  });
}

/** What the justfile's load-pg and fallback recipes set (keep in sync): the benchmark measures them as operators run them. */
const LOAD_PG_NODE_OPTIONS = '--max-semi-space-size=1';

// BENCH_NODE_ARGS: extra node flags for the measured tasks, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` (not allowed in
// NODE_OPTIONS) when looking for where load-pg's time goes.
const nodeTask = (task: string) =>
  [
    process.execPath,
    [...(process.env.BENCH_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? []), ...taskNodeArgs(task)],
  ] as const;

/**
 * An app dir holding the bench's SQLite file as its database (copied, so the cached file stays pristine) and a run
 * directory made by the real `backup` task from it — snapshot, integrity check, checksum and seal exactly as an
 * operator's run has them. Returns backup's own measurement too.
 */
async function makeRunDir(
  sqliteFile: string,
  totalRows: number,
): Promise<{ appDir: string; runDir: string; tmp: string; backup: Measured }> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'vs-bench-'));
  const appDir = path.join(tmp, 'app');
  const prismaDir = path.join(appDir, 'backend', 'prisma');
  mkdirSync(prismaDir, { recursive: true });
  copyFileSync(path.join(TEMPLATE_DIR, 'backend', 'prisma', 'schema.prisma'), path.join(prismaDir, 'schema.prisma'));
  copyFileSync(sqliteFile, path.join(prismaDir, 'bench.db'));
  writeFileSync(path.join(appDir, 'backend', '.env'), 'DATABASE_URL="file:./bench.db"\n', { mode: 0o600 });
  const runDir = path.join(tmp, 'run');
  const backup = await runTaskMeasured(
    'backup',
    'backup',
    ['--app-dir', appDir, '--run-dir', runDir, '--json'],
    {},
    totalRows,
  );
  if (backup.exitCode !== 0)
    throw new Error(`backup of the bench database failed (exit ${backup.exitCode}): ${backup.note ?? ''}`);
  return { appDir, runDir, tmp, backup };
}

/**
 * A new database for one contender, made the way create-role makes the app's (byte-order collation), after a
 * CHECKPOINT: the buffers the previous contender dirtied are written out now instead of by the checkpointer in the
 * middle of the next run (the bench's later runs were the slower ones).
 */
async function freshDatabase(server: EmbeddedServer, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: server.url() });
  await client.connect();
  try {
    if (args['cluster-collation']) await server.createDatabase(database);
    else
      await client.query(
        sqlWithIdentifiers('create-role-create-database', {
          database: pg.escapeIdentifier(database),
          role: pg.escapeIdentifier(client.user!),
        }),
      );
    await client.query(loadSql('bench-checkpoint'));
  } finally {
    await client.end();
  }
}

async function runLoadPg(
  server: EmbeddedServer,
  database: string,
  appDir: string,
  runDir: string,
  totalRows: number,
  more: string[] = [],
): Promise<Measured> {
  await freshDatabase(server, database);
  const [cmd, base] = nodeTask('load-pg');
  const extra = [...(args.jobs ? ['--jobs', args.jobs] : []), ...more, ...(args['rss-lines'] ? ['--verbose'] : [])];
  const run = await runMeasured(cmd, [...base, '--app-dir', appDir, '--run-dir', runDir, '--json', ...extra], {
    TARGET_DATABASE_URL: server.url(database),
    NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS ?? LOAD_PG_NODE_OPTIONS,
  });
  const json = jsonOutput(run.stdout);
  if (run.code !== 0) log(`load-pg failed (${run.code}): ${run.stderr.slice(-2000)}`);
  if (args['rss-lines'])
    for (const line of run.stderr.split('\n').filter((l) => /rss .*\d+ MB|: \d+ rows in /.test(l))) log(line);
  return {
    name: 'load-pg',
    seconds: run.seconds,
    rows: json?.totalRows ?? totalRows,
    peakRssMb: run.peakRssMb,
    cpuSeconds: run.cpuSeconds,
    exitCode: run.code,
    phases: json?.phases,
    note:
      run.code === 0
        ? `copy phase ${json?.phases?.copy}s; snapshot ${json?.snapshotCheck}`
        : `failed: ${json?.error ?? run.stderr.split('\n').filter(Boolean).pop()}`,
  };
}

/** Pre-convert every table to a COPY text file (not timed: the raw baseline gets its input for free). */
async function writeRawFiles(
  server: EmbeddedServer,
  database: string,
  appDir: string,
  sqliteFile: string,
  dir: string,
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const client = new pg.Client({ connectionString: server.url(database) });
  await client.connect();
  const model = loadSchemaModel(path.join(appDir, 'backend', 'prisma', 'schema.prisma'));
  const db = new Database(sqliteFile, { readonly: true });
  const plans = planTables(
    model,
    db,
    await readTargetColumns(client, 'public'),
    'public',
    new Map(model.tables.map((t) => [t.name, 0])),
  );
  await client.end();
  const tables = [];
  for (const plan of plans) {
    const file = path.join(dir, `${plan.table}.copy`);
    const out = createWriteStream(file);
    const counter = { rows: 0 };
    let bytes = 0;
    for (const chunk of tableCopyChunks(db, plan, counter)) {
      bytes += Buffer.byteLength(chunk);
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    tables.push({ table: plan.table, columns: plan.columns.map((c) => c.name), file, rows: counter.rows, bytes });
  }
  db.close();
  writeFileSync(path.join(dir, 'tables.json'), JSON.stringify(tables));
}

async function runRaw(
  server: EmbeddedServer,
  database: string,
  runDir: string,
  filesDir: string,
  totalRows: number,
): Promise<Measured> {
  await freshDatabase(server, database);
  const migrationsDir = path.join(runDir, 'postgres-schema', 'migrations');
  const ddl = readdirSync(migrationsDir)
    .filter((d) => existsSync(path.join(migrationsDir, d, 'migration.sql')))
    .sort()
    .map((d) => readFileSync(path.join(migrationsDir, d, 'migration.sql'), 'utf8'))
    .join('\n');
  const ddlFile = path.join(filesDir, 'ddl.sql');
  writeFileSync(ddlFile, ddl);
  const run = await runMeasured(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(BENCH_DIR, 'raw-copy.ts'),
      filesDir,
      ddlFile,
      path.join(runDir, 'postgres-schema', 'deferred-objects.json'),
    ],
    { TARGET_DATABASE_URL: server.url(database) },
  );
  const json = jsonOutput(run.stdout);
  if (run.code !== 0) log(`raw COPY failed (${run.code}): ${run.stderr.slice(-2000)}`);
  return {
    name: 'raw COPY (pre-converted, 2 conns)',
    seconds: run.seconds,
    rows: json?.rows ?? totalRows,
    peakRssMb: run.peakRssMb,
    cpuSeconds: run.cpuSeconds,
    exitCode: run.code,
    phases: json?.phases,
    note: json ? `copy phase ${json.phases.copy}s` : undefined,
  };
}

/** The fallback's PostgreSQL → SQLite export (and its verify) from the database load-pg filled. */
async function runFallbackExport(
  server: EmbeddedServer,
  database: string,
  runDir: string,
  tmp: string,
  totalRows: number,
): Promise<Measured> {
  const run = await runMeasured(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(BENCH_DIR, 'fallback-export.ts'),
      runDir,
      path.join(TEMPLATE_DIR, 'backend', 'prisma', 'migrations'),
      path.join(tmp, 'fallback.db'),
    ],
    // As the justfile's fallback recipe runs it.
    { TARGET_DATABASE_URL: server.url(database), NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS ?? LOAD_PG_NODE_OPTIONS },
  );
  const json = jsonOutput(run.stdout);
  if (run.code !== 0) log(`fallback export failed (${run.code}): ${run.stderr.slice(-2000)}`);
  rmSync(path.join(tmp, 'fallback.db'), { force: true });
  return {
    name: 'fallback export (PostgreSQL → SQLite) + its verify + catch-up',
    seconds: run.seconds,
    rows: json?.rows ?? totalRows,
    peakRssMb: run.peakRssMb,
    cpuSeconds: run.cpuSeconds,
    exitCode: run.code,
    phases: json?.phases,
    note: json
      ? `export ${json.exportSeconds}s (schema ${json.phases.schema}s, copy ${json.phases.copy}s, finish ${json.phases.finish}s); verify ${json.phases.verify}s; window's catch-up ${json.phases.catchUp}s (${json.caughtUp.tables.join(', ')}: ${json.caughtUp.rows} rows copied again); peak RSS after copy / finish / verify ${json.peakRss.copy} / ${json.peakRss.finish} / ${json.peakRss.verify} MB`
      : undefined,
  };
}

/**
 * pgloader's best case: a copy of the SQLite file whose epoch-millisecond DateTimes were rewritten as text
 * (`YYYY-MM-DD HH:MM:SS.SSS`, what SQLite's own date functions write), so the epoch-ms trap does not stop it and it
 * has to load every row. Made once per file (not timed: pgloader gets the conversion for free).
 */
function pgloaderFriendlyCopy(sqliteFile: string, schemaPath: string, into: string): string {
  const file = path.join(into, 'pgloader-friendly.sqlite');
  copyFileSync(sqliteFile, file);
  const db = new Database(file);
  try {
    const model = loadSchemaModel(schemaPath);
    db.exec('BEGIN');
    for (const table of model.tables) {
      for (const column of table.columns) {
        if (column.kind !== 'datetime') continue;
        db.prepare(
          sqlWithIdentifiers('bench-epoch-ms-to-text', {
            table: pg.escapeIdentifier(table.name),
            column: pg.escapeIdentifier(column.name),
          }),
        ).run();
      }
    }
    db.exec('COMMIT');
  } finally {
    db.close();
  }
  return file;
}

/**
 * What an expert's pgloader command adds for Prisma's SQLite columns: pgloader maps REAL to float4 (overflows on
 * doubles) and prints Lisp doubles as `3.14d0`, which PostgreSQL refuses as float8 and as JSON — a number stored
 * in a Json column (NUMERIC affinity: `JSONB` in SQLite) reaches it as a double. float-to-string prints them as
 * PostgreSQL reads them. With these, the only trap left on VisionSuit's data is the epoch-ms DateTime.
 */
const PGLOADER_CASTS =
  'type real to "double precision" using float-to-string, type jsonb to jsonb using float-to-string';

/**
 * The whole job on the real file: PGLOADER_CASTS plus bench/pgloader-epoch-ms.lisp for every DateTime column (epoch
 * milliseconds and text in one column), loaded with --load-lisp-file.
 */
const PGLOADER_EPOCH_MS = {
  lispFile: path.join(BENCH_DIR, 'pgloader-epoch-ms.lisp'),
  casts: `${PGLOADER_CASTS}, type datetime to "timestamp(3)" using epoch-ms-or-text-to-timestamp`,
};

async function runPgloader(
  server: EmbeddedServer,
  database: string,
  sqliteFile: string,
  totalRows: number,
  how: { lispFile?: string; casts: string } = { casts: PGLOADER_CASTS },
): Promise<Measured | undefined> {
  const which = spawnSync('which', ['pgloader'], { encoding: 'utf8' });
  const bin = which.stdout.trim();
  if (which.status !== 0 || !bin) return undefined;
  await freshDatabase(server, database);
  // The password travels in PGPASSWORD, never in the command line or the command file. batch/prefetch rows 5000:
  // with its defaults (25,000 / 100,000) Debian's pgloader 3.6.9 exhausts its 1 GB heap on this file and exits 1.
  const commandFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'vs-pgloader-')), 'load.cmd');
  writeFileSync(
    commandFile,
    `LOAD DATABASE\n  FROM sqlite://${sqliteFile}\n  INTO postgresql://${server.superUser}@127.0.0.1:${server.port}/${database}\n  WITH include drop, create tables, create indexes, reset sequences, workers = 2, concurrency = 1, batch rows = 5000, prefetch rows = 5000\n  CAST ${how.casts}\n  EXCLUDING TABLE NAMES LIKE '_prisma_migrations'\n;\n`,
    { mode: 0o600 },
  );
  // pgloader compiles a loaded Lisp file into a .fasl beside it: load a copy in the temp dir, not the repo's file.
  const lispCopy = how.lispFile ? path.join(path.dirname(commandFile), path.basename(how.lispFile)) : undefined;
  if (how.lispFile && lispCopy) copyFileSync(how.lispFile, lispCopy);
  const run = await runMeasured(
    bin,
    [...(lispCopy ? ['--load-lisp-file', lispCopy] : []), commandFile],
    { PGPASSWORD: server.superPassword },
    Number(args['pgloader-timeout']),
  );
  rmSync(path.dirname(commandFile), { recursive: true, force: true });
  const text = run.stdout + '\n' + run.stderr;
  writeFileSync(path.join(OUT, 'pgloader-last.log'), text.slice(-200_000));
  // Summary line: "Total import time  ✓  <rows>  <bytes>  <time>" and an "errors" column per table.
  const errorLines = (text.match(/\bERROR\b/g) ?? []).length;
  let rows = 0;
  try {
    const client = new pg.Client({ connectionString: server.url(database) });
    await client.connect();
    const { rows: counted } = await client.query<{ n: string }>(loadSql('bench-count-all-rows'));
    rows = Number(counted[0].n);
    await client.end();
  } catch {
    rows = 0;
  }
  return {
    name: 'pgloader',
    seconds: run.seconds,
    rows,
    peakRssMb: run.peakRssMb,
    cpuSeconds: run.cpuSeconds,
    exitCode: run.code,
    note: `${errorLines} ERROR lines; ~${rows.toLocaleString('en-US')} of ${totalRows.toLocaleString('en-US')} rows landed${run.code === null ? '; killed at timeout' : ''}`,
  };
}

async function runTaskMeasured(
  name: string,
  task: string,
  argv: string[],
  env: Record<string, string>,
  totalRows: number,
): Promise<Measured> {
  const [cmd, base] = nodeTask(task);
  const run = await runMeasured(cmd, [...base, ...argv], env);
  const json = jsonOutput(run.stdout);
  if (run.code !== 0) log(`${task} exited ${run.code}: ${(json?.summary ?? run.stderr.slice(-1500)) as string}`);
  return {
    name,
    seconds: run.seconds,
    rows: totalRows,
    peakRssMb: run.peakRssMb,
    cpuSeconds: run.cpuSeconds,
    exitCode: run.code,
    note: json?.summary?.slice(0, 120),
  };
}

function table(results: Measured[]): string {
  const lines = [
    '| contender | exit | wall s | rows/s | peak RSS MB | client CPU s | notes |',
    '|---|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.name} | ${r.exitCode ?? 'killed'} | ${r.seconds.toFixed(2)} | ${Math.round(r.rows / r.seconds).toLocaleString('en-US')} | ${r.peakRssMb ?? 'n/a'} | ${r.cpuSeconds ?? 'n/a'} | ${r.note ?? ''} |`,
    );
  }
  return lines.join('\n');
}

async function main() {
  const cpus = os.cpus();
  const header = `VisionSuit-shaped SQLite → PostgreSQL, ${ROWS.toLocaleString('en-US')} rows requested, ${cpus.length} × ${cpus[0]?.model ?? 'cpu'}, node ${process.version}, ${new Date().toISOString()}`;
  log(header);
  // autovacuum off: each contender leaves a database of 1.5 M fresh rows behind, and autovacuum working through one
  // (the raw baseline's above all: no ANALYZE, no frozen pages) would take CPU from whichever contender runs next.
  // wal_init_zero off: the first contender to write ~400 MB of WAL into the fresh cluster had to create and zero-fill
  // every WAL segment, the later ones reuse them (load-pg, which runs first, measured 0.8-1.9 s slower in its first
  // run than in its repeats; raw never runs first). Without zero-filling, a new segment costs what a reused one does.
  const server = await startEmbeddedServer({
    settings: {
      max_wal_size: '4GB',
      checkpoint_timeout: '30min',
      shared_buffers: '256MB',
      autovacuum: 'off',
      wal_init_zero: 'off',
    },
  });
  if (args.window) {
    try {
      const { runs, text } = await runWindowBench({ server, benchSqlite, runMeasured, freshDatabase, log, rows: ROWS });
      process.stdout.write(`\n${header}\n\n${text}`);
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      writeFileSync(path.join(OUT, `bench-window-${stamp}.md`), `${header}\n\n${text}`);
      writeFileSync(path.join(OUT, `bench-window-${stamp}.json`), JSON.stringify({ header, runs }, null, 2));
    } finally {
      await server.stop();
    }
    return;
  }
  const tmpDirs: string[] = [];
  try {
    const { file, totalRows } = benchSqlite(ROWS);
    const sizeMb = Math.round(statSync(file).size / 1048576);
    const { appDir, runDir, tmp, backup } = await makeRunDir(file, totalRows);
    tmpDirs.push(tmp);
    const results: Measured[] = wanted('backup') ? [backup] : [];
    const env = { TARGET_DATABASE_URL: server.url('bench_loadpg') };

    const exportTask = existsSync(path.join(REPO, 'tasks', 'export-sqlite.ts'));
    // Always run: load-pg follows export-sqlite in every chain (justfile, upgrade), and uses what it leaves (the
    // snapshot's seal, the parsed schema model). Reported only when wanted.
    const exportFor = (dirs: { appDir: string; runDir: string }, rows: number) =>
      runTaskMeasured(
        'export-sqlite (manifest)',
        'export-sqlite',
        ['--app-dir', dirs.appDir, '--run-dir', dirs.runDir, '--json'],
        {},
        rows,
      );
    if (exportTask) {
      log(wanted('export') ? 'export-sqlite…' : 'export-sqlite (not reported)…');
      const exported = await exportFor({ appDir, runDir }, totalRows);
      if (wanted('export')) results.push(exported);
    }
    log('load-pg…');
    // load-pg always runs: raw and verify need its schema and database.
    const loadPg = await runLoadPg(server, 'bench_loadpg', appDir, runDir, totalRows);
    results.push(loadPg);
    if (
      wanted('verify') &&
      existsSync(path.join(REPO, 'tasks', 'verify.ts')) &&
      existsSync(path.join(runDir, 'manifest.json')) &&
      loadPg.exitCode === 0
    ) {
      log('verify…');
      results.push(
        await runTaskMeasured('verify', 'verify', ['--app-dir', appDir, '--run-dir', runDir, '--json'], env, totalRows),
      );
    }
    if (wanted('fallback') && loadPg.exitCode === 0) {
      log('fallback export…');
      results.push(await runFallbackExport(server, 'bench_loadpg', runDir, tmp, totalRows));
    }
    let raw: Measured = { name: 'raw', seconds: 0, rows: 0, exitCode: null };
    if (wanted('raw') && loadPg.exitCode === 0) {
      log('pre-converting COPY files for the raw baseline (not timed)…');
      const filesDir = path.join(tmp, 'raw');
      await writeRawFiles(server, 'bench_loadpg', appDir, path.join(runDir, 'snapshot.sqlite'), filesDir);
      log('raw COPY…');
      raw = await runRaw(server, 'bench_raw', runDir, filesDir, totalRows);
      results.push(raw);
      rmSync(filesDir, { recursive: true, force: true });
    }
    let pgloader: Measured | undefined;
    let pgloaderFriendly: Measured | undefined;
    let pgloaderWhole: Measured | undefined;
    if (!args['no-pgloader'] && wanted('pgloader')) {
      log('pgloader…');
      pgloader = await runPgloader(server, 'bench_pgloader', path.join(runDir, 'snapshot.sqlite'), totalRows);
      if (pgloader) {
        results.push(pgloader);
        log('pgloader with an epoch-ms transform for the DateTimes (the whole job, same file)…');
        const whole = await runPgloader(
          server,
          'bench_pgloader_epoch_ms',
          path.join(runDir, 'snapshot.sqlite'),
          totalRows,
          PGLOADER_EPOCH_MS,
        );
        if (whole) {
          pgloaderWhole = { ...whole, name: 'pgloader + epoch-ms transform (same file)' };
          results.push(pgloaderWhole);
        }
        log('pgloader on a copy with the DateTimes pre-converted to text (conversion not timed)…');
        const friendly = pgloaderFriendlyCopy(
          path.join(runDir, 'snapshot.sqlite'),
          path.join(appDir, 'backend', 'prisma', 'schema.prisma'),
          tmp,
        );
        const best = await runPgloader(server, 'bench_pgloader_friendly', friendly, totalRows);
        rmSync(friendly, { force: true });
        if (best) {
          pgloaderFriendly = { ...best, name: 'pgloader, DateTimes converted beforehand (untimed)' };
          results.push(pgloaderFriendly);
        }
      } else log('pgloader not installed: skipped');
    }

    // Last, because every load-pg run rewrites the run dir's postgres-schema (verify and raw read it above).
    if (args['compare-format']) {
      log('load-pg --copy-format text…');
      const text = await runLoadPg(server, 'bench_loadpg_text', appDir, runDir, totalRows, ['--copy-format', 'text']);
      results.push({ ...text, name: 'load-pg --copy-format text' });
    }
    if (args['compare-threads']) {
      log('load-pg --single-thread…');
      const single = await runLoadPg(server, 'bench_loadpg_single', appDir, runDir, totalRows, ['--single-thread']);
      results.push({ ...single, name: 'load-pg --single-thread' });
    }
    // Interference from other work on the machine only ever adds time: with --repeat N, load-pg and raw COPY run
    // N more times, alternating, and the fastest of each is reported too.
    const repeat = Number(args.repeat);
    let best: { loadPg: Measured; raw: Measured } | undefined;
    if (repeat > 0 && loadPg.exitCode === 0 && raw.exitCode === 0) {
      const filesDir = path.join(tmp, 'raw');
      await writeRawFiles(server, 'bench_loadpg', appDir, path.join(runDir, 'snapshot.sqlite'), filesDir);
      const lp: Measured[] = [loadPg];
      const rw: Measured[] = [raw];
      for (let i = 1; i <= repeat; i++) {
        log(`repeat ${i}/${repeat}…`);
        rw.push(await runRaw(server, `bench_raw_${i}`, runDir, filesDir, totalRows));
        lp.push(await runLoadPg(server, `bench_loadpg_${i}`, appDir, runDir, totalRows));
      }
      rmSync(filesDir, { recursive: true, force: true });
      const fastest = (list: Measured[]) =>
        list.filter((m) => m.exitCode === 0).sort((a, b) => a.seconds - b.seconds)[0];
      best = {
        loadPg: {
          ...fastest(lp),
          name: `load-pg (fastest of ${lp.length})`,
          peakRssMb: Math.max(...lp.map((m) => m.peakRssMb ?? 0)),
        },
        raw: { ...fastest(rw), name: `raw COPY (fastest of ${rw.length})` },
      };
      results.push(best.loadPg, best.raw);
    }

    const out: string[] = [
      `## ${header}`,
      '',
      `SQLite file: ${sizeMb} MB, ${totalRows.toLocaleString('en-US')} rows in 30 tables`,
      '',
      table(results),
      '',
    ];
    if (loadPg.exitCode === 0 && raw.exitCode === 0)
      out.push(`- load-pg / raw COPY: **${(loadPg.seconds / raw.seconds).toFixed(2)}×** (target ≤ 1.5×)`);
    if (best)
      out.push(
        `- load-pg / raw COPY, fastest runs: **${(best.loadPg.seconds / best.raw.seconds).toFixed(2)}×** (peak RSS over all load-pg runs ${best.loadPg.peakRssMb} MB)`,
      );
    // The same work on both sides: rows in (load-pg's COPY phase includes its per-table ANALYZE), indexes, foreign keys.
    const dataPath = (m: Measured) =>
      m.phases
        ? (m.phases.copy ?? 0) + (m.phases.indexes ?? 0) + (m.phases.foreignKeys ?? 0) + (m.phases.analyze ?? 0)
        : NaN;
    const lpBest = best?.loadPg ?? loadPg;
    const rawBest = best?.raw ?? raw;
    if (
      lpBest.exitCode === 0 &&
      rawBest.exitCode === 0 &&
      Number.isFinite(dataPath(lpBest)) &&
      Number.isFinite(dataPath(rawBest))
    ) {
      out.push(
        `- data path only (copy + indexes + FKs; load-pg's copy includes ANALYZE), load-pg / raw: **${(dataPath(lpBest) / dataPath(rawBest)).toFixed(2)}×** (${dataPath(lpBest).toFixed(2)} s vs ${dataPath(rawBest).toFixed(2)} s); the rest of load-pg is start-up, snapshot checksum, Prisma schema engine`,
      );
    }
    // The ≥ 2× target needs a pgloader that does the whole job: the same file in, every row out (checked: all rows
    // counted), DateTimes converted by the transform an expert would load. The run on a pre-converted copy is the
    // lower bound: the conversion load-pg does inside its time is done for pgloader beforehand, untimed.
    const landed = (m: Measured) =>
      m.rows === totalRows && m.exitCode === 0
        ? 'every row landed'
        : `only ${m.rows.toLocaleString('en-US')} of ${totalRows.toLocaleString('en-US')} rows landed, so this understates pgloader's time`;
    if (pgloaderWhole && loadPg.exitCode === 0) {
      out.push(
        `- pgloader doing the whole job (same file, epoch-ms transform) / load-pg wall time: **${(pgloaderWhole.seconds / loadPg.seconds).toFixed(2)}×** (target ≥ 2×; ${landed(pgloaderWhole)})`,
      );
    }
    if (pgloaderFriendly && loadPg.exitCode === 0) {
      out.push(
        `- pgloader on a copy with the DateTimes converted beforehand (untimed) / load-pg wall time: **${(pgloaderFriendly.seconds / loadPg.seconds).toFixed(2)}×** (pgloader's lower bound; ${landed(pgloaderFriendly)})`,
      );
    }
    if (pgloader && loadPg.exitCode === 0) {
      out.push(
        `- pgloader on the real file / load-pg wall time: **${(pgloader.seconds / loadPg.seconds).toFixed(2)}×** (pgloader exit ${pgloader.exitCode ?? 'killed'}, ${pgloader.rows.toLocaleString('en-US')} of ${totalRows.toLocaleString('en-US')} rows landed)`,
      );
      // pgloader "finishes" early by failing tables: compare the rows each one actually delivered per second.
      const lpRate = loadPg.rows / loadPg.seconds;
      const plRate = pgloader.rows / pgloader.seconds;
      out.push(
        `- delivered rows/s, load-pg / pgloader: **${plRate > 0 ? (lpRate / plRate).toFixed(1) + '×' : '∞ (pgloader delivered nothing)'}**`,
      );
    }
    const verify = results.find((r) => r.name === 'verify');
    if (verify)
      out.push(
        `- verify / load-pg: **${(verify.seconds / loadPg.seconds).toFixed(2)}×** (issue 4: < 1×; verify exit ${verify.exitCode})`,
      );
    if (loadPg.peakRssMb) out.push(`- load-pg peak RSS: **${loadPg.peakRssMb} MB** (target ≤ 256 MB)`);
    if (loadPg.phases)
      out.push(
        `- load-pg phases (s): ${Object.entries(loadPg.phases)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      );
    if (raw.phases)
      out.push(
        `- raw phases (s): ${Object.entries(raw.phases)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`,
      );

    if (args.scaling) {
      const scaling: Measured[] = [];
      for (const n of [100_000, 1_000_000, 3_000_000]) {
        const built = benchSqlite(n);
        const dirs = await makeRunDir(built.file, built.totalRows);
        tmpDirs.push(dirs.tmp);
        log(`scaling: load-pg ${n.toLocaleString('en-US')} rows…`);
        // As in the chain (and the main run above): export-sqlite first, untimed.
        if (exportTask) {
          const exported = await exportFor(dirs, built.totalRows);
          if (exported.exitCode !== 0)
            throw new Error(
              `export-sqlite of the ${n}-row bench database failed (exit ${exported.exitCode}): ${exported.note ?? ''}`,
            );
        }
        const m = await runLoadPg(server, `bench_scale_${n}`, dirs.appDir, dirs.runDir, built.totalRows);
        scaling.push({ ...m, name: `load-pg ${n.toLocaleString('en-US')} rows` });
        rmSync(dirs.tmp, { recursive: true, force: true });
      }
      out.push('', '### Scaling (load-pg only)', '', table(scaling));
      const per = scaling.map((s) => (s.seconds / s.rows) * 1e6);
      out.push(
        '',
        `- µs per row: ${per.map((p) => p.toFixed(2)).join(' / ')} (100k / 1M / 3M; includes fixed start-up cost)`,
      );
    }

    const text = out.join('\n') + '\n';
    process.stdout.write('\n' + text);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    writeFileSync(path.join(OUT, `bench-${stamp}.md`), text);
    writeFileSync(path.join(OUT, `bench-${stamp}.json`), JSON.stringify({ header, results }, null, 2));
  } finally {
    await server.stop();
    if (!args.keep) for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
