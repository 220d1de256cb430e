/**
 * (`just upgrade --offline`, the full-stop run: what is tested here happens with the app stopped.)
 * The pause point (VISIONSUIT_MIGRATE_PAUSE_AT, lib/run/pause-point.ts) is a fire-drill hook: it may only delay the run,
 * never change what it does. SIGINT/SIGTERM while paused take the upgrade's normal signal path — in an
 * interruptible step (backup) as in the uninterruptible switch-env, which finishes its work before the signal is
 * acted on — and end in a rollback with exit 5. A misspelt pause point is refused up front, not silently ignored
 * (a fire drill with a typo would otherwise run the whole cutover).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { pauseMarker } from '../../lib/run/pause-point.ts';
import {
  appFingerprint,
  eventually,
  health,
  journalOf,
  runDirs,
  spawnTask,
  useUpgradeHarness,
} from '../e2e/e2e-helpers.ts';
import { appState, classify } from './fault-helpers.ts';

const test = suite('faults: signals while the upgrade is paused; unknown pause point');
const harness = useUpgradeHarness(test);

test('SIGINT while paused at backup and SIGTERM while paused inside switch-env (uninterruptible) take the normal signal path: exit 5, rolled back, app on SQLite', async () => {
  const install = await harness.runningInstall(50);
  const before = appFingerprint(install);
  const db = await harness.pg.freshDatabase('killsignal');
  const args = ['--app-dir', install.appDir, '--offline', '--yes', '--json'];
  for (const [point, sig] of [
    ['backup', 'SIGINT'],
    ['switch-env:env-written', 'SIGTERM'],
  ] as const) {
    const upgrade = spawnTask('upgrade', args, { TARGET_DATABASE_URL: db.url, VISIONSUIT_MIGRATE_PAUSE_AT: point });
    await eventually(
      `paused at ${point}`,
      () => runDirs(install.appDir).some((d) => existsSync(pauseMarker(d, point))),
      Boolean,
      180_000,
    );
    upgrade.child.kill(sig);
    const done = await upgrade.done;
    assert.is(done.code, 5, done.stderr);
    const result = JSON.parse(done.stdout);
    assert.is(result.cause, `interrupted by ${sig}`);
    assert.is(result.failedStep, point.replace(/:.*/, ''));
    assert.ok(
      done.stderr.includes(`pause point ${point}: ${sig}, continuing so the run can take its signal path`),
      done.stderr,
    );
    const state = await appState(install);
    assert.is(classify(state), 'sqlite', JSON.stringify(state));
    assert.equal(appFingerprint(install), before);
    assert.is(journalOf(result.runDir).state.upgrade.outcome, 'rolled-back');
  }
});

test('an unknown pause point is refused before anything happens (exit 2), naming the valid ones', async () => {
  const install = await harness.runningInstall(50);
  const before = appFingerprint(install);
  const db = await harness.pg.freshDatabase('killtypo');
  const done = await spawnTask('upgrade', ['--app-dir', install.appDir, '--offline', '--yes', '--json'], {
    TARGET_DATABASE_URL: db.url,
    VISIONSUIT_MIGRATE_PAUSE_AT: 'swich-env',
  }).done;
  assert.is(done.code, 2, done.stderr);
  assert.match(
    JSON.parse(done.stdout).error,
    /^VISIONSUIT_MIGRATE_PAUSE_AT=swich-env is not a pause point; use one of: check-target, .*switch-env:env-written$/,
  );
  assert.equal(appFingerprint(install), before);
  assert.is((await health(install.healthUrl))?.body?.database, 'sqlite', 'the app was never stopped');
});

test.run();
