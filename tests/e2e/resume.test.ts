/**
 * (`just upgrade --offline`, the full-stop run: what is tested here happens with the app stopped.)
 * End to end, the unhappy timelines, with the real writer process and a real embedded PostgreSQL:
 *  - kill -9 of the upgrade in the middle of load-pg: the guardian puts the app back on SQLite; a re-run resumes the
 *    unfinished run (done steps skipped, the changed source re-exported) and finishes; while it runs, a second
 *    upgrade refuses (exit 2, lock held);
 *  - a writer the stop command left behind writes to SQLite after the export → exit 4, nothing switched, the app
 *    started again on SQLite.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { runTask } from '../helpers/cli.ts';
import { SAFE_ENV, eventually, health, journalOf, runDirs, spawnTask, useUpgradeHarness } from './e2e-helpers.ts';

const test = suite('e2e resume');
const harness = useUpgradeHarness(test);

test('kill -9 mid-load: app back on SQLite; re-run resumes and finishes; a concurrent upgrade refuses', async () => {
  const install = await harness.runningInstall();
  const db = await harness.pg.freshDatabase('resume');
  const env = { TARGET_DATABASE_URL: db.url };

  const first = spawnTask('upgrade', ['--app-dir', install.appDir, '--offline', '--yes', '--json'], env);
  const loading = await eventually(
    'load-pg running',
    () =>
      runDirs(install.appDir)
        .map(journalOf)
        .find((j) => j?.steps?.['load-pg']?.status === 'running'),
    (j) => Boolean(j),
    60_000,
  );
  assert.ok(loading);
  first.child.kill('SIGKILL');
  const killed = await first.done;
  assert.is(killed.signal, 'SIGKILL');
  // The guardian notices the dead PID and puts the app back on SQLite (running), leaving the run unfinished.
  const lockFile = path.join(install.appDir, 'backups/pg-migration/.lock');
  const back = await eventually(
    'guardian restarts the app on SQLite',
    () => health(install.healthUrl),
    (h) => h?.status === 200,
    60_000,
  );
  assert.is(back!.body.database, 'sqlite');
  const runDir = runDirs(install.appDir)[0];
  await eventually(
    'guardian recorded its rollback',
    () => journalOf(runDir)?.state?.guardian,
    (g) => Boolean(g),
  );
  assert.not.ok(journalOf(runDir).state.upgrade.finishedAt, 'run left unfinished for the re-run');
  await eventually(
    'guardian released the lock',
    () => existsSync(lockFile),
    (e) => !e,
  );

  const second = spawnTask('upgrade', ['--app-dir', install.appDir, '--offline', '--yes', '--json'], env);
  await eventually(
    're-run holds the lock',
    () => (existsSync(lockFile) ? JSON.parse(readFileSync(lockFile, 'utf8')).pid : 0),
    (pid) => pid === second.child.pid,
  );
  const third = await runTask('upgrade', ['--app-dir', install.appDir, '--offline', '--yes', '--json'], {
    env: { ...SAFE_ENV, ...env },
  });
  assert.is(third.code, 2, third.stderr);
  assert.match(third.stderr, new RegExp(`another run \\(pid ${second.child.pid}`));

  const resumed = await second.done;
  assert.is(resumed.code, 0, resumed.stderr);
  const result = JSON.parse(resumed.stdout);
  assert.is(result.resumed, true);
  assert.is(runDirs(install.appDir).length, 1, 'the unfinished run was continued, not restarted');
  // The app wrote to SQLite while it was back up: backup → verify were redone from a fresh backup.
  assert.match(resumed.stderr, /changed since the earlier backup/);
  assert.ok(
    result.steps.some((s: any) => s.name === 'check-target' && s.status === 'skipped'),
    'done step skipped',
  );
  assert.ok(
    result.steps.some((s: any) => s.name === 'load-pg' && s.status === 'done'),
    'load-pg redone',
  );
  const h = await eventually(
    'health on PostgreSQL',
    () => health(install.healthUrl),
    (x) => x?.status === 200,
  );
  assert.is(h!.body.database, 'postgresql');
  assert.not.ok(existsSync(lockFile), 'lock released');
});

test.run();
