/**
 * Shared by tests/faults/kill-every-step-*.test.ts: run `just upgrade` with a pause point armed
 * (VISIONSUIT_MIGRATE_PAUSE_AT, lib/run/pause-point.ts), wait for its marker file, freeze the guardian (SIGSTOP), SIGKILL
 * the upgrade, let the test look at exactly what the kill left, then release the guardian and wait for its verdict.
 * The steps at stake last milliseconds on the fixture: the pause point, not a poll of the journal, is what lands
 * the kill inside them every time.
 */
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { pauseMarker } from '../../lib/run/pause-point.ts';
import { appFingerprint, eventually, journalOf, runDirs, spawnTask, type Install } from '../e2e/e2e-helpers.ts';
import { appState, classify, guardianPids, pollFast } from './fault-helpers.ts';

export interface KillAt {
  install: Install;
  args: string[];
  env: Record<string, string>;
  /** A step name of UPGRADE_STEPS or one of SWITCH_ENV_PAUSE_POINTS. */
  point: string;
  /** Checks on the state the kill left, while the guardian is frozen. */
  atKill: (runDir: string) => Promise<void> | void;
  /** Called after the kill, before the guardian is released (e.g. crash the app). */
  beforeRelease?: () => void;
}

/** Paused at `point`, killed with SIGKILL; returns the run dir and the killed PID once the guardian recorded its outcome. */
export async function killAtPausePoint(o: KillAt): Promise<{ runDir: string; pid: number; guardianOutcome: string }> {
  const upgrade = spawnTask('upgrade', o.args, { ...o.env, VISIONSUIT_MIGRATE_PAUSE_AT: o.point });
  const pid = upgrade.child.pid!;
  const marker = await pollFast(
    `pause point ${o.point} reached`,
    () => {
      // The upgrade must still be alive at its pause point; an exit means it never got there.
      if (upgrade.child.exitCode !== null || upgrade.child.signalCode !== null) return 'exited';
      const dir = runDirs(o.install.appDir).at(-1);
      return dir && existsSync(pauseMarker(dir, o.point)) ? dir : undefined;
    },
    (v) => v !== undefined,
    180_000,
  );
  if (marker === 'exited') {
    const r = await upgrade.done;
    assert.unreachable(`upgrade exited (${r.code}) before pause point ${o.point}: ${r.stderr}`);
  }
  const runDir = marker!;
  assert.is(readFileSync(pauseMarker(runDir, o.point), 'utf8').trim(), String(pid), 'the marker names the paused PID');
  // Freeze the guardian, so what the test looks at is exactly what the kill left behind.
  const guardians = await eventually(
    'guardian running',
    () => guardianPids(runDir),
    (p) => p.length > 0,
  );
  for (const g of guardians) process.kill(g, 'SIGSTOP');
  upgrade.child.kill('SIGKILL');
  const killed = await upgrade.done;
  assert.is(killed.signal, 'SIGKILL');
  assert.ok(killed.stderr.includes(`pause point ${o.point} reached (pid ${pid})`), killed.stderr);
  await o.atKill(runDir);
  o.beforeRelease?.();
  for (const g of guardians) process.kill(g, 'SIGCONT');
  const record = await eventually(
    'guardian recorded its outcome',
    () => journalOf(runDir)?.state?.guardian,
    (g) => g?.upgradePid === pid,
    90_000,
  );
  return { runDir, pid, guardianOutcome: String(record.outcome) };
}

/**
 * Kill the upgrade at each point in turn, every attempt resuming the same run, and check after each that the
 * guardian rolled back (never a confirmed cutover): the app on SQLite, files byte-identical to `before`. Returns the run dir.
 */
export async function killAtEachInTurn(
  o: Omit<KillAt, 'point' | 'atKill'>,
  chain: { point: string; atKill: KillAt['atKill'] }[],
  before: Record<string, string>,
): Promise<string> {
  let runDir = '';
  for (const [i, { point, atKill }] of chain.entries()) {
    const killed = await killAtPausePoint({ ...o, point, atKill });
    if (i === 0) runDir = killed.runDir;
    assert.is(killed.runDir, runDir, 'every attempt resumes the same run');
    assert.is(journalOf(runDir).state.upgrade.attempts, i + 1);
    assert.not.match(killed.guardianOutcome, /confirmed/);
    await assertBackOnSqlite(o.install, runDir, before);
  }
  return runDir;
}

/** After the guardian's rollback: everything on SQLite, files byte-identical to `before`, the run left open. */
export async function assertBackOnSqlite(
  install: Install,
  runDir: string,
  before: Record<string, string>,
): Promise<void> {
  const state = await eventually(
    'app back on SQLite',
    () => appState(install),
    (s) => classify(s) === 'sqlite',
    60_000,
  );
  assert.is(classify(state), 'sqlite', JSON.stringify(state));
  assert.equal(appFingerprint(install), before, 'env, schema and migrations byte-identical to before the upgrade');
  assert.not.ok(journalOf(runDir).state.upgrade.finishedAt, 'the run stays open for the next upgrade to resume');
}

/** What the app is configured for, without asking it (it is stopped at most kill points). */
export function configuredFor(install: Install): { env: string; provider: string; migrations: boolean } {
  const env = /^DATABASE_URL=["']?(\w+):/m.exec(readFileSync(install.envPath, 'utf8'))?.[1] ?? '?';
  const provider =
    /datasource\s+\w+\s*\{[^}]*provider\s*=\s*"(\w+)"/s.exec(readFileSync(install.schemaPath, 'utf8'))?.[1] ?? '?';
  const migrations = existsSync(install.schemaPath.replace(/schema\.prisma$/, 'migrations'));
  return { env, provider, migrations };
}
