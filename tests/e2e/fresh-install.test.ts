/**
 * fresh-install on the sample install: refused while the SQLite file holds rows (upgrade's job); with no SQLite data: create-role through the admin URL (password generated
 * into a 0600 file), schema + migration history applied by Prisma's engine, switch-env, the backend started and
 * answering from PostgreSQL; the app's own migration history then matches _prisma_migrations.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import dotenv from 'dotenv';
import { startTestPg, type TestPg } from '../helpers/pg.ts';
import { runTask } from '../helpers/cli.ts';
import { SAFE_ENV, eventually, health, makeInstall, type Install } from './e2e-helpers.ts';

const test = suite('e2e fresh-install');
let pgs: TestPg;
let install: Install;
test.before(async () => {
  pgs = await startTestPg();
  install = await makeInstall(10);
});
test.after(async () => {
  install?.stop();
  if (install) rmSync(install.appDir, { recursive: true, force: true });
  await pgs?.stop();
});

test('fresh-install: role, schema, switch, app healthy on PostgreSQL; no password in output', async () => {
  const passwordFile = path.join(install.appDir, 'pg.password');
  // An install that holds data is upgrade's job: refused, nothing created.
  const refused = await runTask('fresh-install', ['--app-dir', install.appDir, '--password-file', passwordFile], {
    env: { ...SAFE_ENV, ADMIN_DATABASE_URL: pgs.url('postgres') },
  });
  assert.is(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /holds data .*just upgrade/);
  rmSync(install.sqlitePath); // a new install: no SQLite data at all
  const run = await runTask('fresh-install', ['--app-dir', install.appDir, '--password-file', passwordFile, '--json'], {
    env: { ...SAFE_ENV, ADMIN_DATABASE_URL: pgs.url('postgres') },
  });
  assert.is(run.code, 0, run.stderr);
  assert.is(statSync(passwordFile).mode & 0o777, 0o600);
  const password = readFileSync(passwordFile, 'utf8').trim();
  assert.not.ok((run.stdout + run.stderr).includes(password), 'generated password printed');
  const env = dotenv.parse(readFileSync(install.envPath));
  assert.match(env.DATABASE_URL, /^postgresql:\/\/visionsuit:.+@127\.0\.0\.1:\d+\/visionsuit$/);
  assert.is(statSync(install.envPath).mode & 0o777, 0o600);
  const h = await eventually(
    'app on PostgreSQL',
    () => health(install.healthUrl),
    (x) => x?.status === 200,
  );
  assert.is(h!.body.database, 'postgresql');
  const applied = (
    await pgs.query(
      'visionsuit',
      'SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL ORDER BY 1',
    )
  ).rows.map((r) => r.migration_name);
  const folders = readdirSync(path.join(path.dirname(install.schemaPath), 'migrations'))
    .filter((n) => !n.includes('.'))
    .sort();
  assert.equal(applied, folders, "the app's migration folders are exactly the applied history");
});

test.run();
