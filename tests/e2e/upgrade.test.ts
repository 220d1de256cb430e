/**
 * End to end on the sample install with its real writer process (the fake backend, started by the install's own
 * maintenance.sh) and a real embedded PostgreSQL:
 *  - upgrade success: the app ends on PostgreSQL, health says postgresql, the backend writes to PostgreSQL;
 *  - rollback after the cutover restores the SQLite setup byte for byte and the backend writes to SQLite again;
 *  - before that, upgrade --dry-run changes nothing and a run without --yes and without a terminal exits 2.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import dotenv from 'dotenv';
import { runTask } from '../helpers/cli.ts';
import { SAFE_ENV, appFingerprint, eventually, health, sqliteCount, useUpgradeHarness } from './e2e-helpers.ts';

const test = suite('e2e upgrade');
const harness = useUpgradeHarness(test);

async function pgCount(db: string, table: string): Promise<number> {
  const { rows } = await harness.pg.query(db, `SELECT count(*)::int AS n FROM "${table}"`);
  return rows[0].n;
}

test('upgrade: app ends on PostgreSQL and writes there; rollback restores the SQLite setup byte for byte', async () => {
  const install = await harness.runningInstall();
  // Stand-in for /etc/visionsuit/vs-backend.env (systemd EnvironmentFile): rewritten too, restored byte for byte.
  const systemEnv = path.join(install.appDir, 'vs-backend.env');
  const systemEnvText = '# managed by ops\nNODE_ENV=production\nDATABASE_URL=file:./dev.db\nPORT=4000\n';
  writeFileSync(systemEnv, systemEnvText, { mode: 0o640 });
  const before = appFingerprint(install);
  const db = await harness.pg.freshDatabase('ok');
  const sysEnv = { VS_SYSTEM_ENV_FILE: systemEnv };

  // Read-only first: --dry-run checks and plans, changes nothing; without a terminal and without --yes: exit 2.
  const dry = await runTask('upgrade', ['--app-dir', install.appDir, '--dry-run', '--json'], {
    env: { ...SAFE_ENV, TARGET_DATABASE_URL: db.url },
  });
  assert.is(dry.code, 0, dry.stderr);
  assert.ok(
    dry.json!.checks.every((c: any) => c.ok),
    JSON.stringify(dry.json!.checks),
  );
  const noYes = await runTask('upgrade', ['--app-dir', install.appDir], {
    env: { ...SAFE_ENV, TARGET_DATABASE_URL: db.url },
  });
  assert.is(noYes.code, 2);
  assert.match(noYes.stderr, /pass --yes/);
  assert.equal(appFingerprint(install), before);
  assert.is((await health(install.healthUrl))?.body?.database, 'sqlite', 'the app kept running');

  const up = await runTask('upgrade', ['--app-dir', install.appDir, '--yes', '--json'], {
    env: { ...SAFE_ENV, TARGET_DATABASE_URL: db.url, ...sysEnv },
  });
  assert.is(up.code, 0, up.stderr);
  assert.is(
    readFileSync(systemEnv, 'utf8'),
    `# managed by ops\nNODE_ENV=production\nDATABASE_URL=${db.url}\nPORT=4000\n`,
  );
  assert.is(statSync(systemEnv).mode & 0o777, 0o600);
  assert.is(up.json?.ok, true);
  assert.not.match(up.stdout + up.stderr, new RegExp(harness.pg.superPassword), 'password printed');
  const env = dotenv.parse(readFileSync(install.envPath));
  assert.is(env.DATABASE_URL, db.url, 'the app DSN is the --target DSN');
  assert.is(env.JWT_SECRET, 'sample-jwt-secret-not-for-production', 'other keys kept');
  assert.match(readFileSync(install.schemaPath, 'utf8'), /provider\s*=\s*"postgresql"/);
  assert.match(
    readFileSync(path.join(path.dirname(install.schemaPath), 'migrations', 'migration_lock.toml'), 'utf8'),
    /postgresql/,
  );
  const h = await eventually(
    'health on PostgreSQL',
    () => health(install.healthUrl),
    (x) => x?.status === 200,
  );
  assert.is(h!.body.database, 'postgresql');
  // The backend really writes to PostgreSQL now.
  const n0 = await pgCount(db.name, 'AuditLog');
  await eventually(
    'backend writing to PostgreSQL',
    () => pgCount(db.name, 'AuditLog'),
    (n) => n > n0,
  );

  // switch-env again: everything already points at PostgreSQL, nothing changes.
  const again = await runTask('switch-env', ['--app-dir', install.appDir, '--json'], {
    env: { ...SAFE_ENV, TARGET_DATABASE_URL: db.url, ...sysEnv },
  });
  assert.is(again.code, 0, again.stderr);
  assert.ok(again.json!.files.every((f: any) => !f.changed) && !again.json!.migrations.changed, again.stdout);

  // Rollback after the cutover.
  const sqliteRows = sqliteCount(install.sqlitePath, 'AuditLog');
  // The app wrote on PostgreSQL: only --discard-postgres-writes rolls back without those writes.
  const rb = await runTask('rollback', ['--app-dir', install.appDir, '--discard-postgres-writes', '--json'], {
    env: { ...SAFE_ENV, ...sysEnv },
  });
  assert.is(rb.code, 0, rb.stderr);
  assert.ok(
    rb.json!.postgresWrites.tables.some((t: any) => t.table === 'AuditLog' && t.rows > 0),
    JSON.stringify(rb.json!.postgresWrites),
  );
  assert.equal(appFingerprint(install), before, 'env, schema and migrations byte-identical to before the upgrade');
  assert.is(readFileSync(systemEnv, 'utf8'), systemEnvText);
  assert.is(statSync(systemEnv).mode & 0o777, 0o640, 'original mode restored');
  const h2 = await eventually(
    'health on SQLite',
    () => health(install.healthUrl),
    (x) => x?.status === 200,
  );
  assert.is(h2!.body.database, 'sqlite');
  await eventually(
    'backend writing to SQLite again',
    () => sqliteCount(install.sqlitePath, 'AuditLog'),
    (n) => n > sqliteRows,
  );

  // Safe to run twice: nothing to restore, the app still runs.
  const rb2 = await runTask('rollback', ['--app-dir', install.appDir, '--json'], { env: { ...SAFE_ENV, ...sysEnv } });
  assert.is(rb2.code, 0, rb2.stderr);
  assert.ok(rb2.json!.restored.every((r: any) => r.action === 'unchanged'));
  assert.equal(appFingerprint(install), before);

  // --drop-target never drops a database the app wrote to: the tables stay.
  const tablesBefore = (
    await harness.pg.query(db.name, `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`)
  ).rows[0].n;
  const rb3 = await runTask('rollback', ['--app-dir', install.appDir, '--drop-target', '--json'], {
    env: { ...SAFE_ENV, TARGET_DATABASE_URL: db.url, ...sysEnv },
  });
  assert.is(rb3.code, 0, rb3.stderr);
  assert.match(rb3.stderr, /--drop-target refused: PostgreSQL holds \d+ row change/);
  const left = await harness.pg.query(db.name, `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`);
  assert.is(left.rows[0].n, tablesBefore);
  assert.equal(appFingerprint(install), before);
});

test.run();
