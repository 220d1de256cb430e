/**
 * `just fallback` interrupted at its steps (landed by pause points, VISIONSUIT_MIGRATE_PAUSE_AT), one run resumed
 * each time, the app writing on PostgreSQL in between:
 *  - SIGTERM while exporting (before the window, the app running): exit 5, nothing switched, the app on PostgreSQL;
 *  - SIGKILL at catch-up (the window: file exported and verified, the app stopped, not yet caught up): configured
 *    for PostgreSQL with the original SQLite file untouched; the guardian (frozen across the kill, then released)
 *    starts it on PostgreSQL again and it keeps writing there;
 *  - SIGKILL at restore (past the commit point: the verified file swapped in, env files still PostgreSQL's): still
 *    configured all for PostgreSQL, the original kept byte-identical beside the new file, and the export holds every
 *    row written after the first kill; the guardian finishes the fallback: the app entirely on SQLite.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import {
  SAFE_ENV,
  eventually,
  health,
  journalOf,
  runDirs,
  sqliteCount,
  spawnTask,
  useUpgradeHarness,
} from '../e2e/e2e-helpers.ts';
import { runTask } from '../helpers/cli.ts';
import { pauseMarker } from '../../lib/run/pause-point.ts';
import { appState, classify, pollFast, sha256 } from './fault-helpers.ts';
import { configuredFor } from './kill-every-step-helpers.ts';

const test = suite('faults: kill -9 of the fallback');
const harness = useUpgradeHarness(test);

/** PIDs of the fallback guardians watching `runDir` (their command line names the script and the run dir). */
function fallbackGuardians(runDir: string): number[] {
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

test('SIGTERM at export, SIGKILL at catch-up and at restore: never in between; the guardian restarts or finishes', async () => {
  const { install, db, env, args } = await harness.upgradeCase('killfallback', 150);
  const taskEnv = { ...SAFE_ENV, ...env };
  const up = await runTask('upgrade', args, { env: taskEnv });
  assert.is(up.code, 0, up.stderr);
  const originalSha = sha256(install.sqlitePath);
  const runDir = runDirs(install.appDir).at(-1)!;
  const pgAudit = async () =>
    Number((await harness.pg.query(db.name, 'SELECT count(*) AS n FROM "AuditLog"')).rows[0].n);
  const writingOnPg = async () => {
    const n = await pgAudit();
    await eventually('the app writing on PostgreSQL', pgAudit, (m) => m > n + 5);
  };
  await writingOnPg();

  const pausedAt = async (point: string) => {
    const fb = spawnTask('fallback', ['--app-dir', install.appDir, '--yes'], {
      ...taskEnv,
      VISIONSUIT_MIGRATE_PAUSE_AT: point,
    });
    const reached = await pollFast(
      `pause point ${point}`,
      () => (fb.child.exitCode !== null ? 'exited' : existsSync(pauseMarker(runDir, point)) ? 'paused' : undefined),
      (v) => v !== undefined,
      120_000,
    );
    if (reached === 'exited') assert.unreachable(`fallback exited before ${point}: ${(await fb.done).stderr}`);
    return fb;
  };
  const killAt = async (point: string) => {
    const fb = await pausedAt(point);
    const guardians = await eventually(
      'guardian running',
      () => fallbackGuardians(runDir),
      (p) => p.length > 0,
    );
    for (const g of guardians) process.kill(g, 'SIGSTOP');
    fb.child.kill('SIGKILL');
    const killed = await fb.done;
    assert.is(killed.signal, 'SIGKILL');
    assert.is(journalOf(runDir).steps[point].status, 'running', `${point} journaled running at the kill`);
    assert.is(await health(install.healthUrl), undefined, 'the app is stopped at the kill');
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
  };

  // 0. SIGTERM while exporting: the normal interrupt path.
  const term = await pausedAt('fallback:export');
  term.child.kill('SIGTERM');
  const termed = await term.done;
  assert.is(termed.code, 5, termed.stderr);
  assert.is(classify(await appState(install)), 'postgresql');
  assert.is(sha256(install.sqlitePath), originalSha);
  await writingOnPg();

  // 1. In the window, file exported and verified, not caught up: nothing switched; the guardian starts the app again.
  const atVerify = await killAt('fallback:catch-up');
  assert.equal(configuredFor(install), { env: 'postgresql', provider: 'postgresql', migrations: true });
  assert.is(sha256(install.sqlitePath), originalSha, 'the original file untouched');
  assert.match(await atVerify.release(), /runs on PostgreSQL again/);
  const s1 = await eventually(
    'the app on PostgreSQL',
    () => appState(install),
    (s) => classify(s) === 'postgresql',
  );
  assert.is(classify(s1), 'postgresql');
  await writingOnPg();

  // 2. Verified file swapped in, env files not yet restored: still configured for PostgreSQL, original kept.
  const atRestore = await killAt('fallback:restore');
  assert.equal(configuredFor(install), { env: 'postgresql', provider: 'postgresql', migrations: true });
  const state = journalOf(runDir).state.fallback;
  assert.ok(state.committedAt);
  assert.is(sha256(state.aside), originalSha, 'the original kept byte-identical beside the new file');
  const exportedAudit = state.exported.find((t: any) => t.name === 'AuditLog').pgRowCount;
  assert.is(exportedAudit, await pgAudit(), 'the export holds every row, those written after the first kill too');
  assert.is(sqliteCount(install.sqlitePath, 'AuditLog'), exportedAudit);
  assert.match(await atRestore.release(), /fell back/);
  const s2 = await eventually(
    'the app on SQLite',
    () => appState(install),
    (s) => classify(s) === 'sqlite',
    60_000,
  );
  assert.is(classify(s2), 'sqlite');
  assert.is(journalOf(runDir).state.fallback.outcome, 'fell-back');
  assert.is(sha256(state.aside), originalSha);
  assert.ok(sqliteCount(install.sqlitePath, 'AuditLog') >= exportedAudit);

  // Done: a further fallback has nothing to do.
  const again = await runTask('fallback', ['--app-dir', install.appDir, '--yes'], { env: taskEnv });
  assert.is(again.code, 2, again.stderr);
  assert.match(again.stderr, /does not point at PostgreSQL/);
});

test.run();
