import type { DomainError } from '../../lib/errors.ts';
import { exitCodeOf } from '../../lib/cli/exit-codes.ts';
import pg from 'pg';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../../lib/cli/log.ts';
import { ForeignKeyReadiness, restoreForeignKeyNow, restoreForeignKeys } from '../../lib/pg/foreign-keys.ts';
import type { DeferredForeignKey, DeferredObjects } from '../../lib/pg/schema-objects.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';

/**
 * load-pg puts each foreign key back between two tables as soon as both are loaded; what a slot cannot (a lock
 * conflict with another slot) is put back after the copy phase. Real PostgreSQL, real locks.
 */
let server: TestPg;

const fk = (table: string, refTable: string, refSchema = 'public'): DeferredForeignKey => ({
  table,
  name: `${table}_${refTable}_fkey`,
  definition: `FOREIGN KEY ("${refTable.toLowerCase()}Id") REFERENCES "${refSchema}"."${refTable}"(id)`,
  columns: [`${refTable.toLowerCase()}Id`],
  refSchema,
  refTable,
  refColumns: ['id'],
});

const deferred = (foreignKeys: DeferredForeignKey[]): DeferredObjects => ({
  version: 1,
  schema: 'public',
  capturedAt: '',
  indexes: [],
  foreignKeys,
});

test.before(async () => {
  server = await startTestPg();
});
test.after(async () => {
  await server?.stop();
});

test('readiness: a key is handed out once, when the later of its two tables is loaded', () => {
  const postUser = fk('Post', 'User');
  const likePost = fk('Like', 'Post');
  const selfRef = fk('User', 'User');
  const outside = fk('Like', 'Account', 'billing'); // parent in another schema: not part of this load
  const readiness = new ForeignKeyReadiness(deferred([postUser, likePost, selfRef, outside]), ['User', 'Post', 'Like']);
  assert.equal(readiness.tableLoaded('Like'), [outside]);
  assert.equal(readiness.tableLoaded('User'), [selfRef]);
  assert.equal(readiness.tableLoaded('Post'), [postUser, likePost]);
  assert.equal(readiness.tableLoaded('Post'), [], 'never twice');
  assert.equal(readiness.unclaimed(), []);
});

test('readiness: keys whose tables never finished are left for the final phase', () => {
  const postUser = fk('Post', 'User');
  const readiness = new ForeignKeyReadiness(deferred([postUser]), ['User', 'Post']);
  assert.equal(readiness.tableLoaded('User'), []);
  assert.equal(readiness.unclaimed(), [postUser]);
});

test('a lock conflict leaves the key for after the copy phase, which then adds and validates it', async () => {
  const { url } = await server.freshDatabase('fklock');
  const slot = new pg.Client({ connectionString: url });
  const other = new pg.Client({ connectionString: url });
  await slot.connect();
  await other.connect();
  try {
    await slot.query(`CREATE TABLE "User" (id text PRIMARY KEY); CREATE TABLE "Post" (id text PRIMARY KEY, "userId" text);
      INSERT INTO "User" VALUES ('u1'); INSERT INTO "Post" VALUES ('p1', 'u1'), ('p2', NULL)`);
    const key = fk('Post', 'User');
    // Another session holds the parent: the slot's ADD CONSTRAINT cannot get its lock (lock_timeout stands in for
    // the deadlock PostgreSQL would break between slots).
    await other.query(`BEGIN; LOCK TABLE "User" IN ACCESS EXCLUSIVE MODE`);
    await slot.query(`SET lock_timeout = '200ms'`);
    assert.is(await restoreForeignKeyNow(slot, 'public', key), 'add-later');
    await other.query('COMMIT');
    await slot.query('RESET lock_timeout');
    const log = createLogger({ quiet: true });
    const validated = await restoreForeignKeys([slot, other], 'public', { toAdd: [key], toValidate: [] }, log);
    assert.is(validated, 1);
    const { rows } = await slot.query(`SELECT convalidated FROM pg_constraint WHERE conname = $1`, [key.name]);
    assert.equal(rows, [{ convalidated: true }]);
  } finally {
    await slot.end();
    await other.end();
  }
});

test('between tables: an orphan is the one-line source problem naming the key and the orphan', async () => {
  const { url } = await server.freshDatabase('fkorphan');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE TABLE "User" (id text PRIMARY KEY); CREATE TABLE "Post" (id text PRIMARY KEY, "userId" text);
      INSERT INTO "User" VALUES ('u1'); INSERT INTO "Post" VALUES ('p1', 'ghost')`);
    const failure = await restoreForeignKeyNow(client, 'public', fk('Post', 'User')).then(
      () => undefined,
      (err: DomainError) => err,
    );
    assert.ok(failure, 'the orphan must fail the key');
    assert.is(exitCodeOf(failure!.outcome), 4);
    assert.match(failure!.message, /foreign key "Post_User_fkey" is violated by the snapshot's data: 1 row of "Post"/);
    assert.match(failure!.message, /userId=ghost/);
  } finally {
    await client.end();
  }
});

test.run();
