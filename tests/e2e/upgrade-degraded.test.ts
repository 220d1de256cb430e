/**
 * A start that looks up but cannot use PostgreSQL must fail the gate and roll back (exit 5, not 0, not 6). The
 * systemd-like start does not regenerate the Prisma Client, so an operator who says it does (--no-generate) leaves
 * the app with a client for sqlite: Prisma 6 rejects the postgresql:// URL at the first query and the status route
 * answers HTTP 200 "degraded". (upgrade-liveness.test.ts: the same app asked only on /health.)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runTask } from '../helpers/cli.ts';
import { SAFE_ENV, appFingerprint, eventually, health, sqliteCount, useUpgradeHarness } from './e2e-helpers.ts';

const test = suite('e2e upgrade, degraded app');
const harness = useUpgradeHarness(test);

test('a degraded status (client not regenerated) fails the gate: rolled back, exit 5, app on SQLite', async () => {
  const install = await harness.runningInstall(100, 'systemd');
  const before = appFingerprint(install);
  const db = await harness.pg.freshDatabase('degr');
  const env = { ...SAFE_ENV, VS_SYSTEM_ENV_FILE: install.systemEnvFile!, TARGET_DATABASE_URL: db.url };
  const up = await runTask(
    'upgrade',
    ['--app-dir', install.appDir, '--yes', '--no-generate', '--wait-seconds', '6', '--json'],
    { env },
  );
  assert.is(up.code, 5, up.stderr);
  assert.is(up.json!.failedStep, 'start-services');
  assert.match(
    up.json!.cause,
    /degraded: Database connectivity issue: Error validating datasource `db`: the URL must start with the protocol `file:`/,
  );
  assert.is(up.json!.rolledBack, true);
  assert.ok(up.json!.sqliteProof?.ok, JSON.stringify(up.json!.sqliteProof));
  assert.equal(appFingerprint(install), before);
  const s0 = sqliteCount(install.sqlitePath, 'AuditLog');
  await eventually(
    'the app writing to SQLite again',
    () => sqliteCount(install.sqlitePath, 'AuditLog'),
    (n) => n > s0,
  );
  assert.is((await health(install.healthUrl))?.body?.database, 'sqlite');
});

test.run();
