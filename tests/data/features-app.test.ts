/**
 * The Prisma features real apps use, on the second fixture (fixtures/prisma-features-app: multi-file schema, url in
 * env("PRISMA_DATABASE_URL") from prisma/.env, @@ignore model, @ignore field, a view, a table called `view`, Bytes
 * keys and a Bytes self-relation, a model keyed only by @unique, a multi-column FK onto a named composite key,
 * index names with dots, seed INSERTs in a migration). backup → export-sqlite → load-pg → verify through the CLI,
 * then every table compared row by row between SQLite and PostgreSQL in the canonical form.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from '../../lib/sqlite/driver.ts';
import pg from 'pg';
import { createFeaturesInstall, FEATURES_TABLES, type FeaturesInstall } from '../../fixtures/features-install.ts';
import { pgBucketRows, pgBucketSums } from '../../lib/pg/content-hash.ts';
import { loadSchemaModel } from '../../lib/prisma/schema-model.ts';
import { resolveSqliteFile } from '../../lib/prisma/schema-source.ts';
import { sqliteBucketRows, sqliteBucketSums } from '../../lib/sqlite/canonical-rows.ts';
import { runTask, type CliRun } from '../helpers/cli.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';

let server: TestPg;
let app: FeaturesInstall;
/** The first full chain's run dir and database, reused by the table-set test. */
let main: { runDir: string; url: string };
const installs: string[] = [];

test.before(async () => {
  server = await startTestPg();
  app = await createFeaturesInstall({ rows: 40 });
  installs.push(app.appDir);
});
test.after(async () => {
  await server?.stop();
  for (const dir of installs) rmSync(dir, { recursive: true, force: true });
});

const ALL_BUCKETS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** The chain through the CLI; `verifyGates` narrows verify (the first test runs every gate, Prisma Client's included). */
async function chain(
  install: FeaturesInstall,
  url: string,
  extra: string[] = [],
  verifyGates = 'counts,content',
): Promise<{ runDir: string; runs: Record<string, CliRun> }> {
  const common = ['--app-dir', install.appDir, '--json', ...extra];
  const env = { TARGET_DATABASE_URL: url };
  const runs: Record<string, CliRun> = {};
  runs.backup = await runTask('backup', common);
  assert.is(runs.backup.code, 0, runs.backup.stderr);
  const runDir = runs.backup.json!.runDir as string;
  for (const task of ['export-sqlite', 'load-pg', 'verify']) {
    const gates = task === 'verify' && verifyGates !== 'all' ? ['--only', verifyGates] : [];
    runs[task] = await runTask(task, [...common, '--run-dir', runDir, ...gates], { env, timeoutMs: 240_000 });
    if (runs[task].code !== 0) break;
  }
  return { runDir, runs };
}

/** Every table of the schema: same rows on both sides (bucket sums are exact over duplicates; rows compared by key). */
async function assertRowsEqual(install: FeaturesInstall, url: string): Promise<void> {
  const model = loadSchemaModel(install.schemaPath);
  const db = new Database(install.sqlitePath, { readonly: true });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const table of model.tables) {
      const sums = sqliteBucketSums(db, table, model.enums);
      const pgSums = await pgBucketSums(client, 'public', table);
      assert.equal([...pgSums].sort(), [...sums].sort(), `${table.name}: bucket sums differ`);
      const rows = sqliteBucketRows(db, table, model.enums, new Set(ALL_BUCKETS));
      const pgRows = await pgBucketRows(client, 'public', table, ALL_BUCKETS);
      assert.ok(rows.size > 0, `${table.name} has rows`);
      assert.equal(
        [...pgRows.values()].map((r) => [r.keyText, r.fields]).sort(),
        [...rows.values()].map((r) => [r.keyText, r.fields]).sort(),
        `${table.name}: rows differ`,
      );
    }
  } finally {
    await client.end();
    db.close();
  }
}

test('schema loader: the folder, the url from env("PRISMA_DATABASE_URL") in prisma/.env, relative to the datasource file', () => {
  assert.equal(resolveSqliteFile(app.schemaPath, app.appDir), {
    file: app.sqlitePath,
    from: `PRISMA_DATABASE_URL in ${path.join(app.appDir, 'backend/prisma/.env')}`,
  });
  const model = loadSchemaModel(app.schemaPath);
  assert.equal(
    model.tables.map((t) => t.name),
    ['Blob', 'LegacyLog', 'Membership', 'Org', 'Profile', 'view'],
  );
  assert.equal(model.views, [{ name: 'AccountHandle', model: 'AccountHandle' }]);
  const legacy = model.tables.find((t) => t.name === 'LegacyLog')!;
  assert.ok(legacy.ignored);
  assert.equal(legacy.key, ['at', 'line', 'seen'], 'no unique key: the row is its key');
  assert.ok(
    model.tables.find((t) => t.name === 'Blob')!.columns.some((c) => c.name === 'note'),
    '@ignore field is data too',
  );
  assert.equal(model.tables.find((t) => t.name === 'Profile')!.key, ['accountId']);
});

test('backup → export-sqlite → load-pg → verify on the features app: every table, every row equal', async () => {
  const { url } = await server.freshDatabase('features');
  const { runDir, runs } = await chain(app, url, [], 'all');
  main = { runDir, url };
  for (const task of ['export-sqlite', 'load-pg', 'verify'])
    assert.is(runs[task]?.code, 0, `${task}: ${runs[task]?.stderr}`);
  const notMigrated = runs['export-sqlite'].json!.notMigrated as { name: string; kind: string; reason: string }[];
  assert.equal(
    notMigrated.map((n) => `${n.kind} ${n.name}`),
    ['prisma-migrations _prisma_migrations', 'view AccountHandle'],
  );
  assert.match(
    runs['export-sqlite'].stderr,
    /view "AccountHandle": a view, not data: recreate it on PostgreSQL \(its SQL is SQLite's\)/,
  );
  assert.is(
    runs['export-sqlite'].json!.totalRows,
    FEATURES_TABLES.filter((t) => t !== '_prisma_migrations').reduce((n, t) => n + app.rowCounts[t], 0),
  );
  await assertRowsEqual(app, url);
  // The names PostgreSQL got: the dotted index name and the composite foreign key survive.
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const idx = await client.query(
      `SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname = 'Account.email_unique'`,
    );
    assert.is(idx.rowCount, 1);
    const fk = await client.query(
      `SELECT confupdtype, confdeltype FROM pg_constraint WHERE conname = 'Membership_orgRegion_orgCode_fkey'`,
    );
    assert.equal(fk.rows, [{ confupdtype: 'a', confdeltype: 'c' }]);
  } finally {
    await client.end();
  }
});

test('a SQLite table the schema does not name refuses (exit 4) naming it; --exclude-table names it as not migrated', async () => {
  const install = await createFeaturesInstall({ rows: 5 });
  installs.push(install.appDir);
  const db = new Database(install.sqlitePath);
  db.exec(`CREATE TABLE "audit_trail" (x TEXT); INSERT INTO "audit_trail" VALUES ('a'), ('b');`);
  db.close();
  const { url } = await server.freshDatabase('unknown');
  // The upgrade's dry run finds it too, before any maintenance window.
  const dry = await runTask(
    'upgrade',
    ['--app-dir', install.appDir, '--stop-cmd', 'true', '--start-cmd', 'true', '--dry-run', '--json'],
    { env: { TARGET_DATABASE_URL: url } },
  );
  assert.is(dry.code, 4, dry.stderr);
  assert.match(
    dry.json!.summary,
    /schema matches SQLite: SQLite table "audit_trail" \(2 rows\) is not in the Prisma schema/,
  );
  const refused = await chain(install, url);
  assert.is(refused.runs['export-sqlite'].code, 4);
  assert.match(
    refused.runs['export-sqlite'].json!.error,
    /SQLite table "audit_trail" \(2 rows\) is not in the Prisma schema.*--exclude-table audit_trail/,
  );
  const excluded = await chain(install, url, ['--exclude-table', 'audit_trail']);
  for (const task of ['export-sqlite', 'load-pg', 'verify'])
    assert.is(excluded.runs[task]?.code, 0, `${task}: ${excluded.runs[task]?.stderr}`);
  assert.ok(
    (excluded.runs['export-sqlite'].json!.notMigrated as { name: string; kind: string }[]).some(
      (n) => n.name === 'audit_trail' && n.kind === 'excluded',
    ),
  );
  await assertRowsEqual(install, url);
});

test('verify fails when PostgreSQL has a table the manifest does not list (table sets differ)', async () => {
  const { runDir, url } = main;
  const install = app;
  // An older export that left the @@ignore table out: the table exists on PostgreSQL, empty; verify must not pass.
  const manifestFile = path.join(runDir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
  manifest.tables = manifest.tables.filter((t: { name: string }) => t.name !== 'LegacyLog');
  writeFileSync(manifestFile, JSON.stringify(manifest));
  const verify = await runTask(
    'verify',
    ['--app-dir', install.appDir, '--run-dir', runDir, '--json', '--only', 'counts'],
    { env: { TARGET_DATABASE_URL: url } },
  );
  assert.is(verify.code, 1, verify.stderr);
  assert.match(
    JSON.stringify(verify.json),
    /SQLite table \\"LegacyLog\\" \(42 rows\) is neither loaded nor named as not migrated/,
  );
  assert.match(JSON.stringify(verify.json), /PostgreSQL table \\"LegacyLog\\" has no rows from SQLite/);
});

test("upgrade and rollback find the app's URL where Prisma does (PRISMA_DATABASE_URL): a second upgrade exit 2, rollback back on SQLite", async () => {
  const install = await createFeaturesInstall({ rows: 3 });
  installs.push(install.appDir);
  const { url } = await server.freshDatabase('urlvar');
  // A rehearsal on a copy as RUNBOOK.md's: no services to stop or start, no health probe, no app client to generate.
  const common = [
    ...['--app-dir', install.appDir, '--stop-cmd', 'true', '--start-cmd', 'true', '--health-url', 'none'],
    ...['--system-env', path.join(install.appDir, 'none.env'), '--no-generate', '--yes', '--json'],
  ];
  const env = { TARGET_DATABASE_URL: url };
  const prismaEnv = path.join(install.appDir, 'backend/prisma/.env');
  const before = readFileSync(prismaEnv, 'utf8');
  const upgraded = await runTask('upgrade', common, { env, timeoutMs: 300_000 });
  assert.is(upgraded.code, 0, upgraded.stderr);
  const again = await runTask('upgrade', common, { env, timeoutMs: 300_000 });
  assert.is(again.code, 2, again.stderr);
  assert.match(again.json!.error, /the app's database URL \(PRISMA_DATABASE_URL in .*\) already points at PostgreSQL/);
  const stop = await runTask('maintenance', ['on', ...common], { env });
  assert.is(stop.code, 4, stop.stderr);
  assert.match(stop.json!.error, /cannot tell where the SQLite file is: PRISMA_DATABASE_URL in .* is not a file: URL/);
  const back = await runTask('rollback', common, { env, timeoutMs: 300_000 });
  assert.is(back.code, 0, back.stderr);
  assert.is(back.json!.databaseUrlKind, 'sqlite');
  assert.is(readFileSync(prismaEnv, 'utf8'), before);
  assert.equal(resolveSqliteFile(install.schemaPath, install.appDir).file, install.sqlitePath);
});

test('an app with its package.json at the app-dir root: the switch writes <app>/.env, where Prisma reads first', async () => {
  const install = await createFeaturesInstall({ rows: 3 });
  installs.push(install.appDir);
  for (const name of readdirSync(path.join(install.appDir, 'backend')))
    renameSync(path.join(install.appDir, 'backend', name), path.join(install.appDir, name));
  rmdirSync(path.join(install.appDir, 'backend'));
  const { url } = await server.freshDatabase('rootapp');
  const rehearsal = [
    ...['--app-dir', install.appDir, '--schema', path.join(install.appDir, 'prisma/schema')],
    ...['--sqlite', path.join(install.appDir, 'prisma/features.db'), '--stop-cmd', 'true', '--start-cmd', 'true'],
    ...[
      '--health-url',
      'none',
      '--system-env',
      path.join(install.appDir, 'none.env'),
      '--no-generate',
      '--yes',
      '--json',
    ],
  ];
  const env = { TARGET_DATABASE_URL: url };
  const upgraded = await runTask('upgrade', rehearsal, { env, timeoutMs: 300_000 });
  assert.is(upgraded.code, 0, upgraded.stderr);
  assert.match(readFileSync(path.join(install.appDir, '.env'), 'utf8'), /^PRISMA_DATABASE_URL="postgresql:/);
  assert.not.ok(existsSync(path.join(install.appDir, 'backend')), 'nothing written where Prisma does not look');
  const again = await runTask('upgrade', rehearsal, { env, timeoutMs: 300_000 });
  assert.is(again.code, 2, again.stderr);
  assert.match(again.json!.error, /PRISMA_DATABASE_URL in .*\/\.env\) already points at PostgreSQL/);
  const back = await runTask('rollback', rehearsal, { env, timeoutMs: 300_000 });
  assert.is(back.code, 0, back.stderr);
  assert.not.ok(existsSync(path.join(install.appDir, '.env')), 'the .env the switch created is gone again');
});

test("a @default(dbgenerated()) PostgreSQL lacks is exit 2 naming model, field, default and PostgreSQL's message", async () => {
  const install = await createFeaturesInstall({ rows: 3 });
  installs.push(install.appDir);
  const blobs = path.join(install.schemaPath, 'models/blobs.prisma');
  writeFileSync(
    blobs,
    readFileSync(blobs, 'utf8').replace(
      'model LegacyLog {',
      'model Token {\n  id Bytes @id @default(dbgenerated("randomblob(16)"))\n}\n\nmodel LegacyLog {',
    ),
  );
  const db = new Database(install.sqlitePath);
  db.exec(`CREATE TABLE "Token" ("id" BLOB NOT NULL PRIMARY KEY DEFAULT (randomblob(16)))`);
  db.close();
  const { url } = await server.freshDatabase('randomblob');
  const { runs } = await chain(install, url);
  assert.is(runs['export-sqlite'].code, 0, runs['export-sqlite'].stderr);
  assert.is(runs['load-pg'].code, 2, runs['load-pg'].stderr);
  assert.match(
    runs['load-pg'].json!.error,
    /model Token, field id, @default\(dbgenerated\("randomblob\(16\)"\)\).*function randomblob\(integer\) does not exist/,
  );
});

test('Prisma 7 app: prisma.config.ts names the url; load-pg keeps the datasource without url; upgrade and rollback use its variable', async () => {
  const install = await createFeaturesInstall({ rows: 3 });
  installs.push(install.appDir);
  const main = path.join(install.schemaPath, 'schema.prisma');
  writeFileSync(main, readFileSync(main, 'utf8').replace('  url      = env("PRISMA_DATABASE_URL")\n', ''));
  // prisma.config.ts as Prisma 7 documents it (https://www.prisma.io/docs/orm/reference/prisma-config-reference).
  writeFileSync(
    path.join(install.appDir, 'backend/prisma.config.ts'),
    `import 'dotenv/config';\nimport { defineConfig, env } from 'prisma/config';\n\nexport default defineConfig({\n  schema: 'prisma/schema',\n  datasource: {\n    url: env('APP_DB_URL'),\n  },\n});\n`,
  );
  writeFileSync(path.join(install.appDir, 'backend/.env'), 'APP_DB_URL="file:./prisma/features.db"\n');
  assert.is(resolveSqliteFile(install.schemaPath, install.appDir).file, install.sqlitePath);
  const { url } = await server.freshDatabase('prisma7');
  const { runDir, runs } = await chain(install, url);
  for (const task of ['export-sqlite', 'load-pg', 'verify'])
    assert.is(runs[task]?.code, 0, `${task}: ${runs[task]?.stderr}`);
  const pgSchema = readFileSync(path.join(runDir, 'postgres-schema/schema.prisma'), 'utf8');
  assert.match(pgSchema, /datasource db \{\n  provider = "postgresql"\n\}/);
  assert.not.match(pgSchema, /url\s*=/);
  await assertRowsEqual(install, url);
  // The cutover and the way back find the URL where prisma.config.ts says (APP_DB_URL), as a rehearsal on a copy.
  const rehearsal = [
    ...['--app-dir', install.appDir, '--stop-cmd', 'true', '--start-cmd', 'true', '--health-url', 'none'],
    ...['--system-env', path.join(install.appDir, 'none.env'), '--no-generate', '--yes', '--json'],
  ];
  const env = { TARGET_DATABASE_URL: url };
  const upgraded = await runTask('upgrade', rehearsal, { env, timeoutMs: 300_000 });
  assert.is(upgraded.code, 0, upgraded.stderr);
  assert.match(readFileSync(path.join(install.appDir, 'backend/.env'), 'utf8'), /^APP_DB_URL="postgresql:/);
  assert.match(readFileSync(main, 'utf8'), /datasource db \{\n  provider = "postgresql"\n\}/);
  const again = await runTask('upgrade', rehearsal, { env, timeoutMs: 300_000 });
  assert.is(again.code, 2, again.stderr);
  assert.match(again.json!.error, /APP_DB_URL in .* already points at PostgreSQL/);
  const back = await runTask('rollback', rehearsal, { env, timeoutMs: 300_000 });
  assert.is(back.code, 0, back.stderr);
  assert.is(
    readFileSync(path.join(install.appDir, 'backend/.env'), 'utf8'),
    'APP_DB_URL="file:./prisma/features.db"\n',
  );
});

test.run();
