/**
 * Security promises of issue 6, each shown on real processes and servers:
 *  - least privilege: create-role's role (not superuser, cannot create roles or databases) is all the whole
 *    upgrade needs — load-pg, verify, switch-env, cutover — connecting with the role's own URL (password from the
 *    0600 file create-role used, never a superuser credential anywhere in the upgrade's environment);
 *  - no secret in process arguments: while create-role and the upgrade run, a sampler reads /proc/<pid>/cmdline of
 *    every process on the host every 20 ms; the password (plain or URL-encoded) never appears;
 *  - no secret in stdout (--json), stderr, or any file of the run directory (run.log, journal.json, manifest,
 *    report, guardian.log, env backups…), searched recursively for the plain and the URL-encoded password; every
 *    such file is 0600 and every directory 0700; the env file that must hold the DSN is 0600;
 *  - TLS verify-full against a real CA chain (root CA → intermediate CA → server certificate, the server sending
 *    leaf + intermediate): verified with the root alone; another root is refused (exit 3).
 * (--require-tls refusing plaintext, unknown SSH host keys, 0600 SSH keys: tests/target/*.test.ts.)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { chownToPostgres } from '../../lib/pg/embedded-pg.ts';
import { runTask } from '../helpers/cli.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';
import { eventually, health, makeInstall, runDirs, type Install } from '../e2e/e2e-helpers.ts';
import { appState, classify, walkFiles } from './fault-helpers.ts';

const test = suite('faults: security');
let server: TestPg;
let install: Install | undefined;
let scratch: string;

// Characters that need URL encoding and quoting, so both forms of the secret are searched for.
const PASSWORD = "Fault'Pass/w@rd:%&?#x=ä 1";
const ENCODED = encodeURIComponent(PASSWORD);

test.before(async () => {
  server = await startTestPg();
  scratch = mkdtempSync(path.join(os.tmpdir(), 'vs-sec-'));
});
test.after(async () => {
  install?.stop();
  if (install) rmSync(install.appDir, { recursive: true, force: true });
  await server?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** Reads every process's command line every 20 ms while `during` runs; returns every distinct one seen. */
async function sampleCmdlines<T>(during: () => Promise<T>): Promise<{ value: T; cmdlines: Set<string> }> {
  const cmdlines = new Set<string>();
  const sample = () => {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const raw = readFileSync(`/proc/${pid}/cmdline`);
        if (raw.length) cmdlines.add(raw.toString('utf8').split('\0').join(' '));
      } catch {
        // exited between readdir and read
      }
    }
  };
  const timer = setInterval(sample, 20);
  try {
    const value = await during();
    sample();
    return { value, cmdlines };
  } finally {
    clearInterval(timer);
  }
}

function assertNoSecret(where: string, text: string) {
  assert.not.ok(text.includes(PASSWORD), `password in ${where}`);
  assert.not.ok(text.includes(ENCODED), `URL-encoded password in ${where}`);
}

test('least privilege + no secret leaks: create-role, then the whole upgrade as that role only; argv, output, run dir and modes clean', async () => {
  install = await makeInstall(300);
  install.start();
  await eventually(
    'backend up on SQLite',
    () => health(install!.healthUrl),
    (h) => h?.status === 200 && h.body?.database === 'sqlite',
  );
  const secrets = mkdtempSync(path.join(scratch, 'secrets-'));
  const passwordFile = path.join(secrets, 'visionsuit.password');
  writeFileSync(passwordFile, PASSWORD + '\n', { mode: 0o600 });
  const role = 'vs_least';
  const database = 'vs_least_db';

  // create-role with the admin URL (the only superuser use, and only for this task).
  const created = await sampleCmdlines(() =>
    runTask('create-role', ['--role', role, '--database', database, '--password-file', passwordFile, '--json'], {
      env: { ADMIN_DATABASE_URL: server.url('postgres') },
    }),
  );
  assert.is(created.value.code, 0, created.value.stderr);
  assertNoSecret('create-role output', created.value.stdout + created.value.stderr);
  for (const cmd of created.cmdlines) assertNoSecret(`a process argument (${cmd.slice(0, 80)})`, cmd);
  assert.ok(
    [...created.cmdlines].some((c) => c.includes('tasks/create-role.ts')),
    'the sampler saw the task itself',
  );

  // What the role is: a plain login role that owns its database.
  const { rows } = await server.query(
    'postgres',
    'SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = $1',
    [role],
  );
  assert.equal(rows[0], {
    rolsuper: false,
    rolcreaterole: false,
    rolcreatedb: false,
    rolreplication: false,
    rolbypassrls: false,
  });
  const asRole = new pg.Client({ host: '127.0.0.1', port: server.port, user: role, password: PASSWORD, database });
  await asRole.connect();
  try {
    await asRole.query('CREATE ROLE vs_least_probe');
    assert.unreachable('the role could create a role');
  } catch (err) {
    assert.is((err as { code?: string }).code, '42501', String(err));
  } finally {
    await asRole.end();
  }

  // The whole upgrade with the role's own URL (no password in it) and the password file; nothing else.
  const roleUrl = `postgresql://${role}@127.0.0.1:${server.port}/${database}`;
  const upgraded = await sampleCmdlines(() =>
    runTask('upgrade', ['--app-dir', install!.appDir, '--yes', '--json'], {
      env: { TARGET_DATABASE_URL: roleUrl, PG_PASSWORD_FILE: passwordFile },
    }),
  );
  const up = upgraded.value;
  assert.is(up.code, 0, up.stderr);
  assert.ok(
    up.json!.steps.every((s: { status: string }) => s.status === 'done'),
    JSON.stringify(up.json!.steps),
  );
  const state = await eventually(
    'app on PostgreSQL',
    () => appState(install!),
    (s) => classify(s) === 'postgresql',
  );
  assert.is(classify(state), 'postgresql');
  const owners = await server.query(database, `SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'`);
  assert.equal(
    owners.rows.map((r) => r.tableowner),
    [role],
    'every table made by the role itself',
  );

  // No secret in any process argument while the upgrade ran (its children: guardian, maintenance.sh, backend…).
  assert.ok(
    [...upgraded.cmdlines].some((c) => c.includes('upgrade-guardian.ts')),
    'the sampler saw the guardian',
  );
  assert.ok(
    [...upgraded.cmdlines].some((c) => c.includes('maintenance.sh')),
    'the sampler saw the stop/start commands',
  );
  for (const cmd of upgraded.cmdlines) assertNoSecret(`a process argument (${cmd.slice(0, 80)})`, cmd);
  assertNoSecret('upgrade stdout (--json)', up.stdout);
  assertNoSecret('upgrade stderr', up.stderr);

  // The env file must carry the DSN (the app needs it): it is there, encoded, and owner-only.
  const envText = readFileSync(install.envPath, 'utf8');
  assert.ok(envText.includes(ENCODED), 'the app DSN holds the (encoded) password');
  assert.is(statSync(install.envPath).mode & 0o777, 0o600, 'backend/.env is 0600');
  assert.is(statSync(passwordFile).mode & 0o777, 0o600);

  // The run directory: no secret in any file, files 0600, directories 0700.
  const runDir = runDirs(install.appDir)[0];
  const root = path.dirname(runDir);
  const files = walkFiles(root);
  assert.ok(
    files.some((f) => f.endsWith('run.log')) && files.some((f) => f.endsWith('journal.json')),
    files.join('\n'),
  );
  const wide: string[] = [];
  for (const file of files) {
    const mode = statSync(file).mode & 0o777;
    // One exception: the app's own SQLite migration files, moved into env-backups/ with their mode for a byte- and
    // mode-exact restore (DDL, checked for secrets below like every file, in 0700 directories). Everything we write —
    // the generated PostgreSQL schema and migrations, verify's generated Prisma Client — is 0600.
    const appsOwn =
      file.includes(`${path.sep}env-backups${path.sep}`) &&
      /(migration\.sql|migration_lock\.toml|\.prisma)$/.test(file);
    if ((mode & 0o077) !== 0 && !(appsOwn && (mode & 0o022) === 0))
      wide.push(`${path.relative(root, file)} ${mode.toString(8)}`);
    assertNoSecret(path.relative(root, file), readFileSync(file, 'latin1') + readFileSync(file, 'utf8'));
  }
  assert.equal(wide, [], 'files wider than 0600');
  // The runs root and every run directory are 0700: nothing below them is reachable by another user. Folders copied
  // from the app inside them keep the app's modes, but none is writable by others.
  for (const dir of [root, ...runDirs(install.appDir)])
    assert.is(statSync(dir).mode & 0o777, 0o700, `${dir} has mode ${(statSync(dir).mode & 0o777).toString(8)}`);
  for (const dir of walkDirs(root)) {
    assert.is(statSync(dir).mode & 0o022, 0, `${dir} is writable by others`);
    if (!dir.includes(`${path.sep}env-backups${path.sep}`))
      assert.is(statSync(dir).mode & 0o777, 0o700, `${dir} has mode ${(statSync(dir).mode & 0o777).toString(8)}`);
  }
  // The PostgreSQL history installed into the app is readable like the folder it replaced (the app may run as
  // another user): folders with that folder's mode, files the same without x bits.
  const appMigrations = path.join(path.dirname(install.schemaPath), 'migrations');
  const appDirMode = statSync(appMigrations).mode & 0o777;
  for (const file of walkFiles(appMigrations))
    assert.is(statSync(file).mode & 0o777, appDirMode & 0o666, `${file} in the app`);
});

function walkDirs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) => [path.join(dir, d.name), ...walkDirs(path.join(dir, d.name))]);
}

/** root CA → intermediate CA (pathlen 0) → server certificate for localhost/127.0.0.1; the server sends leaf + intermediate. */
function chainCerts(dir: string) {
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const name of ['root', 'other-root']) {
    ssl([
      'req',
      '-x509',
      ...ec,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.crt`,
      '-days',
      '3',
      '-subj',
      `/CN=vs-fault-${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
  }
  ssl(['req', ...ec, '-keyout', 'inter.key', '-out', 'inter.csr', '-subj', '/CN=vs-fault-intermediate']);
  writeFileSync(
    path.join(dir, 'inter.ext'),
    'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n',
  );
  ssl([
    'x509',
    '-req',
    '-in',
    'inter.csr',
    '-CA',
    'root.crt',
    '-CAkey',
    'root.key',
    '-CAcreateserial',
    '-out',
    'inter.crt',
    '-days',
    '3',
    '-extfile',
    'inter.ext',
  ]);
  ssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  writeFileSync(
    path.join(dir, 'server.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
  );
  ssl([
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'inter.crt',
    '-CAkey',
    'inter.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '3',
    '-extfile',
    'server.ext',
  ]);
  const chain = path.join(dir, 'server-chain.crt');
  writeFileSync(
    chain,
    readFileSync(path.join(dir, 'server.crt'), 'utf8') + readFileSync(path.join(dir, 'inter.crt'), 'utf8'),
  );
  return {
    root: path.join(dir, 'root.crt'),
    otherRoot: path.join(dir, 'other-root.crt'),
    inter: path.join(dir, 'inter.crt'),
    chain,
    key: path.join(dir, 'server.key'),
  };
}

test('TLS verify-full through an intermediate CA: verified with the root CA only; another root is refused (exit 3)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vs-sec-chain-'));
  chownToPostgres(dir);
  const certs = chainCerts(dir);
  for (const f of [certs.chain, certs.key]) chownToPostgres(f);
  const tlsServer = await startTestPg({ tls: { certFile: certs.chain, keyFile: certs.key } });
  try {
    const db = await tlsServer.freshDatabase('chain');
    const run = (ca: string, url = db.url) =>
      runTask('check-target', ['--json', '--require-tls', '--ca', ca, '--force'], {
        env: { TARGET_DATABASE_URL: url },
      });
    const [ok, byName, other] = await Promise.all([
      run(certs.root),
      run(certs.root, db.url.replace('@127.0.0.1:', '@localhost:')),
      run(certs.otherRoot),
    ]);
    for (const r of [ok, byName]) {
      assert.is(r.code, 0, r.stderr);
      const checks = r.json!.checks as { name: string; status: string; reason: string }[];
      assert.is(checks.find((c) => c.name === 'tls')!.status, 'pass');
      const cert = checks.find((c) => c.name === 'certificate')!;
      assert.is(cert.status, 'pass');
      assert.match(cert.reason, /verify-full/);
    }
    assert.is(other.code, 3, other.stderr);
    const cert = (other.json!.checks as { name: string; status: string; reason: string }[]).find(
      (c) => c.name === 'certificate',
    )!;
    assert.is(cert.status, 'fail');
    assert.match(cert.reason, /could not be verified/);
    assert.match(
      other.json!.summary,
      /failed — certificate: TLS certificate of .* could not be verified against the given CA/,
      'the one line says why',
    );
    // The certificate really is an intermediate-signed one (the root did not sign the leaf directly).
    const issuer = execFileSync('openssl', ['x509', '-in', path.join(dir, 'server.crt'), '-noout', '-issuer'], {
      encoding: 'utf8',
    });
    assert.match(issuer, /vs-fault-intermediate/);
  } finally {
    await tlsServer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
