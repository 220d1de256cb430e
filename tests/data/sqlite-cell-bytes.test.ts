import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from '../../lib/sqlite/driver.ts';
import { createCellBytesReader } from '../../lib/sqlite/cell-bytes.ts';
import { decodeTextBytes } from '../../lib/sqlite/values.ts';

// better-sqlite3 shows invalid UTF-8 and a real U+FFFD the same way; only the re-read bytes tell them apart.
test('re-reads a text cell as bytes by its key, with identifiers that need quoting', () => {
  const db = new Database(':memory:');
  db.exec(`CREATE TABLE "we""ird" ("id" TEXT PRIMARY KEY, "na me" TEXT, "n" INTEGER)`);
  db.exec(`INSERT INTO "we""ird" VALUES ('bad', CAST(X'41FF42' AS TEXT), 1), ('real', 'A' || char(65533) || 'B', 2)`);
  const rows = db
    .prepare(`SELECT "id", "na me", "n" FROM "we""ird" ORDER BY "id"`)
    .raw(true)
    .safeIntegers(true)
    .all() as unknown[][];
  assert.is(rows[0][1], 'A\uFFFDB');
  assert.is(rows[1][1], 'A\uFFFDB');
  const read = createCellBytesReader(db, 'we"ird', ['id', 'na me', 'n'], ['id']);
  assert.equal([...read(rows[0], 1)!], [0x41, 0xff, 0x42]);
  assert.equal([...read(rows[1], 1)!], [0x41, 0xef, 0xbf, 0xbd, 0x42]);
  assert.is(decodeTextBytes(read(rows[1], 1)!), 'A\uFFFDB');
});

test('without a usable key the reader declines instead of guessing', () => {
  const db = new Database(':memory:');
  db.exec(`CREATE TABLE t (a TEXT)`);
  db.exec(`INSERT INTO t VALUES (CAST(X'FF' AS TEXT))`);
  assert.is(createCellBytesReader(db, 't', ['a'], [])(['\uFFFD'], 0), undefined);
  assert.is(createCellBytesReader(db, 't', ['a'], ['missing'])(['\uFFFD'], 0), undefined);
});

test.run();
