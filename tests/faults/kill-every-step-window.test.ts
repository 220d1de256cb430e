/**
 * (`just upgrade --offline`, the full-stop run: what is tested here happens with the app stopped.)
 * `just upgrade` killed with SIGKILL at each short step of the maintenance window (issue 6): backup, export-sqlite,
 * source-unchanged, pre-switch-check, and the final health step with an app that no longer answers. Each of these
 * lasts milliseconds on the fixture, so the kill is landed by a pause point (VISIONSUIT_MIGRATE_PAUSE_AT), not by
 * polling. One run, resumed each time: attempt 1 is paused and killed at backup, attempt 2 at export-sqlite, …;
 * after every kill the guardian (frozen across the kill, then released) puts the app back on SQLite with every
 * file byte-identical, and the run stays open. The last attempt, without a pause point, cuts over completely.
 * (switch-env and the confirmed health kill: kill-every-step-switch.test.ts.)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { appFingerprint, health, journalOf, useUpgradeHarness } from '../e2e/e2e-helpers.ts';
import { sha256 } from './fault-helpers.ts';
import { spawnTask } from '../e2e/e2e-helpers.ts';
import { assertBackOnSqlite, configuredFor, killAtPausePoint, killAtEachInTurn } from './kill-every-step-helpers.ts';

const test = suite('faults: kill -9 of the upgrade at every short step of the window');
const harness = useUpgradeHarness(test);

test('SIGKILL paused at backup, export-sqlite, source-unchanged, pre-switch-check and at health with the app gone: each time back on SQLite, files identical; the next upgrade keeps the rows the app wrote on PostgreSQL', async () => {
  const c = await harness.upgradeCase('killevery', 200);
  const { install, before, env } = c;
  const args = [...c.args, '--offline']; // the full-stop run's window steps
  let runDir = '';

  const stoppedAndUntouched = async (dir: string, step: string) => {
    const journal = journalOf(dir);
    assert.is(journal.steps[step].status, 'running', `${step} journaled running at the kill`);
    assert.is(await health(install.healthUrl), undefined, 'app stopped at the kill');
    assert.equal(appFingerprint(install), before, 'nothing switched');
  };
  const liveMatchesBackup = (dir: string) => {
    // The backup done in THIS attempt fingerprinted the live file with the writers stopped; nothing wrote since.
    assert.is(journalOf(dir).steps.backup.status, 'done');
    assert.is(
      sha256(install.sqlitePath),
      journalOf(dir).steps.backup.data.source.sha256,
      'live SQLite unchanged since the backup',
    );
  };

  const chain: { point: string; atKill: (dir: string) => Promise<void> }[] = [
    {
      point: 'backup',
      atKill: async (dir) => {
        await stoppedAndUntouched(dir, 'backup');
        assert.not.ok(journalOf(dir).steps.backup.data, 'no backup fingerprint yet');
      },
    },
    {
      point: 'export-sqlite',
      atKill: async (dir) => {
        await stoppedAndUntouched(dir, 'export-sqlite');
        liveMatchesBackup(dir);
      },
    },
    {
      point: 'source-unchanged',
      atKill: async (dir) => {
        await stoppedAndUntouched(dir, 'source-unchanged');
        assert.is(journalOf(dir).steps['load-pg'].status, 'done');
        liveMatchesBackup(dir);
      },
    },
    {
      point: 'pre-switch-check',
      atKill: async (dir) => {
        await stoppedAndUntouched(dir, 'pre-switch-check');
        assert.is(journalOf(dir).steps.verify.status, 'done');
        liveMatchesBackup(dir);
      },
    },
  ];
  runDir = await killAtEachInTurn({ install, args, env }, chain, before);

  // health, but the app that answered on PostgreSQL in start-services is gone (crashed) when the guardian asks:
  // not a confirmed cutover, so the guardian rolls back.
  const pidFile = path.join(install.appDir, 'run', 'vs-backend.pid');
  const killed = await killAtPausePoint({
    install,
    args,
    env,
    point: 'health',
    atKill: async (dir) => {
      const steps = journalOf(dir).steps;
      assert.is(steps.health.status, 'running');
      assert.is(steps['start-services'].status, 'done');
      assert.equal(configuredFor(install), { env: 'postgresql', provider: 'postgresql', migrations: true });
      assert.is(
        (await health(install.healthUrl))?.body?.database,
        'postgresql',
        'the app answered on PostgreSQL at the kill',
      );
      assert.ok(readFileSync(pidFile, 'utf8').trim(), 'backend running');
    },
    beforeRelease: () => install.stop(), // the app dies before the guardian looks
  });
  assert.is(killed.runDir, runDir);
  assert.not.match(killed.guardianOutcome, /confirmed/);
  await assertBackOnSqlite(install, runDir, before);
  assert.is(journalOf(runDir).steps.health.status, 'running', 'the health gate never passed');

  // The app wrote to PostgreSQL while it ran there before the kill: the next upgrade resumes the same run but must
  // not load over those rows, so it refuses naming them (exit 5), the app stays on SQLite, the database is kept.
  const resumed = await spawnTask('upgrade', args, env).done;
  assert.is(resumed.code, 5, resumed.stderr);
  assert.match(resumed.stderr, /rows were written to schema "public" after our load/);
  assert.is(JSON.parse(resumed.stdout).runDir, runDir);
  assert.equal(appFingerprint(install), before, 'env, schema and migrations as before the upgrade');
  assert.is(journalOf(runDir).state.upgrade.attempts, chain.length + 2);
});

test.run();
