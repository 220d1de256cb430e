import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Settings } from '../cli/config.ts';
import { loadSettings } from '../cli/config.ts';
import { createLogger } from '../cli/log.ts';
import { errorMessage } from '../errors.ts';
import { isPidAlive } from '../app/process-files.ts';
import { acquireLock } from '../run/run-lock.ts';
import { loadOrCreateJournal, readJournal, RUN_FILES, writeJournal } from '../run/run-dir.ts';
import { appPostgresUrl, startFailure, startServices } from './maintenance.ts';
import type { GuardianArgs } from './upgrade-guardian.ts';
import { fallback } from './fallback.ts';

/**
 * The fallback's guardian (the upgrade's, lib/steps/upgrade-guardian.ts, for the other direction): started when the
 * app is stopped, it polls the fallback's PID. Killed before the commit point (the verified file swapped in), the
 * app's files are still PostgreSQL's: the guardian starts the app again, on PostgreSQL, and leaves the run open so the
 * next `just fallback` starts over. Killed after it, the guardian finishes the fallback itself (restore, generate,
 * start: each safe to repeat), so the app ends entirely on SQLite. Either way the app runs, never half switched.
 */
const POLL_MS = 300;
export const FALLBACK_GUARDIAN_STATE = 'fallbackGuardian';

interface FallbackProgress {
  finishedAt?: string;
  committedAt?: string;
  live?: string;
}

function progress(runDir: string): FallbackProgress | undefined {
  if (!existsSync(path.join(runDir, RUN_FILES.journal))) return undefined;
  return readJournal(runDir)?.state?.fallback as FallbackProgress | undefined;
}

export async function guardFallback(args: GuardianArgs): Promise<void> {
  const log = createLogger();
  log.attachFile(path.join(args.runDir, RUN_FILES.log));
  while (isPidAlive(args.upgradePid)) {
    if (progress(args.runDir)?.finishedAt) return;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const state = progress(args.runDir);
  if (!state || state.finishedAt) return;
  const argv = ['--app-dir', args.appDir, '--schema', args.schemaPath, '--system-env', args.systemEnvFile, '--yes'];
  if (args.stopCmd) argv.push('--stop-cmd', args.stopCmd);
  if (args.startCmd) argv.push('--start-cmd', args.startCmd);
  const settings = loadSettings(argv, {}, {}).settings;
  let outcome: string;
  try {
    if (state.committedAt) {
      log.warn(`guardian: fallback pid ${args.upgradePid} died after the commit point; finishing the fallback`);
      const result = await fallback({
        settings,
        log,
        positionals: [],
        extra: { healthUrl: args.healthUrl, waitSeconds: args.waitSeconds, noGenerate: args.noGenerate },
      });
      outcome = result.summary;
    } else {
      outcome = await restartOnPostgres(args, settings, log, state);
    }
  } catch (err) {
    outcome = `failed: ${errorMessage(err)}`;
    log.error(`guardian: ${outcome}`);
  }
  const journal = loadOrCreateJournal(args.runDir, args.appDir);
  journal.state[FALLBACK_GUARDIAN_STATE] = { at: new Date().toISOString(), fallbackPid: args.upgradePid, outcome };
  writeJournal(args.runDir, journal);
  log.info(`guardian: ${outcome}`);
}

async function restartOnPostgres(
  args: GuardianArgs,
  settings: Settings,
  log: ReturnType<typeof createLogger>,
  state: FallbackProgress,
): Promise<string> {
  let lock;
  try {
    lock = acquireLock(settings, `fallback guardian for pid ${args.upgradePid}`);
  } catch (err) {
    return `left to the run holding the lock (${errorMessage(err)})`;
  }
  try {
    log.warn(`guardian: fallback pid ${args.upgradePid} died before the commit point; starting the app on PostgreSQL`);
    const s = await startServices({ ...settings, runDir: args.runDir }, log, {
      waitSeconds: args.waitSeconds,
      healthUrl: args.healthUrl,
      expectDatabase: 'postgresql',
      sqlitePath: state.live,
      targetUrl: appPostgresUrl(settings),
    });
    const failure = startFailure(s);
    if (failure) throw new Error(`the app did not come back on PostgreSQL: ${failure}`);
    return 'the app runs on PostgreSQL again (nothing switched); the next `just fallback` starts over';
  } finally {
    lock.release();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = JSON.parse(process.argv[2] ?? '{}') as GuardianArgs;
  await guardFallback(args).catch((err) => {
    process.stderr.write(`guardian failed: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  });
}
