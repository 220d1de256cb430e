/**
 * (`just upgrade --offline`, the full-stop run: what is tested here happens with the app stopped.)
 * End to end: a writer the stop command left behind writes to SQLite after the export (it waits for the run's
 * manifest.json) → the pre-switch check sees the live file changed since the backup → exit 4, nothing switched,
 * the app started again on SQLite.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
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
    `cd ${REPO_ROOT} && nohup ${process.execPath} --import tsx tests/e2e/late-writer.ts ${runDir}/manifest.json ${install.sqlitePath} >/dev/null 2>&1 &`;
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

test.run();
