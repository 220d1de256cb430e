/**
 * `just upgrade` killed with SIGKILL inside switch-env — the step that rewrites the app's files — and during the
 * final health step (issue 6). Kill points are pause points (VISIONSUIT_MIGRATE_PAUSE_AT), in the order the
 * step reaches them:
 *  1. switch-env          journaled running, nothing of it done;
 *  2. switch-env:backed-up     every backup taken and the intent journaled (state.switchEnv), no app file touched;
 *  3. switch-env:migrations-aside  the SQLite migrations moved into the backups, the PostgreSQL ones not yet in place;
 *  4. switch-env:env-written   backend/.env points at PostgreSQL, schema.prisma still says sqlite — half switched;
 * after each the guardian (frozen across the kill, then released) puts the app back on SQLite with every file
 * byte-identical, the run stays open, and the next attempt resumes it.
 *  5. health              the app already answered on PostgreSQL in start-services and may have written there: the
 *     guardian asks the app, finds it on PostgreSQL and records the run as cut over — it leaves the app running
 *     (same PID) instead of rolling back and throwing the app's PostgreSQL writes away.
 * (The unconfirmed health kill, app gone: kill-every-step-window.test.ts.)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { appFingerprint, eventually, health, journalOf, spawnTask, useUpgradeHarness } from '../e2e/e2e-helpers.ts';
import { appState, assertUnchangedSinceFinalState, classify, sha256 } from './fault-helpers.ts';
import { configuredFor, killAtPausePoint, killAtEachInTurn } from './kill-every-step-helpers.ts';

const test = suite('faults: kill -9 of the upgrade inside switch-env and during health');
const harness = useUpgradeHarness(test);

test('SIGKILL at switch-env, after its backups, with the migrations moved aside, with only the env switched: back on SQLite each time; at health with the app on PostgreSQL: the guardian confirms the cutover', async () => {
  const { install, before, env, args } = await harness.upgradeCase('killswitch', 200);
  let runDir = '';

  const common = async (dir: string) => {
    const journal = journalOf(dir);
    assert.is(journal.steps['switch-env'].status, 'running', 'switch-env journaled running at the kill');
    assert.is(journal.steps['pre-switch-check'].status, 'done');
    assert.is(await health(install.healthUrl), undefined, 'app stopped at the kill');
    // Online (the default): the last look before the switch is the window's final state.
    assertUnchangedSinceFinalState(install.sqlitePath, journal.state.online.finalSource);
  };
  const chain: { point: string; atKill: (dir: string) => Promise<void> }[] = [
    {
      point: 'switch-env',
      atKill: async (dir) => {
        await common(dir);
        assert.not.ok(journalOf(dir).state.switchEnv, 'no switch intent journaled yet');
        assert.equal(appFingerprint(install), before);
      },
    },
    {
      point: 'switch-env:backed-up',
      atKill: async (dir) => {
        await common(dir);
        const sw = journalOf(dir).state.switchEnv;
        assert.ok(sw.startedAt && !sw.completedAt, 'intent journaled, not completed');
        const envEntry = sw.files.find((f: { path: string }) => f.path === install.envPath);
        assert.ok(envEntry, 'backend/.env is in the journaled intent');
        assert.is(sha256(envEntry.backup), envEntry.sha256Before, 'its backup holds the pre-switch content');
        assert.is(sw.migrations.hashBefore !== undefined, true);
        assert.equal(appFingerprint(install), before, 'no app file touched yet');
      },
    },
    {
      point: 'switch-env:migrations-aside',
      atKill: async (dir) => {
        await common(dir);
        const sw = journalOf(dir).state.switchEnv;
        assert.equal(
          configuredFor(install),
          { env: 'file', provider: 'sqlite', migrations: false },
          'no migrations folder at all',
        );
        assert.ok(existsSync(sw.migrations.backupDir), 'the SQLite migrations are in the backups');
      },
    },
    {
      point: 'switch-env:env-written',
      atKill: async (dir) => {
        await common(dir);
        // The most "in between" moment: env on PostgreSQL, schema on SQLite, PostgreSQL migrations.
        assert.equal(configuredFor(install), { env: 'postgresql', provider: 'sqlite', migrations: true });
        assert.not.equal(appFingerprint(install).env, before.env);
        assert.is(appFingerprint(install).schema, before.schema);
      },
    },
  ];
  runDir = await killAtEachInTurn({ install, args, env }, chain, before);

  // 5. health: switched, verified, the app up on PostgreSQL. The guardian confirms instead of rolling back.
  const pidFile = path.join(install.appDir, 'run', 'vs-backend.pid');
  let appPid = '';
  const killed = await killAtPausePoint({
    install,
    args,
    env,
    point: 'health',
    atKill: async (dir) => {
      const steps = journalOf(dir).steps;
      assert.is(steps.health.status, 'running');
      assert.is(steps['start-services'].status, 'done');
      assert.is(classify(await appState(install)), 'postgresql', 'the app answers on PostgreSQL at the kill');
      appPid = readFileSync(pidFile, 'utf8').trim();
    },
  });
  assert.is(killed.runDir, runDir);
  assert.match(
    killed.guardianOutcome,
    /^cut-over confirmed by the guardian: http:\/\/.*\/api\/meta\/status\/backend → 200 online; .*session\(s\) of the app on the target/,
  );
  const upgradeState = journalOf(runDir).state.upgrade;
  assert.is(upgradeState.outcome, 'cut-over');
  assert.ok(upgradeState.finishedAt, 'the run is finished');
  assert.is(journalOf(runDir).steps.health.status, 'done');
  const state = await appState(install);
  assert.is(classify(state), 'postgresql', JSON.stringify(state));
  assert.is(
    readFileSync(pidFile, 'utf8').trim(),
    appPid,
    'the guardian left the app running (same PID, never restarted)',
  );
  assert.ok(readFileSync(path.join(runDir, 'run.log'), 'utf8').includes('cut-over confirmed by the guardian'));

  // The next upgrade sees a finished cutover: nothing to resume, the app is upgraded.
  const again = await spawnTask('upgrade', args, env).done;
  assert.is(again.code, 2, again.stderr);
  assert.match(JSON.parse(again.stdout).error, /already points at PostgreSQL: this app is upgraded/);
  const still = await eventually(
    'app still on PostgreSQL',
    () => appState(install),
    (s) => classify(s) === 'postgresql',
  );
  assert.is(classify(still), 'postgresql');
});

test.run();
