/**
 * switch-env and rollback on a sample install (no PostgreSQL needed: switch-env only writes files), run as real
 * processes: --dry-run changes nothing; the switch keeps every other byte and backs up each file 0600; a second run
 * changes nothing; rollback restores byte for byte; a crash in the middle of the migrations swap (folder missing)
 * is finished by a re-run and still rolls back to the original.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import dotenv from 'dotenv';
import { runTask } from '../helpers/cli.ts';
import { createSampleInstall, type SampleInstall } from '../../fixtures/sample-install.ts';
import { toPostgresAppSchema } from '../../lib/prisma/schema-file.ts';

const TARGET = 'postgresql://visionsuit:p%40ss%23word@db.example:5432/visionsuit?schema=public&connection_limit=5';
let install: SampleInstall;
let runDir: string;
let env: Record<string, string>;

function tree(dir: string): string {
  const h = createHash('sha256');
  const walk = (rel: string) => {
    for (const n of readdirSync(path.join(dir, rel)).sort()) {
      const r = path.join(rel, n);
      if (statSync(path.join(dir, r)).isDirectory()) walk(r);
      else h.update(r).update(readFileSync(path.join(dir, r)));
    }
  };
  if (existsSync(dir)) walk('');
  return h.digest('hex');
}
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const state = () => ({
  env: sha(install.envPath),
  schema: sha(install.schemaPath),
  migrations: tree(path.join(path.dirname(install.schemaPath), 'migrations')),
});
const args = (...extra: string[]) => [
  '--app-dir',
  install.appDir,
  '--run-dir',
  runDir,
  '--stop-cmd',
  'true',
  '--start-cmd',
  'true',
  '--system-env',
  '/nonexistent/vs-backend.env',
  ...extra,
];

test.before(async () => {
  install = await createSampleInstall({ rows: 5 });
  runDir = path.join(install.appDir, 'backups/pg-migration/20250101T000000Z');
  const pgDir = path.join(runDir, 'postgres-schema');
  mkdirSync(path.join(pgDir, 'migrations/20250101000000_baseline'), { recursive: true });
  writeFileSync(path.join(pgDir, 'schema.prisma'), toPostgresAppSchema(readFileSync(install.schemaPath, 'utf8')));
  writeFileSync(
    path.join(pgDir, 'migrations/20250101000000_baseline/migration.sql'),
    '-- baseline\nCREATE TABLE "X" ("id" TEXT);\n',
  );
  writeFileSync(path.join(pgDir, 'migrations/migration_lock.toml'), 'provider = "postgresql"\n');
  env = { TARGET_DATABASE_URL: TARGET };
});
test.after(() => rmSync(install.appDir, { recursive: true, force: true }));

test('--dry-run prints the masked diff and changes nothing', async () => {
  const before = state();
  const run = await runTask('switch-env', args('--dry-run'), { env });
  assert.is(run.code, 0, run.stderr);
  assert.match(
    run.stdout,
    /\+DATABASE_URL="postgresql:\/\/visionsuit:\*\*\*@db.example:5432\/visionsuit\?schema=public&connection_limit=5"/,
  );
  assert.match(run.stdout, /\+20250101000000_baseline/);
  assert.not.match(run.stdout + run.stderr, /p%40ss|p@ss/);
  assert.equal(state(), before);
  assert.not.ok(existsSync(path.join(runDir, 'env-backups')));
});

test('switch, idempotent second run, rollback byte for byte', async () => {
  const before = state();
  const original = readFileSync(install.envPath, 'utf8');
  const run = await runTask('switch-env', args('--json'), { env });
  assert.is(run.code, 0, run.stderr);
  const text = readFileSync(install.envPath, 'utf8');
  assert.is(dotenv.parse(text).DATABASE_URL, TARGET);
  // Only the DATABASE_URL line differs.
  const a = original.split('\n');
  const b = text.split('\n');
  assert.is(a.length, b.length);
  assert.is(a.filter((l, i) => l !== b[i]).length, 1);
  assert.is(statSync(install.envPath).mode & 0o777, 0o600);
  for (const f of readdirSync(path.join(runDir, 'env-backups')).filter((n) => n.includes('.env.'))) {
    assert.is(statSync(path.join(runDir, 'env-backups', f)).mode & 0o777, 0o600, f);
  }
  assert.ok(existsSync(path.join(runDir, 'env-backups/sqlite-migrations')));
  assert.match(readFileSync(install.schemaPath, 'utf8'), /provider = "postgresql"/);

  const again = await runTask('switch-env', args('--json'), { env });
  assert.is(again.code, 0);
  assert.ok(again.json!.files.every((f: any) => !f.changed) && !again.json!.migrations.changed);

  const rb = await runTask('rollback', args('--health-url', 'none', '--json'));
  assert.is(rb.code, 0, rb.stderr);
  assert.equal(state(), before);
});

test('a crash between the migration folder moves is finished by a re-run and still rolls back to the original', async () => {
  const before = state();
  // What a kill between "move the SQLite folder into the backups" and "rename the PostgreSQL one in" leaves behind,
  // after an earlier switch of this run recorded the pre-switch state: the folder is simply missing.
  assert.is((await runTask('switch-env', args(), { env })).code, 0);
  assert.is((await runTask('rollback', args('--health-url', 'none'))).code, 0);
  rmSync(path.join(path.dirname(install.schemaPath), 'migrations'), { recursive: true });
  const rerun = await runTask('switch-env', args('--json'), { env });
  assert.is(rerun.code, 0, rerun.stderr);
  const rb = await runTask('rollback', args('--health-url', 'none', '--json'));
  assert.is(rb.code, 0, rb.stderr);
  assert.equal(state(), before, 'original SQLite migrations restored from the first backup');
});

test.run();
