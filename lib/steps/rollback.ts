import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Settings } from '../cli/config.ts';
import { assertAppInstall, shellQuote } from '../cli/config.ts';
import type { StepContext, StepResult } from '../cli/run-cli.ts';
import { Outcome, DomainError, errorMessage } from '../errors.ts';
import { writeEnvFileAtomic } from '../app/env-file.ts';
import { copyDir, moveDir, sha256File, treeHash } from '../files/file-tree.ts';
import type { Logger } from '../cli/log.ts';
import { openTarget } from '../pg/target.ts';
import { loadSchemaModel } from '../prisma/schema-model.ts';
import { acquireLock, claimThisRunDir } from '../run/run-lock.ts';
import {
  assertRunDirOwned,
  listRunDirs,
  loadOrCreateJournal,
  readJournal,
  RUN_FILES,
  utcStamp,
  writeJournal,
} from '../run/run-dir.ts';
import { sqlWithIdentifiers } from '../files/sql-files.ts';
import { runServiceCommand } from '../app/service-commands.ts';
import { generateAppClient, type GenerateResult } from '../app/prisma-generate.ts';
import {
  describeWrites,
  readWriteCounters,
  writesSince,
  type TableWrites,
  type WriteCounters,
} from '../app/pg-writes.ts';
import {
  appDatabaseKind,
  currentAppDatabaseUrl,
  appPostgresUrl,
  startFailure,
  startServices,
  type StartResult,
} from './maintenance.ts';
import { appUrlVariable, envFilesOf, readSwitchState, writeSwitchState, type SwitchState } from './switch-env.ts';

/**
 * rollback: put the app back on SQLite. Restores every file switch-env touched (env files, schema.prisma, the
 * migrations folder) from the backups recorded in the run journal, proves each restored file by sha256 against
 * the pre-switch content, checks the app's database URL (where Prisma finds it) is a file: URL again, starts the
 * services and waits for health. PostgreSQL is left alone (for forensics) unless --drop-target, which drops the app's tables and
 * enum types — never the database or the role, and never when the app wrote there after the verified load.
 *
 * Writes on PostgreSQL are never dropped silently: when the run journal holds the write counters recorded right
 * after the verified load (pg_stat_user_tables), the rollback counts what the app wrote since — before the stop
 * and again after it (a backend flushes its counters when it ends). A manual rollback refuses (exit 2, app left
 * running on PostgreSQL) when there are any, saying that those rows exist only there and that `npx just fallback`
 * carries them back, unless --discard-postgres-writes; the
 * upgrade's own rollback goes ahead and reports them. After the restore the app's Prisma Client is regenerated for
 * SQLite with the app's own CLI (unless --no-generate), then the start is proven from outside: the app's
 * processes hold the SQLite file and have no session on the target.
 *
 * Safe to run twice: files already equal to their pre-switch content are left alone; the services are still
 * started and checked. When it cannot finish it prints the exact manual steps and exits 6.
 */
export interface RollbackOptions {
  runDir?: string;
  dropTarget?: boolean;
  /** Run the stop command first (the app may be running on PostgreSQL). The upgrade passes false: it stopped them. */
  stopFirst?: boolean;
  waitSeconds?: number;
  healthUrl?: string;
  /** false: restore only (the upgrade's resume path continues with the app still stopped). Default true. */
  startServices?: boolean;
  /** The operator's start command regenerates the Prisma Client: do not run `prisma generate`. */
  noGenerate?: boolean;
  /** Refuse (exit 2) when PostgreSQL holds app writes the SQLite file lacks (manual rollback). */
  refuseOnPostgresWrites?: boolean;
  /** Roll back anyway; the PostgreSQL database is kept as it is and the counts are reported. */
  discardPostgresWrites?: boolean;
}

/** Write counters recorded right after the verified load (journal state `pgWrites`). */
export const PG_WRITES_STATE = 'pgWrites';
export interface PgWritesState {
  baseline: WriteCounters;
  recordedAt: string;
}

export interface PostgresWrites {
  /** false: no baseline in the journal or the target could not be asked; `detail` says why. */
  counted: boolean;
  tables: TableWrites[];
  total: number;
  detail: string;
}

/** Count what the app wrote on PostgreSQL since the verified load of this run. */
export async function countPostgresWrites(
  settings: Settings,
  log: Logger,
  runDir: string | undefined,
  url: string | undefined,
): Promise<PostgresWrites> {
  const baseline = runDir
    ? (readJournal(runDir)?.state?.[PG_WRITES_STATE] as PgWritesState | undefined)?.baseline
    : undefined;
  if (!baseline)
    return {
      counted: false,
      tables: [],
      total: 0,
      detail: 'no write counters were recorded after the load in this run',
    };
  if (!url) return { counted: false, tables: [], total: 0, detail: 'no PostgreSQL URL to count on (pass --target)' };
  try {
    const tables = writesSince(baseline, await readWriteCounters(settings, log, url));
    const total = tables.reduce((n, t) => n + t.rows, 0);
    return {
      counted: true,
      tables,
      total,
      detail: total ? describeWrites(tables) : 'no writes since the verified load',
    };
  } catch (err) {
    return {
      counted: false,
      tables: [],
      total: 0,
      detail: `cannot count the writes on PostgreSQL: ${err instanceof DomainError ? err.message : errorMessage(err)}`,
    };
  }
}

function writesRefusal(writes: PostgresWrites): DomainError {
  return new DomainError(
    Outcome.Usage,
    `refusing to roll back: PostgreSQL holds ${writes.detail} the SQLite file lacks; run \`npx just fallback\` to carry them back into SQLite, or --discard-postgres-writes to roll back without them (the database is kept)`,
    { postgresWrites: writes },
  );
}

export interface RestoredItem {
  path: string;
  action: 'restored' | 'unchanged' | 'removed' | 'failed';
  from?: string;
  error?: string;
}

export interface RollbackResult extends StepResult {
  runDir?: string;
  restored: RestoredItem[];
  databaseUrlKind: 'sqlite' | 'other' | 'missing';
  droppedTables?: string[];
  started?: StartResult;
  generate?: GenerateResult;
  postgresWrites?: PostgresWrites;
  manualSteps: string[];
}

/** The newest run dir whose journal records a switch-env (rollback must find the switch even when a later run exists). */
export function findSwitchedRunDir(settings: Settings): string | undefined {
  if (settings.runDir) return settings.runDir;
  return listRunDirs(settings).find((dir) => readJournal(dir)?.state?.switchEnv);
}

export function manualStepsFor(settings: Settings, state: SwitchState | undefined): string[] {
  const steps: string[] = [];
  if (settings.stopCmd) steps.push(settings.stopCmd);
  if (state?.migrations?.backupDir) {
    const m = state.migrations;
    steps.push(`rm -rf ${shellQuote(m.dir)} && cp -a ${shellQuote(m.backupDir!)} ${shellQuote(m.dir)}`);
  }
  for (const f of state?.files ?? []) {
    if (f.backup) steps.push(`cp -p ${shellQuote(f.backup)} ${shellQuote(f.path)}`);
    else if (!f.existed) steps.push(`rm -f ${shellQuote(f.path)}`);
  }
  steps.push(`grep '^${appUrlVariable(settings)}' ${shellQuote(envFilesOf(settings)[0])}   # must show a file: URL`);
  steps.push(
    `(cd ${shellQuote(path.join(settings.appDir, 'backend'))} && ./node_modules/.bin/prisma generate)   # client for sqlite`,
  );
  if (settings.startCmd) steps.push(settings.startCmd);
  return steps;
}

function restoreFile(entry: SwitchState['files'][number], asideDir: string): RestoredItem {
  const current = sha256File(entry.path);
  if (!entry.existed) {
    if (current === undefined) return { path: entry.path, action: 'unchanged' };
    // switch-env created it: keep it for forensics, out of the app's way.
    moveDir(entry.path, path.join(asideDir, path.basename(entry.path)));
    return { path: entry.path, action: 'removed' };
  }
  if (current === entry.sha256Before) return { path: entry.path, action: 'unchanged' };
  if (!entry.backup || sha256File(entry.backup) !== entry.sha256Before) {
    return {
      path: entry.path,
      action: 'failed',
      error: `backup ${entry.backup ?? '(none)'} is missing or does not match the recorded sha256`,
    };
  }
  writeEnvFileAtomic(entry.path, readFileSync(entry.backup), entry.mode ?? 0o600);
  if (entry.uid !== undefined && entry.gid !== undefined && process.getuid?.() === 0) {
    try {
      chownSync(entry.path, entry.uid, entry.gid);
    } catch {
      // best effort, as in switch-env
    }
  }
  if (sha256File(entry.path) !== entry.sha256Before)
    return { path: entry.path, action: 'failed', error: 'restored content does not match the pre-switch sha256' };
  return { path: entry.path, action: 'restored', from: entry.backup };
}

function restoreMigrations(state: SwitchState, asideDir: string): RestoredItem | undefined {
  const m = state.migrations;
  if (!m) return undefined;
  const current = treeHash(m.dir);
  if (current === m.hashBefore) return { path: m.dir, action: 'unchanged' };
  if (m.existed && (!m.backupDir || treeHash(m.backupDir) !== m.hashBefore)) {
    return {
      path: m.dir,
      action: 'failed',
      error: `backup ${m.backupDir ?? '(none)'} is missing or does not match the recorded hash`,
    };
  }
  // Keep the PostgreSQL history for forensics; copy (not move) the backup so a second rollback still has it.
  if (current !== undefined) moveDir(m.dir, path.join(asideDir, 'postgres-migrations'));
  if (m.existed) copyDir(m.backupDir!, m.dir);
  if (treeHash(m.dir) !== m.hashBefore)
    return { path: m.dir, action: 'failed', error: 'restored migrations do not match the pre-switch hash' };
  return { path: m.dir, action: m.existed ? 'restored' : 'removed', from: m.backupDir };
}

/**
 * Every file switch-env touched back to its pre-switch content (migrations folder first, then env files and the
 * schema), what they held after the switch moved into <runDir>/env-backups/rolled-back.<stamp>-*; items that could
 * not be restored come back with action 'failed'. Safe to repeat: a file already restored is 'unchanged'.
 */
export function restorePreSwitchFiles(runDir: string, state: SwitchState): RestoredItem[] {
  // Unique even for two rollbacks within one second (a re-run after a crash can be that quick): the stamp says
  // when, mkdtemp's suffix keeps a second rollback from renaming into the first one's folder (ENOTEMPTY).
  const backupsDir = path.join(runDir, RUN_FILES.envBackups);
  mkdirSync(backupsDir, { recursive: true, mode: 0o700 });
  const asideDir = mkdtempSync(path.join(backupsDir, `rolled-back.${utcStamp()}-`));
  const restored: RestoredItem[] = [];
  const mig = restoreMigrations(state, asideDir);
  if (mig) restored.push(mig);
  for (const entry of state.files) restored.push(restoreFile(entry, asideDir));
  return restored;
}

async function dropTargetTables(settings: Settings, log: Logger, runDir: string | undefined): Promise<string[]> {
  // Which tables are the app's: the PostgreSQL schema load-pg used, else the (restored) app schema.
  const pgSchema = runDir ? path.join(runDir, RUN_FILES.pgSchemaDir, 'schema.prisma') : undefined;
  const model = loadSchemaModel(pgSchema && existsSync(pgSchema) ? pgSchema : settings.schemaPath);
  const schema = (() => {
    try {
      return new URL(settings.targetUrl!).searchParams.get('schema') || 'public';
    } catch {
      return 'public';
    }
  })();
  const target = await openTarget(settings, log);
  const dropped: string[] = [];
  try {
    await target.client.query('BEGIN');
    for (const name of [...model.tables.map((t) => t.name), '_prisma_migrations']) {
      await target.client.query(
        sqlWithIdentifiers('rollback-drop-table', {
          schema: pg.escapeIdentifier(schema),
          name: pg.escapeIdentifier(name),
        }),
      );
      dropped.push(name);
    }
    for (const name of Object.keys(model.enums)) {
      await target.client.query(
        sqlWithIdentifiers('rollback-drop-type', {
          schema: pg.escapeIdentifier(schema),
          name: pg.escapeIdentifier(name),
        }),
      );
    }
    await target.client.query('COMMIT');
  } catch (err) {
    await target.client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    await target.close();
  }
  log.ok(
    `dropped ${dropped.length} table(s) and ${Object.keys(model.enums).length} enum type(s) of the app in ${target.display} (database and role kept)`,
  );
  return dropped;
}

export async function rollback(
  settings: Settings,
  log: Logger,
  options: RollbackOptions = {},
): Promise<RollbackResult> {
  const runDir = options.runDir ?? findSwitchedRunDir(settings);
  const state = runDir ? readSwitchState(runDir, settings.appDir) : undefined;
  const manualSteps = manualStepsFor(settings, state);
  const fail = (message: string, extra: Partial<RollbackResult> = {}): never => {
    log.error('rollback could not finish; do this by hand:');
    for (const step of manualSteps) log.info(`    ${step}`);
    throw new DomainError(Outcome.RollbackFailed, message, { manualSteps, runDir, ...extra });
  };

  const restored: RestoredItem[] = [];
  const needsRestore =
    state &&
    (state.files.some((f) => sha256File(f.path) !== f.sha256Before) ||
      (state.migrations && treeHash(state.migrations.dir) !== state.migrations.hashBefore));
  // Read before the restore: afterwards backend/.env no longer names the PostgreSQL database.
  const pgUrl = settings.targetUrl ?? appPostgresUrl(settings);
  const refuse = options.refuseOnPostgresWrites && !options.discardPostgresWrites;
  let postgresWrites: PostgresWrites | undefined;
  if (needsRestore || options.dropTarget) {
    postgresWrites = await countPostgresWrites(settings, log, runDir, pgUrl);
    // The app still runs on PostgreSQL and nothing was touched yet: refuse before stopping anything.
    if (refuse && needsRestore && postgresWrites.total) throw writesRefusal(postgresWrites);
  }
  if (needsRestore) {
    if (options.stopFirst !== false && settings.stopCmd) {
      // The app may be serving from PostgreSQL right now; it must not keep running on the files we swap.
      const stop = await runServiceCommand(settings.stopCmd, log, { cwd: settings.appDir, runDir: settings.runDir });
      if (stop.exitCode !== 0) log.warn(`stop command exited ${stop.exitCode ?? stop.signal}`);
    }
    // Stopped: its sessions ended and flushed their counters, so this count is complete.
    if (postgresWrites?.counted) postgresWrites = await countPostgresWrites(settings, log, runDir, pgUrl);
    if (refuse && postgresWrites?.total) {
      if (options.stopFirst !== false && settings.startCmd) {
        const again = await runServiceCommand(settings.startCmd, log, {
          cwd: settings.appDir,
          runDir: settings.runDir,
        });
        if (again.exitCode !== 0)
          log.warn(`start command exited ${again.exitCode ?? again.signal}: start the app on PostgreSQL by hand`);
      }
      throw writesRefusal(postgresWrites!);
    }
    try {
      restored.push(...restorePreSwitchFiles(runDir!, state!));
    } catch (err) {
      fail(`restoring the pre-switch files failed: ${errorMessage(err)}`, { restored });
    }
    const failed = restored.filter((r) => r.action === 'failed');
    if (failed.length) fail(`${failed[0].path}: ${failed[0].error}`, { restored });
    for (const r of restored)
      if (r.action !== 'unchanged') log.ok(`${r.action}: ${r.path}${r.from ? ` (from ${r.from})` : ''}`);
  } else if (state) {
    for (const f of state.files) restored.push({ path: f.path, action: 'unchanged' });
    log.info('every file switch-env touched already has its pre-switch content');
  } else {
    log.info('switch-env did not change anything in this run: nothing to restore');
  }

  // Where Prisma finds the app's URL (the variable its schema names, in whichever env file), not only DATABASE_URL.
  const appUrl = currentAppDatabaseUrl(settings);
  const databaseUrlKind = !appUrl.url ? 'missing' : appDatabaseKind(settings) === 'sqlite' ? 'sqlite' : 'other';
  if (databaseUrlKind !== 'sqlite')
    fail(
      `the app's database URL (${appUrl.from}) is ${databaseUrlKind === 'missing' ? 'missing' : 'not a file: URL'} after the restore`,
      { restored },
    );
  if (state && needsRestore) {
    state.rolledBackAt = new Date().toISOString();
    writeSwitchState(runDir!, settings.appDir, state);
  }

  if (postgresWrites?.total) {
    log.warn(
      `PostgreSQL keeps ${postgresWrites.detail} that the app wrote after the cutover; they are NOT in SQLite (the database is left as it is; \`npx just fallback\` carries them back into SQLite)`,
    );
  } else if (postgresWrites && !postgresWrites.counted)
    log.warn(`writes on PostgreSQL not counted: ${postgresWrites.detail}`);

  let droppedTables: string[] | undefined;
  if (options.dropTarget && (postgresWrites?.total || !postgresWrites?.counted)) {
    // Never drop a database the app wrote to (or one we cannot prove it did not).
    log.warn(
      `--drop-target refused: ${postgresWrites?.total ? `PostgreSQL holds ${postgresWrites.detail}` : postgresWrites?.detail}; the target is kept`,
    );
  } else if (options.dropTarget) {
    try {
      droppedTables = await dropTargetTables(settings, log, runDir);
    } catch (err) {
      // The app is already back on SQLite; a failed cleanup of the target is reported, not fatal to the app.
      log.warn(
        `could not drop the app's tables in the target: ${err instanceof DomainError ? err.message : errorMessage(err)}`,
      );
    }
  }

  // The generated client must be SQLite's again before the app starts (the start may not regenerate it).
  let generate: GenerateResult | undefined;
  if (state) {
    generate = await generateAppClient(settings.appDir, 'sqlite', log, { skip: options.noGenerate });
    try {
      const journal = loadOrCreateJournal(runDir!, settings.appDir);
      journal.state.prismaGenerate = generate;
      writeJournal(runDir!, journal);
    } catch (err) {
      log.warn(`could not record prisma generate in the journal: ${errorMessage(err)}`);
    }
    if (!generate.ok)
      fail(`the app's Prisma Client could not be regenerated for SQLite: ${generate.detail}`, { restored, generate });
  }

  let started: StartResult | undefined;
  if (options.startServices === false) {
    return {
      ok: true,
      outcome: Outcome.Ok,
      runDir,
      restored,
      databaseUrlKind,
      droppedTables,
      generate,
      postgresWrites,
      manualSteps,
      summary: 'pre-switch files restored (services left stopped)',
    };
  }
  try {
    started = await startServices(settings, log, {
      waitSeconds: options.waitSeconds,
      healthUrl: options.healthUrl,
      expectDatabase: 'sqlite',
      targetUrl: pgUrl,
    });
  } catch (err) {
    fail(`starting the app failed: ${err instanceof DomainError ? err.message : errorMessage(err)}`, { restored });
  }
  const notRight = startFailure(started!);
  if (notRight) fail(`the app did not come up on SQLite: ${notRight}`, { restored, started });
  const count = restored.filter((r) => r.action === 'restored' || r.action === 'removed').length;
  return {
    ok: true,
    outcome: Outcome.Ok,
    runDir,
    restored,
    databaseUrlKind,
    droppedTables,
    started,
    generate,
    postgresWrites,
    manualSteps,
    summary:
      `${count ? `restored ${count} item(s)` : 'nothing to restore'}; app on SQLite${started!.healthChecked ? ' and healthy' : ' (health not checked)'}` +
      (postgresWrites?.total ? `; PostgreSQL keeps ${postgresWrites.detail} not in SQLite (database left intact)` : ''),
  };
}

export async function runRollback(
  ctx: StepContext<{
    dropTarget?: boolean;
    waitSeconds?: number;
    healthUrl?: string;
    noGenerate?: boolean;
    discardPostgresWrites?: boolean;
  }>,
): Promise<RollbackResult> {
  assertAppInstall(ctx.settings);
  const lock = acquireLock(ctx.settings, 'rollback');
  try {
    const runDir = findSwitchedRunDir(ctx.settings);
    if (runDir && existsSync(runDir)) {
      assertRunDirOwned(ctx.settings, runDir);
      claimThisRunDir(ctx.settings, runDir, 'rollback');
    }
    const { dropTarget, waitSeconds, healthUrl, noGenerate, discardPostgresWrites } = ctx.extra;
    return await rollback(ctx.settings, ctx.log, {
      runDir,
      dropTarget,
      waitSeconds,
      healthUrl,
      noGenerate,
      discardPostgresWrites,
      refuseOnPostgresWrites: true,
    });
  } finally {
    lock.release();
  }
}
