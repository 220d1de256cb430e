/**
 * `just upgrade` killed with SIGKILL while start-services runs (issue 6): the files are switched, the app is
 * being started on PostgreSQL, but the run's last gate (health on PostgreSQL) never passed. That is not a verified
 * cutover, so the guardian must put everything back on SQLite — never leave the app in between. The kill point is
 * read from the journal; the guardian is frozen (SIGSTOP) across the kill so the test sees exactly what the kill
 * left. Then two `just upgrade` run at once (the first held at a pause point): one refuses (lock held, owner PID named, exit 2),
 * the other resumes the run and cuts over completely.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { appFingerprint, eventually, journalOf, runDirs, spawnTask, useUpgradeHarness } from '../e2e/e2e-helpers.ts';
import { pauseMarker } from '../../lib/run/pause-point.ts';
import { appState, assertUnchangedSinceFinalState, classify, guardianPids, pollFast } from './fault-helpers.ts';

const test = suite('faults: kill -9 of the upgrade while the app starts on PostgreSQL');
const harness = useUpgradeHarness(test);

test('SIGKILL at start-services: app back on SQLite (env, provider, health agree), files byte-identical; two upgrades at once: one refuses naming the other, the other cuts over', async () => {
  const { install, before, env: targetEnv, args } = await harness.upgradeCase('killstart', 300);
  // A start command that takes a moment before it starts the app, as a real one may (systemd, a slow host): the
  // kill lands while it is still running. It outlives the upgrade (own process group), so the guardian must wait
  // for it before stopping the app — or the app it launches late would run on PostgreSQL with the files on SQLite.
  const env = { ...targetEnv, VS_START_CMD: `sleep 2; bash '${install.appDir}/maintenance.sh' start` };

  const first = spawnTask('upgrade', args, env);
  const status = (step: string) => () => {
    const dir = runDirs(install!.appDir)[0];
    return dir ? journalOf(dir)?.steps?.[step]?.status : undefined;
  };
  await pollFast('start-services running', status('start-services'), (s) => s === 'running', 180_000);
  const runDir = runDirs(install.appDir)[0];
  await pollFast(
    'the start command in flight',
    () => existsSync(path.join(runDir, 'service-command.pid')),
    (v) => v,
    10_000,
  );
  const guardians = guardianPids(runDir);
  assert.ok(guardians.length > 0, 'a guardian watches the run');
  for (const pid of guardians) process.kill(pid, 'SIGSTOP');
  first.child.kill('SIGKILL');
  assert.is((await first.done).signal, 'SIGKILL');
  // What the kill left: files switched and verified, the health gate not passed.
  assert.match(readFileSync(install.envPath, 'utf8'), /DATABASE_URL=.*postgres/);
  assert.is(journalOf(runDir).steps['verify-after-switch'].status, 'done');
  assert.not.equal(journalOf(runDir).steps.health?.status, 'done');
  // Online (the default): the last look before the switch is the window's final state.
  assertUnchangedSinceFinalState(install.sqlitePath, journalOf(runDir).state.online.finalSource);
  for (const pid of guardians) process.kill(pid, 'SIGCONT');

  await eventually(
    'guardian recorded its rollback',
    () => journalOf(runDir)?.state?.guardian,
    (g) => Boolean(g),
    90_000,
  );
  assert.match(
    readFileSync(path.join(runDir, 'run.log'), 'utf8'),
    /\(pid \d+\) is still running: waiting for it to end first/,
    'the guardian waited for the orphaned start',
  );
  const state = await eventually(
    'app back on SQLite',
    () => appState(install!),
    (s) => classify(s) === 'sqlite',
    60_000,
  );
  assert.is(classify(state), 'sqlite', JSON.stringify(state));
  assert.equal(appFingerprint(install), before, 'env, schema and migrations byte-identical to before the upgrade');
  assert.not.ok(journalOf(runDir).state.upgrade.finishedAt, 'the run stays open for the next upgrade');

  // Two upgrades on the same app at once: exactly one runs (and resumes the run), the other refuses with
  // exit 2 naming the owner's PID (lib/run/run-lock.ts), changing nothing. The app wrote to PostgreSQL while it ran
  // there before the kill, so the resumed run must not re-load over those rows: it refuses, naming them, and the
  // app stays on SQLite with the PostgreSQL database kept (they exist only there). Online (the default) the reload is
  // phase 1, before anything is stopped: its refusal (the target's counters moved beyond the run's own delta since
  // phase 1) is the run's exit code (3, target not ready), as load-pg's.
  // The first is held right after it took the lock (pause point `locked`, lib/run/pause-point.ts), so the second
  // certainly meets the lock: a resumed run that refuses fast would otherwise release it before the second looks.
  const a = spawnTask('upgrade', args, { ...env, VISIONSUIT_MIGRATE_PAUSE_AT: 'locked' });
  await pollFast(
    'the first run held with the lock',
    () => existsSync(pauseMarker(runDir, 'locked')),
    (v) => v,
    120_000,
  );
  const b = spawnTask('upgrade', args, env);
  const rb = await b.done;
  a.child.kill('SIGUSR2');
  const ra = await a.done;
  const [winner, loser, winnerTask] = [ra, rb, a];
  const winnerPid = winnerTask.child.pid;
  assert.is(loser.code, 2, `${ra.stderr}\n---\n${rb.stderr}`);
  const refusal = JSON.parse(loser.stdout);
  assert.match(
    refusal.error,
    new RegExp(`^another run \\(pid ${winnerPid}, started .*\\) holds .*\\.lock; wait for it to finish$`),
  );
  const result = JSON.parse(winner.stdout);
  assert.is(result.resumed, true);
  assert.is(result.runDir, runDir);
  if (winner.code === 3) {
    assert.is(result.failedStep, 'load-pg');
    assert.match(
      winner.stderr,
      /rows were written to the target since phase 1 was verified, beyond this run's own delta/,
    );
    const back = await eventually(
      'app on SQLite',
      () => appState(install!),
      (s) => classify(s) === 'sqlite',
    );
    assert.is(classify(back), 'sqlite', JSON.stringify(back));
  } else {
    assert.is(winner.code, 0, winner.stderr);
    const after = await eventually(
      'app on PostgreSQL',
      () => appState(install!),
      (s) => classify(s) === 'postgresql',
    );
    assert.is(classify(after), 'postgresql', JSON.stringify(after));
    assert.is(journalOf(runDir).state.upgrade.outcome, 'cut-over');
  }
});

test.run();
