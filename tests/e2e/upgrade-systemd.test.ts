/**
 * The sample install started the way upstream's systemd unit starts VisionSuit (EnvironmentFile, `npm run dev`, no
 * `prisma generate`), upgraded with no --health-url and no --start-cmd: the suite finds the app's address, runs the
 * app's own `prisma generate`, proves the app's sessions on PostgreSQL from outside — and afterwards a plain
 * rollback refuses to drop what the app wrote there (exit 2, counts named, database intact) until
 * --discard-postgres-writes, after which the app writes to SQLite again.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runTask } from '../helpers/cli.ts';
import { SAFE_ENV, eventually, health, sqliteCount, useUpgradeHarness } from './e2e-helpers.ts';

const test = suite('e2e upgrade, systemd-like start');
const harness = useUpgradeHarness(test);

test('upgrade with defaults exits 0 and the app writes to PostgreSQL; rollback refuses its writes, then discards them', async () => {
  const install = await harness.runningInstall(150, 'systemd');
  const db = await harness.pg.freshDatabase('sysd');
  const env = { ...SAFE_ENV, VS_SYSTEM_ENV_FILE: install.systemEnvFile!, TARGET_DATABASE_URL: db.url };
  const pgCount = async () =>
    (await harness.pg.query(db.name, `SELECT count(*)::int AS n FROM "AuditLog"`)).rows[0].n as number;

  const up = await runTask('upgrade', ['--app-dir', install.appDir, '--yes', '--json'], { env });
  assert.is(up.code, 0, up.stderr);
  assert.ok(
    up.json!.databaseProof.ok && up.json!.databaseProof.targetSessions > 0,
    JSON.stringify(up.json!.databaseProof),
  );
  assert.equal(up.json!.databaseProof.sqliteHolders, []);
  assert.is(up.json!.generate.ran, true);
  assert.match(up.json!.summary, /session\(s\) of the app on the target/);
  const n0 = await pgCount();
  await eventually('the app writing to PostgreSQL', pgCount, (n) => n > n0 + 5);
  assert.is((await health(install.healthUrl))?.body?.database, 'postgresql');

  // A plain rollback would leave those rows behind: refused, nothing touched, the app still on PostgreSQL.
  const refused = await runTask('rollback', ['--app-dir', install.appDir, '--yes', '--json'], { env });
  assert.is(refused.code, 2, refused.stderr);
  assert.match(
    refused.stderr,
    /refusing to roll back: PostgreSQL holds \d+ row change\(s\) in \d+ table\(s\) \(.*AuditLog \d+/,
  );
  assert.match(refused.stderr, /run `npx just fallback` to carry them back into SQLite/);
  const kept = await pgCount();
  assert.ok(kept > n0, 'the PostgreSQL rows are intact');
  await eventually('the app still writing to PostgreSQL', pgCount, (n) => n > kept);

  const rb = await runTask('rollback', ['--app-dir', install.appDir, '--yes', '--discard-postgres-writes', '--json'], {
    env,
  });
  assert.is(rb.code, 0, rb.stderr);
  assert.ok(rb.json!.postgresWrites.total > 0, JSON.stringify(rb.json!.postgresWrites));
  assert.ok(rb.json!.started.proof.ok, JSON.stringify(rb.json!.started.proof));
  assert.is(rb.json!.generate.provider, 'sqlite');
  assert.ok((await pgCount()) >= kept, 'the PostgreSQL database is kept as it was');
  const s0 = sqliteCount(install.sqlitePath, 'AuditLog');
  await eventually(
    'the app writing to SQLite again',
    () => sqliteCount(install.sqlitePath, 'AuditLog'),
    (n) => n > s0,
  );
  assert.is((await health(install.healthUrl))?.body?.database, 'sqlite');
});

test.run();
