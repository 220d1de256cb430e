import path from 'node:path';
import type { Settings } from '../cli/config.ts';
import { usageError } from '../errors.ts';
import { writeFileAtomic } from '../files/fs-atomic.ts';
import type { Logger } from '../cli/log.ts';

/**
 * Pause points (a fail point that only pauses, cf. FreeBSD fail points / fail-rs): with
 * VISIONSUIT_MIGRATE_PAUSE_AT=<name> the upgrade stops at that named moment and waits until it is killed or
 * signalled. It exists so a fire drill (or a test) can kill -9 the upgrade at an exact step — most steps last
 * milliseconds, far too short to hit from outside. A pause never changes what the run does; it only delays it.
 *
 * When the point is reached: one log line, then a marker file <runDir>/paused-at-<name> (0600) that a script can wait
 * for. SIGINT/SIGTERM end the pause, so the upgrade's normal signal path (rollback, app back on SQLite) still runs.
 * SIGUSR2 ends it as if it had never been armed: the run goes on, so a drill can hold a run at a point (e.g. while it
 * holds the run lock) and then let it finish. (SIGUSR1 is Node's debugger signal.)
 */

/** Points inside switch-env, in the order they are reached (the step itself pauses under its own name first). */
export const SWITCH_ENV_PAUSE_POINTS = [
  // every backup taken and the intent in the journal; nothing in the app touched yet
  'switch-env:backed-up',
  // the SQLite migrations moved into the backups, the PostgreSQL ones not yet in place: no migrations folder at all
  'switch-env:migrations-aside',
  // backend/.env (and the system env file) point at PostgreSQL, schema.prisma still says sqlite
  'switch-env:env-written',
] as const;

export function pauseMarker(runDir: string, name: string): string {
  return path.join(runDir, `paused-at-${name}`);
}

/**
 * Refuse a pause point no code path reaches: a fire drill with a typo would otherwise not pause at all and run the
 * whole cutover instead.
 */
export function checkPausePoint(settings: Settings, known: readonly string[]): void {
  if (settings.pauseAt && !known.includes(settings.pauseAt)) {
    throw usageError(
      `VISIONSUIT_MIGRATE_PAUSE_AT=${settings.pauseAt} is not a pause point; use one of: ${known.join(', ')}`,
    );
  }
}

/** No-op unless `name` is the armed pause point; otherwise waits until SIGINT/SIGTERM/SIGUSR2 (or until killed). */
export async function pausePoint(settings: Settings, name: string, log: Logger): Promise<void> {
  if (!settings.pauseAt || settings.pauseAt !== name) return;
  // The line first, then the marker: whoever waits for the marker and kills at once must find the line already
  // written (stderr to a pipe or file is synchronous on Linux). The other order lost it to a quick kill -9.
  log.warn(`pause point ${name} reached (pid ${process.pid}); waiting until killed or signalled`);
  if (settings.runDir) writeFileAtomic(pauseMarker(settings.runDir, name), `${process.pid}\n`, 0o600);
  await new Promise<void>((resolve) => {
    // The timer keeps the event loop alive: a bare pending promise would let Node exit on its own.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    const end = (sig: NodeJS.Signals) => {
      clearInterval(keepAlive);
      process.off('SIGINT', end);
      process.off('SIGTERM', end);
      process.off('SIGUSR2', end);
      log.warn(
        sig === 'SIGUSR2'
          ? `pause point ${name}: ${sig}, the run goes on`
          : `pause point ${name}: ${sig}, continuing so the run can take its signal path`,
      );
      resolve();
    };
    process.on('SIGINT', end);
    process.on('SIGTERM', end);
    process.on('SIGUSR2', end);
  });
}
