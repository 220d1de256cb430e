/**
 * Conversions of SQLite values to the canonical field text (docs/design.md) and to COPY text, per kind, and the
 * cross-check that makes export and verify agree: every value is COPYed into a real PostgreSQL column of the type
 * Prisma creates, read back with the canonical SQL expressions of docs/design.md, and compared with our JS result.
 */
import { DomainError } from '../../lib/errors.ts';
import { exitCodeOf } from '../../lib/cli/exit-codes.ts';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pipeline } from 'node:stream/promises';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import Database from '../../lib/sqlite/driver.ts';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { startTestPg, type TestPg } from '../helpers/pg.ts';
import {
  loadSchemaModel,
  schemaModelFromText,
  type ColumnKind,
  type ColumnModel,
} from '../../lib/prisma/schema-model.ts';
import {
  columnConverter,
  convertChecked,
  copyEscape,
  isProblem,
  rowHash,
  rowText,
  bucketOf,
  RECHECK_UTF8,
  TableHash,
  type ConversionProblem,
  type Converted,
  type SqliteValue,
} from '../../lib/sqlite/values.ts';
import { jsonbText } from '../../lib/canonical/json.ts';
import { RowHasher } from '../../lib/canonical/row-hash.ts';

let server: TestPg;
let sqlite: Database.Database;

test.before(async () => {
  server = await startTestPg();
  sqlite = new Database(':memory:');
});
test.after(async () => {
  sqlite?.close();
  await server?.stop();
});

const ENUMS = { Role: ['USER', 'ADMIN', 'mapped value'] };

function col(kind: ColumnKind, extra: Partial<ColumnModel> = {}): ColumnModel {
  const prismaType = {
    text: 'String',
    enum: 'Role',
    int: 'Int',
    bigint: 'BigInt',
    float: 'Float',
    decimal: 'Decimal',
    boolean: 'Boolean',
    datetime: 'DateTime',
    json: 'Json',
    bytes: 'Bytes',
  }[kind];
  return {
    name: 'v',
    field: 'v',
    kind,
    prismaType,
    nullable: true,
    autoincrement: false,
    ...(kind === 'enum' ? { enumName: 'Role' } : {}),
    ...extra,
  };
}

/** The value exactly as better-sqlite3 hands it to export-sqlite / load-pg: stored in SQLite, read raw + safeIntegers. */
function viaSqlite(value: SqliteValue): SqliteValue {
  const row = sqlite.prepare('SELECT ?').raw(true).safeIntegers(true).get(value) as unknown[];
  return row[0] as SqliteValue;
}

function canonical(kind: ColumnKind, value: SqliteValue): Converted {
  return columnConverter(col(kind), ENUMS).canonical(viaSqlite(value));
}
function copyText(kind: ColumnKind, value: SqliteValue): Converted {
  return columnConverter(col(kind), ENUMS).copy(viaSqlite(value));
}
function assertProblem(out: Converted, reasonPart: string): ConversionProblem {
  assert.ok(isProblem(out), `expected a problem, got ${JSON.stringify(out)}`);
  const p = out as ConversionProblem;
  assert.ok(p.reason.includes(reasonPart), `reason "${p.reason}" should mention "${reasonPart}"`);
  assert.ok(p.value.length <= 80 * 2, 'preview is short'); // 80 code points at most (UTF-16 length ≤ 160)
  return p;
}

// ------------------------------------------------------------------------------------------------ schema model

const SCHEMA = `
// A Prisma 6 schema: the datasource still has its url (Prisma 7's parser rejects it; we blank it out).
datasource db {
  provider = "sqlite"
  url      = env("DATABASE_URL")
}
generator client {
  provider = "prisma-client-js"
}
enum Role {
  USER  @map("user")
  ADMIN
  @@map("roles")
}
model User {
  id        Int      @id @default(autoincrement())
  email     String   @unique @map("e_mail")
  role      Role     @default(USER)
  big       BigInt?
  price     Decimal?
  ratio     Float
  active    Boolean
  at        DateTime @default(now()) @map("created_at")
  meta      Json?
  blob      Bytes?
  tags      Tag[]
  profile   Profile?
  friends   User[]   @relation("friends")
  friendOf  User[]   @relation("friends")
  @@map("users")
}
model Tag {
  id    String @id @default(cuid())
  users User[]
}
model Profile {
  userId Int  @id @map("user_id")
  user   User @relation(fields: [userId], references: [id])
}
model Pair {
  left  Int    @map("l")
  right String
  @@id([left, right])
}
model Log {
  code String
  day  Int
  @@unique([day, code])
}
`;

test('schema model: kinds, @map/@@map, keys, implicit m2m (also self-relation), enum db values, Prisma 6 url', () => {
  const model = schemaModelFromText(SCHEMA);
  assert.is(model.provider, 'sqlite');
  assert.equal(
    model.tables.map((t) => t.name),
    ['Log', 'Pair', 'Profile', 'Tag', '_TagToUser', '_friends', 'users'],
  );
  const users = model.tables.find((t) => t.name === 'users')!;
  assert.is(users.model, 'User');
  assert.equal(
    users.columns.map((c) => [c.name, c.field, c.kind, c.nullable]),
    [
      ['id', 'id', 'int', false],
      ['e_mail', 'email', 'text', false],
      ['role', 'role', 'enum', false],
      ['big', 'big', 'bigint', true],
      ['price', 'price', 'decimal', true],
      ['ratio', 'ratio', 'float', false],
      ['active', 'active', 'boolean', false],
      ['created_at', 'at', 'datetime', false],
      ['meta', 'meta', 'json', true],
      ['blob', 'blob', 'bytes', true],
    ],
  );
  assert.is(users.columns[0].autoincrement, true);
  assert.is(users.columns[2].enumName, 'Role');
  assert.equal(users.key, ['id']);
  assert.equal(model.enums, { Role: ['user', 'ADMIN'] });
  const tagToUser = model.tables.find((t) => t.name === '_TagToUser')!;
  assert.ok(tagToUser.implicitManyToMany);
  assert.equal(
    tagToUser.columns.map((c) => [c.name, c.kind]),
    [
      ['A', 'text'],
      ['B', 'int'],
    ],
    'A → Tag (sorts first), B → User',
  );
  assert.equal(tagToUser.key, ['A', 'B']);
  assert.equal(
    model.tables.find((t) => t.name === '_friends')!.columns.map((c) => c.kind),
    ['int', 'int'],
  );
  assert.equal(model.tables.find((t) => t.name === 'Pair')!.key, ['l', 'right'], '@@id with @map');
  assert.equal(model.tables.find((t) => t.name === 'Profile')!.key, ['user_id'], 'key that is also a foreign key');
  assert.equal(model.tables.find((t) => t.name === 'Log')!.key, ['day', 'code'], 'first @@unique');
});

test('schema model: a schema folder (prismaSchemaFolder) is read as one schema', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vs-schema-'));
  try {
    mkdirSync(path.join(dir, 'models'));
    writeFileSync(
      path.join(dir, 'schema.prisma'),
      'datasource db {\n  provider = "sqlite"\n  url      = env("DATABASE_URL")\n}\n',
    );
    writeFileSync(path.join(dir, 'models', 'a.prisma'), 'model A {\n  id Int @id\n  bs B[]\n}\n');
    writeFileSync(path.join(dir, 'models', 'b.prisma'), 'model B {\n  id String @id\n  as A[]\n}\n');
    const model = loadSchemaModel(dir);
    assert.equal(
      model.tables.map((t) => t.name),
      ['A', 'B', '_AToB'],
    );
    assert.equal(
      model.tables[2].columns.map((c) => c.kind),
      ['int', 'text'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("schema model: a schema that does not parse is a usage error with the parser's first message", () => {
  try {
    schemaModelFromText('model A {\n  id Int @id\n  b Nope\n}\n');
    assert.unreachable('should throw');
  } catch (err) {
    const e = err as DomainError;
    assert.is(exitCodeOf(e.outcome), 2);
    assert.match(e.message, /Nope/);
    assert.not.match(e.message, /\u001b/, 'no terminal colour codes');
    assert.is(e.message.split('\n').length, 1);
  }
});

// ------------------------------------------------------------------------------------------------ unit: per kind

test('NULL is N / \\N for every kind', () => {
  for (const kind of [
    'text',
    'enum',
    'int',
    'bigint',
    'float',
    'decimal',
    'boolean',
    'datetime',
    'json',
    'bytes',
  ] as ColumnKind[]) {
    assert.is(canonical(kind, null), 'N', kind);
    assert.is(copyText(kind, null), '\\N', kind);
  }
});

test('text: hostile strings pass through unchanged (canonical) and COPY-escaped', () => {
  const hostile = [`it's "quoted"`, 'back\\slash', 'tab\there', 'new\nline', 'cr\rlf', '\\N', 'emoji 😀 é ß', '', ' '];
  for (const s of hostile) assert.is(canonical('text', s), 'V' + s);
  assert.is(copyText('text', 'back\\slash'), 'back\\\\slash');
  assert.is(copyText('text', 'tab\there'), 'tab\\there');
  assert.is(copyText('text', 'new\nline'), 'new\\nline');
  assert.is(copyText('text', 'cr\rlf'), 'cr\\rlf');
  assert.is(copyText('text', '\\N'), '\\\\N', 'a literal \\N must not become NULL');
  assert.is(copyText('text', 'plain'), 'plain');
  const big = 'x\\y\t'.repeat(25_000); // 100 KB
  assert.is(canonical('text', big), 'V' + big);
  assert.is(copyText('text', big), 'x\\\\y\\t'.repeat(25_000));
});

test('text: NUL, wrong storage class and invalid UTF-8 are problems', () => {
  assertProblem(canonical('text', 'a\u0000b'), 'NUL');
  assertProblem(copyText('text', 'a\u0000b'), 'NUL');
  assertProblem(canonical('text', 42n), 'INTEGER value in a String column');
  assertProblem(canonical('text', 4.5), 'REAL');
  assertProblem(canonical('text', Buffer.from('ab')), 'BLOB');
  // A real U+FFFD asks for a re-read; valid bytes then convert, invalid bytes are a problem.
  const conv = columnConverter(col('text'));
  assert.is(conv.canonical('a\uFFFDb'), RECHECK_UTF8);
  assert.is(
    convertChecked(conv.canonical, 'a\uFFFDb', () => Buffer.from('a\uFFFDb', 'utf8')),
    'Va\uFFFDb',
  );
  assertProblem(
    convertChecked(conv.canonical, 'a\uFFFDb', () => Buffer.from([0x61, 0xff, 0x62])),
    'not valid UTF-8',
  );
  // And from a real SQLite cell holding invalid UTF-8 in TEXT.
  sqlite.exec('CREATE TABLE bad(t TEXT)');
  sqlite.prepare('INSERT INTO bad VALUES (CAST(? AS TEXT))').run(Buffer.from([0x61, 0xc3, 0x28]));
  const [text] = sqlite.prepare('SELECT t FROM bad').raw(true).get() as [string];
  assert.ok(text.includes('\uFFFD'));
  const bytes = () => (sqlite.prepare('SELECT CAST(t AS BLOB) FROM bad').raw(true).get() as [Buffer])[0];
  assertProblem(convertChecked(conv.copy, text, bytes), 'not valid UTF-8');
  const preview = assertProblem(canonical('text', 'é'.repeat(200) + '\u0000'), 'NUL').value;
  assert.is([...preview].length, 80, 'preview is the first 80 characters');
});

test("enum: only the enum's database values", () => {
  assert.is(canonical('enum', 'ADMIN'), 'VADMIN');
  assert.is(canonical('enum', 'mapped value'), 'Vmapped value');
  assertProblem(canonical('enum', 'admin'), 'not a value of enum Role');
  assertProblem(canonical('enum', 1n), 'INTEGER');
});

test('int: INTEGER within int4; REAL / TEXT / overflow are problems', () => {
  assert.is(canonical('int', 0n), 'V0');
  assert.is(canonical('int', -2147483648n), 'V-2147483648');
  assert.is(copyText('int', 2147483647n), '2147483647');
  assertProblem(canonical('int', 2147483648n), '32-bit');
  assertProblem(canonical('int', -2147483649n), '32-bit');
  assertProblem(canonical('int', 'abc'), 'TEXT value in a Int column');
  assertProblem(canonical('int', 1.5), 'REAL');
});

test('bigint: any int64', () => {
  assert.is(canonical('bigint', 9223372036854775807n), 'V9223372036854775807');
  assert.is(copyText('bigint', -9223372036854775808n), '-9223372036854775808');
  assertProblem(canonical('bigint', '12'), 'TEXT');
});

test('float: REAL and INTEGER, hex of the binary64 value', () => {
  assert.is(canonical('float', 1.5), 'V3ff8000000000000');
  assert.is(canonical('float', 3n), 'V4008000000000000');
  assert.is(canonical('float', -0), 'V8000000000000000');
  assert.is(copyText('float', -0), '-0');
  assert.is(copyText('float', 0.1), '0.1');
  assert.is(copyText('float', 12n), '12');
  assertProblem(canonical('float', 'x'), 'TEXT');
});

test('decimal: INTEGER / REAL / numeric TEXT → plain digits', () => {
  assert.is(canonical('decimal', '1.50'), 'V1.5');
  assert.is(canonical('decimal', '-0.000'), 'V0');
  assert.is(canonical('decimal', '1e3'), 'V1000');
  assert.is(canonical('decimal', '1.5E-3'), 'V0.0015');
  assert.is(canonical('decimal', 12n), 'V12');
  assert.is(canonical('decimal', 0.1), 'V0.1');
  assert.is(canonical('decimal', 1e21), 'V1000000000000000000000');
  assertProblem(canonical('decimal', 'abc'), 'not a decimal');
  assertProblem(canonical('decimal', '1.2.3'), 'not a decimal');
  assertProblem(canonical('decimal', '0.' + '1'.repeat(31)), 'fractional digits');
  assertProblem(canonical('decimal', Buffer.from('1')), 'BLOB');
});

test('boolean: only 0/1', () => {
  assert.is(canonical('boolean', 1n), 'Vt');
  assert.is(canonical('boolean', 0n), 'Vf');
  assert.is(copyText('boolean', 1n), 't');
  assertProblem(canonical('boolean', 2n), 'not 0 or 1');
  assertProblem(canonical('boolean', 1.0 + 0.5), 'REAL');
  assertProblem(canonical('boolean', 'true'), 'TEXT');
});

test('datetime: epoch ms INTEGER and ISO / SQLite TEXT in the same column', () => {
  const ms = 1714557600000n; // 2024-05-01T10:00:00Z
  for (const v of [
    ms,
    '2024-05-01T10:00:00.000Z',
    '2024-05-01T10:00:00Z',
    '2024-05-01 10:00:00',
    '2024-05-01T12:00:00+02:00',
    '2024-05-01T07:30:00-0230',
    '2024-05-01 10:00:00.000',
    '2024-05-01T10:00',
  ]) {
    assert.is(canonical('datetime', v), 'V1714557600000', String(v));
    assert.is(copyText('datetime', v), '2024-05-01 10:00:00.000', String(v));
  }
  assert.is(canonical('datetime', '2024-05-01 10:00:00.1234'), 'V1714557600123');
  assert.is(canonical('datetime', '1960-01-01 00:00:00.5'), 'V-315619199500');
  assert.is(copyText('datetime', -315619199500n), '1960-01-01 00:00:00.500');
  assertProblem(canonical('datetime', 'yesterday'), 'not a date-time');
  assertProblem(canonical('datetime', '2024-02-30 10:00:00'), 'not a date-time');
  assertProblem(canonical('datetime', 1.5), 'REAL');
  assertProblem(canonical('datetime', 253402300800000n), 'outside');
});

test('json: jsonb normalisation and rejections', () => {
  assert.is(canonical('json', '{"b":1,"a":2}'), 'V{"a": 2, "b": 1}');
  assert.is(canonical('json', '{"aa":1,"b":2}'), 'V{"b": 2, "aa": 1}', 'shorter keys first');
  assert.is(canonical('json', '{"a":1,"a":2}'), 'V{"a": 2}', 'last duplicate wins');
  assert.is(canonical('json', '[1.50, 1e2, 1E-3, -0]'), 'V[1.50, 100, 0.001, 0]');
  assert.is(canonical('json', '"\\u00e9\\/"'), 'V"é/"');
  assert.is(canonical('json', '  {  }  '), 'V{}');
  assert.is(canonical('json', 5n), 'V5', 'NUMERIC affinity stored a JSON number as INTEGER');
  assert.is(canonical('json', 1.5), 'V1.5');
  assert.is(copyText('json', '{"a":"x\\ny"}'), '{"a": "x\\\\ny"}');
  assertProblem(canonical('json', '{"a":'), 'invalid JSON');
  assertProblem(canonical('json', "{'a':1}"), 'invalid JSON');
  assertProblem(canonical('json', '"\\u0000"'), '\\u0000');
  assertProblem(canonical('json', '[01]'), 'invalid JSON');
  assertProblem(canonical('json', Buffer.from('{}')), 'BLOB');
});

test('bytes: BLOB only, hex', () => {
  assert.is(canonical('bytes', Buffer.from([0, 1, 255])), 'V0001ff');
  assert.is(copyText('bytes', Buffer.from([0, 1, 255])), '\\\\x0001ff');
  assertProblem(canonical('bytes', 'abc'), 'TEXT');
});

test('row text, row hash and table hash', () => {
  assert.is(rowText(['V1', 'N', 'Vé']), '2:V11:N3:Vé');
  const h = new TableHash();
  assert.is(h.toString(), '0');
  h.add(rowHash(['V1']));
  h.add(rowHash(['V2']));
  const again = new TableHash();
  again.add(rowHash(['V2']));
  again.add(rowHash(['V1']));
  assert.is(h.toString(), again.toString(), 'order-independent');
  assert.is.not(rowHash(['V1', 'V2']), rowHash(['V12']), 'length prefixes separate fields');
});

// --------------------------------------------------------------------------------- cross-check with PostgreSQL

/** PostgreSQL type Prisma creates for each kind, and the canonical expression of docs/design.md. */
const PG: Record<ColumnKind, { type: string; expr: string }> = {
  text: { type: 'text', expr: 'v' },
  enum: { type: 'text', expr: 'v::text' },
  int: { type: 'integer', expr: 'v::text' },
  bigint: { type: 'bigint', expr: 'v::text' },
  float: { type: 'double precision', expr: "encode(float8send(v), 'hex')" },
  decimal: { type: 'numeric(65,30)', expr: 'trim_scale(v)::text' },
  boolean: { type: 'boolean', expr: "CASE WHEN v THEN 't' WHEN NOT v THEN 'f' END" },
  datetime: { type: 'timestamp(3)', expr: '(extract(epoch from v) * 1000)::bigint::text' },
  json: { type: 'jsonb', expr: 'v::text' },
  bytes: { type: 'bytea', expr: "encode(v, 'hex')" },
};

const CASES: Partial<Record<ColumnKind, SqliteValue[]>> = {
  json: [
    '{"b":1,"a":2,"aa":3,"a":4}',
    '[1.50, 1e2, 1E-3, -0, -0.0, 0.1e1, 1.50e1, 123456789012345678901234567890.123]',
    '{"é":1,"z":2,"😀":3,"\\ud83d\\ude00":4,"ﬀ":5,"\\u00e9":6}',
    '{"\\ue000a":1,"😀":2,"ab":3}',
    '['.repeat(200) + '1' + ']'.repeat(200),
    '"\\u00e9\\n\\t\\b\\f\\r\\"\\\\\\/\\u001f\\u007f"',
    '"line\\u2028sep"',
    'true',
    'false',
    'null',
    '[]',
    '{}',
    '[[],{},[{}]]',
    '  {"a" : [ 1 , 2 ] }  ',
    '{"nested":{"b":{"d":1,"c":2},"a":[{"y":1,"x":2}]}}',
    '1e-7',
    '-12.3400e-2',
    '0.000001',
    '1e300',
    '1E+3',
    '"emoji 😀 and \\ud83d\\ude00"',
    '{"":0,"a":1}',
    '"tab\\there"',
    5n,
    -17n,
    1.5,
    0.1,
    1e21,
    5e-324,
    '{"key with \\"quote\\"":"back\\\\slash"}',
    '"' + 'x'.repeat(100_000) + '"',
  ],
  decimal: [
    '0',
    '1.50',
    '-1.50',
    '-0.000',
    '1e3',
    '1.5E-3',
    '.5',
    '5.',
    '00012.3400',
    '12345678901234567890123456789012345.123456789012345678901234567890',
    '-0.000000000000000000000000000001',
    12n,
    -9223372036854775808n,
    0.1,
    1e21,
    1.7976931348623157e308 / 1e290,
    3.14159,
    ' 42 ',
  ],
  datetime: [
    1714557600000n,
    0n,
    -1n,
    1n,
    -62135596800000n,
    253402300799999n,
    951782400000n,
    '2024-05-01T10:00:00.000Z',
    '2024-05-01 10:00:00',
    '2024-05-01T12:00:00+02:00',
    '2024-05-01T10:00:00.1234Z',
    '2024-05-01 10:00:00.0005',
    '2024-05-01 10:00:00.0015',
    '1999-05-01 10:00:00.0005',
    '1960-01-01 00:00:00.5',
    '1960-01-01 00:00:00.0004999',
    '2000-01-01 00:00:00.0005',
    '1999-12-31 23:59:59.9995',
    '2024-02-29',
    '0001-01-01 00:00:00',
    '2024-05-01T10:00:00.123456789',
    '2024-05-01 10:00:00.9999996',
  ],
  float: [
    0.1,
    -0,
    0,
    1e300,
    -1e300,
    5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    Infinity,
    -Infinity,
    1.5,
    -123.456,
    1n,
    -9223372036854775808n,
    9007199254740993n,
    2n ** 62n + 1n,
    0n,
  ],
  bytes: [
    Buffer.from([]),
    Buffer.from([0]),
    Buffer.from([0, 1, 92, 9, 10, 255]),
    Buffer.from('\\N'),
    Buffer.alloc(1000, 0xab),
  ],
  text: [
    '',
    ' ',
    'plain',
    `it's "quoted"`,
    'back\\slash',
    'tab\there',
    'new\nline',
    'cr\rlf',
    '\\N',
    '\\.',
    'emoji 😀 é ß ﬀ',
    '\u007f\u0001\u001f',
    'x\\y\t'.repeat(25_000),
    '\uFFFD real replacement char',
  ],
  int: [0n, 1n, -1n, 2147483647n, -2147483648n],
  bigint: [0n, 9223372036854775807n, -9223372036854775808n],
  boolean: [0n, 1n],
  enum: ['USER', 'mapped value'],
};

async function copyIn(client: pg.Client, table: string, lines: string[]): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${pg.escapeIdentifier(table)} (id, v) FROM STDIN`));
  await pipeline(Readable.from(lines.map((l) => l + '\n')), stream);
}

test('cross-check: canonical text equals PostgreSQL after COPY for every kind', async () => {
  const { url } = await server.freshDatabase('canon');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const [kind, values] of Object.entries(CASES) as [ColumnKind, SqliteValue[]][]) {
      const table = `t_${kind}`;
      await client.query(`CREATE TABLE ${pg.escapeIdentifier(table)} (id int PRIMARY KEY, v ${PG[kind].type})`);
      const conv = columnConverter(col(kind), ENUMS);
      const all = [...values, null];
      const expected: string[] = [];
      const lines: string[] = [];
      all.forEach((raw, id) => {
        const value = viaSqlite(raw);
        const readBytes = () => (typeof value === 'string' ? Buffer.from(value, 'utf8') : null);
        const canon = convertChecked(conv.canonical, value, readBytes);
        const copy = convertChecked(conv.copy, value, readBytes);
        assert.type(canon, 'string', `${kind} ${String(raw).slice(0, 60)}: ${JSON.stringify(canon)}`);
        assert.type(copy, 'string', `${kind} ${String(raw).slice(0, 60)}: ${JSON.stringify(copy)}`);
        expected.push(canon as string);
        lines.push(`${id}\t${copy as string}`);
      });
      await copyIn(client, table, lines);
      const { rows } = await client.query(
        `SELECT id, ${PG[kind].expr} AS c FROM ${pg.escapeIdentifier(table)} ORDER BY id`,
      );
      assert.is(rows.length, all.length, `${kind}: row count`);
      for (const row of rows) {
        const pgField = row.c === null ? 'N' : 'V' + row.c;
        const raw = all[row.id];
        assert.is(expected[row.id], pgField, `${kind}: ${typeof raw === 'string' ? raw.slice(0, 80) : String(raw)}`);
      }
    }
  } finally {
    await client.end();
  }
});

test('cross-check: PostgreSQL rejects what we call a problem', async () => {
  const { url } = await server.freshDatabase('reject');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const rejected: [string, string][] = [
      ['jsonb', '"\\u0000"'],
      ['jsonb', '{"a":1,}'],
      ['jsonb', '[01]'],
      ['jsonb', "{'a':1}"],
      ['jsonb', '"\\ud83d"'],
      ['jsonb', '1e131072'],
      ['jsonb', '0e-16384'],
      ['jsonb', '1.5e-16383'],
      ['jsonb', 'nul'],
      ['jsonb', '"a\tb"'],
      ['integer', '2147483648'],
      ['numeric(65,30)', '1e40'],
    ];
    for (const [type, text] of rejected) {
      const kind = type === 'jsonb' ? 'json' : type === 'integer' ? 'int' : 'decimal';
      const value: SqliteValue = kind === 'int' ? BigInt(text) : text;
      assert.ok(isProblem(columnConverter(col(kind)).canonical(value)), `${text} should be a problem`);
      let failed = false;
      try {
        await client.query(`SELECT $1::${type}`, [text]);
      } catch {
        failed = true;
      }
      assert.ok(failed, `PostgreSQL should reject ${text} as ${type}`);
    }
    // JSON.parse-compatible corner cases we must accept like PostgreSQL does.
    for (const text of [
      '"\\u00e9"',
      '-0',
      '[1e-5]',
      '{"a":{"a":{"a":1}}}',
      '1e1001',
      '1e-1001',
      '0e99999999',
      '1e131071',
      '1e-16383',
      '-0.0e-5',
    ]) {
      const { rows } = await client.query('SELECT $1::jsonb::text AS c', [text]);
      assert.is(jsonbText(text), rows[0].c, text);
    }
  } finally {
    await client.end();
  }
});

test('cross-check: row hash, bucket and table sum match the PostgreSQL expressions', async () => {
  const { name } = await server.freshDatabase('hash');
  const rows = [
    ['V1', 'N', 'Vé😀'],
    ['V-5', 'V{"a": 1}', 'V'],
    ['Vtab\there', 'V\\N', 'N'],
  ];
  const texts = rows.map(rowText);
  const { rows: out } = await server.query(
    name,
    `SELECT t, ('x' || substr(md5(t), 1, 16))::bit(64)::bigint::text AS h, substr(md5(t), 1, 2) AS b FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n`,
    [texts],
  );
  const sum = new TableHash();
  rows.forEach((fields, i) => {
    assert.is(rowHash(fields).toString(), out[i].h, texts[i]);
    assert.is(bucketOf(fields), out[i].b);
    sum.add(rowHash(fields));
  });
  const { rows: total } = await server.query(
    name,
    `SELECT sum(('x' || substr(md5(t), 1, 16))::bit(64)::bigint::numeric)::text AS s FROM unnest($1::text[]) AS u(t)`,
    [texts],
  );
  assert.is(sum.toString(), total[0].s);
});

test('RowHasher (JS md5, prefix-less values) equals rowHash (node:crypto) on every row shape', () => {
  const rows: string[][] = [
    [],
    ['N'],
    ['V'],
    ['X'],
    ['V1', 'N', 'Vé😀'],
    ['V' + 'x'.repeat(54)],
    ['V' + 'x'.repeat(55)],
    ['V' + 'x'.repeat(62)],
    ['V' + 'x'.repeat(63)],
    ['V' + 'é'.repeat(40_000)],
    ['V' + 'ab\u{1F600}ß'.repeat(1000), 'N', 'V12'],
    ['V' + 'y'.repeat(100_000)],
  ];
  const chars = [65, 0xe9, 0x1f600, 0x800, 0xffff, 0x7f, 0x10ffff];
  for (let k = 0; k < 1500; k++) {
    const fields: string[] = [];
    for (let j = 0; j < k % 9; j++) {
      let s = 'V';
      for (let q = 0; q < (k * 7 + j * 13) % 300; q++) s += String.fromCodePoint(chars[(q + k + j) % chars.length]);
      fields.push(j % 4 === 3 ? 'N' : s);
    }
    rows.push(fields);
  }
  const fast = new RowHasher();
  const slow = new TableHash();
  for (const fields of rows) {
    const values = fields.map((f) => (f === 'N' ? null : f === 'X' ? undefined : f.slice(1)));
    fast.addValues(values);
    assert.is(fast.lastHash(), rowHash(fields), JSON.stringify(fields).slice(0, 80));
    slow.add(rowHash(fields));
  }
  assert.is(fast.total(), slow.toString());
  assert.is(new RowHasher().total(), '0');
});

test('copyEscape leaves clean text alone and escapes the four specials', () => {
  assert.is(copyEscape('abc'), 'abc');
  assert.is(copyEscape('\\\t\n\r'), '\\\\\\t\\n\\r');
});

test.run();
