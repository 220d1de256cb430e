/**
 * The client-not-regenerated app of upgrade-degraded.test.ts, asked only on /health (liveness: upstream
 * backend/src/app.ts answers ok without touching the database): the health gate passes, and the database proof
 * from outside (no session of the app's processes on the target) fails it — exit 5, app back on SQLite.
 * Then the service environment overriding backend/.env (an EnvironmentFile with a file: DATABASE_URL that the
 * upgrade was not told about): the app keeps the SQLite file open on "PostgreSQL" — caught the same way.
 */
import { writeFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runTask } from '../helpers/cli.ts';
import { SAFE_ENV, appFingerprint, health, useUpgradeHarness } from './e2e-helpers.ts';

const test = suite('e2e upgrade, liveness only / environment override');
const harness = useUpgradeHarness(test);

test('missing prisma generate behind a liveness-only health URL is caught by the database proof (exit 5)', async () => {
  const install = await harness.runningInstall(100, 'systemd');
  const before = appFingerprint(install);
  const env = { ...SAFE_ENV, VS_SYSTEM_ENV_FILE: install.systemEnvFile! };
  // Liveness only: /health says ok without touching the database; the proof from outside finds no session.
  const db2 = await harness.pg.freshDatabase('live');
  const liveness = `http://127.0.0.1:${install.port}/health`;
  const up2 = await runTask(
    'upgrade',
    ['--app-dir', install.appDir, '--yes', '--no-generate', '--wait-seconds', '6', '--health-url', liveness, '--json'],
    {
      env: { ...env, TARGET_DATABASE_URL: db2.url },
    },
  );
  assert.is(up2.code, 5, up2.stderr);
  assert.is(up2.json!.health.databaseChecked, false);
  assert.match(up2.json!.cause, /database proof \(postgresql\): no session of the app on the target/);
  assert.equal(appFingerprint(install), before);
  assert.is((await health(install.healthUrl))?.body?.database, 'sqlite');
});

test('a service environment that keeps the app on SQLite fails the gate (exit 5)', async () => {
  const install = await harness.runningInstall(100, 'systemd');
  // The unit's EnvironmentFile names the SQLite file; the upgrade is not told about that file, so it stays.
  writeFileSync(
    install.systemEnvFile!,
    `NODE_ENV=production\nHOST=127.0.0.1\nPORT=${install.port}\nDATABASE_URL=file:./dev.db\n`,
  );
  const before = appFingerprint(install);
  const db = await harness.pg.freshDatabase('over');
  const up = await runTask(
    'upgrade',
    ['--app-dir', install.appDir, '--yes', '--no-generate', '--wait-seconds', '6', '--json'],
    { env: { ...SAFE_ENV, TARGET_DATABASE_URL: db.url } },
  );
  assert.is(up.code, 5, up.stderr);
  assert.match(up.json!.cause, /still holds dev\.db: the app runs on SQLite/);
  assert.equal(appFingerprint(install), before);
  assert.is((await health(install.healthUrl))?.body?.database, 'sqlite');
});

test.run();
