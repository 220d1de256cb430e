/**
 * The online upgrade (the default) end to end, on the sample install with its real writer (the fake backend keeps
 * inserting and upserting through phase 1) and a second writer process (tests/e2e/phase1-writer.ts) that changes,
 * renames and deletes rows after the phase-1 snapshot, and a real embedded PostgreSQL:
 *  - every change made while the app ran arrives: after the cutover every row of every table on PostgreSQL equals
 *    the SQLite file's (row by row, canonical form), apart from the rows the app itself wrote on PostgreSQL since;
 *  - a schema change between the snapshots refuses the cutover: exit 4, nothing switched, app on SQLite.
 * Both without catch-up rounds (`--rounds 0`), so the window's delta is the one that carries the phase-1 changes.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { runTask } from '../helpers/cli.ts';
import {
  SAFE_ENV,
  appFingerprint,
  assertRowsEqualOnPg,
  eventually,
  health,
  journalOf,
  startPhase1Writer,
  useUpgradeHarness,
} from './e2e-helpers.ts';

const test = suite('e2e online upgrade');
const harness = useUpgradeHarness(test);

test('online: inserts, updates, deletes and changed keys made during phase 1 all arrive', async () => {
  const c = await harness.upgradeCase('online');
  const writer = startPhase1Writer(c.install, 'changes');
  // No catch-up round: the window's delta carries every change (the rounds: online-rounds.test.ts).
  const up = await runTask('upgrade', [...c.args, '--rounds', '0'], { env: { ...SAFE_ENV, ...c.env } });
  assert.is(up.code, 0, up.stderr);
  const wrote = await writer;
  assert.is(wrote.code, 0, 'the phase-1 writer did its changes');
  const did = JSON.parse(wrote.out);
  const j = up.json!;
  assert.is(j.mode, 'online');
  // Phase 1 ran with the app up: the stop command came only after the baseline.
  const names = j.steps.map((s: any) => s.name);
  assert.ok(names.indexOf('baseline') < names.indexOf('maintenance-on'), names.join(','));
  assert.ok(
    j.delta.rows.inserts >= 3 && j.delta.rows.updates >= 1 && j.delta.rows.deletes >= 3,
    JSON.stringify(j.delta),
  );
  assert.ok(j.window.seconds > 0 && j.window.parts[0].step === 'maintenance-on', JSON.stringify(j.window));
  assert.ok(j.window.parts.some((p: any) => p.step === 'apply-delta'));
  // The final state was the live file read in place; its sha256 was taken after the window, and is the file's.
  assert.match(up.stderr, /final state: .* read in place/);
  const finalSource = journalOf(j.runDir).state.online.finalSource;
  assert.ok(finalSource.identity, JSON.stringify(finalSource));
  assert.is(finalSource.sha256, createHash('sha256').update(readFileSync(c.install.sqlitePath)).digest('hex'));
  const h = await eventually(
    'health on PostgreSQL',
    () => health(c.install.healthUrl),
    (x) => x?.status === 200,
  );
  assert.is(h!.body.database, 'postgresql');
  c.install.stop();
  const seen = await assertRowsEqualOnPg(harness.pg, c.install, c.db.name);
  assert.ok(seen.length > 10);
  const users = (await harness.pg.query(c.db.name, 'SELECT "id", "displayName" FROM "User"')).rows;
  const byId = new Map(users.map((u: any) => [u.id, u.displayName]));
  assert.ok(byId.has('online-new-user') && byId.has('online-renamed-user'));
  assert.not.ok(byId.has(did.renamed));
  const galleries = (
    await harness.pg.query(c.db.name, 'SELECT count(*)::int AS n FROM "Gallery" WHERE "id" = $1', [did.deletedGallery])
  ).rows;
  assert.is(galleries[0].n, 0);
  assert.is(byId.get(did.updated), 'Changed while live');
});

test('online: a schema change between the snapshots → exit 4, nothing switched, app on SQLite', async () => {
  const c = await harness.upgradeCase('schema');
  const writer = startPhase1Writer(c.install, 'schema');
  // No catch-up round: the window's delta carries every change (the rounds: online-rounds.test.ts).
  const up = await runTask('upgrade', [...c.args, '--rounds', '0'], { env: { ...SAFE_ENV, ...c.env } });
  assert.is((await writer).code, 0);
  assert.is(up.code, 4, up.stderr);
  assert.is(up.json!.failedStep, 'delta');
  assert.match(up.json!.cause, /schema changed/);
  assert.not.ok(
    up.json!.steps.some((s: any) => s.name === 'switch-env'),
    'nothing switched',
  );
  const h = await eventually(
    'health on SQLite',
    () => health(c.install.healthUrl),
    (x) => x?.status === 200,
  );
  assert.is(h!.body.database, 'sqlite');
  assert.equal(appFingerprint(c.install), c.before);
});

test.run();
