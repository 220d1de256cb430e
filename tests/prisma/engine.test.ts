/**
 * Prisma's schema engine without the native binary, against a real PostgreSQL: schema text rewrites, the
 * PostgreSQL DDL of the fixture schema, migrate deploy with genuine `_prisma_migrations` rows, diagnosis
 * (pending, edited, drift), and the same over an SSH tunnel with verified TLS.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FIXTURE_TABLES, TEMPLATE_DIR } from '../../fixtures/sample-install.ts';
import { loadSettings, type Settings } from '../../lib/cli/config.ts';
import { DomainError } from '../../lib/errors.ts';
import { ExitCode, exitCodeOf } from '../../lib/cli/exit-codes.ts';
import { applyPostgresSchema } from '../../lib/pg/schema-apply.ts';
import { createLogger } from '../../lib/cli/log.ts';
import { openTarget } from '../../lib/pg/target.ts';
import {
  isEmptyMigrationScript,
  openSchemaEngine,
  writePostgresMigrations,
  type SchemaEngineSession,
} from '../../lib/prisma/engine.ts';
import {
  findBlocks,
  isPrisma7Datasource,
  readDatasourceProvider,
  readDatasourceUrlVariable,
  toEngineSchema,
  toPostgresAppSchema,
} from '../../lib/prisma/schema-file.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';
import { startSshServer } from '../helpers/ssh-server.ts';
import { startTlsTestPg } from '../helpers/tls.ts';

const FIXTURE_SCHEMA = readFileSync(path.join(TEMPLATE_DIR, 'backend', 'prisma', 'schema.prisma'), 'utf8');
let server: TestPg;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'vs-engine-'));

test.before(async () => {
  server = await startTestPg();
});
test.after(async () => {
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function clientConfigFor(url: string): pg.ClientConfig {
  return { connectionString: url };
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

// ----------------------------------------------------------------------------------------------------------------
// Schema text

const TRICKY = `// provider = "sqlite" in a comment before anything
generator client {
  provider = "prisma-client-js" // not the datasource
}

generator other {
  provider      = "sqlite"
  output        = "../generated/{weird}"
}

/// docs with a { brace
datasource   db   {
    provider     =   "sqlite"   // keep this comment
  url = env("DATABASE_URL")
\tdirectUrl = env("DIRECT_URL")
  shadowDatabaseUrl = "file:./shadow.db" // gone for the engine
  relationMode = "prisma"
}

model A {
  id  String @id @default("}{ // not a comment")
  url String // a field named url is not the datasource's
}
`;

test('toPostgresAppSchema switches only the datasource provider and keeps everything else', () => {
  const out = toPostgresAppSchema(TRICKY);
  assert.is(readDatasourceProvider(TRICKY), 'sqlite');
  assert.is(readDatasourceProvider(out), 'postgresql');
  assert.ok(out.includes('    provider     =   "postgresql"   // keep this comment'), out);
  assert.ok(
    out.includes('  provider      = "sqlite"\n  output        = "../generated/{weird}"'),
    'generator block untouched',
  );
  assert.ok(out.includes('  url = env("DATABASE_URL")'));
  assert.ok(out.includes('\tdirectUrl = env("DIRECT_URL")'));
  assert.ok(out.includes('// provider = "sqlite" in a comment before anything'));
  assert.ok(out.includes('id  String @id @default("}{ // not a comment")'));
  assert.is(out.replace('"postgresql"', '"sqlite"'), TRICKY, 'nothing else changed');
  assert.equal(
    findBlocks(TRICKY).map((b) => `${b.kind} ${b.name}`),
    ['generator client', 'generator other', 'datasource db', 'model A'],
  );
});

test('toPostgresAppSchema replaces a literal sqlite url, keeps a Prisma 7 datasource without url, adds one on request', () => {
  const literal = 'datasource db {\n  provider = "sqlite"\n  url      = "file:./dev.db"\n}\n';
  assert.is(
    toPostgresAppSchema(literal),
    'datasource db {\n  provider = "postgresql"\n  url      = env("DATABASE_URL")\n}\n',
  );
  const missing = 'datasource db {\r\n  provider = "sqlite"\r\n}\r\nmodel X {\r\n  id Int @id\r\n}\r\n';
  assert.is(
    toPostgresAppSchema(missing),
    missing.replace('"sqlite"', '"postgresql"'),
    'Prisma 7 form: provider switched only',
  );
  assert.ok(isPrisma7Datasource(missing));
  const out = toPostgresAppSchema(missing, { addUrl: true });
  assert.match(out, /provider = "postgresql"\r\n\s+url\s+= env\("DATABASE_URL"\)\n\}/);
  const named = 'datasource db {\n  provider = "sqlite"\n  url      = env("PRISMA_DATABASE_URL")\n}\n';
  assert.is(toPostgresAppSchema(named), named.replace('"sqlite"', '"postgresql"'));
  assert.is(readDatasourceUrlVariable(named), 'PRISMA_DATABASE_URL');
  assert.not.ok(isPrisma7Datasource(named));
  assert.throws(() => toPostgresAppSchema('model X {\n  id Int @id\n}\n'), /no datasource/);
});

test('toEngineSchema removes only the datasource connection properties', () => {
  const out = toEngineSchema(TRICKY);
  assert.not.ok(/^\s*url\s*=\s*env/m.test(out));
  assert.not.ok(out.includes('directUrl'));
  assert.not.ok(out.includes('shadowDatabaseUrl'));
  assert.ok(out.includes('relationMode = "prisma"'));
  assert.ok(out.includes('url String // a field named url'), 'model field kept');
  assert.ok(out.includes('provider     =   "sqlite"   // keep this comment'));
  // The fixture schema round-trips: engine form of the PostgreSQL form has provider postgresql and no url.
  const engineForm = toEngineSchema(toPostgresAppSchema(FIXTURE_SCHEMA));
  assert.is(readDatasourceProvider(engineForm), 'postgresql');
  assert.not.match(engineForm, /env\("DATABASE_URL"\)/);
});

// ----------------------------------------------------------------------------------------------------------------
// Against PostgreSQL

async function sessionFor(url: string, schemaPath: string): Promise<SchemaEngineSession> {
  return openSchemaEngine({
    schemaPath,
    schemaText: readFileSync(schemaPath, 'utf8'),
    clientConfig: clientConfigFor(url),
  });
}

async function publicTables(db: string): Promise<string[]> {
  const { rows } = await server.query(
    db,
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`,
  );
  return rows.map((r) => r.table_name);
}

test('diffEmptyToSchema gives PostgreSQL DDL with quoted PascalCase and mapped names', async () => {
  const out = await writePostgresMigrations({ sqliteSchemaText: FIXTURE_SCHEMA, outDir: path.join(tmp, 'ddl') });
  const db = await server.freshDatabase('ddl');
  const session = await sessionFor(db.url, out.schemaPath);
  try {
    const ddl = await session.diffEmptyToSchema();
    assert.match(ddl, /CREATE TYPE "UserRole" AS ENUM \('USER', 'CURATOR', 'ADMIN'\);/);
    assert.match(ddl, /CREATE TABLE "User" \(/);
    assert.match(ddl, /"password_hash" TEXT NOT NULL DEFAULT ''/);
    assert.match(ddl, /CREATE TABLE "api_keys"/);
    assert.match(ddl, /"created_at" TIMESTAMP\(3\) NOT NULL DEFAULT CURRENT_TIMESTAMP/);
    assert.match(ddl, /"id" SERIAL NOT NULL/);
    assert.match(ddl, /"score" DECIMAL\(65,30\) NOT NULL/);
    assert.match(ddl, /"secretHash" BYTEA NOT NULL/);
    assert.match(ddl, /"metadata" JSONB/);
    assert.match(ddl, /CREATE TABLE "_ModelAssetToTag" \(/);
    assert.match(ddl, /ON DELETE SET NULL/);
    // The offline baseline (mock adapter) is the same script the live session produces.
    assert.is(readFileSync(path.join(out.migrationsDir, out.migrations[0], 'migration.sql'), 'utf8'), ddl);
  } finally {
    await session.close();
  }
});

test('writePostgresMigrations + applyMigrations build all 30 tables with genuine _prisma_migrations rows', async () => {
  const outDir = path.join(tmp, 'apply');
  const written = await writePostgresMigrations({
    sqliteSchemaText: FIXTURE_SCHEMA,
    outDir,
    baselineName: '20250401000000_baseline',
  });
  assert.equal(written.migrations, ['20250401000000_baseline']);
  assert.match(
    readFileSync(path.join(written.migrationsDir, 'migration_lock.toml'), 'utf8'),
    /provider = "postgresql"/,
  );
  const appSchema = readFileSync(written.schemaPath, 'utf8');
  assert.match(appSchema, /provider = "postgresql"\n  url      = env\("DATABASE_URL"\)/);

  const db = await server.freshDatabase('apply');
  const session = await sessionFor(db.url, written.schemaPath);
  try {
    // Before deploy: no history table, everything pending, and the empty database drifts from the schema.
    const before = await session.diagnose(written.migrationsDir);
    assert.not.ok(before.hasMigrationsTable);
    assert.equal(before.pending, ['20250401000000_baseline']);
    assert.match(before.drift ?? '', /CREATE TABLE "User"/);

    const applied = await session.applyMigrations(written.migrationsDir);
    assert.equal(applied.applied, ['20250401000000_baseline']);
    const tables = await publicTables(db.name);
    assert.equal(
      tables.filter((t) => t !== '_prisma_migrations'),
      [...FIXTURE_TABLES].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    assert.is(tables.length, 31);
    const { rows } = await server.query(db.name, `SELECT * FROM "_prisma_migrations"`);
    assert.is(rows.length, 1);
    assert.is(rows[0].migration_name, '20250401000000_baseline');
    assert.is(rows[0].checksum, sha256(path.join(written.migrationsDir, '20250401000000_baseline', 'migration.sql')));
    assert.ok(rows[0].finished_at instanceof Date);
    assert.is(rows[0].rolled_back_at, null);
    assert.is(rows[0].applied_steps_count, 1);

    // Nothing pending, failed or edited, and no drift.
    const d = await session.diagnose(written.migrationsDir);
    assert.equal([d.pending, d.failed, d.edited, d.unknownInDatabase], [[], [], [], []]);
    assert.ok(d.hasMigrationsTable);
    assert.is(d.drift, '');
    assert.is(await session.diffDatabaseToSchema(), '');

    // migrate deploy again: nothing to do.
    assert.equal((await session.applyMigrations(written.migrationsDir)).applied, []);
  } finally {
    await session.close();
  }

  // Drift: a column Prisma does not know about.
  await server.query(db.name, `ALTER TABLE "Tag" ADD COLUMN extra int`);
  const drifted = await sessionFor(db.url, written.schemaPath);
  try {
    const drift = await drifted.diffDatabaseToSchema();
    assert.match(drift, /ALTER TABLE "Tag" DROP COLUMN "extra"/);
    assert.not.ok(isEmptyMigrationScript(drift));
    assert.match((await drifted.diagnose(written.migrationsDir)).drift ?? '', /"extra"/);

    // An applied migration edited afterwards, and a new one not yet applied.
    const file = path.join(written.migrationsDir, '20250401000000_baseline', 'migration.sql');
    writeFileSync(file, readFileSync(file, 'utf8') + '\n-- edited after deploy\n');
    mkdirSync(path.join(written.migrationsDir, '20250402000000_more'));
    writeFileSync(
      path.join(written.migrationsDir, '20250402000000_more', 'migration.sql'),
      'CREATE TABLE "Extra" ("id" INTEGER NOT NULL PRIMARY KEY);\n',
    );
    const d = await drifted.diagnose(written.migrationsDir);
    assert.equal(d.edited, ['20250401000000_baseline']);
    assert.equal(d.pending, ['20250402000000_more']);
    assert.equal(d.failed, []);
  } finally {
    await drifted.close();
  }
});

test('applyPostgresSchema: one session generates the baseline for the target schema and applies it; a schema the engine rejects is exit 2, an unreachable target exit 3, nothing written', async () => {
  const schemaFile = path.join(tmp, 'apply-one-session.prisma');
  writeFileSync(schemaFile, FIXTURE_SCHEMA);
  const settings = { schemaPath: schemaFile } as Settings;
  const log = createLogger({ quiet: true });
  const db = await server.freshDatabase('onesession');
  const runDir = path.join(tmp, 'one-session-run');
  const applied = await applyPostgresSchema({
    settings,
    runDir,
    clientConfig: clientConfigFor(db.url),
    schema: 'app_ns',
    log,
  });
  assert.is(applied.source, 'generated');
  const script = readFileSync(path.join(applied.migrationsDir, applied.migrations[0], 'migration.sql'), 'utf8');
  assert.match(
    script,
    /CREATE SCHEMA IF NOT EXISTS "app_ns";/,
    'the baseline names the target schema, as Prisma itself would',
  );
  const { rows } = await server.query(db.name, `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'app_ns'`);
  assert.is(rows[0].n, FIXTURE_TABLES.length + 1, 'every table and _prisma_migrations in the target schema');

  // A schema the engine rejects: the operator's input (exit 2), found before anything reaches the target.
  const badFile = path.join(tmp, 'apply-bad.prisma');
  writeFileSync(
    badFile,
    FIXTURE_SCHEMA.replace(/model User \{/, 'model Broken {\n  id Int @id\n  other NoSuchType\n}\n\nmodel User {'),
  );
  const badDb = await server.freshDatabase('onesession_bad');
  const bad = await applyPostgresSchema({
    settings: { schemaPath: badFile } as Settings,
    runDir: path.join(tmp, 'bad-run'),
    clientConfig: clientConfigFor(badDb.url),
    schema: 'public',
    log,
  }).catch((e) => e);
  assert.instance(bad, DomainError);
  assert.is(exitCodeOf(bad.outcome), ExitCode.Usage, bad.message);
  assert.match(bad.message, /^cannot write the PostgreSQL migrations: .*NoSuchType/);
  assert.is(
    (await server.query(badDb.name, `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`)).rows[0].n,
    0,
  );

  // An unreachable target: exit 3, and no migrations written into the run dir.
  const deadRun = path.join(tmp, 'dead-run');
  const dead = await applyPostgresSchema({
    settings,
    runDir: deadRun,
    clientConfig: { host: '127.0.0.1', port: 1, user: 'x', password: 'y', database: 'z' },
    schema: 'public',
    log,
  }).catch((e) => e);
  assert.instance(dead, DomainError);
  assert.is(exitCodeOf(dead.outcome), ExitCode.TargetNotReady, dead.message);
  assert.match(dead.message, /^cannot start Prisma's schema engine on the target/);
  assert.not.ok(existsSync(path.join(deadRun, 'postgres-schema', 'migrations')));
});

test('shipped PostgreSQL migrations are copied byte for byte; a failing one is reported as failed', async () => {
  const shipped = path.join(tmp, 'shipped');
  mkdirSync(path.join(shipped, '20250101000000_init'), { recursive: true });
  mkdirSync(path.join(shipped, '20250102000000_second'), { recursive: true });
  const base = await writePostgresMigrations({ sqliteSchemaText: FIXTURE_SCHEMA, outDir: path.join(tmp, 'base') });
  // A semicolon inside a comment and a string: adapter-pg's own script runner would split there.
  const init = `-- init; with a semicolon in a comment\n${readFileSync(path.join(base.migrationsDir, base.migrations[0], 'migration.sql'), 'utf8')}`;
  writeFileSync(path.join(shipped, '20250101000000_init', 'migration.sql'), init);
  writeFileSync(
    path.join(shipped, '20250102000000_second', 'migration.sql'),
    `INSERT INTO "Setting" ("key", "value", "updatedAt") VALUES ('a;b', '"x; y"', now());\n`,
  );
  writeFileSync(path.join(shipped, 'migration_lock.toml'), 'provider = "postgresql"\n');
  const written = await writePostgresMigrations({
    sqliteSchemaText: FIXTURE_SCHEMA,
    outDir: path.join(tmp, 'shipped-out'),
    shippedMigrationsDir: shipped,
  });
  assert.equal(written.migrations, ['20250101000000_init', '20250102000000_second']);
  assert.is(written.source, 'shipped');
  assert.is(readFileSync(path.join(written.migrationsDir, '20250101000000_init', 'migration.sql'), 'utf8'), init);

  const db = await server.freshDatabase('shipped');
  const session = await sessionFor(db.url, written.schemaPath);
  try {
    assert.equal((await session.applyMigrations(written.migrationsDir)).applied, [
      '20250101000000_init',
      '20250102000000_second',
    ]);
    const { rows } = await server.query(db.name, `SELECT "key", "value" FROM "Setting"`);
    assert.equal(rows, [{ key: 'a;b', value: 'x; y' }]);
    const d = await session.diagnose(written.migrationsDir);
    assert.equal([d.pending, d.failed, d.edited], [[], [], []]);

    // A broken migration: the engine records it as failed and the error names it.
    mkdirSync(path.join(written.migrationsDir, '20250103000000_broken'));
    writeFileSync(
      path.join(written.migrationsDir, '20250103000000_broken', 'migration.sql'),
      'ALTER TABLE "NoSuchTable" ADD COLUMN x int;\n',
    );
    const err = await session.applyMigrations(written.migrationsDir).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(err, 'broken migration must fail');
    assert.match(err!.message, /20250103000000_broken|NoSuchTable/);
    const after = await session.diagnose(written.migrationsDir);
    assert.equal(after.failed, ['20250103000000_broken']);
  } finally {
    await session.close();
  }

  // Shipped SQLite migrations are not PostgreSQL migrations.
  const sqliteShipped = path.join(tmp, 'sqlite-shipped');
  cpSync(path.join(TEMPLATE_DIR, 'backend', 'prisma', 'migrations'), sqliteShipped, { recursive: true });
  await writePostgresMigrations({
    sqliteSchemaText: FIXTURE_SCHEMA,
    outDir: path.join(tmp, 'x'),
    shippedMigrationsDir: sqliteShipped,
  }).then(
    () => assert.unreachable('sqlite migrations accepted'),
    (e: Error) => assert.match(e.message, /"sqlite", not postgresql/),
  );
});

test('a session refuses a SQLite schema instead of applying SQLite DDL to PostgreSQL', async () => {
  const file = path.join(tmp, 'sqlite-schema.prisma');
  writeFileSync(file, FIXTURE_SCHEMA);
  await openSchemaEngine({ schemaPath: file, clientConfig: clientConfigFor(server.url('postgres')) }).then(
    () => assert.unreachable('accepted'),
    (e: Error) => assert.match(e.message, /provider "sqlite"/),
  );
});

test('the same session works through an SSH tunnel to a server that only accepts verified TLS', async () => {
  const [tlsServer, ssh] = await Promise.all([startTlsTestPg({ refusePlaintext: true }), startSshServer()]);
  try {
    // A non-superuser: the harness's pg_hba lets only the superuser in without TLS.
    await tlsServer.query('postgres', `CREATE ROLE vs_app LOGIN PASSWORD 'tunnel-pass-1'`);
    await tlsServer.query('postgres', `CREATE DATABASE vs_tls OWNER vs_app`);
    const { settings } = loadSettings(
      [
        '--target',
        `postgresql://vs_app:tunnel-pass-1@127.0.0.1:${tlsServer.port}/vs_tls`,
        '--require-tls',
        '--ca',
        tlsServer.certs.caFile,
        '--ssh',
        ssh.target,
        '--ssh-key',
        ssh.keyFile,
        '--known-hosts',
        ssh.knownHostsFile,
      ],
      {},
      {},
    );
    const log = createLogger({ quiet: true });
    const target = await openTarget(settings, log);
    try {
      assert.is.not(target.clientConfig.port, tlsServer.port, 'goes through the local tunnel port');
      assert.ok(target.clientConfig.ssl, 'TLS settings present');
      const written = await writePostgresMigrations({
        sqliteSchemaText: FIXTURE_SCHEMA,
        outDir: path.join(tmp, 'tunnel'),
      });
      const session = await openSchemaEngine({ schemaPath: written.schemaPath, clientConfig: target.clientConfig });
      try {
        assert.equal((await session.applyMigrations(written.migrationsDir)).applied, written.migrations);
        const d = await session.diagnose(written.migrationsDir);
        assert.equal([d.pending, d.failed, d.edited, d.drift], [[], [], [], '']);
      } finally {
        await session.close();
      }
      const { rows } = await target.client.query(
        `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'`,
      );
      assert.is(rows[0].n, 31);
      const ssl = await target.client.query(
        `SELECT bool_and(ssl) AS all_tls, count(*)::int AS n FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE usename = 'vs_app'`,
      );
      assert.ok(ssl.rows[0].all_tls, 'every vs_app connection uses TLS');
      assert.ok(ssh.forwards.length >= 2, `engine traffic went through the tunnel (${ssh.forwards.length} forwards)`);
    } finally {
      await target.close();
    }
  } finally {
    await Promise.all([tlsServer.stop(), ssh.stop()]);
  }
});

test.run();
