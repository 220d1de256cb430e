import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from '../../lib/sqlite/driver.ts';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSampleInstall, type SampleInstall } from '../../fixtures/sample-install.ts';
import { fastTimestamp } from '../../lib/copy/encoders.ts';
import { formatTimestamp } from '../../lib/sqlite/values.ts';
import { loadSessionStatements } from '../../lib/copy/load-plan.ts';
import { runTask, type CliRun } from '../helpers/cli.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';

/**
 * load-pg end to end: a sample install → `backup` → `export-sqlite` → `load-pg` as real processes against a real
 * (embedded) PostgreSQL; the loaded data and schema objects are checked with SQL.
 */
let server: TestPg;
let app: SampleInstall;

// Rows with known values of every kind, written into the live SQLite file before the backup.
const INSTANT_MS = 1725557943719; // 2024-09-05 17:39:03.719 UTC
const HOSTILE = `it's "quoted"\\back\\\\slash\ttab\nnew line\r\ncrlf \\N 🦄👩‍💻 Zürich`;
const BIG_TEXT = 'x'.repeat(100 * 1024) + '\n' + 'é'.repeat(1000);
const BIG_INT = 9007199254740993n; // 2^53 + 1: not representable as a double
const BYTES = Buffer.from([0, 1, 2, 0x5c, 0x0a, 0xff, 0xfe]);

function seedKnownRows(sqlitePath: string): void {
  const db = new Database(sqlitePath);
  try {
    const user = db.prepare(
      `INSERT INTO "User" (id, email, displayName, role, password_hash, isActive, lastLoginAt, createdAt, updatedAt) VALUES (?, ?, ?, ?, '', ?, ?, ?, ?)`,
    );
    user.run('u-epoch', 'epoch@example.test', HOSTILE, 'ADMIN', 0, null, INSTANT_MS, INSTANT_MS);
    user.run(
      'u-iso',
      'iso@example.test',
      BIG_TEXT,
      'CURATOR',
      1,
      '2024-09-05 17:39:03.719',
      '2024-09-05T17:39:03.719Z',
      '2024-09-05 19:39:03.719+02:00',
    );
    db.prepare(
      `INSERT INTO "StorageObject" (id, bucket, objectName, size, createdAt, updatedAt) VALUES ('so-big', 'b', 'o', ?, ?, ?)`,
    )
      .safeIntegers(true)
      .run(BIG_INT, BigInt(INSTANT_MS), BigInt(INSTANT_MS));
    db.prepare(
      `INSERT INTO "api_keys" (id, userId, label, prefix, secretHash, scopes, revoked, createdAt) VALUES ('key-1', 'u-epoch', 'k', 'pfx-known', ?, ?, 1, ?)`,
    ).run(BYTES, '{"b":1,"a":[1,2,{"c":null}],"a":"dup wins"}', INSTANT_MS);
    db.prepare(`INSERT INTO "Setting" (key, value, updatedAt) VALUES ('known', ?, ?)`).run(
      '{"theme":"dark","n":1.50}',
      INSTANT_MS,
    );
    const model = db.prepare(`SELECT id FROM "ModelAsset" LIMIT 1`).pluck().get() as string;
    db.prepare(
      `INSERT INTO "Rating" (userId, modelId, score, createdAt, updatedAt) VALUES ('u-epoch', ?, '12345678901.2345', ?, ?)`,
    ).run(model, INSTANT_MS, INSTANT_MS);
  } finally {
    db.close();
  }
}

const env = (url: string) => ({ TARGET_DATABASE_URL: url });

let runCounter = 0;
/**
 * A run directory as `backup` leaves it (snapshot + sha256), made directly: the failure-path tests need many
 * snapshots and the real backup task is exercised by the main run above.
 */
function quickRun(): string {
  const runDir = path.join(
    app.appDir,
    'backups',
    'pg-migration',
    `20990101T0000${String(++runCounter).padStart(2, '0')}Z`,
  );
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const snapshot = path.join(runDir, 'snapshot.sqlite');
  copyFileSync(app.sqlitePath, snapshot);
  writeFileSync(
    `${snapshot}.sha256`,
    `${createHash('sha256').update(readFileSync(snapshot)).digest('hex')}  snapshot.sqlite\n`,
  );
  return runDir;
}

async function backupRun(): Promise<string> {
  const backup = await runTask('backup', ['--app-dir', app.appDir, '--json']);
  assert.is(backup.code, 0, `backup failed: ${backup.stderr}`);
  return backup.json!.runDir as string;
}

async function loadPg(url: string, runDir: string, extra: string[] = []): Promise<CliRun> {
  return await runTask('load-pg', ['--app-dir', app.appDir, '--run-dir', runDir, '--json', ...extra], {
    env: env(url),
    timeoutMs: 180_000,
  });
}

function sqliteCounts(file: string): Map<string, number> {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db
      .prepare(
        `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_prisma_migrations'`,
      )
      .pluck()
      .all() as string[];
    return new Map(
      tables.map((t) => [
        t,
        Number(
          db
            .prepare(`SELECT count(*) FROM "${t.replace(/"/g, '""')}"`)
            .pluck()
            .get(),
        ),
      ]),
    );
  } finally {
    db.close();
  }
}

let mainDb: { name: string; url: string };
let mainRun: string;
let firstLoad: CliRun;

test.before(async () => {
  server = await startTestPg();
  app = await createSampleInstall({ rows: 600, seed: 7 });
  seedKnownRows(app.sqlitePath);
  mainRun = await backupRun();
  const exported = await runTask('export-sqlite', ['--app-dir', app.appDir, '--run-dir', mainRun, '--json']);
  assert.is(exported.code, 0, `export-sqlite failed: ${exported.stderr}`);
  mainDb = await server.freshDatabase('loadpg');
  firstLoad = await loadPg(mainDb.url, mainRun);
});

test.after(async () => {
  await server?.stop();
  if (app) rmSync(app.appDir, { recursive: true, force: true });
});

test('load-pg loads every table with exactly the snapshot row counts', async () => {
  assert.is(firstLoad.code, 0, firstLoad.stderr);
  const json = firstLoad.json!;
  assert.is(json.ok, true);
  const counts = sqliteCounts(path.join(mainRun, 'snapshot.sqlite'));
  assert.is(json.tables.length, counts.size, 'every SQLite table of the schema was loaded');
  let total = 0;
  for (const [table, expected] of counts) {
    const { rows } = await server.query(mainDb.name, `SELECT count(*)::int AS n FROM "${table}"`);
    assert.is(rows[0].n, expected, `row count of ${table}`);
    total += expected;
  }
  assert.is(json.totalRows, total);
  assert.ok(json.indexesRebuilt > 0 && json.foreignKeysValidated > 0 && json.sequencesReset > 0);
  assert.ok(Array.isArray(json.migrations) && json.migrations.length > 0);
  // Human summary table on stderr.
  assert.match(firstLoad.stderr, /table\s+rows\s+seconds\s+rows\/s/);
  assert.ok(existsSync(path.join(mainRun, 'postgres-schema', 'deferred-objects.json')));
  // Every foreign key was put back by a slot between two tables (two slots cannot conflict on locks), none after.
  const deferred = JSON.parse(readFileSync(path.join(mainRun, 'postgres-schema', 'deferred-objects.json'), 'utf8'));
  const inSlots = readFileSync(path.join(mainRun, 'run.log'), 'utf8').match(/foreign key \S+ validated after "/g) ?? [];
  assert.is(json.foreignKeysValidated, deferred.foreignKeys.length);
  assert.is(inSlots.length, deferred.foreignKeys.length, 'validated between tables, not in a phase after the copy');
  assert.is(json.phases.foreignKeys < 0.05, true, `final FK phase ${json.phases.foreignKeys}s`);
  const journal = JSON.parse(readFileSync(path.join(mainRun, 'journal.json'), 'utf8'));
  assert.is(journal.steps['load-pg'].status, 'done');
  assert.not.match(firstLoad.stderr + firstLoad.stdout, new RegExp(server.superPassword));
});

test('every kind lands with the right value: DateTime from epoch-ms and text, Boolean, BigInt, Decimal, Bytes, Json, text, enum', async () => {
  const q = async (sql: string) => (await server.query(mainDb.name, sql)).rows;
  const users = await q(
    `SELECT id, "displayName", role::text AS role, "isActive", (extract(epoch from "createdAt") * 1000)::bigint::text AS created,
            (extract(epoch from "updatedAt") * 1000)::bigint::text AS updated, "lastLoginAt"::text AS last_login
     FROM "User" WHERE id IN ('u-epoch', 'u-iso') ORDER BY id`,
  );
  const [epoch, iso] = users;
  assert.is(epoch.created, String(INSTANT_MS), 'epoch-ms INTEGER DateTime');
  assert.is(iso.created, String(INSTANT_MS), 'ISO text DateTime is the same instant');
  assert.is(iso.updated, String(INSTANT_MS), 'text with +02:00 offset is converted to UTC');
  assert.is(iso.last_login, '2024-09-05 17:39:03.719', 'YYYY-MM-DD HH:MM:SS.mmm text');
  assert.is(epoch.displayName, HOSTILE, 'hostile text is byte-exact');
  assert.is(iso.displayName, BIG_TEXT, '100 KB text is byte-exact');
  assert.is(epoch.role, 'ADMIN');
  assert.is(iso.role, 'CURATOR');
  assert.is(epoch.isActive, false);
  assert.is(iso.isActive, true);

  const [so] = await q(`SELECT size::text AS size FROM "StorageObject" WHERE id = 'so-big'`);
  assert.is(so.size, BIG_INT.toString(), 'BigInt above 2^53 is exact');

  const [key] = await q(
    `SELECT encode("secretHash", 'hex') AS hex, scopes::text AS scopes, jsonb_typeof(scopes) AS t, revoked FROM "api_keys" WHERE id = 'key-1'`,
  );
  assert.is(key.hex, BYTES.toString('hex'), 'Bytes');
  assert.is(key.t, 'object', 'Json lands as jsonb');
  assert.is(key.scopes, '{"a": "dup wins", "b": 1}', 'jsonb semantics: last duplicate key wins');
  assert.is(key.revoked, true);

  const [setting] = await q(
    `SELECT value->>'theme' AS theme, (value->'n')::text AS n FROM "Setting" WHERE key = 'known'`,
  );
  assert.is(setting.theme, 'dark');
  assert.is(setting.n, '1.50');

  const [rating] = await q(`SELECT trim_scale(score)::text AS score FROM "Rating" WHERE "userId" = 'u-epoch'`);
  assert.is(rating.score, '12345678901.2345', 'Decimal');

  // @map / @@map names: api_keys and User.password_hash exist under their mapped names.
  const [mapped] = await q(
    `SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'User' AND column_name = 'password_hash'`,
  );
  assert.is(mapped.n, 1);
});

test('sequences: an INSERT without id after the load gets a fresh id', async () => {
  const [{ max }] = (await server.query(mainDb.name, `SELECT max(id)::int AS max FROM "AuditLog"`)).rows;
  const { rows } = await server.query(mainDb.name, `INSERT INTO "AuditLog" (action) VALUES ('LOGIN') RETURNING id`);
  assert.ok(rows[0].id > max, `new id ${rows[0].id} > ${max}`);
  const settings = await server.query(
    mainDb.name,
    `INSERT INTO "RankingSettings" ("updatedAt") VALUES (now()) RETURNING id`,
  );
  assert.ok(settings.rows[0].id >= 1);
});

test('indexes and foreign keys equal a plain migration of the same schema, all valid', async () => {
  const reference = await server.freshDatabase('reference');
  const migrationsDir = path.join(mainRun, 'postgres-schema', 'migrations');
  for (const dir of readdirSync(migrationsDir).sort()) {
    const file = path.join(migrationsDir, dir, 'migration.sql');
    if (existsSync(file)) await server.query(reference.name, readFileSync(file, 'utf8'));
  }
  const indexSql = `SELECT c.relname AS t, i.relname AS name, pg_get_indexdef(x.indexrelid) AS def, x.indisvalid AS valid
    FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relname <> '_prisma_migrations' ORDER BY 1, 2`;
  const fkSql = `SELECT conrelid::regclass::text AS t, conname AS name, pg_get_constraintdef(oid) AS def, convalidated AS valid
    FROM pg_constraint WHERE contype IN ('f', 'p', 'u') AND connamespace = 'public'::regnamespace AND conrelid::regclass::text <> '_prisma_migrations' ORDER BY 1, 2`;
  const loadedIdx = (await server.query(mainDb.name, indexSql)).rows;
  const refIdx = (await server.query(reference.name, indexSql)).rows;
  assert.equal(loadedIdx, refIdx, 'same indexes, same definitions');
  assert.ok(loadedIdx.every((r) => r.valid));
  const loadedFk = (await server.query(mainDb.name, fkSql)).rows;
  const refFk = (await server.query(reference.name, fkSql)).rows;
  assert.equal(loadedFk, refFk, 'same constraints, all validated');
  assert.ok(loadedFk.length > 30);
});

test('_prisma_migrations holds finished rows written by the schema engine', async () => {
  const { rows } = await server.query(
    mainDb.name,
    `SELECT migration_name, finished_at, rolled_back_at, applied_steps_count FROM _prisma_migrations ORDER BY started_at`,
  );
  assert.ok(rows.length >= 1);
  for (const row of rows) {
    assert.ok(row.finished_at, `${row.migration_name} finished`);
    assert.is(row.rolled_back_at, null);
  }
});

test('a second load refuses a target written since our load (exit 3, --force too); once unchanged, --force reloads', async () => {
  // The sequence test inserted a row after our load: a write the target's marker counts would lose.
  const written = await loadPg(mainDb.url, mainRun, ['--force']);
  assert.is(written.code, 3, written.stderr);
  assert.match(written.stderr, /rows were written to schema "public" after our load .*AuditLog/);
  const before = (await server.query(mainDb.name, `SELECT count(*)::int AS n FROM "AuditLog"`)).rows[0].n;
  assert.is(
    before,
    sqliteCounts(path.join(mainRun, 'snapshot.sqlite')).get('AuditLog')! + 1,
    'the refused run changed nothing',
  );
  await server.query(mainDb.name, `DELETE FROM "AuditLog" WHERE id = (SELECT max(id) FROM "AuditLog")`);
  await server.query(mainDb.name, `DELETE FROM "RankingSettings" WHERE id = (SELECT max(id) FROM "RankingSettings")`);

  const again = await loadPg(mainDb.url, mainRun);
  assert.is(again.code, 3, again.stderr);
  assert.match(again.stderr, /is not empty \(schema "public" holds this install's load/, again.stderr);
  assert.match(again.stderr, /--force/);

  const forced = await loadPg(mainDb.url, mainRun, ['--force']);
  assert.is(forced.code, 0, forced.stderr);
  assert.is(forced.json!.forced, true);
  const after = (await server.query(mainDb.name, `SELECT count(*)::int AS n FROM "AuditLog"`)).rows[0].n;
  assert.is(after, sqliteCounts(path.join(mainRun, 'snapshot.sqlite')).get('AuditLog'), 'reloaded from the snapshot');
  const { rows } = await server.query(
    mainDb.name,
    `SELECT count(*)::int AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL`,
  );
  assert.is(rows[0].n, forced.json!.migrations.length, 'migration history rebuilt, not duplicated');
});

test('--single-thread and --copy-format text (measurement aids) load exactly the same values as the default', async () => {
  // The default converts the second slot's tables in a worker thread (lib/copy/copy-worker.ts) and writes COPY's binary
  // format; here one thread feeds both slots, in the text format.
  const db = await server.freshDatabase('loadpg_aids');
  const load = await loadPg(db.url, mainRun, ['--single-thread', '--copy-format', 'text']);
  assert.is(load.code, 0, load.stderr);
  const digest = async (database: string, table: string) =>
    (
      await server.query(
        database,
        `SELECT count(*)::int AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS d FROM "${table}" t`,
      )
    ).rows[0];
  for (const table of sqliteCounts(path.join(mainRun, 'snapshot.sqlite')).keys()) {
    assert.equal(await digest(db.name, table), await digest(mainDb.name, table), `content of ${table}`);
  }
});

test('invalid JSON fails the load naming table, column and key (exit 4); after fixing, --force reloads', async () => {
  const db = new Database(app.sqlitePath);
  db.prepare(`UPDATE "Setting" SET value = '{"theme": dark}' WHERE key = 'known'`).run();
  db.close();
  const badRun = quickRun();
  const target = await server.freshDatabase('badjson');
  const failed = await loadPg(target.url, badRun);
  assert.is(failed.code, 4, failed.stderr);
  assert.match(failed.json!.error, /"Setting"/);
  assert.match(failed.json!.error, /"value"/);
  assert.match(failed.json!.error, /key=known/, failed.json!.error);
  assert.ok(!failed.json!.error.includes('\n'), 'one-line cause');
  const journal = JSON.parse(readFileSync(path.join(badRun, 'journal.json'), 'utf8'));
  assert.is(journal.steps['load-pg'].status, 'failed');

  const fix = new Database(app.sqlitePath);
  fix.prepare(`UPDATE "Setting" SET value = '{"theme": "dark"}' WHERE key = 'known'`).run();
  fix.close();
  const goodRun = quickRun();
  const retried = await loadPg(target.url, goodRun, ['--force']);
  assert.is(retried.code, 0, retried.stderr);
  const { rows } = await server.query(
    target.name,
    `SELECT value->>'theme' AS theme FROM "Setting" WHERE key = 'known'`,
  );
  assert.is(rows[0].theme, 'dark');
});

test('NUL in text fails the load naming table, column and key (exit 4), before PostgreSQL sees it', async () => {
  const db = new Database(app.sqlitePath);
  db.prepare(`UPDATE "User" SET displayName = 'nul' || char(0) || 'here' WHERE id = 'u-epoch'`).run();
  db.close();
  const run = quickRun();
  const target = await server.freshDatabase('nul');
  const failed = await loadPg(target.url, run);
  assert.is(failed.code, 4, failed.stderr);
  assert.match(failed.json!.error, /table "User", column "displayName", row id=u-epoch: .*NUL/);
  // With a manifest that already lists the problem, load-pg refuses before touching the target at all.
  const exported = await runTask('export-sqlite', ['--app-dir', app.appDir, '--run-dir', run, '--json']);
  assert.is(exported.code, 4, exported.stderr);
  const other = await server.freshDatabase('nul2');
  const early = await loadPg(other.url, run);
  assert.is(early.code, 4, early.stderr);
  assert.match(early.json!.error, /table "User", column "displayName", row id=u-epoch: .*manifest\.json lists 1 value/);
  const { rows } = await server.query(
    other.name,
    `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`,
  );
  assert.is(rows[0].n, 0, 'target untouched');
  const restore = new Database(app.sqlitePath);
  restore.prepare(`UPDATE "User" SET displayName = ? WHERE id = 'u-epoch'`).run(HOSTILE);
  restore.close();
});

test('a snapshot that does not match its checksum is refused (exit 4) before the target is touched', async () => {
  const run = quickRun();
  const db = new Database(path.join(run, 'snapshot.sqlite'));
  db.prepare(`DELETE FROM "AuditLog" WHERE id = (SELECT min(id) FROM "AuditLog")`).run();
  db.close();
  const target = await server.freshDatabase('tampered');
  const failed = await loadPg(target.url, run);
  assert.is(failed.code, 4, failed.stderr);
  assert.match(failed.json!.error, /does not match its checksum/);
  const { rows } = await server.query(
    target.name,
    `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`,
  );
  assert.is(rows[0].n, 0);
});

test("--pg-migrations: the app's own PostgreSQL migrations are applied as shipped", async () => {
  const shipped = mkdtempSync(path.join(os.tmpdir(), 'vs-shipped-'));
  try {
    cpSync(path.join(mainRun, 'postgres-schema', 'migrations'), shipped, { recursive: true });
    const names = readdirSync(shipped)
      .filter((d) => existsSync(path.join(shipped, d, 'migration.sql')))
      .sort();
    const target = await server.freshDatabase('shipped');
    const run = await loadPg(target.url, mainRun, ['--pg-migrations', shipped]);
    assert.is(run.code, 0, run.stderr);
    assert.equal(run.json!.migrations, names);
    const { rows } = await server.query(
      target.name,
      `SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY migration_name`,
    );
    assert.equal(
      rows.map((r) => r.migration_name),
      names,
    );
    const bad = await loadPg(target.url, mainRun, ['--force', '--pg-migrations', path.join(shipped, 'does-not-exist')]);
    assert.is(bad.code, 2, bad.stderr);
  } finally {
    rmSync(shipped, { recursive: true, force: true });
  }
});

test('a primary key a shipped view depends on (GROUP BY the key) stays in place through the load; the view answers', async () => {
  const shipped = mkdtempSync(path.join(os.tmpdir(), 'vs-shipped-view-'));
  try {
    cpSync(path.join(mainRun, 'postgres-schema', 'migrations'), shipped, { recursive: true });
    mkdirSync(path.join(shipped, '29990101000000_session_counts'));
    // Selecting u.email while grouping by u.id only works through the primary key (functional dependency), so the
    // view depends on "User_pkey" itself: load-pg must not try to drop that key for the COPY.
    writeFileSync(
      path.join(shipped, '29990101000000_session_counts', 'migration.sql'),
      'CREATE VIEW "UserSessionCount" AS SELECT u.id, u.email, count(s.id) AS sessions FROM "User" u LEFT JOIN "Session" s ON s."userId" = u.id GROUP BY u.id;\n',
    );
    const target = await server.freshDatabase('shippedview');
    const run = await loadPg(target.url, mainRun, ['--pg-migrations', shipped]);
    assert.is(run.code, 0, run.stderr);
    const { rows } = await server.query(
      target.name,
      `SELECT (SELECT count(*)::int FROM "UserSessionCount") AS users, (SELECT count(*)::int FROM "User") AS expected,
      (SELECT count(*)::int FROM pg_constraint WHERE conname = 'User_pkey' AND contype = 'p') AS pkeys`,
    );
    assert.is(rows[0].users, rows[0].expected);
    assert.is(rows[0].pkeys, 1);
  } finally {
    rmSync(shipped, { recursive: true, force: true });
  }
});

test('a shipped expression index is rebuilt and ANALYZE gathers its expression statistics too', async () => {
  const shipped = mkdtempSync(path.join(os.tmpdir(), 'vs-shipped-expr-'));
  try {
    cpSync(path.join(mainRun, 'postgres-schema', 'migrations'), shipped, { recursive: true });
    mkdirSync(path.join(shipped, '29990101000000_email_lower'));
    writeFileSync(
      path.join(shipped, '29990101000000_email_lower', 'migration.sql'),
      'CREATE INDEX "User_email_lower_idx" ON "User" (lower(email));\n',
    );
    const target = await server.freshDatabase('shippedexpr');
    const run = await loadPg(target.url, mainRun, ['--pg-migrations', shipped]);
    assert.is(run.code, 0, run.stderr);
    // pg_stats lists an expression index's statistics under the index's name: ANALYZE computes them only for an index
    // that exists when it runs, so a load that analyzed before rebuilding its indexes leaves this empty.
    const { rows } = await server.query(
      target.name,
      `SELECT (SELECT count(*)::int FROM pg_stats WHERE schemaname = 'public' AND tablename = 'User_email_lower_idx') AS expression_stats,
      (SELECT count(*)::int FROM pg_stats WHERE schemaname = 'public' AND tablename = 'User' AND attname = 'email') AS column_stats,
      (SELECT count(*)::int FROM pg_indexes WHERE indexname = 'User_email_lower_idx') AS indexes`,
    );
    assert.equal(rows[0], { expression_stats: 1, column_stats: 1, indexes: 1 });
  } finally {
    rmSync(shipped, { recursive: true, force: true });
  }
});

test('?schema= in the URL: everything lands in that schema (created), public stays empty; the emptiness check looks there', async () => {
  const target = await server.freshDatabase('schema');
  const url = `${target.url}?schema=vs_app`;
  const run = await loadPg(url, mainRun);
  assert.is(run.code, 0, run.stderr);
  assert.is(run.json!.schema, 'vs_app');
  const { rows } = await server.query(
    target.name,
    `SELECT table_schema, count(*)::int AS n FROM information_schema.tables WHERE table_schema IN ('public', 'vs_app') GROUP BY 1`,
  );
  assert.equal(rows, [{ table_schema: 'vs_app', n: 31 }]);
  const again = await loadPg(url, mainRun);
  assert.is(again.code, 3, again.stderr);
  assert.match(again.stderr, /schema "vs_app"/);
});

test('an orphan foreign key in the snapshot fails validation naming the constraint and one orphan key (exit 4)', async () => {
  const db = new Database(app.sqlitePath);
  db.pragma('foreign_keys = OFF');
  db.prepare(
    `INSERT INTO "Session" (id, userId, token, expiresAt, createdAt) VALUES ('s-orphan', 'ghost-user', 'tok-orphan', ?, ?)`,
  ).run(INSTANT_MS, INSTANT_MS);
  db.close();
  try {
    const run = quickRun();
    const target = await server.freshDatabase('orphan');
    const failed = await loadPg(target.url, run);
    assert.is(failed.code, 4, failed.stderr);
    assert.match(failed.json!.error, /foreign key "Session_userId_fkey"/);
    assert.match(failed.json!.error, /userId=ghost-user/);
  } finally {
    const fix = new Database(app.sqlitePath);
    fix.prepare(`DELETE FROM "Session" WHERE id = 's-orphan'`).run();
    fix.close();
  }
});

test('a primary key the snapshot does not hold unique fails its rebuild naming index and key (exit 4); --force reloads after the fix', async () => {
  // Primary keys are dropped for the COPY and rebuilt by a sort after it, so a duplicate surfaces at the rebuild.
  // A SQLite table whose key was never declared (a hand-made or drifted database) is how such rows exist.
  const run = quickRun();
  const snapshot = path.join(run, 'snapshot.sqlite');
  const db = new Database(snapshot);
  db.pragma('foreign_keys = OFF'); // the join table's foreign key names Tag(id), which no longer has a unique key
  db.exec(`CREATE TABLE "Tag_copy" AS SELECT * FROM "Tag"; DROP TABLE "Tag";
    CREATE TABLE "Tag" ("id" TEXT NOT NULL, "label" TEXT NOT NULL, "category" TEXT, "createdAt" DATETIME NOT NULL);
    INSERT INTO "Tag" SELECT id, label, category, createdAt FROM "Tag_copy"; DROP TABLE "Tag_copy";`);
  const tagId = db.prepare(`SELECT id FROM "Tag" LIMIT 1`).pluck().get() as string;
  db.prepare(`INSERT INTO "Tag" (id, label, createdAt) VALUES (?, 'label-of-the-duplicate', ?)`).run(tagId, INSTANT_MS);
  db.close();
  writeFileSync(
    `${snapshot}.sha256`,
    `${createHash('sha256').update(readFileSync(snapshot)).digest('hex')}  snapshot.sqlite\n`,
  );
  const target = await server.freshDatabase('duppk');
  const failed = await loadPg(target.url, run);
  assert.is(failed.code, 4, failed.stderr);
  assert.match(failed.json!.error, /"Tag_pkey" on "Tag"/, failed.json!.error);
  assert.ok(failed.json!.error.includes(`(id)=(${tagId})`), failed.json!.error);
  assert.ok(!failed.json!.error.includes('\n'), 'one-line cause');

  const retried = await loadPg(target.url, quickRun(), ['--force']);
  assert.is(retried.code, 0, retried.stderr);
  const { rows } = await server.query(
    target.name,
    `SELECT count(*)::int AS n FROM pg_constraint WHERE conname = 'Tag_pkey' AND contype = 'p'`,
  );
  assert.is(rows[0].n, 1, 'the primary key is back after the reload');
});

test('parallel workers (index builds, foreign-key validation) are turned off only where PostgreSQL shares this host and its cores with two or more slots', () => {
  const off = ['SET max_parallel_maintenance_workers = 0;SET max_parallel_workers_per_gather = 0;'];
  const statements = (targetUrl: string, slots = 2, ssh = false) =>
    loadSessionStatements(
      { targetUrl, ...(ssh ? { ssh: { user: 'u', host: 'h', port: 22 } } : {}) } as Parameters<
        typeof loadSessionStatements
      >[0],
      slots,
    ).map((s) =>
      s
        .split('\n')
        .filter((l) => !l.startsWith('--'))
        .join(''),
    );
  assert.equal(statements('postgresql://u:p@127.0.0.1:5432/app'), off);
  assert.equal(statements('postgresql://u@localhost/app'), off);
  assert.equal(statements('postgresql://u@[::1]:5433/app'), off);
  assert.equal(statements('postgresql:///app?host=/var/run/postgresql'), off, 'Unix socket');
  assert.equal(statements('postgresql://u@db.internal:5432/app'), [], 'a server of its own');
  assert.equal(
    statements('postgresql://u@127.0.0.1:5432/app', 2, true),
    [],
    'through SSH the loopback address is the tunnel, not the server',
  );
  assert.equal(
    statements('postgresql://u@127.0.0.1:5432/app', 1),
    [],
    'one slot leaves a core to the parallel workers',
  );
});

test('fast epoch-ms formatting equals sqlite-values formatTimestamp', () => {
  const samples = [
    0,
    -1,
    1,
    86_399_999,
    86_400_000,
    -86_400_001,
    INSTANT_MS,
    -62135596800000,
    253402300799999,
    951782400000,
    4107542399999,
  ];
  let x = 12345;
  for (let i = 0; i < 20000; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    samples.push(Math.floor((x / 2147483648) * 2 * 253402300799999 - 253402300799999 / 4));
  }
  for (const ms of samples) {
    if (ms < -62135596800000 || ms > 253402300799999) continue;
    assert.is(fastTimestamp(ms), formatTimestamp(ms), `ms ${ms}`);
  }
});

test.run();
