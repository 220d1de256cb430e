/**
 * The online upgrade's window steps under fire, on the sample install with its real writer and real PostgreSQL:
 *  - SIGKILL paused at each new window step in turn (final-snapshot, delta, apply-delta, verify-delta, prisma-reads), one run
 *    resumed each time: after every kill the guardian puts the app back on SQLite, files byte-identical, the run
 *    stays open; a target that may hold the killed attempt's delta is loaded again; the last attempt cuts over and
 *    every row on PostgreSQL equals the SQLite file's;
 *  - a target written by someone else between phase 1 and the window (the first attempt killed as its window
 *    opened, then a foreign UPDATE on PostgreSQL): the resumed window refuses, exit 5, the app back on SQLite;
 *  - a foreign UPDATE after a kill that left the window's delta committed (paused at verify-delta): the resumed run
 *    would load the target again from phase 1, which the row counts alone would allow; the counters since the
 *    baseline show more than the run's own delta, so it refuses (exit 3) and the foreign row stays.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  appFingerprint,
  assertRowsEqualOnPg,
  eventually,
  health,
  journalOf,
  spawnTask,
  useUpgradeHarness,
} from '../e2e/e2e-helpers.ts';
import { assertBackOnSqlite, killAtEachInTurn, killAtPausePoint } from './kill-every-step-helpers.ts';

const test = suite('faults: kill -9 at the online window steps; a target written between phase 1 and the window');
const harness = useUpgradeHarness(test);

/** An UPDATE of every "Setting" row on the target by another client (row counts unchanged), once its counters show it. */
async function writeAsSomeoneElse(database: string, note: string): Promise<void> {
  await harness.pg.query(database, `UPDATE "Setting" SET "note" = $1`, [note]);
  await eventually(
    'the foreign write counted',
    async () =>
      (
        await harness.pg.query(
          database,
          `SELECT n_tup_upd::int AS n FROM pg_stat_user_tables WHERE relname = 'Setting'`,
        )
      ).rows[0].n,
    (n) => n > 0,
  );
}

test('SIGKILL at final-snapshot, delta, apply-delta, verify-delta, prisma-reads: back on SQLite each time; the resumed run cuts over exactly', async () => {
  const { install, before, env, args, db } = await harness.upgradeCase('killonline', 200);
  const stoppedAndUntouched = async (dir: string, step: string) => {
    const journal = journalOf(dir);
    assert.is(journal.steps[step].status, 'running', `${step} journaled running at the kill`);
    assert.is(journal.steps.baseline.status, 'done', 'phase 1 finished before the window');
    assert.is(await health(install.healthUrl), undefined, 'app stopped at the kill');
    assert.equal(appFingerprint(install), before, 'nothing switched');
  };
  const chain = ['final-snapshot', 'delta', 'apply-delta', 'verify-delta', 'prisma-reads'].map((point) => ({
    point,
    atKill: (dir: string) => stoppedAndUntouched(dir, point),
  }));
  const runDir = await killAtEachInTurn({ install, args, env }, chain, before);
  // Killed at prisma-reads, the target holds that attempt's delta: the next attempt loads it again from phase 1.
  const last = await spawnTask('upgrade', args, env).done;
  assert.is(last.code, 0, last.stderr);
  const result = JSON.parse(last.stdout);
  assert.is(result.runDir, runDir);
  assert.is(result.mode, 'online');
  assert.match(last.stderr, /loading the target again from the phase-1 snapshot/);
  assert.ok(
    result.steps.some((s: any) => s.name === 'load-pg' && s.status === 'done'),
    'load-pg redone',
  );
  assert.is(journalOf(runDir).state.upgrade.attempts, chain.length + 1);
  const h = await eventually(
    'health on PostgreSQL',
    () => health(install.healthUrl),
    (x) => x?.status === 200,
  );
  assert.is(h!.body.database, 'postgresql');
  install.stop();
  await assertRowsEqualOnPg(harness.pg, install, db.name);
});

test('a target written by someone else between phase 1 and the window → refused, exit 5, app back on SQLite', async () => {
  const { install, before, env, args, db } = await harness.upgradeCase('foreign', 200);
  const killed = await killAtPausePoint({
    install,
    args,
    env,
    point: 'maintenance-on',
    atKill: (dir) => {
      assert.is(journalOf(dir).steps.baseline.status, 'done');
    },
  });
  await assertBackOnSqlite(install, killed.runDir, before);
  // Someone else writes the target (the baseline was recorded after phase 1's verify).
  await writeAsSomeoneElse(db.name, 'written by someone else');
  const resumed = await spawnTask('upgrade', args, env).done;
  assert.is(resumed.code, 5, resumed.stderr);
  const result = JSON.parse(resumed.stdout);
  assert.is(result.runDir, killed.runDir);
  assert.is(result.failedStep, 'apply-delta');
  assert.match(result.cause, /written by someone else since phase 1 was verified/);
  assert.is(result.rolledBack, true);
  const h = await eventually(
    'health on SQLite',
    () => health(install.healthUrl),
    (x) => x?.status === 200,
  );
  assert.is(h!.body.database, 'sqlite');
  assert.equal(appFingerprint(install), before, 'nothing switched');
});

test("a foreign UPDATE after the window's delta was committed → the resumed run refuses to reload over it, exit 3", async () => {
  const { install, before, env, args, db } = await harness.upgradeCase('reloadguard', 200);
  const killed = await killAtPausePoint({
    install,
    args,
    env,
    point: 'verify-delta',
    atKill: (dir) => {
      assert.is(journalOf(dir).steps['apply-delta'].status, 'done');
    },
  });
  await assertBackOnSqlite(install, killed.runDir, before);
  await writeAsSomeoneElse(db.name, 'kept by the refusal');
  const resumed = await spawnTask('upgrade', args, env).done;
  assert.is(resumed.code, 3, resumed.stderr);
  const result = JSON.parse(resumed.stdout);
  assert.is(result.runDir, killed.runDir);
  assert.is(result.failedStep, 'load-pg');
  assert.match(result.cause, /beyond this run's own delta \("Setting": 0\/\d+\/0 rows inserted\/updated\/deleted/);
  const kept = await harness.pg.query(
    db.name,
    `SELECT count(*)::int AS n FROM "Setting" WHERE "note" = 'kept by the refusal'`,
  );
  assert.ok(kept.rows[0].n > 0, 'the foreign write is still on PostgreSQL');
  const h = await health(install.healthUrl);
  assert.is(h?.body.database, 'sqlite', 'the app runs on SQLite');
  assert.equal(appFingerprint(install), before, 'nothing switched');
});

test.run();
