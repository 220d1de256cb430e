import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Settings } from '../cli/config.ts';
import { loadSettings } from '../cli/config.ts';
import { errorMessage } from '../errors.ts';
import { proveAppDatabase } from '../app/database-proof.ts';
import { portOfUrl, resolveHealthUrl, waitForHealth } from '../app/health-probe.ts';
import { createLogger } from '../cli/log.ts';
import { isPidAlive } from '../app/process-files.ts';
import { acquireLock } from '../run/run-lock.ts';
import { loadOrCreateJournal, readJournal, recordStep, RUN_FILES, writeJournal } from '../run/run-dir.ts';
import { appPostgresUrl } from './maintenance.ts';
import { rollback } from './rollback.ts';

/**
 * The upgrade's guardian: a small detached process started when the maintenance window opens. A SIGKILL (or OOM
 * kill, or a crash no handler saw) of the upgrade would otherwise leave the app stopped — or switched but never
 * verified — until someone re-runs it. The guardian polls the upgrade's PID; when it is gone and the journal has no
 * final state, it takes the (now stale) lock and runs the rollback: files restored if switch-env had begun, the app
 * started on SQLite and health-checked. It leaves the run unfinished on purpose, so the next `just upgrade` resumes
 * it (and, since the app wrote to SQLite meanwhile, redoes backup → verify from a fresh backup).
 * A run whose health step is done is cut over: the guardian leaves it alone. A run killed DURING the health step
 * already had the app answer on PostgreSQL in start-services (after verify-after-switch), and the app may have
 * written to PostgreSQL since: rolling back would throw those writes away. So the guardian checks: the app's
 * status route says "online" and its processes have sessions on the target (lib/app/database-proof.ts); then it
 * records the run finished as cut over ("confirmed by the guardian") and leaves the app alone; otherwise it rolls
 * back as for any other step, with the upgrade's own options (health URL, wait, generate).
 */
const POLL_MS = 300;
/** How long the guardian gives an app that answered on PostgreSQL moments ago to answer again. */
const CONFIRM_HEALTH_MS = 10_000;

export interface GuardianArgs {
  /** The task guarded (an upgrade or a fallback). */
  upgradePid: number;
  runDir: string;
  appDir: string;
  stopCmd?: string;
  startCmd?: string;
  healthUrl?: string;
  waitSeconds?: number;
  noGenerate?: boolean;
  systemEnvFile: string;
  schemaPath: string;
}

/**
 * Start the guardian for this upgrade (detached, output into <runDir>/guardian.log). Returns the child, so the
 * upgrade can stand it down when it ends on its own (see standDownGuardian).
 */
export function startGuardian(
  settings: Settings,
  runDir: string,
  options: { healthUrl?: string; waitSeconds?: number; noGenerate?: boolean } = {},
): ChildProcess | undefined {
  return spawnGuardian(fileURLToPath(import.meta.url), runDir, guardianArgs(settings, runDir, options));
}

/** What a guardian needs to act for the task running in this process: paths and the operator's commands. */
export function guardianArgs(
  settings: Settings,
  runDir: string,
  options: { healthUrl?: string; waitSeconds?: number; noGenerate?: boolean },
): GuardianArgs {
  return {
    upgradePid: process.pid,
    runDir,
    appDir: settings.appDir,
    stopCmd: settings.stopCmd,
    startCmd: settings.startCmd,
    healthUrl: options.healthUrl,
    waitSeconds: options.waitSeconds,
    noGenerate: options.noGenerate,
    systemEnvFile: settings.systemEnvFile,
    schemaPath: settings.schemaPath,
  };
}

/** Run `script` (a guardian module) detached with its arguments as JSON, output into <runDir>/guardian.log. */
export function spawnGuardian(script: string, runDir: string, payload: GuardianArgs): ChildProcess | undefined {
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const logFd = openSync(path.join(runDir, 'guardian.log'), 'a', 0o600);
  try {
    // No secret travels: a guardian reads the app's own env files for what it needs, never its arguments.
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' };
    // child_process, not zx: the guardian must outlive this process (detached, unref'd, output into a file), which
    // zx's $ would keep tied to the parent through its promise and pipes.
    const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(payload)], {
      cwd: repo,
      env,
      detached: true,
      stdio: ['ignore', logFd, logFd],
    });
    child.unref();
    return child;
  } catch {
    return undefined;
  } finally {
    closeSync(logFd);
  }
}

/**
 * The upgrade ended by itself (cut over, rolled back, refused, or its rollback failed and it told the operator): the
 * guardian has nothing left to protect. Without this it would decide from the journal alone, and a journal whose
 * final state could not be written (a full run-dir disk) would make it redo a finished rollback — holding the lock
 * while the operator already re-runs the upgrade.
 */
export function standDownGuardian(guardian: ChildProcess | undefined): void {
  if (guardian && guardian.exitCode === null && guardian.signalCode === null) guardian.kill('SIGTERM');
}

function finished(runDir: string): boolean {
  // A run dir that is gone (the demo cleans up after itself) has nobody left to protect.
  if (!existsSync(path.join(runDir, RUN_FILES.journal))) return true;
  const journal = readJournal(runDir);
  const state = journal?.state?.upgrade as { finishedAt?: string } | undefined;
  return Boolean(state?.finishedAt) || journal?.steps?.health?.status === 'done';
}

/**
 * Killed while the health step ran: start-services is done (the app came up on PostgreSQL, after the counts were
 * verified). Returns what proves the cutover when the app answers on PostgreSQL now; undefined → roll back.
 */
async function confirmCutOver(args: GuardianArgs, settings: Settings): Promise<string | undefined> {
  const steps = readJournal(args.runDir)?.steps ?? {};
  if (
    steps.health?.status !== 'running' ||
    steps['start-services']?.status !== 'done' ||
    steps['verify-after-switch']?.status !== 'done'
  )
    return undefined;
  const url = await resolveHealthUrl(settings, args.healthUrl);
  if (!url) return undefined; // nothing to ask: an unconfirmed cutover is rolled back
  const h = await waitForHealth(url, { timeoutMs: CONFIRM_HEALTH_MS });
  if (!h.ok) return undefined;
  const proof = await proveAppDatabase(settings, createLogger(), {
    expect: 'postgresql',
    port: portOfUrl(h.url),
    targetUrl: appPostgresUrl(settings),
    timeoutMs: CONFIRM_HEALTH_MS,
  });
  return proof.ok ? `${h.url} → ${h.status} ${h.serviceStatus ?? ''}; ${proof.detail}` : undefined;
}

export async function guard(args: GuardianArgs): Promise<void> {
  const log = createLogger();
  log.attachFile(path.join(args.runDir, RUN_FILES.log));
  while (isPidAlive(args.upgradePid)) {
    if (finished(args.runDir)) return;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  if (finished(args.runDir)) return;
  const argv = [
    '--app-dir',
    args.appDir,
    '--run-dir',
    args.runDir,
    '--schema',
    args.schemaPath,
    '--system-env',
    args.systemEnvFile,
  ];
  if (args.stopCmd) argv.push('--stop-cmd', args.stopCmd);
  if (args.startCmd) argv.push('--start-cmd', args.startCmd);
  const settings = loadSettings(argv, {}, {}).settings;
  let lock;
  try {
    lock = acquireLock(settings, `upgrade guardian for pid ${args.upgradePid}`);
  } catch (err) {
    // Someone (a re-run of the upgrade) already holds it: that run takes care of the app.
    log.info(
      `guardian: upgrade pid ${args.upgradePid} died without finishing; ${errorMessage(err)}; leaving the app to that run`,
    );
    return;
  }
  let outcome: string;
  let confirmed: string | undefined;
  try {
    confirmed = await confirmCutOver(args, settings);
    if (confirmed) {
      outcome = `cut-over confirmed by the guardian: ${confirmed}`;
      const journal = loadOrCreateJournal(args.runDir, args.appDir);
      journal.state.upgrade = {
        ...(journal.state.upgrade as object | undefined),
        finishedAt: new Date().toISOString(),
        outcome: 'cut-over',
        confirmedBy: 'guardian',
      };
      writeJournal(args.runDir, journal);
      recordStep(args.runDir, args.appDir, 'health', { status: 'done', message: outcome });
      log.ok(
        `guardian: upgrade pid ${args.upgradePid} died during the health step; ${outcome}; the app stays on PostgreSQL`,
      );
    } else {
      log.warn(`guardian: upgrade pid ${args.upgradePid} died without finishing; putting the app back on SQLite`);
      const result = await rollback(settings, log, {
        runDir: args.runDir,
        healthUrl: args.healthUrl,
        waitSeconds: args.waitSeconds,
        noGenerate: args.noGenerate,
      });
      outcome = result.summary;
    }
  } catch (err) {
    outcome = `rollback failed: ${errorMessage(err)}`;
    log.error(`guardian: ${outcome}`);
  } finally {
    lock.release();
  }
  const journal = loadOrCreateJournal(args.runDir, args.appDir);
  journal.state.guardian = { at: new Date().toISOString(), upgradePid: args.upgradePid, outcome };
  writeJournal(args.runDir, journal);
  if (!confirmed) log.info(`guardian: ${outcome}`); // a confirmation was already said, as ✔
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = JSON.parse(process.argv[2] ?? '{}') as GuardianArgs;
  await guard(args).catch((err) => {
    process.stderr.write(`guardian failed: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  });
}
