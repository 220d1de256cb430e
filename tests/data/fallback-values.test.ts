/**
 * The fallback's value path on its edge cases, against a real PostgreSQL: values of every Prisma scalar in
 * PostgreSQL columns of the types load-pg creates → COPY TO in the canonical form → the SQLite cells Prisma 6 writes
 * (lib/sqlite/prisma-storage.ts) in columns of the types Prisma's SQLite migrations declare. Each cell is checked
 * for value and storage class, and the file's content hash (export-sqlite's scan) must equal PostgreSQL's.
 * What SQLite cannot hold is caught, never rounded silently: a Decimal with more digits than a double (NUMERIC
 * affinity turns its text into a REAL) gives the file another content hash, so the fallback stops at its verify.
 * (Float -0.0, which SQLite stores as 0.0, and a bare Json number with trailing zeros such as 3.140, which the
 * JSONB column's NUMERIC affinity stores as REAL 3.14 where jsonb keeps 3.140, likewise.)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import Database from '../../lib/sqlite/driver.ts';
import pg from 'pg';
import { exportPostgres } from '../../lib/fallback/export-pg.ts';
import { unescapeCopyField } from '../../lib/fallback/copy-text.ts';
import type { TableModel, ColumnKind } from '../../lib/prisma/schema-model.ts';
import { scanTable } from '../../lib/sqlite/export-scan.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';
import { storageClass, type Cell } from '../helpers/sqlite-cells.ts';

const test = suite('fallback values');
let server: TestPg;
test.before(async () => {
  server = await startTestPg();
});
test.after(async () => {
  await server?.stop();
});

const COLUMNS: [name: string, kind: ColumnKind, pgType: string, sqliteType: string][] = [
  ['id', 'int', 'integer', 'INTEGER'],
  ['s', 'text', 'text', 'TEXT'],
  ['e', 'enum', '"Role"', 'TEXT'],
  ['i', 'int', 'integer', 'INTEGER'],
  ['b', 'bigint', 'bigint', 'BIGINT'],
  ['f', 'float', 'double precision', 'REAL'],
  ['d', 'decimal', 'numeric(65,30)', 'DECIMAL'],
  ['t', 'boolean', 'boolean', 'BOOLEAN'],
  ['at', 'datetime', 'timestamp(3)', 'DATETIME'],
  ['j', 'json', 'jsonb', 'JSONB'],
  ['y', 'bytes', 'bytea', 'BLOB'],
];

// One row per case: PostgreSQL input literals (NULL as null), then the SQLite cells expected back.
const CASES: { pg: (string | null)[]; sqlite: Cell[] }[] = [
  {
    pg: [
      '1',
      'tab\tnl\ncr\rbs\\bell\u0007ff\fvt\vbsp\b 🧑‍💻 \u2028 \\N',
      'ADMIN',
      '2147483647',
      '9223372036854775807',
      '0.1',
      '4.50',
      'true',
      '2024-05-01 10:00:00.123',
      '{"b": 1, "a": [1.50, "x\\ty"], "n": null}',
      '\\x00ff5c27',
    ],
    sqlite: [
      1n,
      'tab\tnl\ncr\rbs\\bell\u0007ff\fvt\vbsp\b 🧑‍💻 \u2028 \\N',
      'ADMIN',
      2147483647n,
      9223372036854775807n,
      0.1,
      4.5,
      1n,
      1714557600123n,
      '{"a": [1.50, "x\\ty"], "b": 1, "n": null}',
      Buffer.from([0, 0xff, 0x5c, 0x27]),
    ],
  },
  {
    pg: [
      '2',
      '',
      'USER',
      '-2147483648',
      '-9223372036854775808',
      '-1.5e-300',
      '7',
      'false',
      '0001-01-01 00:00:00',
      '42',
      '\\x',
    ],
    sqlite: [
      2n,
      '',
      'USER',
      -2147483648n,
      -9223372036854775808n,
      -1.5e-300,
      7n,
      0n,
      -62135596800000n,
      42n,
      Buffer.alloc(0),
    ],
  },
  {
    pg: [
      '3',
      null,
      null,
      null,
      null,
      '1.7976931348623157e308',
      '123456789.123456',
      null,
      '9999-12-31 23:59:59.999',
      '"text"',
      null,
    ],
    sqlite: [
      3n,
      null,
      null,
      null,
      null,
      1.7976931348623157e308,
      123456789.123456,
      null,
      253402300799999n,
      '"text"',
      null,
    ],
  },
  {
    pg: [
      '4',
      'x',
      'ADMIN',
      '0',
      '9007199254740993',
      '-Infinity',
      '0.000001',
      'true',
      '1970-01-01 00:00:00',
      '3.14',
      'xff',
    ],
    sqlite: [4n, 'x', 'ADMIN', 0n, 9007199254740993n, -Infinity, 0.000001, 1n, 0n, 3.14, Buffer.from('xff')],
  },
];

test('COPY text escapes come back as the original characters', () => {
  assert.is(unescapeCopyField('a\\tb\\nc\\rd\\\\e\\bf\\fg\\vh'), 'a\tb\nc\rd\\e\bf\fg\vh');
  assert.is(unescapeCopyField('no escapes'), 'no escapes');
  assert.throws(() => unescapeCopyField('\\x'), /unexpected escape/);
});

test('every scalar: PostgreSQL → SQLite cell as Prisma stores it, content hash equal on both sides', async () => {
  const db = await server.freshDatabase('fbvalues');
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const lite = new Database(':memory:');
  try {
    await client.query(`CREATE TYPE "Role" AS ENUM ('ADMIN', 'USER')`);
    await client.query(`CREATE TABLE "T" (${COLUMNS.map(([n, , t]) => `"${n}" ${t}`).join(', ')}, PRIMARY KEY ("id"))`);
    for (const c of CASES)
      await client.query(
        `INSERT INTO "T" VALUES (${COLUMNS.map(([, , t], i) => `$${i + 1}::${t}`).join(', ')})`,
        c.pg.map((v, i) => (v !== null && COLUMNS[i][1] === 'bytes' && !v.startsWith('\\x') ? Buffer.from(v) : v)),
      );
    lite.exec(`CREATE TABLE "T" (${COLUMNS.map(([n, , , t]) => `"${n}" ${t}`).join(', ')}, PRIMARY KEY ("id"))`);
    const table: TableModel = {
      name: 'T',
      model: 'T',
      key: ['id'],
      implicitManyToMany: false,
      columns: COLUMNS.map(([name, kind]) => ({
        name,
        field: name,
        kind,
        prismaType: kind === 'enum' ? 'Role' : kind,
        nullable: name !== 'id',
        autoincrement: false,
        ...(kind === 'enum' ? { enumName: 'Role' } : {}),
      })),
    };
    const hashClient = new pg.Client({ connectionString: db.url });
    await hashClient.connect();
    lite.exec('BEGIN');
    const result = await exportPostgres(client, 'public', [table], lite, { hashClient });
    lite.exec('COMMIT');
    await hashClient.end();
    const rows = lite.prepare('SELECT * FROM "T" ORDER BY "id"').raw(true).safeIntegers(true).all() as Cell[][];
    assert.is(rows.length, CASES.length);
    rows.forEach((row, r) =>
      row.forEach((cell, i) => {
        const want = CASES[r].sqlite[i];
        const where = `row ${r + 1} ${COLUMNS[i][0]}: ${String(cell)} (${storageClass(cell)})`;
        assert.is(storageClass(cell), storageClass(want), where);
        if (Buffer.isBuffer(want)) assert.ok(want.equals(cell as Buffer), where);
        else if (typeof want === 'number') assert.ok(Object.is(cell, want), where);
        else assert.is(cell, want, where);
      }),
    );
    const scan = scanTable(lite, table, { Role: ['ADMIN', 'USER'] });
    assert.is(scan.problemCount, 0, JSON.stringify(scan.problems));
    assert.is(scan.rowCount, result.tables[0].pgRowCount);
    assert.is(scan.contentHash, result.tables[0].pgContentHash);

    await client.query(`CREATE TABLE "L" ("id" integer PRIMARY KEY, "d" numeric(65,30), "f" double precision)`);
    await client.query(`INSERT INTO "L" VALUES (1, '12345678901234567890.123456789', '-0')`);
    lite.exec(`CREATE TABLE "L" ("id" INTEGER PRIMARY KEY, "d" DECIMAL, "f" REAL)`);
    const lossy: TableModel = {
      ...table,
      name: 'L',
      columns: table.columns.filter((c) => ['id', 'd', 'f'].includes(c.name)),
    };
    lite.exec('BEGIN');
    const back = await exportPostgres(client, 'public', [lossy], lite);
    lite.exec('COMMIT');
    assert.is(storageClass(lite.prepare('SELECT "d" FROM "L"').pluck().get() as Cell), 'real', 'SQLite rounded it');
    assert.is.not(scanTable(lite, lossy, {}).contentHash, back.tables[0].pgContentHash, 'and the hash says so');
  } finally {
    lite.close();
    await client.end();
  }
});

test.run();
