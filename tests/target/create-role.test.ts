import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { scramVerifier, scramVerifierMatches } from '../../lib/pg/scram.ts';
import { validateIdentifier } from '../../lib/steps/create-role.ts';
import { DomainError } from '../../lib/errors.ts';
import { runTask, type CliRun } from '../helpers/cli.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';

/**
 * create-role against a real server with every statement logged (log_statement=all), so the tests can prove the
 * password never reaches the server in clear text, only as a SCRAM verifier computed by the tool.
 */
const test = suite('create-role');

let server: TestPg;
let dir: string;
let counter = 0;

function names(prefix: string) {
  counter += 1;
  return {
    role: `${prefix}_role_${counter}`,
    database: `${prefix}_db_${counter}`,
    passwordFile: path.join(dir, `${prefix}-${counter}.password`),
  };
}

function createRole(args: string[], adminUrl = server.url('postgres')): Promise<CliRun> {
  return runTask('create-role', ['--json', ...args], { env: { ADMIN_DATABASE_URL: adminUrl } });
}

async function loginAs(role: string, password: string, database: string): Promise<string> {
  const client = new pg.Client({ host: '127.0.0.1', port: server.port, user: role, password, database });
  await client.connect();
  try {
    return (await client.query<{ u: string }>('SELECT current_user AS u')).rows[0].u;
  } finally {
    await client.end();
  }
}

test.before(async () => {
  server = await startTestPg({ settings: { log_statement: 'all' } });
  dir = mkdtempSync(path.join(os.tmpdir(), 'vs-role-'));
});

test.after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('twice: creates role, database and privileges, then reports no changes', async () => {
  const n = names('twice');
  const args = ['--role', n.role, '--database', n.database, '--password-file', n.passwordFile];
  const first = await createRole(args);
  assert.is(first.code, 0, first.stderr);
  assert.ok(first.json?.changes.length >= 3, JSON.stringify(first.json));
  assert.ok(first.json?.changes.some((c: string) => /created login role/.test(c)));
  assert.ok(first.json?.changes.some((c: string) => /REVOKE CONNECT FROM PUBLIC/.test(c)));
  assert.ok(
    first.json?.changes.some((c: string) =>
      /created database .* builtin collation C\.UTF-8: text sorts by bytes/.test(c),
    ),
    JSON.stringify(first.json),
  );
  assert.is(first.json?.role, n.role);
  assert.is(first.json?.database, n.database);
  assert.is(first.json?.passwordFile, n.passwordFile);

  const second = await createRole(args);
  assert.is(second.code, 0, second.stderr);
  assert.equal(second.json?.changes, []);
  assert.match(second.stderr, /no changes/);

  // The password: only in a 0600 file, strong, and it logs in as the role.
  assert.is(statSync(n.passwordFile).mode & 0o777, 0o600);
  const password = readFileSync(n.passwordFile, 'utf8').trim();
  assert.ok(password.length >= 40 && /^[A-Za-z0-9_-]+$/.test(password), 'URL-safe generated password');
  assert.is(await loginAs(n.role, password, n.database), n.role);
  for (const run of [first, second]) {
    assert.not.ok(run.stdout.includes(password), 'password in stdout');
    assert.not.ok(run.stderr.includes(password), 'password in stderr');
  }
  assert.not.ok(server.logs.join('\n').includes(password), 'password in the server log');

  const { rows } = await server.query(
    'postgres',
    `SELECT r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin, a.rolpassword LIKE 'SCRAM-SHA-256$%' AS scram,
            pg_get_userbyid(d.datdba) AS owner,
            has_database_privilege('public', d.oid, 'CONNECT') AS public_connect
       FROM pg_roles r JOIN pg_authid a ON a.oid = r.oid, pg_database d
      WHERE r.rolname = $1 AND d.datname = $2`,
    [n.role, n.database],
  );
  assert.equal(rows[0], {
    rolsuper: false,
    rolcreaterole: false,
    rolcreatedb: false,
    rolcanlogin: true,
    scram: true,
    owner: n.role,
    public_connect: false,
  });

  // The role may build the app's schema in public.
  const client = new pg.Client({ host: '127.0.0.1', port: server.port, user: n.role, password, database: n.database });
  await client.connect();
  await client.query('CREATE TABLE public.probe (id int)');
  // Collation C: text sorts by bytes, as SQLite's BINARY collation did (the app's sorted lists keep their order).
  // (The test cluster's own default, libc C.UTF-8, sorts the same: the catalog says which collation it is.)
  const sorted = await client.query(
    `SELECT d.datlocprovider AS provider, d.datlocale AS locale, array_agg(x ORDER BY x) AS sorted, lower('ÉA') AS lowered
       FROM pg_database d, (VALUES ('b'), ('é'), ('B'), ('a'), ('_z'), ('Z')) AS v(x)
      WHERE d.datname = current_database() GROUP BY 1, 2`,
  );
  await client.end();
  assert.equal(sorted.rows[0], {
    provider: 'b',
    locale: 'C.UTF-8',
    sorted: ['B', 'Z', '_z', 'a', 'b', 'é'],
    lowered: 'éa',
  });

  // And check-target agrees the target is ready.
  const check = await runTask('check-target', ['--json'], {
    env: { TARGET_DATABASE_URL: server.url(n.database, n.role, password) },
  });
  assert.is(check.code, 3, 'probe table makes it non-empty'); // the probe table is "somebody else's" table
  const checkForced = await runTask('check-target', ['--json', '--force'], {
    env: { TARGET_DATABASE_URL: server.url(n.database, n.role, password) },
  });
  // A table that is not a load of ours is refused with --force too (no marker of this suite); once dropped, ready.
  assert.is(checkForced.code, 3, checkForced.stderr);
  const owner = new pg.Client({ host: '127.0.0.1', port: server.port, user: n.role, password, database: n.database });
  await owner.connect();
  await owner.query('DROP TABLE public.probe');
  await owner.end();
  const ready = await runTask('check-target', ['--json'], {
    env: { TARGET_DATABASE_URL: server.url(n.database, n.role, password) },
  });
  assert.is(ready.code, 0, ready.stderr);
});

test('another role cannot connect to the database (CONNECT revoked from PUBLIC)', async () => {
  const n = names('private');
  const run = await createRole(['--role', n.role, '--database', n.database, '--password-file', n.passwordFile]);
  assert.is(run.code, 0, run.stderr);
  await server.query('postgres', `CREATE ROLE ${n.role}_other LOGIN PASSWORD 'other-pass-1234'`);
  try {
    await loginAs(`${n.role}_other`, 'other-pass-1234', n.database);
    assert.unreachable('other role connected');
  } catch (err) {
    assert.is((err as { code?: string }).code, '42501');
  }
});

test('a drifted role is brought back: superuser/createrole removed, password reset, then no changes', async () => {
  const n = names('drift');
  await server.query(
    'postgres',
    `CREATE ROLE ${n.role} LOGIN SUPERUSER CREATEROLE CREATEDB PASSWORD 'old-password-123'`,
  );
  await server.query('postgres', `CREATE DATABASE ${n.database}`);
  writeFileSync(n.passwordFile, 'Given-Password-From-File-77\n', { mode: 0o600 });
  const args = ['--role', n.role, '--database', n.database, '--password-file', n.passwordFile];
  const first = await createRole(args);
  assert.is(first.code, 0, first.stderr);
  const changes: string[] = first.json?.changes;
  assert.ok(
    changes.some((c) => /NOSUPERUSER NOCREATEROLE NOCREATEDB/.test(c)),
    changes.join('\n'),
  );
  assert.ok(
    changes.some((c) => /password set/.test(c)),
    changes.join('\n'),
  );
  assert.ok(
    changes.some((c) => /owner postgres →/.test(c)),
    changes.join('\n'),
  );
  assert.not.ok(
    changes.some((c) => /generated/.test(c)),
    'the existing file is reused',
  );
  assert.is(readFileSync(n.passwordFile, 'utf8'), 'Given-Password-From-File-77\n', 'file untouched');
  assert.is(await loginAs(n.role, 'Given-Password-From-File-77', n.database), n.role);
  const { rows } = await server.query(
    'postgres',
    'SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = $1',
    [n.role],
  );
  assert.equal(rows[0], { rolsuper: false, rolcreaterole: false, rolcreatedb: false });

  const second = await createRole(args);
  assert.is(second.code, 0, second.stderr);
  assert.equal(second.json?.changes, []);
});

test('identifiers needing quotes work and stay idempotent', async () => {
  counter += 1;
  const role = `App "Role" ${counter}'s`;
  const database = `vision suit; DROP ${counter}`;
  const passwordFile = path.join(dir, `quoted-${counter}.password`);
  const args = ['--role', role, '--database', database, '--password-file', passwordFile];
  const first = await createRole(args);
  assert.is(first.code, 0, first.stderr);
  const second = await createRole(args);
  assert.is(second.code, 0, second.stderr);
  assert.equal(second.json?.changes, []);
  assert.is(await loginAs(role, readFileSync(passwordFile, 'utf8').trim(), database), role);
});

test('--dry-run reports what it would do and changes nothing', async () => {
  const n = names('dry');
  const run = await createRole([
    '--role',
    n.role,
    '--database',
    n.database,
    '--password-file',
    n.passwordFile,
    '--dry-run',
  ]);
  assert.is(run.code, 0, run.stderr);
  assert.ok(run.json?.changes.length >= 3);
  assert.not.ok(existsSync(n.passwordFile), 'no password file written');
  const { rows } = await server.query('postgres', 'SELECT count(*)::int AS n FROM pg_roles WHERE rolname = $1', [
    n.role,
  ]);
  assert.is(rows[0].n, 0);
});

test('a password file readable by others is refused (exit 2) before anything changes', async () => {
  const n = names('wide');
  writeFileSync(n.passwordFile, 'Some-Password-123\n');
  chmodSync(n.passwordFile, 0o644);
  const run = await createRole(['--role', n.role, '--database', n.database, '--password-file', n.passwordFile]);
  assert.is(run.code, 2, run.stderr);
  assert.match(run.json?.error, /mode 0644/);
  const { rows } = await server.query('postgres', 'SELECT count(*)::int AS n FROM pg_roles WHERE rolname = $1', [
    n.role,
  ]);
  assert.is(rows[0].n, 0);
});

test('invalid names and missing admin access are usage errors (exit 2)', async () => {
  const long = await createRole(['--role', 'r'.repeat(64), '--password-file', path.join(dir, 'long.password')]);
  assert.is(long.code, 2, long.stderr);
  assert.match(long.json?.error, /63/);
  const multibyte = await createRole(['--database', 'é'.repeat(32), '--password-file', path.join(dir, 'mb.password')]);
  assert.is(multibyte.code, 2, multibyte.stderr);
  const noAdmin = await runTask('create-role', ['--json', '--password-file', path.join(dir, 'none.password')]);
  assert.is(noAdmin.code, 2);
  assert.match(noAdmin.json?.error, /--admin-url is required/);
  assert.throws(
    () => validateIdentifier('role', 'a\0b'),
    (err: unknown) => err instanceof DomainError && /NUL/.test(err.message),
  );
  validateIdentifier('role', 'x'.repeat(63));
});

test('wrong admin password or an admin without privileges: exit 3', async () => {
  const n = names('noadmin');
  const wrong = await createRole(
    ['--role', n.role, '--database', n.database, '--password-file', n.passwordFile],
    server.url('postgres', 'postgres', 'Not-The-Admin-Pass-9'),
  );
  assert.is(wrong.code, 3, wrong.stderr);
  assert.not.ok(wrong.stderr.includes('Not-The-Admin-Pass-9') || wrong.stdout.includes('Not-The-Admin-Pass-9'));

  await server.query('postgres', `CREATE ROLE ${n.role}_weak LOGIN PASSWORD 'weak-admin-pass-1'`);
  const weak = await createRole(
    ['--role', n.role, '--database', n.database, '--password-file', path.join(dir, 'weak.password')],
    server.url('postgres', `${n.role}_weak`, 'weak-admin-pass-1'),
  );
  assert.is(weak.code, 3, weak.stderr);
  assert.match(weak.json?.error, /insufficient privilege|permission denied/);
});

test('a non-superuser admin (CREATEROLE, CREATEDB): password checked by logging in; second run no changes', async () => {
  const n = names('delegated');
  const admin = `${n.role}_admin`;
  await server.query('postgres', `CREATE ROLE ${admin} LOGIN CREATEROLE CREATEDB PASSWORD 'delegated-admin-1'`);
  const adminUrl = server.url('postgres', admin, 'delegated-admin-1');
  const args = ['--role', n.role, '--database', n.database, '--password-file', n.passwordFile];
  // PostgreSQL 16+: handing the database to the new role needs SET ROLE on it, which the admin does not get by default.
  const refused = await createRole(args, adminUrl);
  assert.is(refused.code, 3, refused.stderr);
  assert.match(refused.json?.error, /createrole_self_grant/);

  await server.query('postgres', `ALTER ROLE ${admin} SET createrole_self_grant = 'set, inherit'`);
  await server.query('postgres', `DROP ROLE ${n.role}`); // left by the refused run (statements are not one transaction)
  const first = await createRole(args, adminUrl);
  assert.is(first.code, 0, first.stderr);
  const second = await createRole(args, adminUrl);
  assert.is(second.code, 0, second.stderr);
  assert.equal(second.json?.changes, []);
  // A changed password is noticed through the failed login and set again.
  await server.query('postgres', `ALTER ROLE ${n.role} PASSWORD 'changed-behind-our-back'`);
  const third = await createRole(args, adminUrl);
  assert.ok(
    third.json?.changes.some((c: string) => /password set/.test(c)),
    third.stdout,
  );
  assert.is(await loginAs(n.role, readFileSync(n.passwordFile, 'utf8').trim(), n.database), n.role);
});

test("SCRAM verifiers: PostgreSQL accepts ours, and ours verifies PostgreSQL's", async () => {
  const verifier = scramVerifier('correct horse battery staple');
  assert.match(verifier, /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
  assert.ok(scramVerifierMatches(verifier, 'correct horse battery staple'));
  assert.not.ok(scramVerifierMatches(verifier, 'correct horse battery stapler'));
  assert.not.ok(scramVerifierMatches('md5abcdef', 'x'));
  // A verifier made by the server from a cleartext password (this test's own role, not the tool's path).
  counter += 1;
  const role = `scram_probe_${counter}`;
  await server.query(
    'postgres',
    `SET password_encryption = 'scram-sha-256'; CREATE ROLE ${role} LOGIN PASSWORD 'Server-Made-Pass-5'`,
  );
  const { rows } = await server.query('postgres', 'SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role]);
  assert.ok(scramVerifierMatches(rows[0].rolpassword, 'Server-Made-Pass-5'));
  assert.not.ok(scramVerifierMatches(rows[0].rolpassword, 'Server-Made-Pass-6'));
});

test.run();
