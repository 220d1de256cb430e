/**
 * Bad input at the level the operator meets it (issue 6): `just upgrade` on a running install with a target it
 * must refuse before the app is touched, and backend/.env files written by hand. Each refusal: the documented exit
 * code, the cause in one line (--json `cause`), the app still running on SQLite, env/schema/migrations
 * byte-identical. (The same inputs at task level — bad SQLite files, schema mismatches, values that will not
 * convert, invalid role names, unknown CA — are in tests/data, tests/target; see the fault tables in docs/operations.md.)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { runTask, type CliRun } from '../helpers/cli.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';
import { startSshServer, type TestSshServer } from '../helpers/ssh-server.ts';
import { appFingerprint, eventually, health, makeInstall, type Install } from '../e2e/e2e-helpers.ts';
import { sha256 } from './fault-helpers.ts';

const test = suite('faults: bad input');
let server: TestPg;
let ssh: TestSshServer;
let install: Install | undefined;

test.before(async () => {
  [server, ssh] = await Promise.all([startTestPg(), startSshServer()]);
});
test.after(async () => {
  install?.stop();
  if (install) rmSync(install.appDir, { recursive: true, force: true });
  await ssh?.stop();
  await server?.stop();
});

test('upgrade refuses a bad target before stopping the app: exit code, one-line cause, nothing changed', async () => {
  install = await makeInstall(300);
  install.start();
  await eventually(
    'backend up on SQLite',
    () => health(install!.healthUrl),
    (h) => h?.status === 200 && h.body?.database === 'sqlite',
  );
  const before = appFingerprint(install);
  const pidFile = path.join(install.appDir, 'run', 'vs-backend.pid');
  const pidBefore = readFileSync(pidFile, 'utf8');

  const good = await server.freshDatabase('bad_good');
  const foreign = await server.freshDatabase('bad_foreign');
  await server.query(foreign.name, 'CREATE TABLE invoices (id int PRIMARY KEY, total numeric)');
  const wrongPassword = server.url(good.name, 'postgres', 'Definitely-Wrong-Pass-42');

  const cases: { name: string; url: string; args?: string[]; code: number; cause: RegExp; secret?: string }[] = [
    {
      name: 'wrong password',
      url: wrongPassword,
      code: 3,
      cause: /authentication failed for role "postgres" .*\(wrong password\)/,
      secret: 'Definitely-Wrong-Pass-42',
    },
    { name: 'another schema already in the target', url: foreign.url, code: 3, cause: /target contents: .*invoices/ },
    {
      name: 'TLS required, server offers none',
      url: good.url,
      args: ['--require-tls'],
      code: 3,
      cause: /tls: .*(not offer|not encrypted|does not support)/i,
    },
    {
      name: 'unknown SSH host key',
      url: good.url,
      args: ['--ssh', ssh.target, '--ssh-key', ssh.keyFile, '--known-hosts', ssh.wrongKnownHostsFile],
      code: 3,
      cause: /SSH host key of .* does not match .* refusing to connect/,
    },
    {
      name: 'not a PostgreSQL URL',
      url: 'mysql://root:pw@127.0.0.1/visionsuit',
      code: 2,
      cause: /must be a postgresql:\/\/ URL/,
    },
  ];
  // One after the other: they share the app and its lock, as a real operator's retries would.
  for (const c of cases) {
    const r: CliRun = await runTask('upgrade', ['--app-dir', install.appDir, '--yes', '--json', ...(c.args ?? [])], {
      env: { TARGET_DATABASE_URL: c.url },
    });
    assert.is(r.code, c.code, `${c.name}: ${r.stderr}`);
    assert.is(r.json?.exitCode, c.code, c.name);
    const cause: string = r.json?.cause ?? r.json?.error ?? r.json?.summary;
    assert.ok(cause && !cause.includes('\n'), `${c.name}: one line: ${cause}`);
    assert.match(cause, c.cause, c.name);
    if (c.secret) assert.not.ok((r.stdout + r.stderr).includes(c.secret), `${c.name}: password echoed`);
    assert.equal(appFingerprint(install), before, `${c.name}: env, schema and migrations unchanged`);
    const h = await health(install.healthUrl);
    assert.is(h?.body?.database, 'sqlite', `${c.name}: app still on SQLite`);
    assert.is(readFileSync(pidFile, 'utf8'), pidBefore, `${c.name}: the app was never stopped`);
  }
  const { rows } = await server.query(
    good.name,
    `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`,
  );
  assert.is(rows[0].n, 0, 'nothing was created in the target');
});

test('DATABASE_URL in backend/.env with odd quoting and ? parameters: the right SQLite file, or a one-line exit 4 naming it', async () => {
  const inst = install!;
  const original = readFileSync(inst.envPath, 'utf8');
  const live = inst.sqlitePath;
  const withUrl = (line: string) => original.replace(/^DATABASE_URL=.*$/m, line);
  const variants: { line: string; ok: boolean }[] = [
    { line: `DATABASE_URL='file:./dev.db?connection_limit=1&socket_timeout=10'`, ok: true },
    { line: `export DATABASE_URL="file:dev.db?mode=ro"   # comment after the value`, ok: true },
    { line: `DATABASE_URL = "file:./missing.db?connection_limit=1"`, ok: false },
  ];
  try {
    for (const [i, v] of variants.entries()) {
      writeFileSync(inst.envPath, withUrl(v.line));
      const runDir = path.join(inst.appDir, `odd-env-${i}`);
      const r = await runTask('backup', ['--app-dir', inst.appDir, '--run-dir', runDir, '--json']);
      if (v.ok) {
        assert.is(r.code, 0, `${v.line}: ${r.stderr}`);
        assert.is(r.json?.source?.path, live, `${v.line}: resolved to the app's dev.db`);
      } else {
        assert.is(r.code, 4, `${v.line}: ${r.stderr}`);
        const line = r.json?.error as string;
        assert.match(
          line,
          new RegExp(
            `SQLite file ${path.join(path.dirname(live), 'missing.db').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} does not exist$`,
          ),
        );
        assert.not.ok(line.includes('connection_limit'), 'query parameters are not part of the path');
      }
    }
  } finally {
    writeFileSync(inst.envPath, original);
  }
  void sha256;
});

test.run();
