import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { declaredExtensions, versionCheck } from '../../lib/steps/check-target.ts';
import { freePort } from '../../lib/pg/embedded-pg.ts';
import { runTask, type CliRun } from '../helpers/cli.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';
import { startTlsTestPg, type TlsTestPg } from '../helpers/tls.ts';

/**
 * check-target against real servers: a plain one, one that offers TLS (certificates made by openssl in the test),
 * and one whose pg_hba.conf refuses unencrypted connections. Every task run is a real process; passwords travel
 * in TARGET_DATABASE_URL (the documented way), never in argv.
 */
const test = suite('check-target');

let plain: TestPg;
let tls: TlsTestPg;
let strict: TlsTestPg;
let dir: string;
const APP_PASSWORD = 'app-Pa55word-for-tests';

/** A database owned by a fresh non-superuser login role: what create-role leaves behind. */
async function appDatabase(server: TestPg, prefix: string): Promise<{ name: string; role: string; url: string }> {
  const { name } = await server.freshDatabase(prefix);
  const role = `${name}_role`;
  await server.query('postgres', `CREATE ROLE "${role}" LOGIN PASSWORD '${APP_PASSWORD}'`);
  await server.query('postgres', `ALTER DATABASE "${name}" OWNER TO "${role}"`);
  return { name, role, url: server.url(name, role, APP_PASSWORD) };
}

function check(run: CliRun, name: string): { status: string; reason: string } {
  const found = run.json?.checks?.find((c: { name: string }) => c.name === name);
  assert.ok(found, `check "${name}" missing in ${run.stdout}\n${run.stderr}`);
  return found;
}

function checkTarget(url: string, args: string[] = []): Promise<CliRun> {
  return runTask('check-target', ['--json', ...args], { env: { TARGET_DATABASE_URL: url } });
}

test.before(async () => {
  [plain, tls, strict] = await Promise.all([
    startTestPg(),
    startTlsTestPg(),
    startTlsTestPg({ refusePlaintext: true }),
  ]);
  dir = mkdtempSync(path.join(os.tmpdir(), 'vs-check-'));
});

test.after(async () => {
  await Promise.all([plain?.stop(), tls?.stop(), strict?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

test('a ready target passes every check; the app role is not a superuser (exit 0)', async () => {
  const db = await appDatabase(plain, 'ready');
  const run = await checkTarget(db.url);
  assert.is(run.code, 0, run.stderr);
  assert.is(run.json?.ok, true);
  for (const name of [
    'reachable',
    'authentication',
    'database exists',
    'server version',
    'text sort order',
    'not superuser',
    'create privilege',
    'extensions',
    'target contents',
  ]) {
    assert.is(check(run, name).status, 'pass', `${name}: ${check(run, name).reason}`);
  }
  // node-postgres does not try TLS unless asked: reported, but not fatal without --require-tls.
  assert.is(check(run, 'tls').status, 'warn');
  assert.match(check(run, 'server version').reason, /PostgreSQL 18/);
  // The human check list goes to stderr, one line per check.
  assert.match(run.stderr, /PASS\s+create privilege/);
  assert.match(run.stderr, /WARN\s+tls/);
});

test('a database that sorts text by language rules (ICU en-US) is a warning naming the collation (exit 0)', async () => {
  const name = `icu_${process.pid}`;
  await plain.query(
    'postgres',
    `CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`,
  );
  const run = await checkTarget(plain.url(name));
  assert.is(run.code, 0, run.stderr);
  assert.is(check(run, 'text sort order').status, 'warn');
  assert.match(
    check(run, 'text sort order').reason,
    /sorts text by language rules \(collation ICU en-US\), not by bytes as SQLite did/,
  );
});

test('a superuser target is a warning, not a failure', async () => {
  const { url } = await plain.freshDatabase('super');
  const run = await checkTarget(url);
  assert.is(run.code, 0, run.stderr);
  assert.is(check(run, 'not superuser').status, 'warn');
});

test('wrong password: exit 3, authentication fails, later checks skipped, the password never echoed', async () => {
  const db = await appDatabase(plain, 'wrongpw');
  const wrong = 'Wr0ng-Secret-Zebra-4417';
  const url = plain.url(db.name, db.role, wrong);
  for (const run of await Promise.all([checkTarget(url), runTask('check-target', ['--json', '--target', url])])) {
    assert.is(run.code, 3, run.stderr);
    assert.is(check(run, 'reachable').status, 'pass');
    assert.is(check(run, 'authentication').status, 'fail');
    assert.match(check(run, 'authentication').reason, /authentication failed/);
    assert.is(check(run, 'create privilege').status, 'skip');
    assert.is(check(run, 'target contents').status, 'skip');
    assert.not.ok(run.stdout.includes(wrong), 'password in stdout');
    assert.not.ok(run.stderr.includes(wrong), 'password in stderr');
  }
});

test('nothing listening: reachable fails (exit 3)', async () => {
  const port = await freePort();
  const run = await checkTarget(`postgresql://app:${APP_PASSWORD}@127.0.0.1:${port}/visionsuit`);
  assert.is(run.code, 3, run.stderr);
  assert.is(check(run, 'reachable').status, 'fail');
  assert.match(check(run, 'reachable').reason, /refused/);
  assert.is(check(run, 'authentication').status, 'skip');
});

test('database missing: authentication passes, database exists fails (exit 3)', async () => {
  const run = await checkTarget(plain.url('no_such_database'));
  assert.is(run.code, 3, run.stderr);
  assert.is(check(run, 'authentication').status, 'pass');
  assert.is(check(run, 'database exists').status, 'fail');
  assert.match(check(run, 'database exists').reason, /does not exist/);
});

test('role without CREATE on schema public (PostgreSQL 15+ default): create privilege fails (exit 3)', async () => {
  const { name } = await plain.freshDatabase('nocreate');
  const role = `${name}_guest`;
  await plain.query('postgres', `CREATE ROLE "${role}" LOGIN PASSWORD '${APP_PASSWORD}'`);
  const run = await checkTarget(plain.url(name, role, APP_PASSWORD));
  assert.is(run.code, 3, run.stderr);
  assert.is(check(run, 'create privilege').status, 'fail');
  assert.match(check(run, 'create privilege').reason, /lacks CREATE on schema "public"/);
  assert.is(check(run, 'not superuser').status, 'pass');
  // CREATE on the schema alone is not enough: load-pg's CREATE SCHEMA IF NOT EXISTS needs CREATE on the database.
  await plain.query(name, `GRANT CREATE ON SCHEMA public TO "${role}"`);
  const schemaOnly = await checkTarget(plain.url(name, role, APP_PASSWORD));
  assert.is(schemaOnly.code, 3, schemaOnly.stderr);
  assert.match(check(schemaOnly, 'create privilege').reason, /lacks CREATE on database/);
  await plain.query('postgres', `GRANT CREATE ON DATABASE "${name}" TO "${role}"`);
  const again = await checkTarget(plain.url(name, role, APP_PASSWORD));
  assert.is(again.code, 0, again.stderr);
  assert.is(check(again, 'create privilege').status, 'pass');
});

test('target contents: tables without our marker fail (exit 3) with --force or without, whatever their shape', async () => {
  const schemaFile = path.join(dir, 'schema.prisma');
  writeFileSync(
    schemaFile,
    'datasource db {\n  provider = "sqlite"\n  url = env("DATABASE_URL")\n}\n\nmodel User {\n  id Int @id @default(autoincrement())\n  name String\n}\n',
  );
  const db = await appDatabase(plain, 'contents');
  await plain.query(
    db.name,
    `CREATE TABLE public.invoices (id int); ALTER TABLE public.invoices OWNER TO "${db.role}"`,
  );
  const foreign = await checkTarget(db.url, ['--schema', schemaFile]);
  assert.is(foreign.code, 3, foreign.stderr);
  assert.is(check(foreign, 'target contents').status, 'fail');
  assert.match(check(foreign, 'target contents').reason, /invoices/);

  const forced = await checkTarget(db.url, ['--schema', schemaFile, '--force']);
  assert.is(forced.code, 3, forced.stderr);
  assert.match(check(forced, 'target contents').reason, /no marker of this suite/);

  // The shape of a previous run (the app's tables + _prisma_migrations) is not a proof: another install has it too.
  await plain.query(
    db.name,
    'DROP TABLE public.invoices; CREATE TABLE public._prisma_migrations (id text); CREATE TABLE public."User" (id int)',
  );
  const lookalike = await checkTarget(db.url, ['--schema', schemaFile, '--force']);
  assert.is(lookalike.code, 3, lookalike.stderr);
  assert.is(check(lookalike, 'target contents').status, 'fail');
});

test('extensions declared by the schema must be available on the server', async () => {
  const schemaFile = path.join(dir, 'ext.prisma');
  writeFileSync(
    schemaFile,
    'generator client {\n  provider = "prisma-client-js"\n  previewFeatures = ["postgresqlExtensions"]\n}\n' +
      'datasource db {\n  provider = "postgresql"\n  extensions = [plpgsql, vs_no_such_extension]\n}\n\nmodel User {\n  id Int @id\n}\n',
  );
  const db = await appDatabase(plain, 'ext');
  const run = await checkTarget(db.url, ['--schema', schemaFile]);
  assert.is(run.code, 3, run.stderr);
  assert.is(check(run, 'extensions').status, 'fail');
  assert.match(check(run, 'extensions').reason, /vs_no_such_extension/);
});

test('--require-tls against a server without TLS: exit 3, TLS check fails', async () => {
  const db = await appDatabase(plain, 'notls');
  const run = await checkTarget(db.url, ['--require-tls']);
  assert.is(run.code, 3, run.stderr);
  assert.is(check(run, 'tls').status, 'fail');
  assert.match(check(run, 'tls').reason, /does not offer it/);
  assert.match(run.stderr, /FAIL\s+tls/);
});

test('TLS with --ca: encrypted and verified (verify-full) for an IP and for a host name', async () => {
  const db = await appDatabase(tls, 'tlsok');
  const urls = [db.url, db.url.replace('@127.0.0.1:', '@localhost:')];
  for (const run of await Promise.all(
    urls.map((url) => checkTarget(url, ['--require-tls', '--ca', tls.certs.caFile])),
  )) {
    assert.is(run.code, 0, run.stderr);
    assert.is(check(run, 'tls').status, 'pass');
    assert.match(check(run, 'tls').reason, /TLSv1\.[23]/);
    assert.is(check(run, 'certificate').status, 'pass');
  }
});

test('--require-tls without --ca verifies against the system CAs (exit 3); --insecure-skip-tls-verify: unverified, a warning', async () => {
  const db = await appDatabase(tls, 'tlsnoca');
  const verified = await checkTarget(db.url, ['--require-tls']);
  assert.is(verified.code, 3, verified.stderr);
  assert.match(check(verified, 'certificate').reason, /system's CAs/);
  const run = await checkTarget(db.url, ['--require-tls', '--insecure-skip-tls-verify']);
  assert.is(run.code, 0, run.stderr);
  assert.is(check(run, 'tls').status, 'pass');
  assert.is(check(run, 'certificate').status, 'warn');
});

test('--ca naming a CA that did not sign the server certificate: exit 3', async () => {
  const db = await appDatabase(tls, 'tlsbadca');
  const run = await checkTarget(db.url, ['--require-tls', '--ca', tls.certs.otherCaFile]);
  assert.is(run.code, 3, run.stderr);
  assert.is(check(run, 'certificate').status, 'fail');
  assert.match(check(run, 'certificate').reason, /could not be verified/);
  assert.is(check(run, 'authentication').status, 'skip');
});

test('a server that refuses plaintext: exit 3 naming the cause without --require-tls; passes with it', async () => {
  const db = await appDatabase(strict, 'strict');
  const refused = await checkTarget(db.url);
  assert.is(refused.code, 3, refused.stderr);
  assert.is(check(refused, 'tls').status, 'fail');
  assert.match(check(refused, 'tls').reason, /refuses unencrypted connections/);
  assert.match(refused.stderr, /refuses unencrypted connections.*--require-tls/);

  const ok = await checkTarget(db.url, ['--require-tls', '--ca', strict.certs.caFile]);
  assert.is(ok.code, 0, ok.stderr);
  assert.is(check(ok, 'tls').status, 'pass');
});

test('create-role over verified TLS on a plaintext-refusing server, then check-target as the new role', async () => {
  const passwordFile = path.join(dir, 'strict.password');
  const tlsArgs = ['--require-tls', '--ca', strict.certs.caFile];
  const env = { ADMIN_DATABASE_URL: strict.url('postgres') };
  const roleArgs = [
    '--json',
    ...tlsArgs,
    '--role',
    'strict_app',
    '--database',
    'strict_db',
    '--password-file',
    passwordFile,
  ];
  const created = await runTask('create-role', roleArgs, { env });
  assert.is(created.code, 0, created.stderr);
  const again = await runTask('create-role', roleArgs, { env });
  assert.equal(again.json?.changes, []);
  const url = strict.url('strict_db', 'strict_app', readFileSync(passwordFile, 'utf8').trim());
  const plaintext = await checkTarget(url);
  assert.is(plaintext.code, 3, 'the app role is refused without TLS');
  const ok = await checkTarget(url, tlsArgs);
  assert.is(ok.code, 0, ok.stderr);
  assert.is(check(ok, 'not superuser').status, 'pass');
  assert.is(check(ok, 'certificate').status, 'pass');
});

test('password from --password-file (0600) when the URL has none; a wider file or a missing --ca is exit 2', async () => {
  const db = await appDatabase(plain, 'pwfile');
  const url = `postgresql://${db.role}@127.0.0.1:${plain.port}/${db.name}`;
  const good = path.join(dir, 'pwfile-good');
  writeFileSync(good, APP_PASSWORD + '\n', { mode: 0o600 });
  const wide = path.join(dir, 'pwfile-wide');
  writeFileSync(wide, APP_PASSWORD + '\n', { mode: 0o644 });
  const [ok, refused, noCa] = await Promise.all([
    checkTarget(url, ['--password-file', good]),
    checkTarget(url, ['--password-file', wide]),
    checkTarget(url, ['--password-file', good, '--ca', path.join(dir, 'no-such-ca.crt')]),
  ]);
  assert.is(ok.code, 0, ok.stderr);
  assert.is(check(ok, 'authentication').status, 'pass');
  assert.is(refused.code, 2, refused.stderr);
  assert.match(refused.json?.error, /mode 0644/);
  assert.not.ok(refused.stdout.includes(APP_PASSWORD) || refused.stderr.includes(APP_PASSWORD));
  assert.is(noCa.code, 2, noCa.stderr);
  assert.match(noCa.json?.error, /cannot read --ca/);
});

test('bad flags: exit 2', async () => {
  const [unknown, notPg, missing] = await Promise.all([
    runTask('check-target', ['--json', '--no-such-flag']),
    runTask('check-target', ['--json', '--target', 'mysql://x@127.0.0.1/db']),
    runTask('check-target', ['--json']),
  ]);
  assert.is(unknown.code, 2);
  assert.is(notPg.code, 2);
  assert.is(missing.code, 2);
  assert.match(missing.json?.error ?? '', /--target is required/);
});

test('server version: below 13 fails, past end of life warns, supported passes (EOL table by date)', () => {
  const today = new Date('2026-11-24T00:00:00Z');
  assert.is(versionCheck(120017, '12.17', today).status, 'fail');
  assert.is(versionCheck(90624, '9.6.24', today).status, 'fail');
  assert.is(versionCheck(130020, '13.20', today).status, 'warn');
  assert.is(versionCheck(140015, '14.15', today).status, 'warn');
  assert.is(versionCheck(140015, '14.15', new Date('2026-11-11T12:00:00Z')).status, 'pass');
  assert.is(versionCheck(150010, '15.10', today).status, 'pass');
  assert.match(versionCheck(180004, '18.4', today).reason, /supported until 2030-11-14/);
  assert.is(versionCheck(190000, '19.0', today).status, 'pass');
});

test('declared extensions come from the datasource block, map: names win', () => {
  const schema =
    'generator client {\n  provider = "prisma-client-js"\n  // extensions = [nope]\n}\n' +
    'datasource db {\n  provider = "postgresql"\n  extensions = [pgcrypto, uuid_ossp(map: "uuid-ossp", schema: "ext"), postgis(version: "3.4")]\n}\n';
  assert.equal(declaredExtensions(schema), ['pgcrypto', 'uuid-ossp', 'postgis']);
  assert.equal(declaredExtensions('datasource db {\n  provider = "sqlite"\n}\n'), []);
});

test.run();
