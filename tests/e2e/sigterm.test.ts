/**
 * (`just upgrade --offline`, the full-stop run: what is tested here happens with the app stopped.)
 * End to end: SIGTERM (what systemd or a Ctrl-C'd wrapper sends) in the middle of load-pg → the upgrade stops,
 * rolls back, starts the app again on SQLite and exits 5; the run is finished (a new upgrade starts afresh).
 */
import { suite } from 'uvu';
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

test.run();
