import type { Settings } from '../config.ts';
import { resolveSqlitePath, sqlitePathFromUrl } from '../config.ts';
import type { StepContext, StepResult } from '../cli.ts';
import { ExitCode, TaskError, usageError } from '../errors.ts';
import { readEnvValue } from '../env-file.ts';
import { defaultHealthUrl, waitForHealth, type HealthResult } from '../health.ts';
import type { Logger } from '../log.ts';
import { findHolders, sqliteFamily, type FileHolder } from '../process-files.ts';
import { runServiceCommand, type CommandRun } from '../service-commands.ts';
import path from 'node:path';

/**
 * The maintenance window. `on`: run the stop command, then PROVE nobody has the SQLite file (or its -wal/-shm/
 * -journal) open any more — maintenance.sh swallows failures and exits 0, and MAINTENANCE_MODE is not a write
 * block (admins and background jobs keep writing), so only "no process holds the file" counts.
 * `off`: run the start command and wait until the app's health URL answers 200.
 */
export interface MaintenanceOptions {
  waitSeconds?: number;
  healthUrl?: string;
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
    throw new TaskError(
      ExitCode.SourceProblem,
      `cannot tell where the SQLite file is: ${path.join(settings.appDir, 'backend/.env')} has no file: DATABASE_URL (pass --sqlite)`,
    );
  }
  return file;
}

const describe = (h: FileHolder) => `pid ${h.pid} (${h.command || '?'}) still has ${path.basename(h.file)} open`;

export async function stopWriters(settings: Settings, log: Logger, options: MaintenanceOptions = {}, sqliteOverride?: string): Promise<StopResult> {
  if (!settings.stopCmd) throw usageError('no stop command: pass --stop-cmd or put maintenance.sh in the app dir');
  const sqlitePath = sqliteOverride ?? requireSqlitePath(settings);
  const files = sqliteFamily(sqlitePath);
  const before = findHolders(files);
  if (before.holders.length) log.info(`writers holding the database: ${[...new Set(before.holders.map((h) => `${h.pid} (${h.command})`))].join(', ')}`);
  const stop = await runServiceCommand(settings.stopCmd, log, { cwd: settings.appDir, runDir: settings.runDir });
  if (stop.exitCode !== 0) log.warn(`stop command exited ${stop.exitCode ?? stop.signal}; checking the processes anyway`);
  const waitMs = (options.waitSeconds ?? 30) * 1000;
  const started = Date.now();
  let scan = findHolders(files);
  while (scan.holders.length && Date.now() - started < waitMs) {
    await new Promise((r) => setTimeout(r, 200));
    scan = findHolders(files);
  }
  if (scan.gap && !scan.holders.length) {
    // Not root: another user's process could hold the file unseen, so "no holder" is not proven.
    if (!settings.acceptUninspected) {
      throw new TaskError(ExitCode.SourceProblem, `cannot prove the writers stopped: ${scan.gap}, or pass --accept-uninspected-processes`, {
        uninspected: scan.uninspected,
      });
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
    throw new TaskError(ExitCode.SourceProblem, `writers did not stop: ${describe(scan.holders[0])} after ${Math.round(result.waitedMs / 1000)} s`, {
      holders: scan.holders,
    });
  }
  log.ok(`no process has ${path.basename(sqlitePath)} open (matched by device and inode against every process's /proc fds and memory maps)`);
  return result;
}

/** Which database the app's backend/.env points at: postgresql, sqlite, or undefined. */
export function appDatabaseKind(settings: Settings): 'postgresql' | 'sqlite' | undefined {
  const url = readEnvValue(path.join(settings.appDir, 'backend/.env'), 'DATABASE_URL');
  if (!url) return undefined;
  if (/^postgres(ql)?:/i.test(url)) return 'postgresql';
  if (sqlitePathFromUrl(url, path.dirname(settings.schemaPath))) return 'sqlite';
  return undefined;
}

export async function startServices(
  settings: Settings,
  log: Logger,
  options: MaintenanceOptions & { expectDatabase?: string } = {},
): Promise<StartResult> {
  if (!settings.startCmd) throw usageError('no start command: pass --start-cmd or put maintenance.sh in the app dir');
  const start = await runServiceCommand(settings.startCmd, log, { cwd: settings.appDir, runDir: settings.runDir });
  if (start.exitCode !== 0) log.warn(`start command exited ${start.exitCode ?? start.signal}; checking health anyway`);
  // `--health-url none` turns the check off (a rehearsal on a copy, whose PORT is the production app's).
  if (options.healthUrl === 'none') return { start, healthChecked: false };
  const url = options.healthUrl ?? defaultHealthUrl(settings.appDir);
  if (!url) {
    log.warn('no health URL (no PORT in backend/.env and no --health-url): cannot confirm the app is up');
    return { start, healthChecked: false };
  }
  const waitOptions = { timeoutMs: (options.waitSeconds ?? 30) * 1000, expectDatabase: options.expectDatabase };
  let health = await waitForHealth(url, waitOptions);
  if (!health.ok && health.status === 200 && health.database && settings.stopCmd) {
    // An instance on the other database answers: one that was starting while we stopped the app (e.g. the start
    // of an upgrade killed mid-cutover finished after the guardian's stop). It read its env file before ours was
    // restored, so only a restart makes it read the right one. Once: a second mismatch is a real failure.
    log.warn(`the app answers from ${health.database}, expected ${options.expectDatabase}: an instance started before the env files were restored; restarting it`);
    const stop = await runServiceCommand(settings.stopCmd, log, { cwd: settings.appDir, runDir: settings.runDir });
    if (stop.exitCode !== 0) log.warn(`stop command exited ${stop.exitCode ?? stop.signal}`);
    const again = await runServiceCommand(settings.startCmd, log, { cwd: settings.appDir, runDir: settings.runDir });
    if (again.exitCode !== 0) log.warn(`start command exited ${again.exitCode ?? again.signal}; checking health anyway`);
    health = await waitForHealth(url, waitOptions);
  }
  if (health.ok) log.ok(`app is up: ${url} answered ${health.status}${health.database ? ` (database: ${health.database})` : ''}`);
  return { start, health, healthChecked: true };
}

export async function runMaintenance(ctx: StepContext<MaintenanceOptions>, mode: string | undefined): Promise<MaintenanceResult> {
  const { settings, log, extra } = ctx;
  const started = Date.now();
  if (mode === 'on') {
    const stopped = await stopWriters(settings, log, extra);
    return {
      ok: true,
      exitCode: ExitCode.Ok,
      mode,
      stopped,
      ms: Date.now() - started,
      summary: `writers stopped; no process holds ${stopped.sqlitePath} (${stopped.holdersBefore.length ? `pids ${[...new Set(stopped.holdersBefore.map((h) => h.pid))].join(', ')} gone` : 'none were running'})`,
    };
  }
  if (mode === 'off') {
    const expectDatabase = appDatabaseKind(settings);
    const started2 = await startServices(settings, log, { ...extra, expectDatabase });
    if (started2.healthChecked && !started2.health!.ok) {
      // The contract has no "app down" code: name the side that is most likely at fault.
      const code = expectDatabase === 'postgresql' ? ExitCode.TargetNotReady : ExitCode.SourceProblem;
      throw new TaskError(code, `app did not come up: ${started2.health!.url} → ${started2.health!.error} after ${Math.round(started2.health!.waitedMs / 1000)} s`, {
        health: started2.health,
      });
    }
    return {
      ok: true,
      exitCode: ExitCode.Ok,
      mode,
      started: started2,
      ms: Date.now() - started,
      summary: started2.healthChecked ? `app started and healthy (${started2.health!.url})` : 'start command ran (health not checked)',
    };
  }
  throw usageError('usage: just maintenance on|off');
}
