import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runTask } from '../helpers/cli.ts';
import { startSystemPg, type SystemPg } from '../helpers/system-pg.ts';

/**
 * The same two tasks against a second major version: the system's PostgreSQL 15 (the version Debian 12 hosts
 * run, and the first that no longer lets PUBLIC create in schema public).
 */
const test = suite('pg15');

let server: SystemPg | undefined;
let dir: string;

test.before(async () => {
  server = await startSystemPg(15);
  dir = mkdtempSync(path.join(os.tmpdir(), 'vs-pg15-'));
});

test.after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('PostgreSQL 15: create-role twice (no changes the second time), then check-target passes as the new role', async () => {
  if (!server) {
    console.warn('PostgreSQL 15 binaries not installed: skipped');
    return;
  }
  const passwordFile = path.join(dir, 'app.password');
  const args = ['--json', '--role', 'vs15', '--database', 'vs15db', '--password-file', passwordFile];
  const env = { ADMIN_DATABASE_URL: server.url('postgres') };
  const first = await runTask('create-role', args, { env });
  assert.is(first.code, 0, first.stderr);
  const second = await runTask('create-role', args, { env });
  assert.is(second.code, 0, second.stderr);
  assert.equal(second.json?.changes, []);

  // No builtin provider before 17: libc collation C, byte order as in SQLite.
  assert.ok(
    first.json?.changes.some((c: string) => /created database .*\(UTF8, collation C: text sorts by bytes/.test(c)),
    first.stdout,
  );
  const admin = new pg.Client({ connectionString: server.url('postgres') });
  await admin.connect();
  const { rows } = await admin
    .query(`SELECT datlocprovider AS provider, datcollate AS collate FROM pg_database WHERE datname = 'vs15db'`)
    .finally(() => admin.end());
  assert.equal(rows[0], { provider: 'c', collate: 'C' });

  const password = readFileSync(passwordFile, 'utf8').trim();
  const check = await runTask('check-target', ['--json'], {
    env: { TARGET_DATABASE_URL: server.url('vs15db', 'vs15', password) },
  });
  assert.is(check.code, 0, check.stderr);
  const version = check.json?.checks.find((c: { name: string }) => c.name === 'server version');
  assert.is(version.status, 'pass');
  assert.match(version.reason, /PostgreSQL 15\.\d+.*supported until 2027-11-11/);
  const privilege = check.json?.checks.find((c: { name: string }) => c.name === 'create privilege');
  assert.is(privilege.status, 'pass');
  const sortOrder = check.json?.checks.find((c: { name: string }) => c.name === 'text sort order');
  assert.equal([sortOrder.status, sortOrder.reason], ['pass', 'text sorts by bytes, as in SQLite (collation C)']);
});

test('PostgreSQL 15: a plain login role has no CREATE on public (the 15 change), so check-target fails', async () => {
  if (!server) return;
  const admin = server.url('postgres');
  const setup = await runTask(
    'create-role',
    ['--json', '--role', 'owner15', '--database', 'shared15', '--password-file', path.join(dir, 'owner.password')],
    {
      env: { ADMIN_DATABASE_URL: admin },
    },
  );
  assert.is(setup.code, 0, setup.stderr);
  // A second role allowed to connect but given nothing else.
  const pg = await import('pg');
  const client = new pg.default.Client({ connectionString: server.url('shared15') });
  await client.connect();
  await client.query(
    `CREATE ROLE guest15 LOGIN PASSWORD 'guest15-pass'; GRANT CONNECT ON DATABASE shared15 TO guest15`,
  );
  await client.end();
  const check = await runTask('check-target', ['--json'], {
    env: { TARGET_DATABASE_URL: server.url('shared15', 'guest15', 'guest15-pass') },
  });
  assert.is(check.code, 3, check.stderr);
  assert.is(check.json?.checks.find((c: { name: string }) => c.name === 'create privilege').status, 'fail');
});

test.run();
