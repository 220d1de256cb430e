/**
 * load-pg's head start (lib/copy/head-start.ts): the first chunks of a table converted while the schema is built must
 * be exactly what the table's conversion would have produced, continued without a gap or a repeat; the predicted
 * column types must be the ones Prisma's migration really creates (or the head start would never be used); a value
 * that will not convert is raised when the COPY reaches it, with the same cause.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import Database from '../../lib/sqlite/driver.ts';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSampleInstall, type SampleInstall } from '../../fixtures/sample-install.ts';
import type { Settings } from '../../lib/cli/config.ts';
import {
  continueHeadStart,
  dropHeadStart,
  matchesPlan,
  predictTargetColumns,
  startHeadStarts,
} from '../../lib/copy/head-start.ts';
import { binaryChunks, RowLoadError, type CopyTablePlan } from '../../lib/copy/rows.ts';
import { createLogger } from '../../lib/cli/log.ts';
import { readTargetColumns } from '../../lib/pg/schema-objects.ts';
import { applyPostgresSchema } from '../../lib/pg/schema-apply.ts';
import { loadSchemaModel, type SchemaModel } from '../../lib/prisma/schema-model.ts';
import { planTables } from '../../lib/copy/load-plan.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';

let app: SampleInstall;
let model: SchemaModel;
let db: Database.Database;
let server: TestPg;

test.before(async () => {
  app = await createSampleInstall({ rows: 20000, seed: 11 });
  model = await loadSchemaModel(app.schemaPath);
  db = new Database(app.sqlitePath, { readonly: true });
  server = await startTestPg();
});

test.after(async () => {
  try {
    db?.close();
  } catch {
    // a failed test left a conversion paused; the process ends anyway
  }
  await server?.stop();
  if (app) rmSync(app.appDir, { recursive: true, force: true });
});

const predictedPlans = (database: Database.Database) =>
  planTables(model, database, predictTargetColumns(model), 'public', new Map());
const wholeTable = (database: Database.Database, plan: CopyTablePlan) =>
  Buffer.concat([...binaryChunks(database, plan, { rows: 0 }, () => undefined)]);

test('the predicted column types are the ones the generated migration creates, for every table of the schema', async () => {
  const target = await server.freshDatabase('headstart');
  const runDir = path.join(app.appDir, 'head-start-run');
  await applyPostgresSchema({
    settings: { schemaPath: app.schemaPath } as Settings,
    runDir,
    clientConfig: { connectionString: target.url },
    schema: 'public',
    log: createLogger({ quiet: true }),
  });
  const client = new (await import('pg')).default.Client({ connectionString: target.url });
  await client.connect();
  try {
    const actual = planTables(model, db, await readTargetColumns(client, 'public'), 'public', new Map());
    const { heads, stop } = startHeadStarts(db, predictedPlans(db), 0);
    await stop();
    assert.is(heads.length, model.tables.length);
    for (const head of heads) {
      assert.ok(
        matchesPlan(
          head,
          actual.find((p) => p.table === head.table)!,
        ),
        `${head.table}: predicted types match`,
      );
      dropHeadStart(head);
    }
  } finally {
    await client.end();
  }
});

test('a head start continued by the COPY gives exactly the bytes of converting the table at once', async () => {
  const plans = predictedPlans(db);
  const big = plans.filter((p) => wholeTable(db, p).length > 2 * 65536).slice(0, 2);
  assert.ok(big.length === 2, 'two tables of several chunks in the fixture');
  // A budget of one byte: just the COPY header converted ahead; 70,000 bytes: the header and a chunk or two of rows.
  for (const budget of [1, 70_000]) {
    const { heads, stop } = startHeadStarts(db, big, budget);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await stop();
    for (const head of heads) {
      const expected = wholeTable(
        db,
        big.find((p) => p.table === head.table)!,
      );
      assert.ok(
        head.bytes >= budget && head.bytes < expected.length,
        `${head.table}: part of it converted ahead (${head.bytes} of ${expected.length} bytes)`,
      );
      if (budget > 1) assert.ok(head.counter.rows > 0, `${head.table}: rows converted ahead`);
      const progress: number[] = [];
      head.progress.onChunk = () => progress.push(head.counter.rows);
      const sent = Buffer.concat([...continueHeadStart(head)]);
      assert.ok(sent.equals(expected), `${head.table}: same COPY data (budget ${budget})`);
      assert.ok(progress.length > 0, 'the COPY sees progress for the chunks converted after the hand-over');
    }
  }
  // A plan converted for other types is not taken: one column's type changed.
  const other = structuredClone(big[0]);
  other.columns[0] = { ...other.columns[0], baseType: 'varchar' === other.columns[0].baseType ? 'text' : 'varchar' };
  const again = startHeadStarts(db, [big[0]], 1);
  await again.stop();
  assert.not.ok(matchesPlan(again.heads[0], other));
  dropHeadStart(again.heads[0]);
});

test('a value that will not convert, met during the head start, fails the COPY when it gets there, with the same cause', async () => {
  const copy = path.join(app.appDir, 'bad.sqlite');
  await db.backup(copy);
  const bad = new Database(copy);
  bad
    .prepare(`UPDATE "User" SET displayName = 'nul' || char(0) || 'here' WHERE rowid = (SELECT max(rowid) FROM "User")`)
    .run();
  const plan = predictedPlans(bad).find((p) => p.table === 'User')!;
  let direct: unknown;
  try {
    wholeTable(bad, plan);
  } catch (err) {
    direct = err;
  }
  assert.instance(direct, RowLoadError);
  const { heads, stop } = startHeadStarts(bad, [plan], 64 * 1024 * 1024);
  await new Promise((resolve) => setTimeout(resolve, 100));
  await stop();
  assert.ok(heads[0].failure instanceof RowLoadError, 'met during the head start');
  let viaHead: unknown;
  const sent: Buffer[] = [];
  try {
    for (const chunk of continueHeadStart(heads[0])) sent.push(chunk);
  } catch (err) {
    viaHead = err;
  }
  assert.instance(viaHead, RowLoadError);
  assert.is((viaHead as Error).message, (direct as Error).message);
  assert.ok(sent.length > 0, 'the rows before it were sent first');
  bad.close();
});

test.run();
