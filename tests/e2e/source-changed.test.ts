/**
 * (`just upgrade --offline`, the full-stop run: what is tested here happens with the app stopped.)
 * End to end: a writer the stop command left behind writes to SQLite after the export (it waits for the run's
 * manifest.json) → the pre-switch check sees the live file changed since the backup → exit 4, nothing switched,
 * the app started again on SQLite. Online, the same writer waits until the final state was taken (read in place):
 * the delta's second look at the file's identity, or pre-switch-check, refuses.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import Database from '../../lib/sqlite/driver.ts';
import { REPO_ROOT, runTask } from '../helpers/cli.ts';
import { SAFE_ENV, appFingerprint, eventually, health, sqliteCount, useUpgradeHarness } from './e2e-helpers.ts';

const test = suite('e2e source changed');
const harness = useUpgradeHarness(test);

test('SQLite written after the export → exit 4, nothing switched, app back on SQLite', async () => {
  const install = await harness.runningInstall();
  const before = appFingerprint(install);
  const db = await harness.pg.freshDatabase('late');
  const runDir = path.join(install.appDir, 'backups/pg-migration/20990101T000000Z');
  // The stop command stops the backend but leaves a writer behind that writes once the export is done.
  const stopCmd =
    `bash ${install.appDir}/maintenance.sh stop; ` +
    `cd ${REPO_ROOT} && nohup ${process.execPath} --import tsx tests/e2e/late-writer.ts ${install.sqlitePath} file:${runDir}/manifest.json >/dev/null 2>&1 &`;
  const up = await runTask(
    'upgrade',
    ['--app-dir', install.appDir, '--run-dir', runDir, '--offline', '--yes', '--json'],
    {
      env: { ...SAFE_ENV, TARGET_DATABASE_URL: db.url, VS_STOP_CMD: stopCmd },
    },
  );
  assert.is(up.code, 4, up.stderr);
  // Caught before verify (source-unchanged) or at the last look before the cutover (pre-switch-check).
  assert.match(up.json?.failedStep, /^(source-unchanged|pre-switch-check)$/);
  assert.match(up.json!.cause, /changed after the backup|open again/);
  assert.equal(appFingerprint(install), before, 'nothing switched');
  const h = await eventually(
    'app back on SQLite',
    () => health(install.healthUrl),
    (x) => x?.status === 200,
  );
  assert.is(h!.body.database, 'sqlite');
  assert.ok(sqliteCount(install.sqlitePath, 'Setting') > 0);
});

test('online: SQLite written after the final state was read in place → exit 4, nothing switched, app on SQLite', async () => {
  const c = await harness.upgradeCase('latewindow');
  const before = appFingerprint(c.install);
  const runDir = path.join(c.install.appDir, 'backups/pg-migration/20990101T000000Z');
  const stopCmd =
    `bash ${c.install.appDir}/maintenance.sh stop; ` +
    `cd ${REPO_ROOT} && nohup ${process.execPath} --import tsx tests/e2e/late-writer.ts ${c.install.sqlitePath} step:${runDir}/journal.json:final-snapshot >/dev/null 2>&1 &`;
  const up = await runTask('upgrade', [...c.args, '--run-dir', runDir], {
    env: { ...SAFE_ENV, ...c.env, VS_STOP_CMD: stopCmd },
  });
  assert.is(up.code, 4, up.stderr);
  assert.match(up.stderr, /read in place/);
  assert.match(up.json?.failedStep, /^(delta|pre-switch-check)$/);
  assert.match(up.json!.cause, /changed while the delta read it|changed after the final snapshot|open again/);
  assert.equal(appFingerprint(c.install), before, 'nothing switched');
  const h = await eventually(
    'app back on SQLite',
    () => health(c.install.healthUrl),
    (x) => x?.status === 200,
  );
  assert.is(h!.body.database, 'sqlite');
  const late = new Database(c.install.sqlitePath, { readonly: true });
  assert.is(late.prepare(`SELECT count(*) FROM "Setting" WHERE "key" = 'late.write'`).pluck().get(), 1);
  late.close();
});

test.run();
