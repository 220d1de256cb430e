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
import { eventually, health, journalOf, sqliteCount, useUpgradeHarness } from '../e2e/e2e-helpers.ts';
import { runTask } from '../helpers/cli.ts';
import { appState, classify, sha256 } from './fault-helpers.ts';
import { fallbackPausedAt, installOnPostgres, killPausedFallback } from './fallback-kill-helpers.ts';
import { configuredFor } from './kill-every-step-helpers.ts';

const test = suite('faults: kill -9 of the fallback');
const harness = useUpgradeHarness(test);

test('SIGTERM at export, SIGKILL at catch-up and at restore: never in between; the guardian restarts or finishes', async () => {
  const { install, taskEnv, runDir, originalSha, pgAudit, writingOnPg } = await installOnPostgres(
    harness,
    'killfallback',
  );

  const pausedAt = (point: string) => fallbackPausedAt(install.appDir, runDir, taskEnv, point);
  const killAt = async (point: string) => {
    const killed = await killPausedFallback(await pausedAt(point), runDir, point, true);
    assert.is(await health(install.healthUrl), undefined, 'the app is stopped at the kill');
    return killed;
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
