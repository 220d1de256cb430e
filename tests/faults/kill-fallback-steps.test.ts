/**
 * `just fallback` killed with SIGKILL at each step tests/faults/kill-fallback.test.ts does not kill at (pause points,
 * VISIONSUIT_MIGRATE_PAUSE_AT), the app writing on PostgreSQL throughout:
 *  - check, export, verify: no guardian yet and the app never stopped: it keeps running on PostgreSQL, nothing
 *    switched, and the next `just fallback` starts over;
 *  - stop (the guardian already watching): the guardian starts the app on PostgreSQL again.
 * Past the commit point (swap, generate, start): tests/faults/kill-fallback-commit-*.test.ts, a file each (each
 * needs an install of its own on PostgreSQL). Never in between: configured all for PostgreSQL at every kill here.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, useUpgradeHarness } from '../e2e/e2e-helpers.ts';
import { appState, classify, sha256 } from './fault-helpers.ts';
import { configuredFor } from './kill-every-step-helpers.ts';
import { ON_POSTGRES, fallbackPausedAt, installOnPostgres, killPausedFallback } from './fallback-kill-helpers.ts';

const test = suite('faults: kill -9 of the fallback at each step');
const harness = useUpgradeHarness(test);

test('killed before the window or at the stop: the app stays on, or comes back on, PostgreSQL', async () => {
  const c = await installOnPostgres(harness, 'killfb_before');
  for (const point of ['fallback:check', 'fallback:export', 'fallback:verify']) {
    const fb = await fallbackPausedAt(c.install.appDir, c.runDir, c.taskEnv, point);
    await killPausedFallback(fb, c.runDir, point, false);
    assert.equal(configuredFor(c.install), ON_POSTGRES, `${point}: nothing switched`);
    assert.is(classify(await appState(c.install)), 'postgresql', `${point}: the app never stopped`);
    assert.is(sha256(c.install.sqlitePath), c.originalSha, `${point}: the original file untouched`);
    await c.writingOnPg();
  }
  // The guardian is watching from here; paused before the stop command runs.
  const fb = await fallbackPausedAt(c.install.appDir, c.runDir, c.taskEnv, 'fallback:stop');
  const killed = await killPausedFallback(fb, c.runDir, 'fallback:stop', true);
  assert.equal(configuredFor(c.install), ON_POSTGRES);
  assert.match(await killed.release(), /runs on PostgreSQL again/);
  const state = await eventually(
    'the app on PostgreSQL',
    () => appState(c.install),
    (s) => classify(s) === 'postgresql',
  );
  assert.is(classify(state), 'postgresql');
  assert.is(sha256(c.install.sqlitePath), c.originalSha);
  await c.writingOnPg();
});

test.run();
