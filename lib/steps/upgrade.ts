import { existsSync, statfsSync, statSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline/promises';
import Database from '../sqlite/driver.ts';
import { assertAppInstall, type Settings } from '../cli/config.ts';
import type { StepContext, StepResult } from '../cli/run-cli.ts';
import {
  Outcome,
  DomainError,
  diskFullError,
  errorMessage,
  usageError,
  type OutcomeKind,
  StepFailure,
} from '../errors.ts';
import { resolveHealthUrl, waitForHealth, type HealthResult } from '../app/health-probe.ts';
import type { DatabaseProof } from '../app/database-proof.ts';
import { generateAppClient, type GenerateResult } from '../app/prisma-generate.ts';
import { readWriteCounters } from '../app/pg-writes.ts';
import { maskSecrets } from '../cli/secrets.ts';
import type { Logger } from '../cli/log.ts';
import type { OrphanMode } from '../sqlite/orphans.ts';
import { checkSnapshotAgainstModel, type NotMigrated } from './export-sqlite.ts';
import type { Manifest } from '../sqlite/manifest.ts';
import { displayUrl } from '../pg/target.ts';
import { findHolders, sqliteFamily } from '../app/process-files.ts';
import {
  catchUpRound,
  removeRoundFiles,
  ROUND_PAUSE_POINTS,
  ROUND_STEP,
  roundStep,
  type RoundResult,
} from './catch-up-round.ts';
import { parseSchemaModelInThread } from '../prisma/schema-model-thread.ts';
import { checkPausePoint, pausePoint, SWITCH_ENV_PAUSE_POINTS } from '../run/pause-point.ts';
import { acquireLock, claimThisRunDir } from '../run/run-lock.ts';
import {
  assertRunDirOwned,
  createRunDir,
  listRunDirs,
  readJournal,
  readRunJson,
  recordStep,
  RUN_FILES,
  runsRoot,
  loadOrCreateJournal,
  writeJournal,
  type Journal,
} from '../run/run-dir.ts';
import { loadSchemaModel } from '../prisma/schema-model.ts';
import { loadSql } from '../files/sql-files.ts';
import {
  appDatabaseKind,
  currentAppDatabaseUrl,
  requireSqlitePath,
  startFailure,
  startServices,
  stopWriters,
  type StartResult,
} from './maintenance.ts';
import { liveChange, liveChangeFrom } from './backup.ts';
import {
  applyDeltaToTarget,
  assertReloadLosesNothing,
  startQuickPrismaGate,
  computeDelta,
  finalSourceFingerprint,
  hashFinalSource,
  recordBaseline,
  restorePhase1Manifest,
  summarizeDelta,
  takeFinalSnapshot,
  verifyDelta,
  type DeltaSummary,
} from './online-cutover.ts';
import { PG_WRITES_STATE, rollback, type PgWritesState, type PostgresWrites, type RollbackResult } from './rollback.ts';
import { standDownGuardian, startGuardian } from './upgrade-guardian.ts';
import { appUrlVariable, envFilesOf, switchEnv, readSwitchState } from './switch-env.ts';
import {
  readVerifyReport,
  runBackup,
  runCheckTarget,
  runExportSqlite,
  runLoadPg,
  runVerify,
  type GateOutcome,
  type VerifySummary,
} from './upgrade-steps.ts';

/**
 * `just upgrade`: the whole production run, every step recorded in the run journal BEFORE and AFTER it runs.
 *
 * Online (the default; docs/online-cutover.md), as runUpgrade's phases:
 *   checkAndConfirm: lock → check-target → (confirm);
 *   copyWhileLive (the app runs, nothing stopped): backup (SQLite backup API) → export-sqlite → load-pg → verify →
 *     baseline (the target's write counters, the phase-1 manifest kept aside);
 *   stopTheWriters: maintenance-on (stop writers, prove the file closed; the guardian watches from here);
 *   carryTheDelta: final-snapshot (backup API) → delta (phase-1 snapshot → final, a schema change refuses) →
 *     apply-delta (target untouched since the baseline, then one transaction) → verify-delta (counts, forwarded
 *     content hashes, counters moved by exactly the delta);
 *   cutOver (shared with --offline): pre-switch-check (live SQLite unchanged since the last snapshot) → switch-env →
 *     (the app's own `prisma generate` for postgresql, unless --no-generate) → verify-after-switch (counts, before
 *     the app writes; write counters recorded) → start-services (status route "online", then proven from outside:
 *     the app's processes have sessions on the target and none holds the SQLite file) → health.
 *
 * --offline (the full-stop run): checkAndConfirm → stopTheWriters → copyWhileStopped (backup → export-sqlite →
 * load-pg → source-unchanged → verify) → cutOver.
 *
 * Failure policy:
 *  - before the writers are stopped (check-target, lock, confirmation, and online all of phase 1): exit with that
 *    step's code, the app never touched;
 *  - maintenance-on cannot prove the file closed: exit 4, services started again;
 *  - a source problem in final-snapshot or delta (the SQLite schema changed while the app ran), or the live SQLite
 *    changed since the last snapshot (pre-switch-check, source-unchanged): exit 4, nothing switched, app restarted
 *    on SQLite (those writes would be lost by a cutover);
 *  - any other failed gate after the writers stopped (a target written by someone else since phase 1 included, and
 *    SIGINT/SIGTERM): automatic rollback → app back on SQLite and running → exit 5; exit 6 with manual steps if the
 *    rollback itself fails.
 *
 * kill -9 (or any death no handler sees): a detached guardian started with the window notices the PID is gone and
 * runs the rollback (app on SQLite, running); the run stays unfinished so the next `just upgrade` resumes it. Killed
 * during health, with the app answering the guardian on PostgreSQL: the guardian records the cutover instead.
 * VISIONSUIT_MIGRATE_PAUSE_AT (lib/run/pause-point.ts) holds the run at a named step so a fire drill can kill it there.
 *
 * Resume: a run whose journal has `state.upgrade` without `finishedAt` (crash, kill -9, power loss) is picked up by
 * the next `just upgrade`, in its mode: steps recorded done are skipped, a step recorded running is redone (load-pg
 * with --force: the partial load is ours). Online: an interrupted cutover is undone first, and if apply-delta had
 * started, the target is loaded again from the phase-1 snapshot (load-pg, verify, baseline) while the app runs; the
 * window's steps always run again. Offline: maintenance-on always runs again; if the live SQLite changed since the
 * backup, backup → export → load → verify are redone; after a crash between switch-env and verify-after-switch the
 * switch is rolled back first and the run continues from verify.
 */
export interface UpgradeOptions {
  waitSeconds?: number;
  healthUrl?: string;
  /** The operator's start command runs `prisma generate` itself. */
  noGenerate?: boolean;
  /** export-sqlite's choice for orphan rows (default refuse). */
  orphans?: OrphanMode;
  /** The full-stop run: the app stays stopped for the whole copy (no phase 1, no delta). */
  offline?: boolean;
  /** Online: at most this many catch-up rounds after phase 1's verify, while the app still runs. */
  rounds?: number;
}

/** The pause point right after the run lock is taken and the run dir claimed. */
export const LOCKED_PAUSE_POINT = 'locked';

/** Catch-up rounds by default (bench/README.md: the window's delta then carries what the app wrote since). */
export const DEFAULT_ROUNDS = 1;
/** Most rounds `--rounds` accepts: each one copies the whole file again. */
export const MAX_ROUNDS = 5;
/** A round whose delta carried this few rows ends the rounds: another would not shorten the window. */
export const SMALL_ROUND_ROWS = 200;

/** The options of the run as the journal keeps them, so the guardian and a resumed run use the same ones. */
export interface UpgradeRunOptions extends UpgradeOptions {
  stopCmd?: string;
  startCmd?: string;
}

export interface UpgradeStepRecord {
  name: string;
  status: 'done' | 'skipped' | 'failed';
  ms: number;
  /** This process's peak resident set size so far (MB), when the step ended: where memory grows shows here. */
  peakRssMb?: number;
  message?: string;
}

const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

export interface UpgradeResult extends StepResult {
  runDir?: string;
  dryRun: boolean;
  resumed: boolean;
  steps: UpgradeStepRecord[];
  failedStep?: string;
  cause?: string;
  rolledBack?: boolean;
  plan?: string[];
  checks?: { name: string; ok: boolean; detail: string }[];
  health?: HealthResult;
  /** Which database the app uses after the start, seen from outside. */
  databaseProof?: DatabaseProof;
  /** After a rollback: the proof the app is on SQLite again. */
  sqliteProof?: DatabaseProof;
  generate?: GenerateResult;
  /** Writes the app made on PostgreSQL before a rollback (kept there, not in SQLite). */
  postgresWrites?: PostgresWrites;
  verify?: VerifySummary;
  /** online: copied while the app ran, then a delta in the window; offline: the whole copy in the window. */
  mode?: 'online' | 'offline';
  /** Stop command issued → the app healthy on PostgreSQL (or as far as the run got), and the steps in between. */
  window?: WindowTiming;
  /** What the window's delta carried (online). */
  delta?: DeltaSummary;
  /** The catch-up rounds run in phase 1 (online), in order. */
  rounds?: RoundResult[];
  ms: number;
}

export interface WindowTiming {
  seconds: number;
  parts: { step: string; seconds: number }[];
}

const UPGRADE_STATE = 'upgrade';
interface UpgradeState {
  startedAt: string;
  pid: number;
  target: string;
  attempts: number;
  finishedAt?: string;
  options?: UpgradeRunOptions;
  outcome?: 'cut-over' | 'rolled-back' | 'rollback-failed' | 'source-changed' | 'not-started';
}

/** The cutover both pipelines end with, once the target holds the verified data (journal step names). */
const CUTOVER_STEPS = ['pre-switch-check', 'switch-env', 'verify-after-switch', 'start-services', 'health'] as const;

/** The online pipeline (the default), in order (journal step names). */
export const ONLINE_UPGRADE_STEPS = [
  'check-target',
  'backup',
  'export-sqlite',
  'load-pg',
  'verify',
  'baseline',
  'maintenance-on',
  'final-snapshot',
  'delta',
  'apply-delta',
  'verify-delta',
  'prisma-reads',
  ...CUTOVER_STEPS,
] as const;

/** The --offline pipeline, in order (journal step names). */
export const UPGRADE_STEPS = [
  'check-target',
  'maintenance-on',
  'backup',
  'export-sqlite',
  'load-pg',
  'source-unchanged',
  'verify',
  ...CUTOVER_STEPS,
] as const;

/**
 * The app's schema parsed once, in a helper thread that is then ended: every step of this process uses that model
 * (lib/prisma/schema-model.ts remembers it) and the parser's memory is never in this process. A schema that does not
 * parse is left to the steps, which report it in their own words.
 */
async function parseSchemaOffThread(settings: Settings, log: Logger): Promise<void> {
  if (!existsSync(settings.schemaPath)) return;
  try {
    await parseSchemaModelInThread(settings.schemaPath, log);
  } catch (err) {
    log.debug(`schema parsed in the steps instead: ${errorMessage(err)}`);
  }
}

/** The newest run dir holding an upgrade that never finished (journal without a final state). */
export function findUnfinishedUpgrade(settings: Settings): string | undefined {
  // Only the newest run that holds an upgrade counts: an older unfinished one was superseded by it.
  for (const dir of listRunDirs(settings)) {
    const state = readJournal(dir)?.state?.[UPGRADE_STATE] as UpgradeState | undefined;
    if (state) return state.finishedAt ? undefined : dir;
  }
  return undefined;
}

function setUpgradeState(runDir: string, appDir: string, patch: Partial<UpgradeState>): void {
  const journal = loadOrCreateJournal(runDir, appDir);
  journal.state[UPGRADE_STATE] = { ...(journal.state[UPGRADE_STATE] as UpgradeState | undefined), ...patch };
  writeJournal(runDir, journal);
}

/** A live file's state as the backup step records it (sha256, size, -wal); compared before the cutover. */
async function confirm(log: Logger, question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
    void log;
  }
}

// ----------------------------------------------------------------------------------------------------------------
// --dry-run: read-only checks and the plan

async function dryRun(
  settings: Settings,
  log: Logger,
  started: number,
  options: UpgradeOptions,
): Promise<UpgradeResult> {
  const checks: { name: string; ok: boolean; detail: string; outcome: OutcomeKind }[] = [];
  const target = await runCheckTarget(settings, log);
  checks.push({ name: 'target ready', ok: target.ok, detail: target.summary, outcome: Outcome.TargetNotReady });

  let sqlitePath: string | undefined;
  try {
    sqlitePath = requireSqlitePath(settings);
  } catch (err) {
    checks.push({ name: 'source readable', ok: false, detail: errorMessage(err), outcome: Outcome.SourceProblem });
  }
  if (sqlitePath) {
    let tables: Map<string, Set<string>> | undefined;
    try {
      if (!existsSync(sqlitePath)) throw new Error(`${sqlitePath} does not exist`);
      const db = new Database(sqlitePath, { readonly: true, fileMustExist: true });
      try {
        tables = new Map();
        for (const row of db.prepare(loadSql('upgrade-sqlite-tables')).all() as { name: string }[]) {
          const cols = db.prepare(loadSql('upgrade-sqlite-columns')).all(row.name) as { name: string }[];
          tables.set(row.name, new Set(cols.map((c) => c.name)));
        }
      } finally {
        db.close();
      }
      checks.push({
        name: 'source readable',
        ok: true,
        detail: `${sqlitePath} (${statSync(sqlitePath).size} bytes, ${tables.size} tables)`,
        outcome: Outcome.SourceProblem,
      });
    } catch (err) {
      checks.push({
        name: 'source readable',
        ok: false,
        detail: `${sqlitePath}: ${errorMessage(err)}`,
        outcome: Outcome.SourceProblem,
      });
    }
    if (tables) {
      // The export's own table-set check, read only: a table the schema does not name, or a missing column, is
      // found now rather than inside the maintenance window.
      try {
        const model = loadSchemaModel(settings.schemaPath);
        const db = new Database(sqlitePath, { readonly: true, fileMustExist: true });
        let notMigrated: NotMigrated[];
        try {
          notMigrated = checkSnapshotAgainstModel(db, model, settings.excludeTables);
        } finally {
          db.close();
        }
        const skipped = notMigrated.filter((n) => n.kind !== 'prisma-migrations').map((n) => `${n.kind} ${n.name}`);
        checks.push({
          name: 'schema matches SQLite',
          ok: true,
          detail: `${model.tables.length} tables of the Prisma schema all present with their columns${skipped.length ? `; not migrated: ${skipped.join(', ')}` : ''}`,
          outcome: Outcome.SourceProblem,
        });
      } catch (err) {
        checks.push({
          name: 'schema matches SQLite',
          ok: false,
          detail: errorMessage(err),
          outcome: err instanceof DomainError ? err.outcome : Outcome.Usage,
        });
      }
      // Disk: the snapshot is a full copy; leave room for the manifest, logs and a margin.
      try {
        let probe = runsRoot(settings);
        while (!existsSync(probe)) probe = path.dirname(probe);
        const fs = statfsSync(probe);
        const free = fs.bavail * fs.bsize;
        const size =
          statSync(sqlitePath).size + (existsSync(`${sqlitePath}-wal`) ? statSync(`${sqlitePath}-wal`).size : 0);
        const need = Math.ceil(size * 1.2) + 16 * 1024 * 1024;
        checks.push({
          name: 'disk space',
          ok: free >= need,
          detail: `${Math.round(free / 1048576)} MiB free at ${probe}, ~${Math.round(need / 1048576)} MiB needed`,
          outcome: Outcome.SourceProblem,
        });
      } catch (err) {
        checks.push({ name: 'disk space', ok: false, detail: errorMessage(err), outcome: Outcome.SourceProblem });
      }
    }
  }
  checks.push({
    name: 'stop/start commands',
    ok: Boolean(settings.stopCmd && settings.startCmd),
    detail:
      settings.stopCmd && settings.startCmd
        ? `${settings.stopCmd} / ${settings.startCmd}`
        : 'missing: pass --stop-cmd/--start-cmd or put maintenance.sh in the app dir',
    outcome: Outcome.Usage,
  });
  const healthUrl = await resolveHealthUrl(settings, options.healthUrl);
  const wait = `${options.waitSeconds ?? 30} s`;
  const rounds = options.rounds ?? DEFAULT_ROUNDS;
  const stop = `stop the writers: ${settings.stopCmd ?? '(no stop command)'}; prove no process has ${sqlitePath ?? 'the SQLite file'} open`;
  const copy = [
    `backup + export-sqlite into a new run dir under ${runsRoot(settings)}; orphan rows: ${options.orphans === 'null' ? 'loaded with the foreign key NULL' : options.orphans === 'delete' ? 'left out with the rows depending on them' : 'refused'} (--orphans=${options.orphans ?? 'refuse'})`,
    "load-pg (schema through Prisma's engine, data by COPY) and verify (counts, content, integrity, Prisma)",
  ];
  const steps = options.offline
    ? [stop, ...copy, 'check the live SQLite file is unchanged since the backup']
    : [
        ...copy.map((c) => `${c} — while the app runs, nothing stopped`),
        "record the target's write counters (baseline)",
        ...(rounds > 0
          ? [
              `up to ${rounds} catch-up round(s) while the app runs: a new snapshot, its delta applied and verified (ends early once one carries ≤ ${SMALL_ROUND_ROWS} rows)`,
            ]
          : []),
        stop,
        `final snapshot by the backup API; its delta against the ${rounds > 0 ? "last round's" : 'phase-1'} snapshot (a schema change refuses: exit 4)`,
        'apply the delta to PostgreSQL in one transaction; verify counts, content hashes and that only the delta wrote the target',
        'check the live SQLite file is unchanged since the final snapshot',
      ];
  const plan = [
    `take the lock ${path.join(runsRoot(settings), '.lock')}`,
    `check the target ${displayUrl(settings.targetUrl!)}`,
    ...steps,
    `switch-env: ${appUrlVariable(settings)} in ${envFilesOf(settings).join(' and ')}, provider → postgresql, PostgreSQL migration history`,
    options.noGenerate
      ? 'prisma generate: skipped (--no-generate: the start command regenerates the client)'
      : `prisma generate: the app's own ${path.join(settings.appDir, 'backend/node_modules/.bin/prisma')} in backend/ (client for postgresql)`,
    `start: ${settings.startCmd ?? '(no start command)'}; within ${wait} the status route (first of ${healthUrl?.join(', ') ?? '(health check off)'} to answer) must say "online", and the app's processes must have sessions on the target and no SQLite file open`,
    `on any failed gate: roll back to SQLite (stop: ${settings.stopCmd ?? '(none)'}; prisma generate for sqlite${options.noGenerate ? ' skipped' : ''}; same start, health and ${wait}), count the app's writes on PostgreSQL and keep them there (exit 5)`,
  ];
  for (const c of checks) (c.ok ? log.ok : log.error)(`${c.name}: ${c.detail}`);
  log.info('plan:');
  plan.forEach((p, i) => log.info(`  ${i + 1}. ${p}`));
  const failed = checks.find((c) => !c.ok);
  return {
    ok: !failed,
    outcome: failed ? failed.outcome : Outcome.Ok,
    dryRun: true,
    resumed: false,
    steps: [],
    plan,
    checks: checks.map(({ name, ok, detail }) => ({ name, ok, detail })),
    ms: Date.now() - started,
    summary: failed
      ? `dry run: not ready — ${failed.name}: ${failed.detail}`
      : 'dry run: every read-only check passed; nothing was changed',
  };
}

// ----------------------------------------------------------------------------------------------------------------
// The run

export async function upgrade(ctx: StepContext<UpgradeOptions>): Promise<UpgradeResult> {
  const { settings, log } = ctx;
  const started = Date.now();
  if (!settings.targetUrl) throw usageError('--target is required (or set TARGET_DATABASE_URL)');
  if (appDatabaseKind(settings) === 'postgresql') {
    throw usageError(
      `the app's database URL (${currentAppDatabaseUrl(settings).from}) already points at PostgreSQL: this app is upgraded (\`just rollback\` goes back)`,
    );
  }
  const roundSteps = Array.from({ length: MAX_ROUNDS }, (_, i) => roundStep(i + 1));
  checkPausePoint(settings, [
    ...new Set([...ONLINE_UPGRADE_STEPS, ...UPGRADE_STEPS]),
    ...roundSteps,
    ...ROUND_PAUSE_POINTS,
    LOCKED_PAUSE_POINT,
    ...SWITCH_ENV_PAUSE_POINTS,
  ]);
  if (ctx.extra.offline && ctx.extra.rounds) throw usageError('--rounds is for the online run, not --offline');
  if (settings.dryRun) return dryRun(settings, log, started, ctx.extra);
  if (!settings.yes && !(process.stdin.isTTY && process.stderr.isTTY)) {
    throw usageError('the upgrade stops the app: pass --yes to run it without a terminal');
  }
  assertAppInstall(settings);
  const lock = acquireLock(settings, `upgrade --target ${displayUrl(settings.targetUrl)}`);
  if (lock.tookOverFrom)
    log.warn(`took over a stale lock of pid ${lock.tookOverFrom.pid} (started ${lock.tookOverFrom.startedAt})`);
  try {
    return await runUpgrade(ctx, started);
  } finally {
    lock.release();
  }
}

async function runUpgrade(ctx: StepContext<UpgradeOptions>, started: number): Promise<UpgradeResult> {
  const { settings, log } = ctx;
  const appDir = settings.appDir;
  const unfinished = settings.runDir
    ? existsSync(path.join(settings.runDir, RUN_FILES.journal))
      ? settings.runDir
      : undefined
    : findUnfinishedUpgrade(settings);
  const previous = unfinished
    ? (readJournal(unfinished)?.state?.[UPGRADE_STATE] as UpgradeState | undefined)
    : undefined;
  if (previous?.finishedAt)
    throw usageError(
      `the upgrade in ${unfinished} already finished (${previous.outcome}); start a new one without --run-dir`,
    );
  const resumed = Boolean(previous);
  const runDir = unfinished && resumed ? unfinished : createRunDir(settings);
  if (resumed) assertRunDirOwned(settings, runDir);
  claimThisRunDir(settings, runDir, 'upgrade');
  log.attachFile(path.join(runDir, RUN_FILES.log));
  // Fire-drill hook: the lock and the run dir held, nothing else done yet (a second run now meets the lock).
  await pausePoint({ ...settings, runDir }, LOCKED_PAUSE_POINT, log);
  await parseSchemaOffThread(settings, log);
  // A resumed run keeps the options of its first attempt unless given again.
  const stored = previous?.options ?? {};
  const extra: UpgradeOptions = {
    waitSeconds: ctx.extra.waitSeconds ?? stored.waitSeconds,
    healthUrl: ctx.extra.healthUrl ?? stored.healthUrl,
    noGenerate: ctx.extra.noGenerate ?? stored.noGenerate,
    orphans: ctx.extra.orphans ?? stored.orphans,
    // A resumed run keeps its mode: an online run's journal has no offline steps to resume, and vice versa.
    offline: previous ? stored.offline : ctx.extra.offline,
    rounds: ctx.extra.rounds ?? stored.rounds,
  };
  const online = !extra.offline;
  const mode = online ? 'online' : 'offline';
  const runSettings: Settings = {
    ...settings,
    runDir,
    stopCmd: settings.stopCmd ?? stored.stopCmd,
    startCmd: settings.startCmd ?? stored.startCmd,
  };
  const runOptions: UpgradeRunOptions = { ...extra, stopCmd: runSettings.stopCmd, startCmd: runSettings.startCmd };
  setUpgradeState(runDir, appDir, {
    startedAt: previous?.startedAt ?? new Date().toISOString(),
    pid: process.pid,
    target: displayUrl(settings.targetUrl!),
    attempts: (previous?.attempts ?? 0) + 1,
    options: JSON.parse(maskSecrets(JSON.stringify(runOptions))) as UpgradeRunOptions,
  });
  if (resumed) {
    const j = readJournal(runDir)!;
    const last = Object.entries(j.steps)
      .filter(([, s]) => s.status !== 'done')
      .map(([n, s]) => `${n} (${s.status})`);
    log.warn(`resuming the unfinished upgrade in ${runDir}${last.length ? `; unfinished: ${last.join(', ')}` : ''}`);
  }

  const steps: UpgradeStepRecord[] = [];
  let writersStopped = false;
  let guardian: ReturnType<typeof startGuardian>;
  let servicesStartedOnPg = false;
  let verifyReport: VerifySummary | undefined;
  let health: HealthResult | undefined;
  let databaseProof: DatabaseProof | undefined;
  let generate: GenerateResult | undefined;
  let windowStarted: number | undefined;
  let deltaSummary: DeltaSummary | undefined;
  const rounds: RoundResult[] = [];

  // SIGINT/SIGTERM: abort the step in flight and take the failure path (rollback + start services).
  let abortReject: (err: Error) => void = () => undefined;
  const aborted = new Promise<never>((_, reject) => (abortReject = reject));
  aborted.catch(() => undefined);
  let signalled: string | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled) {
      log.warn(`${sig} again: still putting the app back, please wait`);
      return;
    }
    signalled = sig;
    log.warn(`${sig}: stopping the upgrade and putting the app back on SQLite`);
    abortReject(new StepFailure('signal', Outcome.RolledBack, `interrupted by ${sig}`));
  };
  // A crash inside a step (e.g. a wasm panic surfacing as an uncaught exception) must not end the process with the
  // app stopped: treat it as a failed step, so the rollback path runs.
  let crashed = false;
  const onCrash = (err: unknown) => {
    log.error(`unexpected error: ${errorMessage(err)}`);
    if (crashed) return;
    crashed = true;
    abortReject(new StepFailure('crash', Outcome.Internal, `internal error: ${errorMessage(err)}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);

  const journal = (): Journal => readJournal(runDir)!;
  const isDone = (name: string) => journal().steps[name]?.status === 'done';
  // `uninterruptible`: steps that run the operator's stop/start commands or move files finish before a signal is
  // acted on — a stop command still running in the background would otherwise stop the app the rollback just started.
  const run = async <T>(
    name: string,
    fn: () => Promise<T>,
    options: { skipIfDone?: boolean; uninterruptible?: boolean } = {},
  ): Promise<T | undefined> => {
    if (options.skipIfDone && isDone(name)) {
      log.info(`↷ ${name}: done in an earlier attempt`);
      steps.push({ name, status: 'skipped', ms: 0 });
      return undefined;
    }
    if (signalled) throw new StepFailure(name, Outcome.RolledBack, `interrupted by ${signalled}`);
    log.info(`▶ ${name}`);
    recordStep(runDir, appDir, name, { status: 'running' });
    const t0 = Date.now();
    const body = async () => {
      // Fire-drill hook (VISIONSUIT_MIGRATE_PAUSE_AT): the step is journaled running, nothing of it done yet.
      await pausePoint(runSettings, name, log);
      if (signalled) throw new StepFailure(name, Outcome.RolledBack, `interrupted by ${signalled}`);
      return fn();
    };
    try {
      const value = options.uninterruptible ? await body() : await Promise.race([body(), aborted]);
      if (options.uninterruptible && signalled)
        throw new StepFailure(name, Outcome.RolledBack, `interrupted by ${signalled}`);
      recordStep(runDir, appDir, name, { status: 'done' });
      steps.push({ name, status: 'done', ms: Date.now() - t0, peakRssMb: peakRssMb() });
      return value;
    } catch (caught) {
      const err = diskFullError(caught) ?? caught; // a full disk is the operator's to fix, not an internal error
      const failure =
        err instanceof StepFailure
          ? new StepFailure(name, err.outcome, err.message)
          : err instanceof DomainError
            ? new StepFailure(name, err.outcome, err.message)
            : new StepFailure(name, Outcome.Internal, `internal error: ${errorMessage(err)}`);
      try {
        recordStep(runDir, appDir, name, { status: 'failed', message: failure.message });
      } catch (journalErr) {
        // A full run-dir disk must not hide which step failed (the operator's message names it).
        log.warn(`could not record ${name} as failed in the journal: ${errorMessage(journalErr)}`);
      }
      steps.push({ name, status: 'failed', ms: Date.now() - t0, message: failure.message });
      throw failure;
    }
  };
  const sourceUnchanged = async (name: string): Promise<void> => {
    const sqlite = requireSqlitePath(runSettings);
    const holders = findHolders(sqliteFamily(sqlite)).holders;
    if (holders.length)
      throw new StepFailure(
        name,
        Outcome.SourceProblem,
        `pid ${holders[0].pid} (${holders[0].command}) has the SQLite file open again`,
      );
    // Online, the last snapshot is the final one (the app wrote on during phase 1 by design).
    const change = online
      ? await liveChangeFrom(finalSourceFingerprint(runDir), sqlite)
      : await liveChange(journal(), sqlite);
    const what = online ? 'final snapshot' : 'backup';
    if (change)
      throw new StepFailure(
        name,
        Outcome.SourceProblem,
        `the SQLite file changed after the ${what} (${change}); those writes would be lost`,
      );
    const shownBy =
      online && finalSourceFingerprint(runDir)?.identity ? 'inode, size, mtime, ctime, header' : 'sha256, size, -wal';
    log.ok(`the live SQLite file is byte-identical to the ${what} (${shownBy})`);
  };
  const gate = (name: string, outcome: GateOutcome) => {
    if (!outcome.ok) throw new StepFailure(name, outcome.outcome, outcome.summary);
  };
  // Best effort: when the run dir's disk is full, failing to journal the outcome must not replace the outcome itself
  // (a finished rollback is still exit 5, app on SQLite); the unfinished journal just makes the next run resume.
  const finish = (outcome: UpgradeState['outcome']) => {
    try {
      setUpgradeState(runDir, appDir, { finishedAt: new Date().toISOString(), outcome });
    } catch (err) {
      log.warn(
        `could not record the outcome (${outcome}) in ${path.join(runDir, RUN_FILES.journal)}: ${errorMessage(err)}`,
      );
    }
  };

  // --- the phases, in the order runUpgrade calls them; each one's steps are journaled through run() -------------

  /** Before anything changes: the target is ready, the operator agreed (false: not confirmed). */
  const checkAndConfirm = async (): Promise<boolean> => {
    await run('check-target', async () => gate('check-target', await runCheckTarget(runSettings, log)), {
      skipIfDone: true,
    });
    if (settings.yes) return true;
    // Online, the app keeps running through phase 1; it is stopped for the window either way.
    const question = `Stop the app in ${appDir} and move it to ${displayUrl(settings.targetUrl!)}?`;
    return confirm(log, question);
  };

  /**
   * Online, resumed: an interrupted cutover is undone first (the guardian normally did it already), and a target
   * that may hold an earlier attempt's delta is loaded again from the phase-1 snapshot.
   */
  const resumeOnline = async (): Promise<void> => {
    if (!resumed) return;
    const switchState = readSwitchState(runDir, appDir);
    if (switchState?.startedAt && !switchState.rolledBackAt && !isDone('verify-after-switch')) {
      log.warn('the previous attempt stopped during the cutover: putting the app back on SQLite before phase 1');
      await rollback(runSettings, log, {
        runDir,
        waitSeconds: extra.waitSeconds,
        healthUrl: extra.healthUrl,
        noGenerate: extra.noGenerate,
      });
    }
    // The window's delta, or a round that did not finish, may have reached the target beyond what the journal's
    // base says: phase 1's snapshot is the one base a reload can start from (the rounds are redone after it). A
    // finished round is the base itself and is kept.
    const stepsNow = journal().steps;
    const roundNames = Object.keys(stepsNow).filter((n) => ROUND_STEP.test(n));
    const status = (name: string) => stepsNow[name]?.status ?? '';
    const unfinishedRound = roundNames.some((n) => status(n) === 'running' || status(n) === 'failed');
    if (unfinishedRound || ['running', 'done', 'failed'].includes(status('apply-delta'))) {
      try {
        await assertReloadLosesNothing(runSettings, log, runDir);
      } catch (err) {
        throw new StepFailure('load-pg', Outcome.TargetNotReady, errorMessage(err));
      }
      log.warn(
        'the previous attempt got as far as applying a delta: loading the target again from the phase-1 snapshot',
      );
      restorePhase1Manifest(runDir);
      removeRoundFiles(
        runDir,
        roundNames.map((n) => Number(ROUND_STEP.exec(n)![1])),
      );
      for (const name of ['load-pg', 'verify', 'baseline', ...roundNames, 'apply-delta'])
        recordStep(runDir, appDir, name, {
          status: 'skipped',
          message: "redo: the target may hold an earlier attempt's delta",
        });
    }
  };

  /** Phase 1, app running and nothing stopped: snapshot S0, export, load, every verify gate, the target's baseline. */
  const copyWhileLive = async (): Promise<void> => {
    await run('backup', async () => gate('backup', await runBackup(runSettings, log, runDir, true)), {
      skipIfDone: true,
    });
    await copyAndVerify();
    await run('baseline', () => recordBaseline(runSettings, log, runDir), { skipIfDone: true });
  };

  /** Phase 1, still live: catch-up rounds, each a new snapshot's delta applied and verified, until one is small. */
  const catchUpWhileLive = async (): Promise<void> => {
    const most = extra.rounds ?? DEFAULT_ROUNDS;
    for (let round = 1; round <= most; round++) {
      const result = await run(
        roundStep(round),
        () => catchUpRound(runSettings, log, runDir, round, (point) => pausePoint(runSettings, point, log)),
        { skipIfDone: true },
      );
      if (!result) continue; // the base already, from an earlier attempt
      rounds.push(result);
      if (result.rows.total <= SMALL_ROUND_ROWS) break;
    }
  };

  /** export-sqlite → load-pg → (offline: source-unchanged) → verify, each skipped when an earlier attempt did it. */
  const copyAndVerify = async (): Promise<void> => {
    redoIfOrphansChanged();
    await run(
      'export-sqlite',
      async () => gate('export-sqlite', await runExportSqlite(runSettings, log, runDir, extra.orphans)),
      { skipIfDone: true },
    );
    // --force: check-target already refused a target holding anything but a previous run of ours.
    await run('load-pg', async () => gate('load-pg', await runLoadPg({ ...runSettings, force: true }, log, runDir)), {
      skipIfDone: true,
    });
    // A cheap look before the expensive verify: a source that already changed fails the window now, not later.
    if (!online) await run('source-unchanged', () => sourceUnchanged('source-unchanged'));
    await run(
      'verify',
      async () => {
        const v = await runVerify(runSettings, log, runDir);
        verifyReport = v.report;
        gate('verify', v);
      },
      { skipIfDone: true },
    );
    // Verified in an earlier attempt: show that report (report.json of this run) with this run's result.
    verifyReport ??= readVerifyReport(runDir);
  };

  /** Resumed with another --orphans than the export that is done: the manifest, the load and the verify follow it. */
  const redoIfOrphansChanged = (): void => {
    if (!resumed || !isDone('export-sqlite')) return;
    const manifestFile = path.join(runDir, RUN_FILES.manifest);
    const decided = existsSync(manifestFile)
      ? readRunJson<Partial<Manifest>>(runDir, RUN_FILES.manifest).orphans?.mode
      : undefined;
    const wanted = extra.orphans ?? 'refuse';
    if (decided && decided !== wanted) {
      log.warn(`--orphans=${wanted}, the earlier export applied --orphans=${decided}: redoing export, load and verify`);
      for (const name of ['export-sqlite', 'load-pg', 'verify'])
        recordStep(runDir, appDir, name, { status: 'skipped', message: `--orphans changed to ${wanted}; redo` });
    }
  };

  /** The window opens: the guardian watches this process, the stop command runs, the file is proven closed. */
  const stopTheWriters = async (sqlitePath: string): Promise<void> => {
    writersStopped = true;
    // If this process is killed outright from here on, the guardian puts the app back on SQLite and running.
    guardian = startGuardian(runSettings, runDir, extra);
    log.debug(`guardian pid ${guardian?.pid ?? '(not started)'}`);
    windowStarted = Date.now();
    await run(
      'maintenance-on',
      async () => stopWriters(runSettings, log, { waitSeconds: extra.waitSeconds }, sqlitePath),
      { uninterruptible: true },
    );
  };

  /** Offline, resumed: undo an interrupted cutover, redo what a changed source invalidated. */
  const resumeOffline = async (sqlitePath: string): Promise<void> => {
    if (!resumed) return;
    // Resume after a crash between switch-env and verify-after-switch: undo the switch, redo the checks.
    const switchState = readSwitchState(runDir, appDir);
    if (switchState?.startedAt && !isDone('verify-after-switch')) {
      log.warn(
        'the previous attempt stopped during the cutover: restoring the SQLite configuration, then re-verifying',
      );
      await rollback(runSettings, log, {
        runDir,
        stopFirst: false,
        startServices: false,
        noGenerate: extra.noGenerate,
      });
      for (const name of ['verify', ...CUTOVER_STEPS]) {
        recordStep(runDir, appDir, name, { status: 'skipped', message: 'redo after an interrupted cutover' });
      }
    }
    // The app may have run between attempts; a changed source invalidates everything made from it.
    if (isDone('backup')) {
      const change = await liveChange(journal(), sqlitePath);
      if (change) {
        log.warn(
          `the SQLite file changed since the earlier backup (${change}): redoing backup, export, load and verify`,
        );
        for (const name of ['backup', 'export-sqlite', 'load-pg', 'verify'])
          recordStep(runDir, appDir, name, { status: 'skipped', message: 'source changed; redo' });
      }
    }
  };

  /** Offline: the whole copy with the writers stopped. */
  const copyWhileStopped = async (sqlitePath: string): Promise<void> => {
    await resumeOffline(sqlitePath);
    await run('backup', async () => gate('backup', await runBackup(runSettings, log, runDir)), { skipIfDone: true });
    await copyAndVerify();
  };

  /** Online, in the window: the final snapshot, its delta against phase 1, applied and verified. */
  const carryTheDelta = async (): Promise<void> => {
    // Its thread imports the run's Prisma Client while the delta is read, applied and verified.
    const prismaGate = startQuickPrismaGate(runSettings, log, runDir);
    try {
      await run('final-snapshot', () => takeFinalSnapshot(runSettings, log, runDir));
      const delta = (await run('delta', async () => computeDelta(runSettings, log, runDir)))!;
      deltaSummary = summarizeDelta(delta);
      await run('apply-delta', () => applyDeltaToTarget(runSettings, log, runDir, delta));
      await run('verify-delta', () => verifyDelta(runSettings, log, runDir, delta));
      await run('prisma-reads', () => prismaGate.run());
    } finally {
      await prismaGate.close();
    }
  };

  /** Shared by both paths: the last look at the source, switch-env, the counts, start on PostgreSQL, health. */
  const cutOver = async (sqlitePath: string): Promise<void> => {
    // The last look at the source before the cutover: every write after the last snapshot would be lost.
    await run('pre-switch-check', () => sourceUnchanged('pre-switch-check'));
    await run(
      'switch-env',
      async () => {
        await switchEnv(runSettings, log, { runDir, pause: (point) => pausePoint(runSettings, point, log) });
        // The app's generated client carries its provider: regenerate it with the app's own CLI, journaled here.
        generate = await generateAppClient(appDir, 'postgresql', log, { skip: extra.noGenerate });
        const j = loadOrCreateJournal(runDir, appDir);
        j.state.prismaGenerate = generate;
        writeJournal(runDir, j);
        if (!generate.ok)
          throw new StepFailure(
            'switch-env',
            Outcome.RolledBack,
            `the app's Prisma Client was not regenerated: ${generate.detail}`,
          );
      },
      { uninterruptible: true },
    );
    await run('verify-after-switch', async () => {
      gate('verify-after-switch', await runVerify(runSettings, log, runDir, ['counts']));
      // What the app writes from here on is counted against these before any way back to SQLite.
      const j = loadOrCreateJournal(runDir, appDir);
      const baseline: PgWritesState = {
        baseline: await readWriteCounters(runSettings, log, settings.targetUrl!),
        recordedAt: new Date().toISOString(),
      };
      j.state[PG_WRITES_STATE] = baseline;
      writeJournal(runDir, j);
    });
    await run(
      'start-services',
      async () => {
        servicesStartedOnPg = true;
        const s: StartResult = await startServices(runSettings, log, {
          waitSeconds: extra.waitSeconds,
          healthUrl: extra.healthUrl,
          expectDatabase: 'postgresql',
          sqlitePath,
        });
        health = s.health;
        databaseProof = s.proof;
        const failure = startFailure(s);
        if (failure)
          throw new StepFailure(
            'start-services',
            Outcome.TargetNotReady,
            `app did not come up on PostgreSQL: ${failure}`,
          );
      },
      { uninterruptible: true },
    );
    await run('health', async () => {
      const url = await resolveHealthUrl(runSettings, extra.healthUrl);
      if (!url) {
        log.info('health check turned off (--health-url none)');
        return;
      }
      // Still online a moment later (a start that fails at its first real queries shows here).
      health = await waitForHealth(url, { timeoutMs: (extra.waitSeconds ?? 30) * 1000 });
      if (!health.ok) throw new StepFailure('health', Outcome.TargetNotReady, `${health.url} → ${health.error}`);
      log.ok(`health: ${health.url} → ${health.status}${health.serviceStatus ? ` (${health.serviceStatus})` : ''}`);
    });
  };

  /** Stop command issued → app healthy on PostgreSQL, with the steps in between. */
  const windowTiming = (): WindowTiming | undefined => {
    if (windowStarted === undefined) return undefined;
    const from = steps.findIndex((s) => s.name === 'maintenance-on');
    return {
      seconds: (Date.now() - windowStarted) / 1000,
      parts: steps.slice(from < 0 ? steps.length : from).map((s) => ({ step: s.name, seconds: s.ms / 1000 })),
    };
  };

  try {
    // --- before anything stops: failures here change nothing -----------------------------------------------------
    if (!(await checkAndConfirm())) {
      finish('not-started');
      return {
        ok: false,
        outcome: Outcome.Usage,
        mode,
        runDir,
        dryRun: false,
        resumed,
        steps,
        ms: Date.now() - started,
        summary: 'not confirmed: nothing was changed',
      };
    }
    const sqlitePath = requireSqlitePath(runSettings);
    if (!runSettings.stopCmd || !runSettings.startCmd)
      throw usageError('no stop/start command: pass --stop-cmd and --start-cmd, or put maintenance.sh in the app dir');
    if (online) {
      await resumeOnline();
      await copyWhileLive();
      await catchUpWhileLive();
    }

    // --- the window: from here on every exit path restarts the app --------------------------------------------
    await stopTheWriters(sqlitePath);
    if (online) await carryTheDelta();
    else await copyWhileStopped(sqlitePath);
    await cutOver(sqlitePath);
    const window = windowTiming();
    if (online) hashFinalSource(runDir, appDir, log);
    finish('cut-over');
    if (window) log.ok(`window: ${window.seconds.toFixed(1)} s from the stop command to the app healthy on PostgreSQL`);
    return {
      ok: true,
      outcome: Outcome.Ok,
      mode,
      runDir,
      dryRun: false,
      resumed,
      steps,
      health,
      databaseProof,
      generate,
      verify: verifyReport,
      window,
      delta: deltaSummary,
      rounds: online ? rounds : undefined,
      ms: Date.now() - started,
      summary: `upgraded: the app runs on PostgreSQL (${displayUrl(settings.targetUrl!)}; ${databaseProof?.detail ?? 'database not proven'}); ${window ? `window ${window.seconds.toFixed(1)} s${deltaSummary ? `, ${deltaSummary.rows.total} row(s) carried by the delta` : ''}; ` : ''}run dir ${runDir}`,
    };
  } catch (err) {
    const failure =
      err instanceof StepFailure
        ? err
        : new StepFailure('upgrade', err instanceof DomainError ? err.outcome : Outcome.Internal, errorMessage(err));
    log.error(`${failure.step} failed: ${failure.message}`);
    if (!writersStopped) {
      finish('not-started');
      return failed(failure, failure.outcome, false);
    }
    // Nothing written to the target yet, or only a delta that is rolled back: a source problem restarts on SQLite.
    const sourceCheck = ['pre-switch-check', 'source-unchanged', 'final-snapshot', 'delta'].includes(failure.step);
    if (failure.step === 'maintenance-on' || (sourceCheck && failure.outcome === Outcome.SourceProblem)) {
      // Nothing was switched: start the app again on SQLite and report the source problem (exit 4).
      const restart = await restartOnSqlite();
      finish(sourceCheck ? 'source-changed' : 'not-started');
      if (!restart) return failed(failure, Outcome.RollbackFailed, false);
      // An interrupt is reported like any other rolled-back failure (5); a usage problem keeps its 2.
      const code =
        failure.outcome === Outcome.Usage || failure.outcome === Outcome.RolledBack
          ? failure.outcome
          : Outcome.SourceProblem;
      return failed(failure, code, code === Outcome.RolledBack);
    }
    log.warn('rolling back: app back onto SQLite');
    let rolled: RollbackResult;
    try {
      rolled = await rollback(runSettings, log, {
        runDir,
        stopFirst: servicesStartedOnPg,
        waitSeconds: extra.waitSeconds,
        healthUrl: extra.healthUrl,
        noGenerate: extra.noGenerate,
      });
    } catch (rbErr) {
      finish('rollback-failed');
      const message = rbErr instanceof DomainError ? rbErr.message : errorMessage(rbErr);
      throw new DomainError(
        Outcome.RollbackFailed,
        `${failure.step} failed (${failure.message}) and the rollback failed too: ${message}`,
        {
          ...(rbErr instanceof DomainError ? rbErr.details : {}),
          failedStep: failure.step,
        },
      );
    }
    finish('rolled-back');
    return failed(failure, Outcome.RolledBack, true, rolled);
  } finally {
    // Every way out of here is this process ending the run itself: the guardian is only for deaths it cannot see.
    standDownGuardian(guardian);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  }

  async function restartOnSqlite(): Promise<boolean> {
    // Through rollback, not a bare start: on a resumed run the files may still be switched from an earlier attempt.
    try {
      await rollback(runSettings, log, {
        runDir,
        stopFirst: false,
        waitSeconds: extra.waitSeconds,
        healthUrl: extra.healthUrl,
        noGenerate: extra.noGenerate,
      });
      return true;
    } catch (err) {
      log.error(`could not bring the app back on SQLite: ${errorMessage(err)}`);
      return false;
    }
  }

  function failed(
    failure: StepFailure,
    outcome: OutcomeKind,
    rolledBack: boolean,
    rolled?: RollbackResult,
  ): UpgradeResult {
    const what =
      outcome === Outcome.RolledBack
        ? 'upgrade failed and was rolled back: the app runs on SQLite again'
        : outcome === Outcome.SourceProblem
          ? 'upgrade refused: nothing was switched, the app runs on SQLite'
          : 'upgrade failed before the app was stopped: nothing was changed';
    return {
      ok: false,
      outcome,
      mode,
      runDir,
      dryRun: false,
      resumed,
      steps,
      window: windowTiming(),
      delta: deltaSummary,
      rounds: online ? rounds : undefined,
      failedStep: failure.step,
      cause: failure.message,
      rolledBack,
      health,
      databaseProof,
      sqliteProof: rolled?.started?.proof,
      generate,
      postgresWrites: rolled?.postgresWrites,
      verify: verifyReport,
      ms: Date.now() - started,
      summary:
        `${what} (${failure.step}: ${failure.message})` +
        (rolled?.postgresWrites?.total
          ? `; PostgreSQL keeps ${rolled.postgresWrites.detail} the app wrote there, lost by staying on SQLite (database left intact; \`npx just fallback\` would carry them back into SQLite)`
          : ''),
    };
  }
}
