/**
 * lib/sqlite/snapshot-delta.ts on the sample install's database, snapshots taken by the backup step's own copy
 * (the backup API): inserts, updates, deletes and a changed primary key all found, in a WAL-mode source whose
 * changes are still in an un-checkpointed -wal; a VACUUM between snapshots (every page moved) yields no spurious
 * row; the content hash brought forward by the delta equals the newer snapshot's own; a schema change is refused.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from '../../lib/sqlite/driver.ts';
import { createSampleInstall, type SampleInstall } from '../../fixtures/sample-install.ts';
import { createLogger } from '../../lib/cli/log.ts';
import { DomainError, Outcome } from '../../lib/errors.ts';
import { loadSchemaModel, type SchemaModel } from '../../lib/prisma/schema-model.ts';
import { canonicalRowOf } from '../../lib/sqlite/canonical-rows.ts';
import { canonicalTable, snapshotDelta } from '../../lib/sqlite/snapshot-delta.ts';
import { backupInto } from '../../lib/steps/backup.ts';

const log = createLogger({ quiet: true });
let install: SampleInstall;
let model: SchemaModel;
let dir = '';

test.before(async () => {
  install = await createSampleInstall({ rows: 200 });
  model = loadSchemaModel(install.schemaPath);
  dir = mkdtempSync(path.join(os.tmpdir(), 'vs-delta-'));
});
test.after(() => {
  rmSync(install.appDir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

async function snapshot(name: string): Promise<string> {
  return (await backupInto(install.sqlitePath, dir, log, { file: name, checked: false, online: true })).snapshot;
}

/** Canonical content hash of one table of a snapshot file: the sum the manifest records. */
function tableSum(file: string, table: string): bigint {
  const db = new Database(file, { readonly: true });
  try {
    const t = model.tables.find((m) => m.name === table)!;
    const row = canonicalRowOf(db, canonicalTable(t), model.enums);
    const cols = t.columns.map((c) => `"${c.name}"`).join(', ');
    let sum = 0n;
    const stmt = db.prepare(`SELECT ${cols} FROM "${table}"`).raw(true).safeIntegers(true);
    for (const r of stmt.iterate() as IterableIterator<unknown[]>) sum += row(r).hash;
    return sum;
  } finally {
    db.close();
  }
}

test('WAL source, un-checkpointed: insert, update, delete and a changed key all in the delta; hashes add up', async () => {
  const live = new Database(install.sqlitePath);
  live.pragma('journal_mode = WAL');
  live.pragma('wal_autocheckpoint = 0');
  const s0 = await snapshot('s0.sqlite');
  const keys = live.prepare('SELECT "key" FROM "Setting" ORDER BY "key" LIMIT 3').pluck().all() as string[];
  live.prepare(`INSERT INTO "Setting" ("key", "value", "updatedAt") VALUES ('delta.new', '"x"', 1)`).run();
  live.prepare(`UPDATE "Setting" SET "value" = '"changed"' WHERE "key" = ?`).run(keys[0]);
  live.prepare(`DELETE FROM "Setting" WHERE "key" = ?`).run(keys[1]);
  live.prepare(`UPDATE "Setting" SET "key" = 'delta.renamed' WHERE "key" = ?`).run(keys[2]);
  const audit = live.prepare('SELECT max("id") FROM "AuditLog"').pluck().get() as number;
  live.prepare(`DELETE FROM "AuditLog" WHERE "id" = ?`).run(audit);
  // Still held open with autocheckpoint off: every change above lives only in the -wal.
  assert.ok(existsSync(`${install.sqlitePath}-wal`) && statSync(`${install.sqlitePath}-wal`).size > 0);
  const s1 = await snapshot('s1.sqlite');
  live.close();

  const delta = snapshotDelta(s0, s1, model);
  const setting = delta.tables.find((t) => t.table === 'Setting')!;
  assert.is(setting.inserts.length, 2, 'the new row and the renamed key');
  assert.is(setting.updates.length, 1);
  assert.is(setting.deletes.length, 2, 'the deleted row and the old key');
  const auditDelta = delta.tables.find((t) => t.table === 'AuditLog')!;
  assert.is(auditDelta.deletes.length, 1);
  assert.is(delta.tables.length, 2, JSON.stringify(delta.tables.map((t) => t.table)));
  assert.ok(delta.unchangedTables > 0, 'page-identical tables skipped');
  for (const t of delta.tables)
    assert.is(tableSum(s0, t.table) - t.hashOut + t.hashIn, tableSum(s1, t.table), `${t.table}: hash forwarded`);
  const nothing = snapshotDelta(s1, s1, model);
  assert.is(nothing.rows.total, 0);
  assert.is(nothing.diffedTables.length, 0);
});

test('VACUUM between snapshots: pages move, the delta stays exact', async () => {
  const s1 = path.join(dir, 's1.sqlite');
  const live = new Database(install.sqlitePath);
  live.prepare(`INSERT INTO "Setting" ("key", "value", "updatedAt") VALUES ('delta.after-vacuum', '1', 2)`).run();
  live.exec('VACUUM');
  const s2 = await snapshot('s2.sqlite');
  live.close();
  const delta = snapshotDelta(s1, s2, model);
  assert.ok(delta.diffedTables.length > 1, `VACUUM rewrote pages of many tables (${delta.diffedTables.length})`);
  assert.is(delta.rows.total, 1, JSON.stringify(delta.rows));
  assert.is(delta.tables[0].inserts.length, 1);
  const from0 = snapshotDelta(path.join(dir, 's0.sqlite'), s2, model);
  assert.is(from0.rows.total, 7);
});

test('a table of many leaves is diffed on its changed leaves only, overflow-only and key changes included', async () => {
  const live = new Database(install.sqlitePath);
  const insert = live.prepare(
    `INSERT INTO "AuditLog" ("id", "action", "target", "details", "created_at") VALUES (?, 'LOGIN', ?, ?, 1)`,
  );
  // 3,000 rows over many leaves; every 500th holds a 6 KB text that continues on overflow pages.
  live.transaction(() => {
    for (let i = 1; i <= 3000; i++)
      insert.run(100_000 + i, `target-${i}`.padEnd(120, '.'), i % 500 === 0 ? `"${'a'.repeat(6000)}"` : null);
  })();
  const before = await snapshot('leaves-0.sqlite');
  live.prepare(`UPDATE "AuditLog" SET "target" = 'changed' WHERE "id" IN (100010, 101500, 102990)`).run();
  live.prepare(`DELETE FROM "AuditLog" WHERE "id" IN (100020, 102001)`).run();
  for (let i = 1; i <= 5; i++) insert.run(200_000 + i, 'appended', null);
  live.prepare(`UPDATE "AuditLog" SET "id" = 300000 WHERE "id" = 101001`).run();
  const middle = await snapshot('leaves-mid.sqlite');
  const walked = snapshotDelta(before, middle, model);
  assert.is(walked.pagesFrom, 'interior walk', 'no overflow page changed: the walk of interior pages suffices');
  const auditWalked = walked.tables.find((t) => t.table === 'AuditLog')!;
  assert.equal(
    [auditWalked.inserts.length, auditWalked.updates.length, auditWalked.deletes.length],
    [6, 3, 3],
    'five appended + the new key; three targets; two deleted + the old key',
  );
  assert.is(
    tableSum(before, 'AuditLog') - auditWalked.hashOut + auditWalked.hashIn,
    tableSum(middle, 'AuditLog'),
    'hash forwarded (walked)',
  );
  // Same length, same first bytes: SQLite overwrites the cell in place, only the overflow page changes.
  live.prepare(`UPDATE "AuditLog" SET "details" = ? WHERE "id" = 102500`).run(`"${'a'.repeat(5999)}b"`);
  const after = await snapshot('leaves-1.sqlite');
  live.close();

  const delta = snapshotDelta(before, after, model);
  assert.ok(delta.leafDiffedTables.includes('AuditLog'), `diffed whole: ${JSON.stringify(delta.leafDiffedTables)}`);
  assert.is(delta.pagesFrom, 'dbstat', 'a changed overflow page: the walk of interior pages cannot place it');
  const audit = delta.tables.find((t) => t.table === 'AuditLog')!;
  assert.equal(
    { inserts: audit.inserts.length, updates: audit.updates.length, deletes: audit.deletes.length },
    { inserts: 6, updates: 4, deletes: 3 },
    'five appended + the new key; three targets + the overflow-only change; two deleted + the old key',
  );
  assert.is(tableSum(before, 'AuditLog') - audit.hashOut + audit.hashIn, tableSum(after, 'AuditLog'), 'hash forwarded');
});

test('a schema change between snapshots is a source problem', async () => {
  const live = new Database(install.sqlitePath);
  live.exec('ALTER TABLE "Setting" ADD COLUMN "extra" TEXT');
  live.close();
  const s3 = await snapshot('s3.sqlite');
  try {
    snapshotDelta(path.join(dir, 's2.sqlite'), s3, model);
    assert.unreachable('a schema change must be refused');
  } catch (err) {
    assert.instance(err, DomainError);
    assert.is((err as DomainError).outcome, Outcome.SourceProblem);
    assert.match((err as Error).message, /table Setting was altered/);
  }
});

test.run();
