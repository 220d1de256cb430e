/**
 * `just fallback` killed with SIGKILL at its steps (landed by pause points, VISIONSUIT_MIGRATE_PAUSE_AT), one run
 * resumed each time:
 *  - at verify (file exported, not yet trusted): the app is configured for PostgreSQL with every row there, the
 *    original SQLite file untouched; started again it runs and writes on PostgreSQL; the next fallback starts over
 *    and carries those newer rows too;
 *  - at restore (the verified file swapped in, env files still PostgreSQL's): the config is still all PostgreSQL;
 *  - at start (files restored, client generated): the config is all SQLite, on the new file;
 *  - the last fallback, without a pause point, finishes: the app on SQLite with every PostgreSQL row, the original
 *    byte-identical beside it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
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

test('SIGKILL at verify, restore and start: never in between; the next fallback finishes with every row', async () => {
  const { install, db, env, args } = await harness.upgradeCase('killfallback', 150);
  const taskEnv = { ...SAFE_ENV, ...env };
  const up = await runTask('upgrade', args, { env: taskEnv });
  assert.is(up.code, 0, up.stderr);
  const originalSha = sha256(install.sqlitePath);
  const runDir = runDirs(install.appDir).at(-1)!;
  const pgAudit = async () =>
    Number((await harness.pg.query(db.name, 'SELECT count(*) AS n FROM "AuditLog"')).rows[0].n);
  const n0 = await pgAudit();
  await eventually('the app writing on PostgreSQL', pgAudit, (n) => n > n0 + 5);

  const killAt = async (point: string) => {
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
    fb.child.kill('SIGKILL');
    const killed = await fb.done;
    assert.is(killed.signal, 'SIGKILL');
    assert.is(journalOf(runDir).steps[point].status, 'running', `${point} journaled running at the kill`);
    assert.is(await health(install.healthUrl), undefined, 'the app is stopped at the kill');
  };

  // 1. Exported, not verified: nothing switched; the operator starts the app, it writes on PostgreSQL again.
  await killAt('fallback:verify');
  assert.equal(configuredFor(install), { env: 'postgresql', provider: 'postgresql', migrations: true });
  assert.is(sha256(install.sqlitePath), originalSha, 'the original file untouched');
  install.start();
  const s1 = await eventually(
    'the app back on PostgreSQL',
    () => appState(install),
    (s) => classify(s) === 'postgresql',
    60_000,
  );
  assert.is(classify(s1), 'postgresql');
  const n1 = await pgAudit();
  await eventually('the app writing on PostgreSQL again', pgAudit, (n) => n > n1 + 5);

  // 2. Verified file swapped in, env files not yet restored: still configured for PostgreSQL, original kept.
  await killAt('fallback:restore');
  assert.equal(configuredFor(install), { env: 'postgresql', provider: 'postgresql', migrations: true });
  const state = journalOf(runDir).state.fallback;
  assert.ok(state.committedAt);
  assert.is(sha256(state.aside), originalSha, 'the original kept byte-identical beside the new file');
  const exportedAudit = state.exported.find((t: any) => t.name === 'AuditLog').pgRowCount;
  assert.is(exportedAudit, await pgAudit(), 'the export holds every row, including those written after the first kill');
  assert.is(sqliteCount(install.sqlitePath, 'AuditLog'), exportedAudit);

  // 3. Files restored and the client generated, not started: configured all for SQLite, on the new file.
  await killAt('fallback:start');
  assert.equal(configuredFor(install), { env: 'file', provider: 'sqlite', migrations: true });
  assert.is(sqliteCount(install.sqlitePath, 'AuditLog'), exportedAudit);

  // 4. The next fallback finishes.
  const fb = await runTask('fallback', ['--app-dir', install.appDir, '--yes', '--json'], { env: taskEnv });
  assert.is(fb.code, 0, fb.stderr);
  assert.ok(fb.json!.resumed);
  assert.ok(fb.json!.proof.ok, JSON.stringify(fb.json!.proof));
  const s4 = await eventually(
    'the app on SQLite',
    () => appState(install),
    (s) => classify(s) === 'sqlite',
    60_000,
  );
  assert.is(classify(s4), 'sqlite');
  assert.is(sha256(state.aside), originalSha);
  assert.ok(sqliteCount(install.sqlitePath, 'AuditLog') >= exportedAudit);
  assert.is(journalOf(runDir).state.fallback.outcome, 'fell-back');
});

test.run();
