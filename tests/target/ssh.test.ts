import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort } from '../../lib/pg/embedded-pg.ts';
import { runTask, type CliRun } from '../helpers/cli.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';
import { startSshServer, type TestSshServer } from '../helpers/ssh-server.ts';

/**
 * The SSH path against a real SSH server (ssh2's Server, in this process): check-target through the tunnel,
 * host-key and key-file policy, and create-role running psql "on the database host" with its SQL on stdin.
 * The remote psql here is the system psql (15) talking to the embedded server, authenticated by a 0600 PGPASSFILE
 * so no password appears in the command line the SSH server receives.
 */
const test = suite('ssh');

let server: TestPg;
let ssh: TestSshServer;
let dir: string;
let remotePsql: string;
const APP_PASSWORD = 'Tunnel-App-Pass-31';

function sshArgs(knownHosts = ssh.knownHostsFile, key = ssh.keyFile): string[] {
  return ['--ssh', ssh.target, '--ssh-key', key, '--known-hosts', knownHosts];
}

function check(run: CliRun, name: string): { status: string; reason: string } {
  const found = run.json?.checks?.find((c: { name: string }) => c.name === name);
  assert.ok(found, `check "${name}" missing in ${run.stdout}\n${run.stderr}`);
  return found;
}

test.before(async () => {
  [server, ssh] = await Promise.all([startTestPg({ settings: { log_statement: 'all' } }), startSshServer()]);
  dir = mkdtempSync(path.join(os.tmpdir(), 'vs-sshtest-'));
  const pgpass = path.join(dir, 'pgpass');
  writeFileSync(pgpass, `127.0.0.1:${server.port}:*:postgres:${server.superPassword}\n`, { mode: 0o600 });
  remotePsql = `PGPASSFILE=${pgpass} /usr/bin/psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p ${server.port} -U postgres -d postgres`;
});

test.after(async () => {
  await Promise.all([server?.stop(), ssh?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

test('check-target through the SSH tunnel: every check runs (exit 0)', async () => {
  const { name } = await server.freshDatabase('tunnel');
  await server.query(
    'postgres',
    `CREATE ROLE tunnel_app LOGIN PASSWORD '${APP_PASSWORD}'; ALTER DATABASE ${name} OWNER TO tunnel_app`,
  );
  const before = ssh.forwards.length;
  const run = await runTask('check-target', ['--json', ...sshArgs()], {
    env: { TARGET_DATABASE_URL: server.url(name, 'tunnel_app', APP_PASSWORD) },
  });
  assert.is(run.code, 0, run.stderr);
  assert.is(check(run, 'ssh').status, 'pass');
  // PostgreSQL on the SSH host's loopback: the tunnel is the encryption.
  assert.is(check(run, 'tls').status, 'pass');
  assert.match(check(run, 'tls').reason, /inside the SSH tunnel/);
  assert.is(check(run, 'create privilege').status, 'pass');
  assert.is(check(run, 'target contents').status, 'pass');
  // The database connection really went through the SSH server.
  assert.ok(ssh.forwards.length > before, 'no direct-tcpip forward seen');
  assert.is(ssh.forwards[ssh.forwards.length - 1], `127.0.0.1:${server.port}`);
});

test('unknown or mismatching host key: exit 3, never authenticated, nothing forwarded', async () => {
  const empty = path.join(dir, 'known_hosts.empty');
  writeFileSync(empty, '');
  for (const knownHosts of [ssh.wrongKnownHostsFile, empty]) {
    const authenticated = ssh.authenticated;
    const forwards = ssh.forwards.length;
    const run = await runTask('check-target', ['--json', ...sshArgs(knownHosts)], {
      env: { TARGET_DATABASE_URL: server.url('postgres') },
    });
    assert.is(run.code, 3, run.stderr);
    assert.is(check(run, 'ssh').status, 'fail');
    assert.match(
      check(run, 'ssh').reason,
      knownHosts === empty ? /not in .*refusing to trust it on first use/ : /does not match/,
    );
    assert.is(check(run, 'reachable').status, 'skip');
    assert.is(ssh.authenticated, authenticated, 'client authenticated despite an unverified host key');
    assert.is(ssh.forwards.length, forwards);
  }
});

test("through the tunnel, nothing listening behind it: reachable fails with the SSH host's reason (exit 3)", async () => {
  const port = await freePort();
  const run = await runTask('check-target', ['--json', ...sshArgs()], {
    env: { TARGET_DATABASE_URL: `postgresql://app:${APP_PASSWORD}@127.0.0.1:${port}/db` },
  });
  assert.is(run.code, 3, run.stderr);
  assert.is(check(run, 'ssh').status, 'pass');
  assert.is(check(run, 'reachable').status, 'fail');
  assert.match(check(run, 'reachable').reason, /unreachable from SSH host 127\.0\.0\.1/);
});

test('SSH server not reachable: the ssh check fails with the connection error, not a host-key complaint', async () => {
  const port = await freePort();
  const run = await runTask(
    'check-target',
    ['--json', '--ssh', `root@127.0.0.1:${port}`, '--ssh-key', ssh.keyFile, '--known-hosts', ssh.knownHostsFile],
    {
      env: { TARGET_DATABASE_URL: server.url('postgres') },
    },
  );
  assert.is(run.code, 3, run.stderr);
  assert.is(check(run, 'ssh').status, 'fail');
  assert.match(check(run, 'ssh').reason, /ECONNREFUSED/);
});

test('a private key readable by others is refused (exit 2)', async () => {
  const looseKey = path.join(dir, 'id_loose');
  copyFileSync(ssh.keyFile, looseKey);
  chmodSync(looseKey, 0o644);
  const run = await runTask('check-target', ['--json', ...sshArgs(ssh.knownHostsFile, looseKey)], {
    env: { TARGET_DATABASE_URL: server.url('postgres') },
  });
  assert.is(run.code, 2, run.stderr);
  assert.match(run.json?.error, /mode 0644/);
});

test('create-role over SSH with remote psql, twice: second run no changes; password never in a command line', async () => {
  const passwordFile = path.join(dir, 'app.password');
  const args = [
    '--json',
    ...sshArgs(),
    '--remote-psql',
    remotePsql,
    '--role',
    'ssh_app',
    '--database',
    'ssh_app_db',
    '--password-file',
    passwordFile,
  ];
  const commandsBefore = ssh.commands.length;
  const first = await runTask('create-role', args);
  assert.is(first.code, 0, first.stderr);
  assert.is(first.json?.via, 'ssh-psql');
  assert.ok(
    first.json?.changes.some((c: string) => /created login role/.test(c)),
    first.stdout,
  );
  const second = await runTask('create-role', args);
  assert.is(second.code, 0, second.stderr);
  assert.equal(second.json?.changes, []);
  assert.match(second.stderr, /no changes/);

  assert.is(statSync(passwordFile).mode & 0o777, 0o600);
  const password = readFileSync(passwordFile, 'utf8').trim();
  const commands = ssh.commands.slice(commandsBefore);
  assert.ok(commands.length >= 2);
  for (const command of commands) assert.is(command, remotePsql, 'only the configured command, nothing appended');
  assert.not.ok(commands.join('\n').includes(password));
  assert.not.ok(server.logs.join('\n').includes(password), 'cleartext password in the server log');
  for (const run of [first, second]) assert.not.ok((run.stdout + run.stderr).includes(password));

  const { rows } = await server.query(
    'postgres',
    'SELECT rolsuper, rolcreaterole, rolcanlogin FROM pg_roles WHERE rolname = $1',
    ['ssh_app'],
  );
  assert.equal(rows[0], { rolsuper: false, rolcreaterole: false, rolcanlogin: true });
  const client = new pg.Client({
    host: '127.0.0.1',
    port: server.port,
    user: 'ssh_app',
    password,
    database: 'ssh_app_db',
  });
  await client.connect();
  assert.is((await client.query('SELECT current_user AS u')).rows[0].u, 'ssh_app');
  await client.end();

  // The role it made is ready as a migration target, checked through the same tunnel.
  const ready = await runTask('check-target', ['--json', ...sshArgs()], {
    env: { TARGET_DATABASE_URL: server.url('ssh_app_db', 'ssh_app', password) },
  });
  assert.is(ready.code, 0, ready.stderr);
});

test('create-role with --admin-url through the tunnel', async () => {
  const passwordFile = path.join(dir, 'tunnel-admin.password');
  const args = [
    '--json',
    ...sshArgs(),
    '--role',
    'tunnel_admin_app',
    '--database',
    'tunnel_admin_db',
    '--password-file',
    passwordFile,
  ];
  const env = { ADMIN_DATABASE_URL: server.url('postgres') };
  const first = await runTask('create-role', args, { env });
  assert.is(first.code, 0, first.stderr);
  assert.is(first.json?.via, 'admin-url');
  const second = await runTask('create-role', args, { env });
  assert.equal(second.json?.changes, []);
});

test('remote psql failing: exit 3 with its cause', async () => {
  const run = await runTask('create-role', [
    '--json',
    ...sshArgs(),
    '--remote-psql',
    `${remotePsql.replace(server.superPassword, 'x')} -U no_such_user`,
    '--password-file',
    path.join(dir, 'fail.password'),
  ]);
  assert.is(run.code, 3, run.stderr);
  assert.match(run.json?.error, /psql on .* failed/);
});

test.run();
