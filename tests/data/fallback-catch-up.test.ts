/**
 * The fallback's catch-up against a real PostgreSQL: a file exported and verified, then PostgreSQL changed the ways
 * an app changes it (inserts, updates, deletes, a primary-key change, two rows swapping a unique value, a row deleted
 * and inserted again at its key, a composite key, a table keyed by all its columns) and one transaction that was
 * still open during the export and committed after it. After the catch-up every table of the file must equal
 * PostgreSQL now: its count and content hash by export-sqlite's scan of the file against PostgreSQL's hash computed
 * whole, and the hash the catch-up brought forward must be that same hash. Once with the export's xmin (row by row),
 * once without (every table hashed whole).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import Database from '../../lib/sqlite/driver.ts';
import { catchUp } from '../../lib/fallback/catch-up.ts';
import { exportXid } from '../../lib/fallback/catch-up-rows.ts';
import { exportPostgres } from '../../lib/fallback/export-pg.ts';
import { pgTableHash } from '../../lib/pg/content-hash.ts';
import type { ColumnKind, SchemaModel, TableModel } from '../../lib/prisma/schema-model.ts';
import { scanTable } from '../../lib/sqlite/export-scan.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';

const test = suite('fallback catch-up');
let server: TestPg;
const dirs: string[] = [];
test.before(async () => {
  server = await startTestPg();
});
test.after(async () => {
  await server?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

type Column = [name: string, kind: ColumnKind, pgType: string, sqliteType: string];
const TABLES: { name: string; columns: Column[]; key: string[]; unique?: string; rows: string }[] = [
  {
    name: 'U',
    columns: [
      ['id', 'int', 'integer', 'INTEGER'],
      ['email', 'text', 'text', 'TEXT'],
      ['n', 'int', 'integer', 'INTEGER'],
      ['at', 'datetime', 'timestamp(3)', 'DATETIME'],
      ['j', 'json', 'jsonb', 'JSONB'],
    ],
    key: ['id'],
    unique: 'email',
    rows: `SELECT i, 'u' || i || '@x', i * 7, timestamp '2024-01-01' + i * interval '1 minute', jsonb_build_object('i', i) FROM generate_series(1, 300) AS i`,
  },
  {
    name: 'P',
    columns: [
      ['a', 'text', 'text', 'TEXT'],
      ['b', 'int', 'integer', 'INTEGER'],
      ['v', 'bytes', 'bytea', 'BLOB'],
    ],
    key: ['a', 'b'],
    rows: `SELECT 'k' || (i % 10), i, decode(md5(i::text), 'hex') FROM generate_series(1, 120) AS i`,
  },
  {
    name: 'Q',
    columns: [
      ['id', 'text', 'text', 'TEXT'],
      ['v', 'float', 'double precision', 'REAL'],
    ],
    key: ['id'],
    rows: `SELECT 'q' || i, i / 3.0 FROM generate_series(1, 80) AS i`,
  },
  {
    // No declared key (an @@ignore model): the catch-up cannot find its rows one by one and copies it whole.
    name: 'K',
    columns: [
      ['a', 'int', 'integer', 'INTEGER'],
      ['b', 'text', 'text', 'TEXT'],
    ],
    key: ['a', 'b'],
    rows: `SELECT i % 5, 'b' || i FROM generate_series(1, 40) AS i`,
  },
];

function tableModel(t: (typeof TABLES)[number]): TableModel {
  return {
    name: t.name,
    model: t.name,
    key: t.key,
    implicitManyToMany: false,
    columns: t.columns.map(([name, kind]) => ({
      name,
      field: name,
      kind,
      prismaType: kind,
      nullable: !t.key.includes(name),
      autoincrement: false,
    })),
  };
}

const MODEL: SchemaModel = {
  provider: 'sqlite',
  tables: TABLES.map(tableModel).sort((a, b) => (a.name < b.name ? -1 : 1)),
  enums: {},
};

/** What the app does on PostgreSQL after the export (each statement its own transaction, as Prisma's writes are). */
const CHANGES = [
  `INSERT INTO "U" VALUES (301, 'new1@x', 1, now(), '{"new": true}'), (302, 'new2@x', 2, now(), null)`,
  `UPDATE "U" SET n = -n, j = '{"updated": [1, 2.50]}' WHERE id IN (5, 6)`,
  `DELETE FROM "U" WHERE id IN (7, 8)`,
  `UPDATE "U" SET id = 1000 WHERE id = 10`,
  `BEGIN; UPDATE "U" SET email = 'swap' WHERE id = 20; UPDATE "U" SET email = 'u20@x' WHERE id = 21;
   UPDATE "U" SET email = 'u21@x' WHERE id = 20; COMMIT`,
  `DELETE FROM "U" WHERE id = 30`,
  `INSERT INTO "U" VALUES (30, 'u30@x', 30, timestamp '2030-01-01', '[]')`,
  `UPDATE "U" SET n = n WHERE id = 40`,
  `DELETE FROM "P" WHERE a = 'k3' AND b = 3`,
  `UPDATE "P" SET v = '\\x00' WHERE a = 'k4' AND b = 4`,
  `INSERT INTO "K" VALUES (9, 'late')`,
];

async function scenario(withXmin: boolean) {
  const db = await server.freshDatabase('fbcatchup');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vs-catch-up-'));
  dirs.push(dir);
  const file = path.join(dir, 'fallback.db');
  const connect = async () => {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    return c;
  };
  const [client, hashClient, open] = [await connect(), await connect(), await connect()];
  const lite = new Database(file);
  try {
    for (const t of TABLES) {
      const columns = t.columns.map(([n, , type]) => `"${n}" ${type}`).join(', ');
      const unique = t.unique ? `, UNIQUE ("${t.unique}")` : '';
      await client.query(`CREATE TABLE "${t.name}" (${columns}, PRIMARY KEY (${t.key.map((k) => `"${k}"`)})${unique})`);
      await client.query(`INSERT INTO "${t.name}" ${t.rows}`);
      const liteColumns = t.columns.map(([n, , , type]) => `"${n}" ${type}`).join(', ');
      lite.exec(`CREATE TABLE "${t.name}" (${liteColumns}, PRIMARY KEY (${t.key.map((k) => `"${k}"`)})${unique})`);
    }
    // A write still in flight while the export takes its snapshot, committed after it.
    await open.query('BEGIN');
    await open.query(`INSERT INTO "U" VALUES (500, 'inflight@x', 500, now(), null)`);
    await open.query(`UPDATE "Q" SET v = -1.25 WHERE id = 'q1'`);
    // A later transaction commits first, so the open one is below the snapshot's xmax, in its list of running ids.
    await client.query(`INSERT INTO "K" VALUES (7, 'committed before the export')`);
    lite.exec('BEGIN');
    const exported = await exportPostgres(client, 'public', MODEL.tables, lite, { hashClient });
    lite.exec('COMMIT');
    lite.close();
    assert.not.ok(
      exported.tables.some((t) => t.name === 'U' && t.pgRowCount !== 300),
      'the open transaction is not in the export',
    );
    await open.query('COMMIT');
    for (const sql of CHANGES) await client.query(sql);

    const result = await catchUp(client, 'public', MODEL, file, exported.tables, {
      hashClient,
      ...(withXmin ? { exportXmin: exported.snapshotXmin } : {}),
    });
    assert.equal(result.failures, []);
    assert.is(result.rowLevel, withXmin);
    assert.equal([...result.changed].sort(), ['K', 'P', 'Q', 'U']);
    assert.equal([...result.byRows].sort(), withXmin ? ['P', 'Q', 'U'] : []);

    const after = new Database(file, { readonly: true });
    try {
      for (const t of MODEL.tables) {
        const onPg = await pgTableHash(client, 'public', t);
        const scan = scanTable(after, t, {});
        assert.is(scan.rowCount, onPg.rowCount, `${t.name} count`);
        assert.is(scan.contentHash, onPg.contentHash, `${t.name}: the file equals PostgreSQL now`);
        const reported = result.tables.find((e) => e.name === t.name)!;
        assert.is(reported.pgContentHash, onPg.contentHash, `${t.name}: the hash brought forward`);
        assert.is(reported.pgRowCount, onPg.rowCount);
      }
      const inflight = after.prepare(`SELECT email FROM "U" WHERE id = 500`).pluck().get();
      assert.is(inflight, 'inflight@x', 'the write in flight during the export arrived');
      assert.is(after.prepare(`SELECT count(*) FROM "U" WHERE id IN (7, 8, 10)`).pluck().get(), 0);
      assert.is(after.prepare(`SELECT id FROM "U" WHERE email = 'u21@x'`).pluck().get(), 20);
    } finally {
      after.close();
    }
    return result;
  } finally {
    if (lite.open) lite.close();
    for (const c of [client, hashClient, open]) await c.end();
  }
}

test('row by row from the export snapshot xmin: every change arrives, the file equals PostgreSQL', async () => {
  const result = await scenario(true);
  // Written: U 301, 302, 5, 6, 1000, 20, 21, 30, 40, 500; P (k4, 4); Q q1; K whole (42 rows).
  assert.is(result.rowsCopied, 10 + 1 + 1 + 42);
  // Taken out: U 5, 6, 20, 21, 30, 40 (rewritten) and 7, 8, 10 (gone); P (k4, 4) and (k3, 3); Q q1; K's 41.
  assert.is(result.rowsRemoved, 9 + 2 + 1 + 41);
});

test('without the export xmin every table is hashed and the changed ones are copied whole: the same file', async () => {
  await scenario(false);
});

test('the xmin comparison is refused when it would not be exact', () => {
  const xmin = (2n ** 32n * 3n + 1000n).toString();
  assert.is(exportXid(xmin, (BigInt(xmin) + 10n).toString()), '1000');
  assert.is(exportXid(xmin, (BigInt(xmin) - 1n).toString()), undefined, 'the ids went back: another cluster');
  assert.is(exportXid(xmin, (BigInt(xmin) + 2n ** 31n).toString()), undefined, 'too far apart for age()');
  assert.is(exportXid((2n ** 32n + 2n).toString(), (2n ** 32n + 9n).toString()), undefined, 'a special id');
  assert.is(exportXid(undefined, '100'), undefined);
});

test.run();
