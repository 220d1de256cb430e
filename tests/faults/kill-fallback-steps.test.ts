/**
 * `just fallback` killed with SIGKILL at each step tests/faults/kill-fallback.test.ts does not kill at (pause points,
 * VISIONSUIT_MIGRATE_PAUSE_AT), the app writing on PostgreSQL throughout:
 *  - check, export, verify: no guardian yet and the app never stopped: it keeps running on PostgreSQL, nothing
 *    switched, and the next `just fallback` starts over;
 *  - stop (the guardian already watching): the guardian starts the app on PostgreSQL again;
 *  - swap, generate, start (past the commit point): the guardian finishes the fallback, the app entirely on SQLite
 *    with every row PostgreSQL held, the original file kept byte-identical beside the new one.
 * Never in between: configured all for PostgreSQL or all for SQLite at every kill.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { eventually, health, journalOf, sqliteCount, useUpgradeHarness } from '../e2e/e2e-helpers.ts';
import { appState, classify, sha256 } from './fault-helpers.ts';
import { configuredFor } from './kill-every-step-helpers.ts';
import { fallbackPausedAt, installOnPostgres, killPausedFallback } from './fallback-kill-helpers.ts';

const test = suite('faults: kill -9 of the fallback at each step');
const harness = useUpgradeHarness(test);

const ON_POSTGRES = { env: 'postgresql', provider: 'postgresql', migrations: true };

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

test('killed past the commit point (swap, generate, start): the guardian finishes, the app entirely on SQLite', async () => {
  for (const point of ['fallback:swap', 'fallback:generate', 'fallback:start']) {
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
    c.install.stop();
  }
});

test.run();
