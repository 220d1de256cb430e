import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline/promises';
import type pg from 'pg';
import Database from '../sqlite/driver.ts';
import { assertAppInstall, type Settings } from '../cli/config.ts';
import type { StepContext, StepResult } from '../cli/run-cli.ts';
import type { Logger } from '../cli/log.ts';
import {
  Outcome,
  DomainError,
  errorMessage,
  sourceProblem,
  usageError,
  type OutcomeKind,
  StepFailure,
} from '../errors.ts';
import { portOfUrl, resolveHealthUrl } from '../app/health-probe.ts';
import type { DatabaseProof } from '../app/database-proof.ts';
import { generateAppClient, type GenerateResult } from '../app/prisma-generate.ts';
import { appProcesses } from '../app/processes.ts';
import { runServiceCommand } from '../app/service-commands.ts';
import { sha256File } from '../files/file-tree.ts';
import { loadSql } from '../files/sql-files.ts';
import { pgRowCount, pgTableHash } from '../pg/content-hash.ts';
import { targetSchemaFromUrl } from '../pg/schema-objects.ts';
import { OUR_APPLICATION_NAME } from '../pg/target-marker.ts';
import { displayUrl, openTarget } from '../pg/target.ts';
import { loadSchemaModel, type SchemaModel } from '../prisma/schema-model.ts';
import { checkPausePoint, pausePoint } from '../run/pause-point.ts';
import { acquireLock, claimThisRunDir } from '../run/run-lock.ts';
import { loadOrCreateJournal, readJournal, recordStep, RUN_FILES, utcStamp, writeJournal } from '../run/run-dir.ts';
import { exportPostgres, type ExportedTable } from '../fallback/export-pg.ts';
import { swapIntoPlace, type SwapPlan } from '../fallback/swap-file.ts';
import { checkFallbackFile, type TableCheck } from '../fallback/verify-file.ts';
import { catchUp } from '../fallback/catch-up.ts';
import {
  buildPrismaSqliteFile,
  finishPrismaSqliteFile,
  raiseSequences,
  readSqliteHeader,
  PRISMA_MIGRATIONS,
} from '../sqlite/fallback-file.ts';
import { liveChangeFrom, recordedContentHash } from './backup.ts';
import { cutoverSourceFingerprint } from './online-cutover.ts';
import { scanAll } from './export-sqlite.ts';
import { appDatabaseKind, appPostgresUrl, startFailure, startServices, type StartResult } from './maintenance.ts';
import { findSwitchedRunDir, restorePreSwitchFiles } from './rollback.ts';
import { readSwitchState, writeSwitchState, type SwitchState } from './switch-env.ts';
import { guardianArgs, spawnGuardian, standDownGuardian } from './upgrade-guardian.ts';

/** lib/steps/fallback-guardian.ts, started by path: it runs this module's fallback() itself. */
const GUARDIAN_SCRIPT = fileURLToPath(new URL('./fallback-guardian.ts', import.meta.url));

/**
 * `just fallback`: the app back on SQLite WITH everything PostgreSQL holds (the writes it made after the cutover).
 *
 *   lock → check (the run's switch, the app's file unchanged since the backup, PostgreSQL's schema the cutover's) →
 *   export (the app still running: a new file beside the app's, its own SQLite migrations, `_prisma_migrations` as it
 *   had it, every table streamed from one PostgreSQL snapshot in Prisma 6's storage format) → verify (per table count
 *   and canonical content hash of the file = PostgreSQL's in that snapshot, integrity_check, foreign_key_check,
 *   schema = the app's file) → stop the app (no app process left) → catch-up (the row versions PostgreSQL wrote
 *   since the export's snapshot carried into the file, the rows it deleted taken out, each table checked) → swap (the new file takes
 *   the name, the original is kept beside it, byte-identical) → restore (env files, schema, migrations: rollback's
 *   restore) → generate (the app's Prisma Client for sqlite) → start (health, then from outside: the app holds the new
 *   file, no session on PostgreSQL).
 *
 * The window is stop → start: what the app wrote during the export is carried by the catch-up, row by row, and a
 * table without a fresh row version and with its exported count is unchanged. The PostgreSQL database is never written and is left as it is.
 *
 * Failure before the swap: the app runs on PostgreSQL (started again if it was stopped; config untouched), the
 * half-built or failed file kept for forensics; a verification mismatch is exit 1. The swap is the commit point: from
 * there a failure or a kill is finished by the guardian or the next `just fallback`, which rolls forward (swap,
 * restore, generate and start are each safe to repeat). Before it, the next run starts over from the export.
 */
export const FALLBACK_STEPS = [
  'fallback:check',
  'fallback:export',
  'fallback:verify',
  'fallback:stop',
  'fallback:catch-up',
  'fallback:swap',
  'fallback:restore',
  'fallback:generate',
  'fallback:start',
] as const;
type FallbackStep = (typeof FALLBACK_STEPS)[number];

export interface FallbackOptions {
  waitSeconds?: number;
  healthUrl?: string;
  noGenerate?: boolean;
}

const FALLBACK_STATE = 'fallback';
/** From this file size on the verify scans on two threads, as export-sqlite does. */
const SCAN_THREADS_FROM_BYTES = 32 * 1024 * 1024;
interface FallbackState {
  startedAt: string;
  pid: number;
  attempts: number;
  live: string;
  built: string;
  aside: string;
  builtIno?: number;
  /** The xmin of the export's snapshot: the catch-up carries the row versions written since (lib/fallback/catch-up-rows.ts). */
  exportXmin?: string;
  /** What PostgreSQL held when it was exported (per table), so a resumed run can tell it has not changed since. */
  exported?: { name: string; pgRowCount: number; pgContentHash: string }[];
  committedAt?: string;
  finishedAt?: string;
  outcome?: 'fell-back' | 'verification-failed' | 'restarted-on-postgresql';
}

export interface FallbackStepRecord {
  name: string;
  status: 'done' | 'skipped' | 'failed';
  ms: number;
  message?: string;
}

export interface FallbackResult extends StepResult {
  runDir?: string;
  dryRun: boolean;
  resumed?: boolean;
  steps: FallbackStepRecord[];
  /** Rows per table on PostgreSQL (what comes back). */
  counts?: Record<string, number>;
  rows?: number;
  plan?: string[];
  tables?: TableCheck[];
  failures?: string[];
  sqlitePath?: string;
  /** Where the original file is kept, and whether it is byte-identical to the run's backup. */
  original?: { path: string; sha256?: string; unchanged: boolean };
  exportMs?: number;
  windowMs?: number;
  proof?: DatabaseProof;
  generate?: GenerateResult;
  failedStep?: string;
  ms?: number;
}

/** What the fallback works from, all recorded by the upgrade's run. */
interface Inputs {
  runDir: string;
  switchState: SwitchState;
  /** Absent only on a resumed run whose env files are already restored (and no --target). */
  pgUrl?: string;
  pgSchema: string;
  model: SchemaModel;
  live: string;
  liveSha256: string;
  snapshot: string;
  migrationsDir: string;
}

function readInputs(settings: Settings): Inputs {
  const runDir = findSwitchedRunDir(settings);
  const journal = runDir ? readJournal(runDir) : undefined;
  const switchState = runDir ? readSwitchState(runDir, settings.appDir) : undefined;
  if (!runDir || !journal || !switchState?.completedAt)
    throw usageError('no run of this app records a completed switch-env: there is no cutover to fall back from');
  const source = cutoverSourceFingerprint(runDir);
  if (!source) throw usageError(`${runDir} has no backup record: it did not migrate a SQLite file`);
  const snapshot = path.join(runDir, RUN_FILES.snapshot);
  if (!existsSync(snapshot)) throw usageError(`${snapshot} is missing: the app's schema and history come from it`);
  const migrationsDir = switchState.migrations?.backupDir;
  if (!migrationsDir || !existsSync(migrationsDir))
    throw usageError(`the app's SQLite migrations are not in ${runDir} (switch-env keeps them in env-backups/)`);
  const pgSchemaFile = path.join(runDir, RUN_FILES.pgSchemaDir, 'schema.prisma');
  const model = loadSchemaModel(existsSync(pgSchemaFile) ? pgSchemaFile : settings.schemaPath);
  const pgUrl = settings.targetUrl ?? appPostgresUrl(settings);
  return {
    runDir,
    switchState,
    pgUrl,
    pgSchema: targetSchemaFromUrl(pgUrl),
    model,
    live: path.resolve(source.path),
    liveSha256: recordedContentHash(source),
    snapshot,
    migrationsDir,
  };
}

async function confirm(question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

async function postgresCounts(settings: Settings, log: Logger, inputs: Inputs): Promise<Record<string, number>> {
  const target = await openTarget(settings, log, { url: inputs.pgUrl });
  try {
    const counts: Record<string, number> = {};
    for (const t of inputs.model.tables) counts[t.name] = await pgRowCount(target.client, inputs.pgSchema, t.name);
    return counts;
  } finally {
    await target.close();
  }
}

// ----------------------------------------------------------------------------------------------------------------
// --dry-run: what would happen and how many rows would come back

async function dryRun(settings: Settings, log: Logger, inputs: Inputs, options: FallbackOptions) {
  const counts = await postgresCounts(settings, log, inputs);
  const rows = Object.values(counts).reduce((a, b) => a + b, 0);
  const unchanged = sha256File(inputs.live) === inputs.liveSha256;
  const schemaChanges = await postgresSchemaChanges(settings, log, inputs);
  for (const c of schemaChanges)
    log.error(`schema on PostgreSQL: ${c} since the cutover: the real fallback refuses (exit 2)`);
  const plan = [
    `while the app keeps running: export ${rows} row(s) in ${inputs.model.tables.length} table(s) from ${displayUrl(inputs.pgUrl!)} into a new file beside ${inputs.live}, schema from ${inputs.migrationsDir}, _prisma_migrations from ${inputs.snapshot}`,
    'verify: per-table row counts and content hashes equal PostgreSQL, integrity_check and foreign_key_check clean, schema equal to the app file',
    `stop the app: ${settings.stopCmd ?? '(no stop command)'}; wait until none of its processes is left`,
    "catch up: the row versions PostgreSQL wrote since the export's snapshot, and the rows it deleted, carried into the file and checked table by table",
    `swap: the new file becomes ${inputs.live}; the original is kept as ${inputs.live}.pre-fallback-<stamp>`,
    `restore the files switch-env changed (${inputs.switchState.files.map((f) => f.path).join(', ')}${inputs.switchState.migrations ? `, ${inputs.switchState.migrations.dir}` : ''})`,
    options.noGenerate
      ? 'prisma generate: skipped (--no-generate)'
      : "prisma generate: the app's own CLI (client for sqlite)",
    `start: ${settings.startCmd ?? '(no start command)'}; health, then the app must hold the new file and have no session on PostgreSQL`,
    'PostgreSQL is left as it is',
  ];
  for (const [table, n] of Object.entries(counts)) if (n) log.info(`  ${table.padEnd(28)} ${n}`);
  log.info('plan:');
  plan.forEach((p, i) => log.info(`  ${i + 1}. ${p}`));
  if (!unchanged)
    log.error(`${inputs.live} changed since the backup of ${inputs.runDir}: the real fallback refuses (exit 4)`);
  return {
    ok: unchanged && !schemaChanges.length,
    outcome: schemaChanges.length ? Outcome.Usage : unchanged ? Outcome.Ok : Outcome.SourceProblem,
    dryRun: true,
    runDir: inputs.runDir,
    steps: [],
    counts,
    rows,
    plan,
    sqlitePath: inputs.live,
    summary: `dry run: ${rows} row(s) in ${inputs.model.tables.length} table(s) would come back from PostgreSQL; nothing was changed`,
  } satisfies FallbackResult;
}

// ----------------------------------------------------------------------------------------------------------------
// The run

export async function fallback(ctx: StepContext<FallbackOptions>): Promise<FallbackResult> {
  const { settings, log } = ctx;
  assertAppInstall(settings);
  checkPausePoint(settings, FALLBACK_STEPS);
  const inputs = readInputs(settings);
  const previous = readJournal(inputs.runDir)?.state?.[FALLBACK_STATE] as FallbackState | undefined;
  const resumed = Boolean(previous && !previous.finishedAt);
  if (!inputs.pgUrl && !previous?.committedAt)
    throw usageError('no PostgreSQL URL: backend/.env does not name one; pass --target');
  if (!resumed && appDatabaseKind(settings) !== 'postgresql')
    throw usageError(
      `${path.join(settings.appDir, 'backend/.env')} does not point at PostgreSQL: nothing to fall back from`,
    );
  if (settings.dryRun) return dryRun(settings, log, inputs, ctx.extra);
  if (!settings.yes && !(process.stdin.isTTY && process.stderr.isTTY))
    throw usageError('the fallback stops the app: pass --yes to run it without a terminal');
  const lock = acquireLock(settings, 'fallback');
  try {
    claimThisRunDir(settings, inputs.runDir, 'fallback');
    log.attachFile(path.join(inputs.runDir, RUN_FILES.log));
    if (!settings.yes && !(await confirm(`Stop the app in ${settings.appDir} and move it back to SQLite?`)))
      return { ok: false, outcome: Outcome.Usage, dryRun: false, steps: [], summary: 'not confirmed: nothing changed' };
    return await runFallback(settings, log, inputs, ctx.extra, previous, resumed);
  } finally {
    lock.release();
  }
}

async function runFallback(
  settings: Settings,
  log: Logger,
  inputs: Inputs,
  extra: FallbackOptions,
  previous: FallbackState | undefined,
  resumed: boolean,
): Promise<FallbackResult> {
  const { runDir } = inputs;
  const appDir = settings.appDir;
  const runSettings: Settings = { ...settings, runDir };
  const started = Date.now();
  const stamp = utcStamp();
  const state: FallbackState =
    resumed && previous
      ? { ...previous, pid: process.pid, attempts: previous.attempts + 1 }
      : {
          startedAt: new Date().toISOString(),
          pid: process.pid,
          attempts: 1,
          live: inputs.live,
          built: path.join(path.dirname(inputs.live), `.${path.basename(inputs.live)}.fallback-${stamp}`),
          aside: `${inputs.live}.pre-fallback-${stamp}`,
        };
  const saveState = () => {
    const j = loadOrCreateJournal(runDir, appDir);
    j.state[FALLBACK_STATE] = state;
    writeJournal(runDir, j);
  };
  saveState();
  if (resumed) log.warn(`resuming the unfinished fallback in ${runDir} (attempt ${state.attempts})`);
  const swapPlan: SwapPlan = { live: state.live, built: state.built, aside: state.aside };

  const steps: FallbackStepRecord[] = [];
  // SIGINT/SIGTERM before the commit point: abort the step and start the app on PostgreSQL again; after it the
  // remaining steps are short and each safe to repeat, so the run finishes first.
  let signalled: string | undefined;
  let stoppedAt: number | undefined;
  let abortReject: (err: Error) => void = () => undefined;
  const aborted = new Promise<never>((_, reject) => (abortReject = reject));
  aborted.catch(() => undefined);
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled) return;
    signalled = sig;
    if (state.committedAt) log.warn(`${sig}: past the commit point, finishing the fallback first`);
    else {
      log.warn(
        `${sig}: stopping the fallback${stoppedAt === undefined ? '; the app keeps running on PostgreSQL' : ' and starting the app on PostgreSQL again'}`,
      );
      abortReject(new StepFailure('signal', Outcome.RolledBack, `interrupted by ${sig}`));
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const run = async <T>(name: FallbackStep, fn: () => Promise<T> | T): Promise<T> => {
    if (signalled && !state.committedAt) throw new StepFailure(name, Outcome.RolledBack, `interrupted by ${signalled}`);
    log.info(`▶ ${name}`);
    recordStep(runDir, appDir, name, { status: 'running' });
    const t0 = Date.now();
    try {
      await pausePoint(runSettings, name, log);
      if (signalled && !state.committedAt)
        throw new StepFailure(name, Outcome.RolledBack, `interrupted by ${signalled}`);
      const body = Promise.resolve().then(fn);
      // The stop command runs to its end: a stop still running in the background would stop the restarted app.
      const value = state.committedAt || name === 'fallback:stop' ? await body : await Promise.race([body, aborted]);
      recordStep(runDir, appDir, name, { status: 'done' });
      steps.push({ name, status: 'done', ms: Date.now() - t0 });
      return value;
    } catch (err) {
      const failure =
        err instanceof StepFailure
          ? err
          : new StepFailure(
              name,
              err instanceof DomainError ? err.outcome : Outcome.Internal,
              err instanceof DomainError ? err.message : `internal error: ${errorMessage(err)}`,
            );
      recordStep(runDir, appDir, name, { status: 'failed', message: failure.message });
      steps.push({ name, status: 'failed', ms: Date.now() - t0, message: failure.message });
      throw failure;
    }
  };

  let exported: ExportedTable[] = [];
  let exportMs: number | undefined;
  let tables: TableCheck[] | undefined;
  let generate: GenerateResult | undefined;
  let startResult: StartResult | undefined;
  let guardian: ReturnType<typeof spawnGuardian>;
  const committed = Boolean(state.committedAt);
  try {
    if (committed) {
      guardian = spawnGuardian(GUARDIAN_SCRIPT, runDir, guardianArgs(runSettings, runDir, extra));
      log.warn('the previous attempt passed the commit point (the verified file being put in place): rolling forward');
      for (const name of FALLBACK_STEPS.slice(0, 5)) steps.push({ name, status: 'skipped', ms: 0 });
      await assertPostgresUnchanged(settings, log, inputs, state);
    } else {
      await run('fallback:check', async () => {
        await checkSource(inputs, log);
        await checkPostgresSchema(settings, log, inputs);
      });
      // Before the window: the app keeps running on PostgreSQL while the file is built and proven.
      exportMs = await run('fallback:export', async () => {
        const t0 = Date.now();
        exported = await exportToFile(runSettings, log, inputs, state, saveState);
        return Date.now() - t0;
      });
      tables = await run('fallback:verify', async () => {
        const check = await verifyFile(state.built, inputs, exported, log);
        if (!check.ok) throw notEqual('fallback:verify', check.failures);
        log.ok(`every table of the new file equals PostgreSQL (${exported.length} tables: counts and content hashes)`);
        return check.tables;
      });
      // If this process is killed outright from here on, the guardian starts the app again or finishes the run.
      guardian = spawnGuardian(GUARDIAN_SCRIPT, runDir, guardianArgs(runSettings, runDir, extra));
      stoppedAt = Date.now();
      await run('fallback:stop', () => stopApp(runSettings, log, extra));
      exported = await run('fallback:catch-up', () => catchUpFile(runSettings, log, inputs, state, exported));
      // The catch-up proved each table it copied again equal to PostgreSQL's new hash: report what the file holds now.
      tables = tables.map((t) => {
        const now = exported.find((e) => e.name === t.name)!;
        return {
          ...t,
          rows: now.pgRowCount,
          pgRowCount: now.pgRowCount,
          contentHash: now.pgContentHash,
          pgContentHash: now.pgContentHash,
        };
      });
      state.exported = exported.map(({ name, pgRowCount, pgContentHash }) => ({ name, pgRowCount, pgContentHash }));
      state.committedAt = new Date().toISOString();
      saveState();
    }
    // The swap before the restore: until the env files say SQLite, the app (if started) still runs on PostgreSQL.
    await run('fallback:swap', () => {
      const swap = swapIntoPlace(swapPlan, state.builtIno!);
      if (swap.swapped)
        log.ok(
          `${state.live} is the new file; the original is kept as ${state.aside}${swap.movedLogs.length ? ` (with ${swap.movedLogs.map((f) => path.basename(f)).join(', ')})` : ''}`,
        );
      else log.info(`${state.live} already is the new file`);
    });
    await run('fallback:restore', () => restoreFiles(settings, log, inputs));
    generate = await run('fallback:generate', async () => {
      const g = await generateAppClient(appDir, 'sqlite', log, { skip: extra.noGenerate });
      const j = loadOrCreateJournal(runDir, appDir);
      j.state.prismaGenerate = g;
      writeJournal(runDir, j);
      if (!g.ok) throw new StepFailure('fallback:generate', Outcome.RollbackFailed, `prisma generate: ${g.detail}`);
      return g;
    });
    startResult = await run('fallback:start', async () => {
      const s = await startServices(runSettings, log, {
        waitSeconds: extra.waitSeconds,
        healthUrl: extra.healthUrl,
        expectDatabase: 'sqlite',
        sqlitePath: state.live,
        targetUrl: inputs.pgUrl,
      });
      const failure = startFailure(s);
      if (failure)
        throw new StepFailure(
          'fallback:start',
          Outcome.RollbackFailed,
          `the app did not come up on SQLite: ${failure}`,
        );
      return s;
    });
  } catch (err) {
    const failure = err instanceof StepFailure ? err : new StepFailure('fallback', Outcome.Internal, errorMessage(err));
    log.error(`${failure.step} failed: ${failure.message}`);
    if (state.committedAt) {
      // Past the commit point there is no way back to PostgreSQL by this run: the next `just fallback` finishes it.
      throw new DomainError(
        Outcome.RollbackFailed,
        `${failure.step} failed after the verified file was committed (${failure.message}); fix the cause and run \`npx just fallback\` again: it finishes from here`,
        { runDir, failedStep: failure.step, steps },
      );
    }
    // A resumed run may find the app stopped by the attempt before it.
    const wasStopped = stoppedAt !== undefined || resumed;
    const restarted = wasStopped ? await restartOnPostgres(runSettings, log, inputs, extra) : true;
    keepFailedFile(state, log);
    state.finishedAt = new Date().toISOString();
    state.outcome = failure.outcome === Outcome.VerificationFailed ? 'verification-failed' : 'restarted-on-postgresql';
    saveState();
    if (!restarted)
      throw new DomainError(
        Outcome.RollbackFailed,
        `${failure.step} failed (${failure.message}) and the app could not be started on PostgreSQL again: start it by hand (${settings.startCmd ?? 'no start command'})`,
        { runDir, failedStep: failure.step },
      );
    return {
      ok: false,
      outcome: failure.outcome,
      runDir,
      dryRun: false,
      resumed,
      steps,
      tables,
      failedStep: failure.step,
      summary: `fallback failed at ${failure.step} (${failure.message}); nothing was switched, ${wasStopped ? 'the app runs on PostgreSQL again' : 'the app was not stopped'}`,
    };
  } finally {
    // Every way out of here is this process ending the run itself: the guardian is only for deaths it cannot see.
    standDownGuardian(guardian);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const originalSha = sha256File(state.aside);
  const original = { path: state.aside, sha256: originalSha, unchanged: originalSha === inputs.liveSha256 };
  if (!original.unchanged) log.warn(`${state.aside} does not match the sha256 the backup recorded`);
  state.finishedAt = new Date().toISOString();
  state.outcome = 'fell-back';
  saveState();
  const rows = (state.exported ?? []).reduce((n, t) => n + t.pgRowCount, 0);
  return {
    ok: true,
    outcome: Outcome.Ok,
    runDir,
    dryRun: false,
    resumed,
    steps,
    tables,
    rows,
    sqlitePath: state.live,
    original,
    exportMs,
    windowMs: stoppedAt !== undefined ? Date.now() - stoppedAt : undefined,
    proof: startResult?.proof,
    generate,
    summary: `fell back: the app runs on SQLite (${state.live}, ${rows} row(s) from PostgreSQL; ${startResult?.proof?.detail ?? 'database not proven'}); original kept as ${state.aside}; PostgreSQL left as it is`,
    ms: Date.now() - started,
  };
}

// ----------------------------------------------------------------------------------------------------------------
// The phases

/**
 * Rolling forward trusts the file verified by an earlier attempt: only while PostgreSQL still holds exactly what was
 * exported (the app may have been started on it in between). Without a URL (env files already restored, no
 * --target) it cannot be asked; the app could not have run on PostgreSQL through its restored files either.
 */
async function assertPostgresUnchanged(
  settings: Settings,
  log: Logger,
  inputs: Inputs,
  state: FallbackState,
): Promise<void> {
  if (!inputs.pgUrl || !state.exported) {
    log.warn('PostgreSQL not re-checked (no URL): finishing with the file verified earlier');
    return;
  }
  const target = await openTarget(settings, log, { url: inputs.pgUrl });
  try {
    for (const t of inputs.model.tables) {
      const was = state.exported.find((e) => e.name === t.name);
      const now = await pgTableHash(target.client, inputs.pgSchema, t);
      if (!was || now.contentHash !== was.pgContentHash || now.rowCount !== was.pgRowCount)
        throw new StepFailure(
          'fallback:check',
          Outcome.RollbackFailed,
          `${t.name} changed on PostgreSQL after the verified export (${was?.pgRowCount ?? '?'} → ${now.rowCount} rows): the file in place lacks those writes; stop the app and restore ${state.aside} by hand, then run the fallback again`,
        );
    }
    log.ok('PostgreSQL still holds exactly what was exported: finishing the fallback');
  } finally {
    await target.close();
  }
}

/**
 * PostgreSQL must hold the tables and columns the run's schema has, no more: a migration the app applied there after
 * the cutover (a new table or column) is not in its SQLite migrations, and the export would leave its data behind.
 */
export async function postgresSchemaChanges(settings: Settings, log: Logger, inputs: Inputs): Promise<string[]> {
  const target = await openTarget(settings, log, { url: inputs.pgUrl });
  try {
    const { rows } = await target.client.query<{ table_name: string; column_name: string }>(
      loadSql('load-pg-target-columns'),
      [inputs.pgSchema],
    );
    const onPg = new Map<string, Set<string>>();
    for (const r of rows)
      (onPg.get(r.table_name) ?? onPg.set(r.table_name, new Set()).get(r.table_name)!).add(r.column_name);
    const changes: string[] = [];
    for (const t of inputs.model.tables) {
      const cols = onPg.get(t.name);
      if (!cols) {
        changes.push(`table ${t.name} is missing on PostgreSQL`);
        continue;
      }
      for (const c of cols) if (!t.columns.some((m) => m.name === c)) changes.push(`column ${t.name}.${c} is new`);
      for (const m of t.columns) if (!cols.has(m.name)) changes.push(`column ${t.name}.${m.name} is gone`);
    }
    for (const name of onPg.keys())
      if (name !== PRISMA_MIGRATIONS && !inputs.model.tables.some((t) => t.name === name))
        changes.push(`table ${name} is new`);
    return changes;
  } finally {
    await target.close();
  }
}

async function checkPostgresSchema(settings: Settings, log: Logger, inputs: Inputs): Promise<void> {
  const changes = await postgresSchemaChanges(settings, log, inputs);
  if (changes.length)
    throw usageError(
      `the schema on PostgreSQL is not the one of the cutover (${changes.slice(0, 3).join('; ')}${changes.length > 3 ? ` (+${changes.length - 3} more)` : ''}): the app's SQLite migrations cannot hold it; migrate the SQLite side first`,
    );
  log.ok(`PostgreSQL has exactly the ${inputs.model.tables.length} tables and columns of the cutover's schema`);
}

/** The app's file must be as the backup left it: a write made to it after the backup is in neither database. */
async function checkSource(inputs: Inputs, log: Logger): Promise<void> {
  if (!existsSync(inputs.live)) {
    log.warn(`${inputs.live} does not exist any more; the new file takes its name`);
    return;
  }
  const change = await liveChangeFrom(cutoverSourceFingerprint(inputs.runDir), inputs.live);
  if (change)
    throw sourceProblem(
      `${inputs.live} changed since the cutover of ${inputs.runDir} (${change}): something wrote to it after the cutover, and those rows are not in PostgreSQL; keep a copy and decide by hand`,
    );
  log.ok(`${inputs.live} is byte-identical to its state at the cutover (sha256): it is kept as it is`);
}

/** Run the stop command, then wait until no process of the app is left (none can write to PostgreSQL any more). */
async function stopApp(settings: Settings, log: Logger, extra: FallbackOptions): Promise<void> {
  if (!settings.stopCmd || !settings.startCmd)
    throw usageError('no stop/start command: pass --stop-cmd and --start-cmd, or put maintenance.sh in the app dir');
  const port = portOfUrl((await resolveHealthUrl(settings, extra.healthUrl))?.[0]);
  const stop = await runServiceCommand(settings.stopCmd, log, { cwd: settings.appDir, runDir: settings.runDir });
  if (stop.exitCode !== 0)
    log.warn(`stop command exited ${stop.exitCode ?? stop.signal}; checking the processes anyway`);
  const deadline = Date.now() + (extra.waitSeconds ?? 30) * 1000;
  let left = await appProcesses(settings.appDir, port);
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    left = await appProcesses(settings.appDir, port);
  }
  if (left.length)
    throw sourceProblem(`the app did not stop: pid ${left.join(', ')} still running after the stop command`);
  log.ok('no process of the app is left: nothing writes to PostgreSQL through it');
}

/** Other clients on the database after the app stopped: not the app's, but named, since they could write. */
async function warnOtherSessions(client: pg.Client, log: Logger): Promise<void> {
  const { rows } = await client.query<{ pid: number; application: string; address: string | null }>(
    loadSql('target-other-sessions'),
    [OUR_APPLICATION_NAME],
  );
  if (rows.length)
    log.warn(
      `${rows.length} other session(s) on the database (${rows.map((r) => `pid ${r.pid} ${r.application || '?'}@${r.address ?? 'local'}`).join(', ')}): what they write after this export is not carried back`,
    );
}

async function exportToFile(
  settings: Settings,
  log: Logger,
  inputs: Inputs,
  state: FallbackState,
  saveState: () => void,
): Promise<ExportedTable[]> {
  const header = readSqliteHeader(existsSync(inputs.live) ? inputs.live : inputs.snapshot);
  const built = buildPrismaSqliteFile({
    file: state.built,
    migrationsDir: inputs.migrationsDir,
    snapshotFile: inputs.snapshot,
    header,
    tables: inputs.model.tables,
  });
  if (built.schemaFrom.source === 'snapshot')
    log.warn(
      `the app's SQLite migrations do not run in this SQLite build (${built.schemaFrom.reason}): the schema is the DDL of the app's own file (the run's snapshot)`,
    );
  log.ok(
    `schema from ${built.schemaFrom.source === 'snapshot' ? "the app's file" : `${built.migrations.length} SQLite migration(s)`}; _prisma_migrations: ${built.prismaMigrations} row(s) as the app had them${built.extraTables.length ? `; tables outside the Prisma schema copied from the snapshot: ${built.extraTables.map((t) => `${t.name} ${t.rows}`).join(', ')}` : ''}`,
  );
  const target = await openTarget(settings, log, { url: inputs.pgUrl });
  let finished = false;
  try {
    await warnOtherSessions(target.client, log);
    const hashClient = await target.connect();
    const result = await exportPostgres(target.client, inputs.pgSchema, inputs.model.tables, built.db, {
      hashClient,
      onTable: (t) => log.debug(`${t.name}: ${t.rows} row(s) in ${t.ms} ms`),
    }).finally(() => hashClient.end().catch(() => undefined));
    raiseSequences(built.db, result.sequences);
    const finish = finishPrismaSqliteFile(built.db, state.built, header, built.deferredIndexes);
    finished = true;
    if (finish.integrity.length)
      throw new StepFailure('fallback:export', Outcome.VerificationFailed, `integrity_check: ${finish.integrity[0]}`);
    if (finish.foreignKeyViolations)
      throw new StepFailure(
        'fallback:export',
        Outcome.VerificationFailed,
        `foreign_key_check: ${finish.foreignKeyViolations} row(s) reference a missing parent`,
      );
    state.builtIno = statSync(state.built).ino;
    state.exportXmin = result.snapshotXmin;
    saveState();
    log.ok(
      `exported ${result.rows} row(s) from ${target.display} into ${state.built}; integrity_check and foreign_key_check clean`,
    );
    return result.tables;
  } finally {
    if (!finished && built.db.open) built.db.close();
    await target.close();
  }
}

function notEqual(step: FallbackStep, failures: string[]): StepFailure {
  return new StepFailure(
    step,
    Outcome.VerificationFailed,
    `the new file does not equal PostgreSQL: ${failures.slice(0, 3).join('; ')}${failures.length > 3 ? ` (+${failures.length - 3} more)` : ''}`,
  );
}

/** In the window: the tables PostgreSQL changed since the export copied again into the verified file, and checked. */
async function catchUpFile(
  settings: Settings,
  log: Logger,
  inputs: Inputs,
  state: FallbackState,
  exported: ExportedTable[],
): Promise<ExportedTable[]> {
  const target = await openTarget(settings, log, { url: inputs.pgUrl });
  try {
    const t0 = Date.now();
    const hashClient = await target.connect();
    const result = await catchUp(target.client, inputs.pgSchema, inputs.model, state.built, exported, {
      hashClient,
      exportXmin: state.exportXmin,
    }).finally(() => hashClient.end().catch(() => undefined));
    if (result.failures.length) throw notEqual('fallback:catch-up', result.failures);
    const proof = result.rowLevel
      ? 'no row version written since the export'
      : 'their content hashes (the row versions could not be compared)';
    if (!result.rowLevel) log.warn("the export snapshot's xmin is not comparable now: every table hashed whole");
    const whole = result.changed.filter((n) => !result.byRows.includes(n));
    log.ok(
      result.changed.length
        ? `caught up: ${result.changed.length} table(s) changed on PostgreSQL since the export (${result.changed.join(', ')}): ${result.rowsCopied} row(s) written, ${result.rowsRemoved} taken out${result.byRows.length ? `, ${result.byRows.length} table(s) row by row` : ''}${whole.length ? `, ${whole.length} copied again whole` : ''}, checked in ${Date.now() - t0} ms; the others are proven unchanged by ${proof}`
        : `nothing changed on PostgreSQL since the export (${proof}, ${Date.now() - t0} ms)`,
    );
    return result.tables;
  } finally {
    await target.close();
  }
}

/** The file's tables scanned the way export-sqlite scans a snapshot (two threads for a big file), then compared. */
async function verifyFile(file: string, inputs: Inputs, exported: ExportedTable[], log: Logger) {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const scans = await scanAll(
      db,
      { file, bytes: statSync(file).size },
      inputs.model,
      log,
      SCAN_THREADS_FROM_BYTES,
      {},
    );
    return checkFallbackFile(file, inputs.snapshot, inputs.model, exported, scans);
  } finally {
    db.close();
  }
}

async function restoreFiles(settings: Settings, log: Logger, inputs: Inputs): Promise<void> {
  const restored = restorePreSwitchFiles(inputs.runDir, inputs.switchState);
  const failed = restored.find((r) => r.action === 'failed');
  if (failed) throw new StepFailure('fallback:restore', Outcome.RollbackFailed, `${failed.path}: ${failed.error}`);
  for (const r of restored)
    if (r.action !== 'unchanged') log.ok(`${r.action}: ${r.path}${r.from ? ` (from ${r.from})` : ''}`);
  if (appDatabaseKind(settings) !== 'sqlite')
    throw new StepFailure(
      'fallback:restore',
      Outcome.RollbackFailed,
      'backend/.env DATABASE_URL is not a file: URL after the restore',
    );
  inputs.switchState.rolledBackAt = new Date().toISOString();
  writeSwitchState(inputs.runDir, settings.appDir, inputs.switchState);
}

async function restartOnPostgres(
  settings: Settings,
  log: Logger,
  inputs: Inputs,
  extra: FallbackOptions,
): Promise<boolean> {
  try {
    const s = await startServices(settings, log, {
      waitSeconds: extra.waitSeconds,
      healthUrl: extra.healthUrl,
      expectDatabase: 'postgresql',
      sqlitePath: inputs.live,
      targetUrl: inputs.pgUrl,
    });
    const failure = startFailure(s);
    if (failure) log.error(`the app did not come back on PostgreSQL: ${failure}`);
    return !failure;
  } catch (err) {
    log.error(`could not start the app on PostgreSQL again: ${errorMessage(err)}`);
    return false;
  }
}

/** A file that failed its checks is kept for forensics under a name no app looks for. */
function keepFailedFile(state: FallbackState, log: Logger): void {
  if (!existsSync(state.built)) return;
  const kept = `${state.built}.failed`;
  rmSync(kept, { force: true });
  try {
    renameSync(state.built, kept);
    log.info(`the new file is kept for forensics as ${kept}`);
  } catch {
    // best effort
  }
}
