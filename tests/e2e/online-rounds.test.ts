/**
 * Catch-up rounds (`--rounds`, online), on the sample install with its real writer (the fake backend keeps
 * inserting and upserting), a second writer process and a real embedded PostgreSQL:
 *  - the changes made after the phase-1 snapshot arrive through the round (applied and verified while the app
 *    runs), and a change made after the last round, while the run is held at the window's first step (a pause
 *    point, before the stop command), arrives through the window's delta; afterwards every row on PostgreSQL equals
 *    the SQLite file's;
 *  - a schema change before the round is refused by the round: exit 4, the app never stopped, nothing switched;
 *  - SIGKILL inside a round once its delta is committed on the target (pause point round:applied): the app never
 *    stopped; the next `just upgrade` resumes, loads the target again from phase 1's snapshot, redoes the round and
 *    cuts over with every row equal.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import Database from '../../lib/sqlite/driver.ts';
import { pauseMarker } from '../../lib/run/pause-point.ts';
import {
  appFingerprint,
  assertRowsEqualOnPg,
  eventually,
  health,
  journalOf,
  runDirs,
  spawnTask,
  startPhase1Writer,
  useUpgradeHarness,
} from './e2e-helpers.ts';
import { pollFast } from '../faults/fault-helpers.ts';

const test = suite('e2e online upgrade: catch-up rounds');
const harness = useUpgradeHarness(test);

test('a round carries the phase-1 changes; a change after the last round arrives through the window', async () => {
  const c = await harness.upgradeCase('rounds');
  const writer = startPhase1Writer(c.install, 'changes');
  const up = spawnTask('upgrade', [...c.args, '--rounds', '2'], {
    ...c.env,
    VISIONSUIT_MIGRATE_PAUSE_AT: 'maintenance-on',
  });
  const marker = () => {
    const dir = runDirs(c.install.appDir)[0];
    return dir !== undefined && existsSync(pauseMarker(dir, 'maintenance-on'));
  };
  await pollFast('the run held before the stop command', marker, (v) => v, 180_000);
  assert.is((await writer).code, 0, 'the phase-1 writer did its changes');
  assert.ok(await health(c.install.healthUrl), 'the app still runs when the window is about to open');
  // After the last round, before the stop: only the window's delta can carry this.
  const db = new Database(c.install.sqlitePath, { fileMustExist: true, timeout: 10_000 });
  const user = db.prepare('SELECT "id" FROM "User" ORDER BY "id" DESC').pluck().get() as string;
  db.prepare(`UPDATE "User" SET "displayName" = 'Changed after the last round' WHERE "id" = ?`).run(user);
  db.close();
  up.child.kill('SIGUSR2');
  const done = await up.done;
  assert.is(done.code, 0, done.stderr);
  const j = JSON.parse(done.stdout);
  assert.ok(j.rounds.length >= 1, JSON.stringify(j.rounds));
  const first = j.rounds[0];
  // The writer's changes: a new user, an updated and a renamed one, a deleted gallery with its entries, settings.
  assert.ok(first.rows.inserts >= 3 && first.rows.updates >= 1 && first.rows.deletes >= 3, JSON.stringify(first));
  const names = j.steps.map((s: any) => s.name);
  assert.ok(names.indexOf('round-1') > names.indexOf('baseline'), names.join(','));
  assert.ok(names.indexOf('round-1') < names.indexOf('maintenance-on'), names.join(','));
  assert.ok(
    j.delta.tables.some((t: any) => t.table === 'User' && t.updates >= 1),
    `the window's delta carries the change made after the rounds: ${JSON.stringify(j.delta.tables)}`,
  );
  const h = await eventually(
    'health on PostgreSQL',
    () => health(c.install.healthUrl),
    (x) => x?.status === 200,
  );
  assert.is(h!.body.database, 'postgresql');
  c.install.stop();
  await assertRowsEqualOnPg(harness.pg, c.install, c.db.name);
  const row = await harness.pg.query(c.db.name, 'SELECT "displayName" FROM "User" WHERE "id" = $1', [user]);
  assert.is(row.rows[0].displayName, 'Changed after the last round');
});

test('a schema change before the round → the round refuses, exit 4, the app never stopped', async () => {
  const c = await harness.upgradeCase('roundschema');
  const writer = startPhase1Writer(c.install, 'schema');
  const up = await spawnTask('upgrade', [...c.args, '--rounds', '1'], c.env).done;
  assert.is((await writer).code, 0);
  assert.is(up.code, 4, up.stderr);
  const j = JSON.parse(up.stdout);
  assert.is(j.failedStep, 'round-1');
  assert.match(j.cause, /schema changed/);
  assert.not.ok(
    j.steps.some((s: any) => s.name === 'maintenance-on'),
    'the window never opened',
  );
  assert.equal(appFingerprint(c.install), c.before);
  const h = await health(c.install.healthUrl);
  assert.is(h?.body.database, 'sqlite', 'the app ran on SQLite throughout');
});

test('SIGKILL with a round committed on the target, not verified: the app runs on; the resumed run reloads and cuts over', async () => {
  const c = await harness.upgradeCase('roundkill');
  const writer = startPhase1Writer(c.install, 'changes');
  const first = spawnTask('upgrade', c.args, { ...c.env, VISIONSUIT_MIGRATE_PAUSE_AT: 'round:applied' });
  const runDir = await pollFast(
    'the round held with its delta committed',
    () => runDirs(c.install.appDir).find((dir) => existsSync(pauseMarker(dir, 'round:applied'))),
    (v) => v !== undefined,
    180_000,
  );
  assert.is((await writer).code, 0);
  first.child.kill('SIGKILL');
  assert.is((await first.done).signal, 'SIGKILL');
  assert.is(journalOf(runDir!).steps['round-1'].status, 'running');
  assert.not.ok(journalOf(runDir!).steps['maintenance-on'], 'the window never opened');
  const h = await health(c.install.healthUrl);
  assert.is(h?.body.database, 'sqlite', 'the app kept running on SQLite');
  assert.equal(appFingerprint(c.install), c.before);

  const resumed = await spawnTask('upgrade', c.args, c.env).done;
  assert.is(resumed.code, 0, resumed.stderr);
  const j = JSON.parse(resumed.stdout);
  assert.is(j.runDir, runDir);
  assert.match(resumed.stderr, /loading the target again from the phase-1 snapshot/);
  assert.ok(
    j.steps.some((s: any) => s.name === 'load-pg' && s.status === 'done'),
    'load-pg redone',
  );
  assert.ok(
    j.steps.some((s: any) => s.name === 'round-1' && s.status === 'done'),
    'the round redone',
  );
  const up = await eventually(
    'health on PostgreSQL',
    () => health(c.install.healthUrl),
    (x) => x?.status === 200,
  );
  assert.is(up!.body.database, 'postgresql');
  c.install.stop();
  await assertRowsEqualOnPg(harness.pg, c.install, c.db.name);
});

test('--rounds: in the help and the dry-run plan; out of range or with --offline is exit 2, nothing changed', async () => {
  const c = await harness.upgradeCase('roundflags');
  const help = await spawnTask('upgrade', ['--help']).done;
  assert.is(help.code, 0);
  assert.match(help.stderr, /--rounds N/);
  const dry = await spawnTask('upgrade', [...c.args, '--dry-run', '--rounds', '3'], c.env).done;
  assert.is(dry.code, 0, dry.stderr);
  assert.ok(
    JSON.parse(dry.stdout).plan.some((p: string) => /^up to 3 catch-up round\(s\) while the app runs/.test(p)),
    dry.stdout,
  );
  for (const [flags, cause] of [
    [['--rounds', '9'], /--rounds must be a whole number from 0 to 5, got "9"/],
    [['--rounds', 'two'], /--rounds must be a whole number from 0 to 5, got "two"/],
    [['--rounds', '2', '--offline'], /--rounds is for the online run, not --offline/],
  ] as const) {
    const bad = await spawnTask('upgrade', [...c.args, ...flags], c.env).done;
    assert.is(bad.code, 2, bad.stderr);
    assert.match(JSON.parse(bad.stdout).error, cause);
  }
  assert.equal(appFingerprint(c.install), c.before);
  assert.is((await health(c.install.healthUrl))?.body.database, 'sqlite');
});

test.run();
