/**
 * (`just upgrade --offline`, the full-stop run: what is tested here happens with the app stopped.)
 * End to end: SIGTERM (what systemd or a Ctrl-C'd wrapper sends) in the middle of load-pg → the upgrade stops,
 * rolls back, starts the app again on SQLite and exits 5; the run is finished (a new upgrade starts afresh).
 * The same when whoever started it has gone first (its terminal or parent script: both output pipes closed, then
 * SIGTERM): every write to the closed pipes fails (EPIPE), which must neither crash the run nor spin it, so it
 * still rolls back and exits 5, its lines in run.log. And a task whose reader has gone keeps its exit code.
 */
import { suite } from 'uvu';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { appFingerprint, eventually, health, journalOf, runDirs, spawnTask, useUpgradeHarness } from './e2e-helpers.ts';

const test = suite('e2e sigterm');
const harness = useUpgradeHarness(test);

test('SIGTERM mid-load → rollback, app on SQLite and running, exit 5', async () => {
  const install = await harness.runningInstall();
  const before = appFingerprint(install);
  const db = await harness.pg.freshDatabase('term');
  const up = spawnTask('upgrade', ['--app-dir', install.appDir, '--offline', '--yes', '--json'], {
    TARGET_DATABASE_URL: db.url,
  });
  await eventually(
    'load-pg running',
    () =>
      runDirs(install!.appDir)
        .map(journalOf)
        .find((j) => j?.steps?.['load-pg']?.status === 'running'),
    Boolean,
    60_000,
  );
  up.child.kill('SIGTERM');
  const done = await up.done;
  assert.is(done.code, 5, done.stderr);
  const result = JSON.parse(done.stdout);
  assert.match(result.cause, /interrupted by SIGTERM/);
  assert.equal(appFingerprint(install), before);
  const h = await health(install.healthUrl);
  assert.is(h?.status, 200, 'app started again before the upgrade exited');
  assert.is(h?.body.database, 'sqlite');
  assert.is(journalOf(runDirs(install.appDir)[0]).state.upgrade.outcome, 'rolled-back');
});

test('output pipes closed, then SIGTERM mid-load (the caller gone) → still rolled back, exit 5, run.log tells', async () => {
  const install = await harness.runningInstall();
  const before = appFingerprint(install);
  const db = await harness.pg.freshDatabase('gone');
  const up = spawnTask('upgrade', ['--app-dir', install.appDir, '--offline', '--yes', '--json'], {
    TARGET_DATABASE_URL: db.url,
  });
  const runDir = await eventually(
    'load-pg running',
    () => runDirs(install!.appDir).find((dir) => journalOf(dir)?.steps?.['load-pg']?.status === 'running'),
    Boolean,
    60_000,
  );
  up.child.stdout!.destroy();
  up.child.stderr!.destroy();
  up.child.kill('SIGTERM');
  const done = await up.done;
  assert.is(done.code, 5);
  assert.equal(appFingerprint(install), before);
  const h = await health(install.healthUrl);
  assert.is(h?.body.database, 'sqlite', 'app started again before the upgrade exited');
  assert.is(journalOf(runDir!).state.upgrade.outcome, 'rolled-back');
  const log = readFileSync(path.join(runDir!, 'run.log'), 'utf8');
  assert.match(log, /SIGTERM: stopping the upgrade and putting the app back on SQLite/);
  assert.not.match(log, /unexpected error/, 'no EPIPE reached the crash handler');
});

test('a task whose output pipes are closed keeps its exit code (target not ready: 3, not a crash)', async () => {
  const run = spawnTask('check-target', ['--target', 'postgresql://nobody@127.0.0.1:1/x', '--json']);
  run.child.stdout!.destroy();
  run.child.stderr!.destroy();
  assert.is((await run.done).code, 3);
});

test.run();
