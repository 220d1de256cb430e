import type { Settings } from '../cli/config.ts';
import { dsnPassword, resolveSqlitePath, sqliteLookupDescription } from '../cli/config.ts';
import { resolveAppDatabaseUrl } from '../prisma/schema-source.ts';
import { existsSync } from 'node:fs';
import { registerSecret } from '../cli/secrets.ts';
import type { StepContext, StepResult } from '../cli/run-cli.ts';
import { Outcome, DomainError, usageError } from '../errors.ts';
import { readEnvValue } from '../app/env-file.ts';
import { portOfUrl, resolveHealthUrl, waitForHealth, type HealthResult } from '../app/health-probe.ts';
import { proveAppDatabase, type DatabaseProof } from '../app/database-proof.ts';
import type { Logger } from '../cli/log.ts';
import { findHolders, sqliteFamily, type FileHolder } from '../app/process-files.ts';
import { runServiceCommand, type CommandRun } from '../app/service-commands.ts';
import path from 'node:path';
import { pollPause } from '../run/poll-delay.ts';

/**
 * The maintenance window. `on`: run the stop command, then PROVE nobody has the SQLite file (or its -wal/-shm/
 * -journal) open any more — maintenance.sh swallows failures and exits 0, and MAINTENANCE_MODE is not a write
 * block (admins and background jobs keep writing), so only "no process holds the file" counts.
 * `off`: run the start command and wait until the app's status route says "online", then prove from outside which
 * database it uses.
 */
export interface MaintenanceOptions {
  waitSeconds?: number;
  healthUrl?: string;
}

export interface StartOptions extends MaintenanceOptions {
  /** Prove the app uses this database (PostgreSQL sessions of its processes / its processes holding the file). */
  expectDatabase?: 'postgresql' | 'sqlite';
  /** The SQLite file to look for (default: from backend/.env). */
  sqlitePath?: string;
  /** The target to ask for sessions (default: --target). */
  targetUrl?: string;
}

export interface StopResult {
  sqlitePath: string;
  stop: CommandRun;
  /** Processes that held the database before the stop command ran. */
  holdersBefore: FileHolder[];
  /** Still holding after the wait (empty on success). */
  holdersAfter: FileHolder[];
  unreadableProcesses: number;
  /** What the holder proof could not cover (another user's processes while not root). */
  uninspected?: string;
  waitedMs: number;
}

export interface StartResult {
  start: CommandRun;
  health?: HealthResult;
  healthChecked: boolean;
  /** Which database the app uses, from outside (when a database was expected). */
  proof?: DatabaseProof;
}

/** One line saying why a start is not good (health or the database proof), undefined when it is. */
export function startFailure(s: StartResult): string | undefined {
  if (s.healthChecked && !s.health!.ok) return `${s.health!.url} → ${s.health!.error}`;
  if (s.proof && !s.proof.ok) return `database proof (${s.proof.expect}): ${s.proof.detail}`;
  return undefined;
}

export interface MaintenanceResult extends StepResult {
  mode: 'on' | 'off';
  stopped?: StopResult;
  started?: StartResult;
  ms: number;
}

export function requireSqlitePath(settings: Settings): string {
  const file = resolveSqlitePath(settings);
  if (!file) {
    throw new DomainError(
      Outcome.SourceProblem,
      `cannot tell where the SQLite file is: ${sqliteLookupDescription(settings)} (pass --sqlite)`,
    );
  }
  return file;
}

const describe = (h: FileHolder) => `pid ${h.pid} (${h.command || '?'}) still has ${path.basename(h.file)} open`;

export async function stopWriters(
  settings: Settings,
  log: Logger,
  options: MaintenanceOptions = {},
  sqliteOverride?: string,
): Promise<StopResult> {
  if (!settings.stopCmd) throw usageError('no stop command: pass --stop-cmd or put maintenance.sh in the app dir');
  const sqlitePath = sqliteOverride ?? requireSqlitePath(settings);
  const files = sqliteFamily(sqlitePath);
  const before = findHolders(files);
  if (before.holders.length)
    log.info(
      `writers holding the database: ${[...new Set(before.holders.map((h) => `${h.pid} (${h.command})`))].join(', ')}`,
    );
  const stop = await runServiceCommand(settings.stopCmd, log, { cwd: settings.appDir, runDir: settings.runDir });
  if (stop.exitCode !== 0)
    log.warn(`stop command exited ${stop.exitCode ?? stop.signal}; checking the processes anyway`);
  const waitMs = (options.waitSeconds ?? 30) * 1000;
  const started = Date.now();
  let scan = findHolders(files);
  for (let look = 1; scan.holders.length && Date.now() - started < waitMs; look++) {
    await pollPause(look, 200);
    scan = findHolders(files);
  }
  if (scan.gap && !scan.holders.length) {
    // Not root: another user's process could hold the file unseen, so "no holder" is not proven.
    if (!settings.acceptUninspected) {
      throw new DomainError(
        Outcome.SourceProblem,
        `cannot prove the writers stopped: ${scan.gap}, or pass --accept-uninspected-processes`,
        {
          uninspected: scan.uninspected,
        },
      );
    }
    log.warn(`${scan.gap}; going on because --accept-uninspected-processes was given`);
  }
  const result: StopResult = {
    sqlitePath,
    stop,
    holdersBefore: before.holders,
    holdersAfter: scan.holders,
    unreadableProcesses: scan.unreadable,
    uninspected: scan.gap,
    waitedMs: Date.now() - started,
  };
  if (scan.holders.length) {
    throw new DomainError(
      Outcome.SourceProblem,
      `writers did not stop: ${describe(scan.holders[0])} after ${Math.round(result.waitedMs / 1000)} s`,
      {
        holders: scan.holders,
      },
    );
  }
  log.ok(
    `no process has ${path.basename(sqlitePath)} open (matched by device and inode against every process's /proc fds and memory maps)`,
  );
  return result;
}

/**
 * The database URL the app uses, where Prisma finds it: the variable its schema (or prisma.config.ts) names, from
 * the app's env files (lib/prisma/schema-source.ts); without a schema file, backend/.env's DATABASE_URL.
 */
export function currentAppDatabaseUrl(settings: Settings): { url?: string; from: string } {
  if (existsSync(settings.schemaPath)) return resolveAppDatabaseUrl(settings.schemaPath, settings.appDir);
  const envFile = path.join(settings.appDir, 'backend/.env');
  return { url: readEnvValue(envFile, 'DATABASE_URL'), from: `DATABASE_URL in ${envFile}` };
}

/** The app's database URL when it is a PostgreSQL URL (the app's own DSN, password included). */
export function appPostgresUrl(settings: Settings): string | undefined {
  const { url } = currentAppDatabaseUrl(settings);
  if (!url || !/^postgres(ql)?:/i.test(url)) return undefined;
  registerSecret(dsnPassword(url));
  return url;
}

/** Which database the app's URL points at: postgresql, sqlite, or undefined (missing or another kind). */
export function appDatabaseKind(settings: Settings): 'postgresql' | 'sqlite' | undefined {
  const { url } = currentAppDatabaseUrl(settings);
  if (!url) return undefined;
  if (/^postgres(ql)?:/i.test(url)) return 'postgresql';
  if (/^file:/i.test(url.trim())) return 'sqlite';
  return undefined;
}

export async function startServices(settings: Settings, log: Logger, options: StartOptions = {}): Promise<StartResult> {
  if (!settings.startCmd) throw usageError('no start command: pass --start-cmd or put maintenance.sh in the app dir');
  const start = await runServiceCommand(settings.startCmd, log, { cwd: settings.appDir, runDir: settings.runDir });
  if (start.exitCode !== 0) log.warn(`start command exited ${start.exitCode ?? start.signal}; checking health anyway`);
  const timeoutMs = (options.waitSeconds ?? 30) * 1000;
  // `--health-url none` turns the check off (a rehearsal on a copy, whose PORT is the production app's).
  const url = await resolveHealthUrl(settings, options.healthUrl);
  let health: HealthResult | undefined;
  if (url) {
    health = await waitForHealth(url, { timeoutMs });
    if (health.ok)
      log.ok(
        `app is up: ${health.url} answered ${health.status}${health.serviceStatus ? ` (${health.serviceStatus})` : ''}`,
      );
    if (health.ok && !health.databaseChecked)
      log.warn(
        `${health.error ?? `${health.url} says nothing about the database`}: the database was not checked by the app`,
      );
  } else {
    log.warn('health check turned off (--health-url none): cannot confirm the app is up');
  }
  // `none` is a rehearsal on a copy that may not even start the app: no database proof either.
  if (!url && options.expectDatabase)
    log.warn(`database not proven (--health-url none): cannot confirm the app runs on ${options.expectDatabase}`);
  if (!url || !options.expectDatabase || (health && !health.ok)) return { start, health, healthChecked: Boolean(url) };
  const prove = () =>
    proveAppDatabase(settings, log, {
      expect: options.expectDatabase!,
      port: portOfUrl(health?.url),
      sqlitePath: options.sqlitePath ?? resolveSqlitePath(settings),
      targetUrl: options.targetUrl ?? settings.targetUrl ?? appPostgresUrl(settings),
      timeoutMs,
    });
  let proof = await prove();
  // On SQLite (the way back) any wrong start is retried once; on PostgreSQL only an app holding the SQLite file.
  const retry = options.expectDatabase === 'sqlite' ? proof.appPids.length > 0 : proof.sqliteHolders.length > 0;
  if (!proof.ok && retry && settings.stopCmd) {
    // An instance on the other database runs: one that was starting while we stopped the app (e.g. the start of an
    // upgrade killed mid-cutover finished after the guardian's stop). It read its env before ours was restored, so
    // only a restart makes it read the right one. Once: a second mismatch is a real failure.
    log.warn(
      `the app runs but not on ${options.expectDatabase} (${proof.detail}): maybe an instance started before the env files were restored; restarting it once`,
    );
    const stop = await runServiceCommand(settings.stopCmd, log, { cwd: settings.appDir, runDir: settings.runDir });
    if (stop.exitCode !== 0) log.warn(`stop command exited ${stop.exitCode ?? stop.signal}`);
    const again = await runServiceCommand(settings.startCmd, log, { cwd: settings.appDir, runDir: settings.runDir });
    if (again.exitCode !== 0)
      log.warn(`start command exited ${again.exitCode ?? again.signal}; checking health anyway`);
    if (url) health = await waitForHealth(url, { timeoutMs });
    proof = await prove();
  }
  if (proof.ok)
    log.ok(
      `the app is on ${options.expectDatabase === 'postgresql' ? 'PostgreSQL' : 'SQLite'}, seen from outside: ${proof.detail}`,
    );
  else log.error(`database proof failed: ${proof.detail}`);
  return { start, health, healthChecked: Boolean(url), proof };
}

export async function runMaintenance(
  ctx: StepContext<MaintenanceOptions>,
  mode: string | undefined,
): Promise<MaintenanceResult> {
  const { settings, log, extra } = ctx;
  const started = Date.now();
  if (mode === 'on') {
    const stopped = await stopWriters(settings, log, extra);
    return {
      ok: true,
      outcome: Outcome.Ok,
      mode,
      stopped,
      ms: Date.now() - started,
      summary: `writers stopped; no process holds ${stopped.sqlitePath} (${stopped.holdersBefore.length ? `pids ${[...new Set(stopped.holdersBefore.map((h) => h.pid))].join(', ')} gone` : 'none were running'})`,
    };
  }
  if (mode === 'off') {
    const expectDatabase = appDatabaseKind(settings);
    const started2 = await startServices(settings, log, { ...extra, expectDatabase });
    const failure = startFailure(started2);
    if (failure) {
      // The contract has no "app down" code: name the side that is most likely at fault.
      const code = expectDatabase === 'postgresql' ? Outcome.TargetNotReady : Outcome.SourceProblem;
      throw new DomainError(code, `app did not come up right: ${failure}`, {
        health: started2.health,
        proof: started2.proof,
      });
    }
    return {
      ok: true,
      outcome: Outcome.Ok,
      mode,
      started: started2,
      ms: Date.now() - started,
      summary: started2.healthChecked
        ? `app started and healthy (${started2.health!.url})`
        : 'start command ran (health not checked)',
    };
  }
  throw usageError('usage: just maintenance on|off');
}
