import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import dotenv from 'dotenv';
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createSampleInstall, type SampleInstall } from '../../fixtures/sample-install.ts';
import { loadSettings } from '../../lib/cli/config.ts';
import { buildAppUrl } from '../../lib/pg/app-url.ts';
import { runTask, type CliRun } from '../helpers/cli.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';
import { SAFE_ENV } from '../e2e/e2e-helpers.ts';

/**
 * "Ready" means ready, and failures are blamed on the right side, on a real server with the sample install's real
 * backup → export → load-pg → verify path: check-target tests the privileges load-pg's statements need and the
 * connections it opens; a role's statement_timeout does not cut our sessions short; a full disk on the target is
 * exit 3 in PostgreSQL's words (raised by a trigger with SQLSTATE 53100, since this machine cannot fill a server's
 * disk on demand); the password the app gets is the one the suite logged in with, written so dotenv reads it back.
 */
const test = suite('target: ready means ready');
let server: TestPg;
let install: SampleInstall;
let runDir: string;
let scratch: string;
let counter = 0;

/** A login role and a database; `owner` makes the role own the database (what create-role leaves behind). */
async function roleAndDb(password: string, owner: boolean): Promise<{ db: string; role: string; url: string }> {
  const db = `ready_${process.pid}_${++counter}`;
  const role = `${db}_role`;
  await server.query(
    'postgres',
    `CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN PASSWORD ${pg.escapeLiteral(password)}`,
  );
  await server.query(
    'postgres',
    `CREATE DATABASE ${pg.escapeIdentifier(db)}${owner ? ` OWNER ${pg.escapeIdentifier(role)}` : ''}`,
  );
  if (owner) await server.query(db, `ALTER SCHEMA public OWNER TO ${pg.escapeIdentifier(role)}`);
  return { db, role, url: `postgresql://${role}@127.0.0.1:${server.port}/${db}` };
}

const withPassword = (url: string, password: string) => url.replace('@', `:${encodeURIComponent(password)}@`);
const task = (name: string, url: string, args: string[] = [], env: Record<string, string> = {}): Promise<CliRun> =>
  runTask(name, ['--app-dir', install.appDir, '--json', ...args], {
    env: { ...SAFE_ENV, TARGET_DATABASE_URL: url, ...env },
    timeoutMs: 240_000,
  });
const check = (run: CliRun, name: string) =>
  run.json?.checks?.find((c: { name: string }) => c.name === name) ?? { status: 'missing', reason: run.stderr };
const explain = (run: CliRun) => `exit ${run.code}: ${run.json?.summary ?? ''}\n${run.stderr.slice(-2000)}`;

async function canLogIn(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

test.before(async () => {
  server = await startTestPg();
  install = await createSampleInstall({ rows: 120 });
  scratch = mkdtempSync(path.join(os.tmpdir(), 'vs-ready-'));
  runDir = path.join(install.appDir, 'backups', 'pg-migration', '20250101T000000Z');
  for (const step of ['backup', 'export-sqlite']) {
    const run = await runTask(step, ['--app-dir', install.appDir, '--run-dir', runDir], { env: SAFE_ENV });
    assert.is(run.code, 0, `${step}: ${run.stderr}`);
  }
});
test.after(async () => {
  await server?.stop();
  if (install) rmSync(install.appDir, { recursive: true, force: true });
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test('CREATE on public but not on the database fails check-target (load-pg runs CREATE SCHEMA IF NOT EXISTS); so does a connection limit below what load-pg opens', async () => {
  const { db, role, url } = await roleAndDb('Ready-pw-1', false);
  await server.query(db, `GRANT CREATE, USAGE ON SCHEMA public TO ${pg.escapeIdentifier(role)}`);
  const target = withPassword(url, 'Ready-pw-1');
  const before = await task('check-target', target);
  assert.is(before.code, 3, explain(before));
  assert.is(check(before, 'create privilege').status, 'fail');
  assert.match(check(before, 'create privilege').reason, /lacks CREATE on database .* GRANT CREATE ON DATABASE/);
  const load = await task('load-pg', target, ['--run-dir', runDir]);
  assert.is(load.code, 3, `what check-target predicted: ${explain(load)}`);

  await server.query('postgres', `GRANT CREATE ON DATABASE ${pg.escapeIdentifier(db)} TO ${pg.escapeIdentifier(role)}`);
  await server.query('postgres', `ALTER ROLE ${pg.escapeIdentifier(role)} CONNECTION LIMIT 3`);
  const limited = await task('check-target', target);
  assert.is(limited.code, 3, explain(limited));
  assert.is(check(limited, 'create privilege').status, 'pass', check(limited, 'create privilege').reason);
  assert.match(check(limited, 'connection headroom').reason, /CONNECTION LIMIT 3; load-pg needs 5/);
});

test("a role's statement_timeout does not cut load-pg or verify short (our sessions set statement_timeout = 0)", async () => {
  const { role, url } = await roleAndDb('Ready-pw-2', true);
  // 1 ms rather than 150 ms: the sample install is small, and every statement of real length must hit it.
  await server.query('postgres', `ALTER ROLE ${pg.escapeIdentifier(role)} SET statement_timeout = '1ms'`);
  const target = withPassword(url, 'Ready-pw-2');
  const load = await task('load-pg', target, ['--run-dir', runDir, '--force']);
  assert.is(load.code, 0, explain(load));
  const verify = await task('verify', target, ['--run-dir', runDir]);
  assert.is(verify.code, 0, explain(verify));
});

test('a full disk on the target during the COPY is exit 3 with PostgreSQL\'s words, not exit 4 "rejected the value"', async () => {
  const { db, url } = await roleAndDb('Ready-pw-3', true);
  // Every app table load-pg creates (not Prisma's migration history) gets a row trigger that fails as PostgreSQL does when it cannot extend a file.
  await server.query(
    db,
    `CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      RAISE EXCEPTION 'could not extend file "base/1/2": No space left on device' USING ERRCODE = 'disk_full'; END $$`,
  );
  await server.query(
    db,
    `CREATE FUNCTION arm_disk_full() RETURNS event_trigger LANGUAGE plpgsql AS $$ DECLARE t record; BEGIN
      FOR t IN SELECT object_identity FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE TABLE' AND object_identity NOT LIKE '%_prisma_migrations' LOOP
        EXECUTE format('CREATE TRIGGER disk_full BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION disk_full()', t.object_identity);
      END LOOP; END $$`,
  );
  await server.query(
    db,
    `CREATE EVENT TRIGGER arm_disk_full ON ddl_command_end WHEN TAG IN ('CREATE TABLE') EXECUTE FUNCTION arm_disk_full()`,
  );
  const load = await task('load-pg', withPassword(url, 'Ready-pw-3'), ['--run-dir', runDir, '--force']);
  assert.is(load.code, 3, explain(load));
  assert.match(explain(load), /No space left on device \(SQLSTATE 53100\)/, explain(load));
  assert.not.match(explain(load), /rejected the value/);
});

test('the password the app gets is the one the suite logged in with: mixed quotes inline, a password file with a trailing space, PGPASSWORD only', async () => {
  const quoted = `Mix'ed"quo\`tes pw`;
  const a = await roleAndDb(quoted, true);
  const inline = withPassword(a.url, quoted).replace(encodeURIComponent(quoted), quoted.replace(/ /g, '%20'));
  const ready = await task('check-target', inline);
  assert.is(ready.code, 0, explain(ready));
  const switched = await task('switch-env', inline, ['--run-dir', runDir]);
  assert.is(switched.code, 0, explain(switched));
  const written = dotenv.parse(readFileSync(path.join(install.appDir, 'backend/.env'))).DATABASE_URL;
  assert.ok(await canLogIn(written), `the app's DATABASE_URL logs in (${written.replace(/:[^@]*@/, ':***@')})`);

  const spaced = 'Trailing-space ';
  const b = await roleAndDb(spaced, true);
  const file = path.join(scratch, 'password');
  writeFileSync(file, `${spaced}\n`, { mode: 0o600 });
  const viaFile = await task('check-target', b.url, ['--password-file', file]);
  assert.is(viaFile.code, 0, explain(viaFile));
  assert.ok(
    await canLogIn(buildAppUrl(loadSettings(['--target', b.url, '--password-file', file], {}, {}).settings).url),
    'the app logs in with the password file the suite used',
  );

  const c = await roleAndDb('Env-only-pw', true);
  process.env.PGPASSWORD = 'Env-only-pw';
  try {
    assert.ok(
      await canLogIn(buildAppUrl(loadSettings(['--target', c.url], {}, {}).settings).url),
      "PGPASSWORD reaches the app's URL",
    );
  } finally {
    delete process.env.PGPASSWORD;
  }
});

test.run();
