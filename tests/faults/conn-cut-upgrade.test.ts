/**
 * (`just upgrade --offline`, the full-stop run: what is tested here happens with the app stopped.)
 * Connection cut while `just upgrade` loads (issue 6): from the moment the journal says load-pg is running, a second
 * connection terminates every backend of the target database (pg_terminate_backend) every 50 ms until the upgrade
 * gives up. The upgrade must fail that step, roll back and leave the app running on SQLite (exit 5) — env, schema
 * and migrations byte-identical — and the next `just upgrade` must cut over.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { appFingerprint, eventually, journalOf, runDirs, spawnTask, useUpgradeHarness } from '../e2e/e2e-helpers.ts';
import { appState, classify, pollFast } from './fault-helpers.ts';

const test = suite('faults: connection cut during upgrade');
const harness = useUpgradeHarness(test);

test('every target backend terminated while load-pg runs: rolled back (exit 5), app on SQLite, files identical; next upgrade cuts over', async () => {
  const c = await harness.upgradeCase('connCut', 300);
  const { install, before, db, env } = c;
  const args = [...c.args, '--offline']; // the full-stop run: load-pg inside the window

  const killer = new pg.Client({ connectionString: harness.pg.url('postgres') });
  await killer.connect();
  const first = spawnTask('upgrade', args, env);
  let exited = false;
  let terminated = 0;
  const done = first.done.then((r) => {
    exited = true;
    return r;
  });
  try {
    await pollFast(
      'load-pg running',
      () => {
        const dir = runDirs(install!.appDir)[0];
        return dir ? journalOf(dir)?.steps?.['load-pg']?.status : undefined;
      },
      (s) => s === 'running',
      120_000,
    );
    while (!exited) {
      const { rows } = await killer.query<{ n: number }>(
        'SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [db.name],
      );
      terminated += rows[0].n;
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await killer.end();
  }
  const failed = await done;
  assert.ok(terminated > 0, 'backends were terminated');
  assert.is(failed.code, 5, failed.stderr);
  const result = JSON.parse(failed.stdout);
  assert.is(result.failedStep, 'load-pg', failed.stderr);
  assert.is(result.rolledBack, true);
  assert.ok(result.cause && !result.cause.includes('\n'), result.cause);
  assert.not.match(result.cause, /internal error/);
  const state = await eventually(
    'app on SQLite',
    () => appState(install!),
    (s) => classify(s) === 'sqlite',
  );
  assert.is(classify(state), 'sqlite', JSON.stringify(state));
  assert.equal(appFingerprint(install), before);

  const second = spawnTask('upgrade', args, env);
  const ok = await second.done;
  assert.is(ok.code, 0, ok.stderr);
  const after = await eventually(
    'app on PostgreSQL',
    () => appState(install!),
    (s) => classify(s) === 'postgresql',
  );
  assert.is(classify(after), 'postgresql');
});

test.run();
