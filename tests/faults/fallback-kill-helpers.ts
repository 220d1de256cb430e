/**
 * Shared by tests/faults/kill-fallback*.test.ts: run `just fallback` to a pause point (VISIONSUIT_MIGRATE_PAUSE_AT,
 * lib/run/pause-point.ts), and kill it there with its guardian frozen (SIGSTOP) so the test sees exactly what the
 * kill left, then release the guardian and wait for its verdict.
 */
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { pauseMarker } from '../../lib/run/pause-point.ts';
import {
  SAFE_ENV,
  eventually,
  health,
  journalOf,
  sqliteCount,
  runDirs,
  spawnTask,
  type Spawned,
  type UpgradeHarness,
} from '../e2e/e2e-helpers.ts';
import { runTask } from '../helpers/cli.ts';
import { appState, classify, pollFast, sha256 } from './fault-helpers.ts';
import { configuredFor } from './kill-every-step-helpers.ts';

/** PIDs of the fallback guardians watching `runDir` (their command line names the script and the run dir). */
export function fallbackGuardians(runDir: string): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        const cmd = readFileSync(`/proc/${n}/cmdline`, 'utf8');
        return cmd.includes('fallback-guardian.ts') && cmd.includes(JSON.stringify(runDir).slice(1, -1));
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** `just fallback` started and waiting at `point`; `runDir` is the upgrade's run dir the fallback works in. */
export async function fallbackPausedAt(
  appDir: string,
  runDir: string,
  env: Record<string, string>,
  point: string,
): Promise<Spawned> {
  const fb = spawnTask('fallback', ['--app-dir', appDir, '--yes'], { ...env, VISIONSUIT_MIGRATE_PAUSE_AT: point });
  const reached = await pollFast(
    `pause point ${point}`,
    () => (fb.child.exitCode !== null ? 'exited' : existsSync(pauseMarker(runDir, point)) ? 'paused' : undefined),
    (v) => v !== undefined,
    120_000,
  );
  if (reached === 'exited') assert.unreachable(`fallback exited before ${point}: ${(await fb.done).stderr}`);
  return fb;
}

/** SIGKILL of a paused fallback, its step journaled as running; with a guardian, it is frozen until `release`. */
export async function killPausedFallback(
  fb: Spawned,
  runDir: string,
  point: string,
  withGuardian: boolean,
): Promise<{ release: () => Promise<string> }> {
  const guardians = withGuardian
    ? await eventually(
        'guardian running',
        () => fallbackGuardians(runDir),
        (p) => p.length > 0,
      )
    : [];
  if (!withGuardian) assert.equal(fallbackGuardians(runDir), [], `no guardian yet at ${point}`);
  for (const g of guardians) process.kill(g, 'SIGSTOP');
  fb.child.kill('SIGKILL');
  const killed = await fb.done;
  assert.is(killed.signal, 'SIGKILL');
  assert.is(journalOf(runDir).steps[point].status, 'running', `${point} journaled running at the kill`);
  return {
    release: async () => {
      for (const g of guardians) process.kill(g, 'SIGCONT');
      const record = await eventually(
        'the guardian recorded its outcome',
        () => journalOf(runDir)?.state?.fallbackGuardian,
        (g) => g?.fallbackPid === fb.child.pid,
        120_000,
      );
      return String(record.outcome);
    },
  };
}

/** A new install upgraded to PostgreSQL in `database`, the app writing there. */
export async function installOnPostgres(harness: UpgradeHarness, database: string) {
  const { install, db, env, args } = await harness.upgradeCase(database, 150);
  const taskEnv = { ...SAFE_ENV, ...env };
  const up = await runTask('upgrade', args, { env: taskEnv });
  assert.is(up.code, 0, up.stderr);
  const runDir = runDirs(install.appDir).at(-1)!;
  const pgAudit = async () =>
    Number((await harness.pg.query(db.name, 'SELECT count(*) AS n FROM "AuditLog"')).rows[0].n);
  const writingOnPg = async () => {
    const n = await pgAudit();
    await eventually('the app writing on PostgreSQL', pgAudit, (m) => m > n + 5);
  };
  await writingOnPg();
  return { install, taskEnv, runDir, originalSha: sha256(install.sqlitePath), pgAudit, writingOnPg };
}

/**
 * Killed with SIGKILL at `point`, past the commit point (swap, generate, start): the install configured all for one
 * database at the kill, the export holding every row PostgreSQL had; the guardian finishes the fallback, the app
 * entirely on SQLite with every one of those rows, the original file kept byte-identical beside the new one.
 */
export async function killPastCommit(harness: UpgradeHarness, point: string): Promise<void> {
  const c = await installOnPostgres(harness, `killfb_${point.split(':')[1]}`);
  const fb = await fallbackPausedAt(c.install.appDir, c.runDir, c.taskEnv, point);
  const killed = await killPausedFallback(fb, c.runDir, point, true);
  assert.is(await health(c.install.healthUrl), undefined, `${point}: the app is stopped at the kill`);
  const at = configuredFor(c.install);
  assert.ok(
    JSON.stringify(at) === JSON.stringify(ON_POSTGRES) || (at.env === 'file' && at.provider === 'sqlite'),
    `${point}: configured all for one database, not in between: ${JSON.stringify(at)}`,
  );
  const fallback = journalOf(c.runDir).state.fallback;
  assert.ok(fallback.committedAt, `${point} is past the commit point`);
  const exported = fallback.exported.find((t: { name: string }) => t.name === 'AuditLog').pgRowCount;
  assert.is(exported, await c.pgAudit(), `${point}: the export holds every row the app wrote on PostgreSQL`);
  assert.match(await killed.release(), /fell back/);
  const state = await eventually(
    'the app on SQLite',
    () => appState(c.install),
    (s) => classify(s) === 'sqlite',
    60_000,
  );
  assert.is(classify(state), 'sqlite', point);
  assert.is(journalOf(c.runDir).state.fallback.outcome, 'fell-back', point);
  assert.is(sha256(fallback.aside), c.originalSha, `${point}: the original kept byte-identical`);
  assert.ok(sqliteCount(c.install.sqlitePath, 'AuditLog') >= exported, `${point}: every PostgreSQL row in SQLite`);
}

/** How configuredFor() sees an install switched to PostgreSQL. */
export const ON_POSTGRES = { env: 'postgresql', provider: 'postgresql', migrations: true };
