/**
 * `just fallback` end to end on the sample install with its real writer (the fake backend writing AuditLog and
 * Setting rows on PostgreSQL after the cutover) and a real embedded PostgreSQL:
 *  - rollback refuses (exit 2) and points to `npx just fallback`;
 *  - --dry-run names the rows per table that would come back (PostgreSQL's counts) and changes nothing;
 *  - fallback: every row the app wrote on PostgreSQL is in the new SQLite file, compared row by row; every table's
 *    count equals PostgreSQL's; the original file is kept byte-identical (sha256); the app runs on SQLite (seen from
 *    outside) and writes to the new file; PostgreSQL keeps its rows;
 *  - every Prisma scalar survives SQLite → PostgreSQL → SQLite: each cell of the app's file is compared with the new
 *    file's, raw value and storage class; the only allowed differences are the ones Prisma itself would make
 *    (DateTime text → epoch-ms INTEGER, Json text → jsonb's normal form of the same value).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import Database from '../../lib/sqlite/driver.ts';
import { runTask } from '../helpers/cli.ts';
import { loadSchemaModel, type TableModel } from '../../lib/prisma/schema-model.ts';
import { parseDateTimeText } from '../../lib/sqlite/values.ts';
import { SAFE_ENV, eventually, health, sqliteCount, useUpgradeHarness } from './e2e-helpers.ts';
import { storageClass, type Cell } from '../helpers/sqlite-cells.ts';

const test = suite('e2e fallback');
const harness = useUpgradeHarness(test);
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

function rowsByKey(file: string, table: TableModel): Map<string, Cell[]> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const cols = table.columns.map((c) => `"${c.name}"`).join(', ');
    const rows = db.prepare(`SELECT ${cols} FROM "${table.name}"`).raw(true).safeIntegers(true).all() as Cell[][];
    const keyIdx = table.key.map((k) => table.columns.findIndex((c) => c.name === k));
    return new Map(rows.map((r) => [JSON.stringify(keyIdx.map((i) => String(r[i]))), r]));
  } finally {
    db.close();
  }
}

const sameCell = (a: Cell, b: Cell) =>
  storageClass(a) === storageClass(b) &&
  (Buffer.isBuffer(a) ? a.equals(b as Buffer) : typeof a === 'number' ? Object.is(a, b) : a === b);

test('fallback carries every PostgreSQL row back into a new SQLite file; the original is kept byte-identical', async () => {
  const { install, db, env, args } = await harness.upgradeCase('fallback');
  const taskEnv = { ...SAFE_ENV, ...env };
  const up = await runTask('upgrade', args, { env: taskEnv });
  assert.is(up.code, 0, up.stderr);
  const originalSha = sha256(install.sqlitePath);
  const pgMax = async () =>
    Number((await harness.pg.query(db.name, 'SELECT coalesce(max(id), 0) AS m FROM "AuditLog"')).rows[0].m);
  const cutoverMax = await pgMax();
  await eventually('the app writing on PostgreSQL', pgMax, (n) => n > cutoverMax + 10);

  // (e) rollback would leave those rows behind: refused, pointing to fallback.
  const refused = await runTask('rollback', ['--app-dir', install.appDir, '--yes', '--json'], { env: taskEnv });
  assert.is(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /AuditLog \d+/);
  assert.match(refused.stderr, /run `npx just fallback` to carry them back into SQLite/);

  // (d) the dry run counts what would come back and changes nothing.
  const dry = await runTask('fallback', ['--app-dir', install.appDir, '--dry-run', '--json'], { env: taskEnv });
  assert.is(dry.code, 0, dry.stderr);
  const dryAudit = dry.json!.counts.AuditLog;
  const pgAuditNow = Number((await harness.pg.query(db.name, 'SELECT count(*) AS n FROM "AuditLog"')).rows[0].n);
  assert.ok(dryAudit > 0 && dryAudit <= pgAuditNow, `${dryAudit} vs ${pgAuditNow}`);
  assert.is(dry.json!.counts.User, install.rowCounts.User);
  assert.match(readFileSync(install.envPath, 'utf8'), /DATABASE_URL=.?postgres/);
  assert.is(sha256(install.sqlitePath), originalSha);
  assert.is((await health(install.healthUrl))?.body?.database, 'postgresql', 'the app kept running on PostgreSQL');

  // (a) the fallback.
  const fb = await runTask('fallback', ['--app-dir', install.appDir, '--yes', '--json'], { env: taskEnv });
  assert.is(fb.code, 0, fb.stderr);
  const r = fb.json!;
  assert.ok(r.proof.ok, JSON.stringify(r.proof));
  assert.is(r.proof.targetSessions, 0);
  assert.ok(r.original.unchanged, JSON.stringify(r.original));
  assert.is(sha256(r.original.path), originalSha, 'the original file is byte-identical');
  assert.is(r.sqlitePath, install.sqlitePath);
  // The app wrote during the export (it runs until the window): the catch-up copied AuditLog again.
  assert.ok(
    r.steps.some((s: any) => s.name === 'fallback:catch-up' && s.status === 'done'),
    JSON.stringify(r.steps),
  );
  assert.match(fb.stderr, /caught up: \d+ table\(s\) changed on PostgreSQL since the export \(.*AuditLog/);
  assert.match(readFileSync(install.envPath, 'utf8'), /DATABASE_URL="file:\.\/dev\.db"/);

  // Every table: the same count as PostgreSQL (the app is on SQLite now, PostgreSQL no longer changes).
  const model = loadSchemaModel(install.schemaPath);
  for (const t of model.tables) {
    const n = Number((await harness.pg.query(db.name, `SELECT count(*) AS n FROM "${t.name}"`)).rows[0].n);
    const back = r.tables.find((x: any) => x.name === t.name);
    assert.is(back.rows, n, t.name);
  }
  // Every row the app wrote on PostgreSQL, read back from the new file and compared field by field.
  const pgRows = (
    await harness.pg.query(
      db.name,
      `SELECT id, action, target, details::text AS details, (extract(epoch from created_at) * 1000)::bigint::text AS ms
       FROM "AuditLog" WHERE id > $1 ORDER BY id`,
      [cutoverMax],
    )
  ).rows;
  assert.ok(pgRows.length > 10);
  const lite = new Database(install.sqlitePath, { readonly: true });
  const liteRow = lite
    .prepare('SELECT id, action, target, details, created_at FROM "AuditLog" WHERE id = ?')
    .safeIntegers(true);
  for (const p of pgRows) {
    const s = liteRow.get(p.id) as any;
    assert.ok(s, `AuditLog ${p.id} is missing in SQLite`);
    assert.is(s.action, p.action);
    assert.is(s.target, p.target);
    assert.equal(s.details === null ? null : JSON.parse(s.details), p.details === null ? null : JSON.parse(p.details));
    assert.is(typeof s.created_at, 'bigint', 'DateTime stored as INTEGER epoch ms');
    assert.is(String(s.created_at), p.ms);
  }
  lite.close();

  // The app runs on the new file and writes to it; PostgreSQL keeps its rows.
  assert.is((await health(install.healthUrl))?.body?.database, 'sqlite');
  const s0 = sqliteCount(install.sqlitePath, 'AuditLog');
  await eventually(
    'the app writing to SQLite',
    () => sqliteCount(install.sqlitePath, 'AuditLog'),
    (n) => n > s0,
  );
  assert.is(sha256(r.original.path), originalSha, 'the original is still untouched while the app runs');
  assert.ok(existsSync(install.sqlitePath));

  // (b) every Prisma scalar, SQLite → PostgreSQL → SQLite, cell by cell against the app's original file.
  install.stop();
  const changedOnPg = new Set(['AuditLog', 'Setting']);
  let compared = 0;
  const allowed: Record<string, number> = {};
  for (const t of model.tables) {
    if (changedOnPg.has(t.name)) continue;
    const before = rowsByKey(r.original.path, t);
    const after = rowsByKey(install.sqlitePath, t);
    assert.is(after.size, before.size, t.name);
    for (const [key, row] of before) {
      const back = after.get(key);
      assert.ok(back, `${t.name} ${key} missing`);
      t.columns.forEach((c, i) => {
        const a = row[i];
        const b = back![i];
        compared++;
        if (sameCell(a, b)) return;
        // What Prisma itself writes differently: a DateTime held as text comes back as the epoch ms it means …
        if (c.kind === 'datetime' && typeof a === 'string' && typeof b === 'bigint') {
          assert.is(Number(b), parseDateTimeText(a), `${t.name}.${c.name} ${key}`);
          allowed['datetime text → epoch ms'] = (allowed['datetime text → epoch ms'] ?? 0) + 1;
          return;
        }
        // … and Json comes back as jsonb's text of the same value (key order and spacing normalised).
        if (c.kind === 'json' && typeof a === 'string' && typeof b === 'string') {
          assert.equal(JSON.parse(b), JSON.parse(a), `${t.name}.${c.name} ${key}`);
          allowed['json normalised'] = (allowed['json normalised'] ?? 0) + 1;
          return;
        }
        assert.unreachable(
          `${t.name}.${c.name} ${key}: ${storageClass(a)} ${String(a).slice(0, 60)} → ${storageClass(b)} ${String(b).slice(0, 60)}`,
        );
      });
    }
  }
  assert.ok(compared > 1000, `${compared} cells compared`);
  console.log(`compared ${compared} cells; allowed differences: ${JSON.stringify(allowed)}`);
});

test('a value SQLite cannot hold (Float NaN written on PostgreSQL): exit 1, nothing switched, the app never left PostgreSQL', async () => {
  const { install, db, env, args } = await harness.upgradeCase('fallbacknan');
  const taskEnv = { ...SAFE_ENV, ...env };
  const up = await runTask('upgrade', args, { env: taskEnv });
  assert.is(up.code, 0, up.stderr);
  const originalSha = sha256(install.sqlitePath);
  const envBefore = readFileSync(install.envPath, 'utf8');
  // Prisma on PostgreSQL stores NaN in a Float column; SQLite stores a NaN double as NULL.
  await harness.pg.query(
    db.name,
    `UPDATE "ImageAsset" SET "cfgScale" = 'NaN' WHERE id = (SELECT min(id) FROM "ImageAsset")`,
  );
  const fb = await runTask('fallback', ['--app-dir', install.appDir, '--yes', '--json'], { env: taskEnv });
  assert.is(fb.code, 1, fb.stderr);
  assert.match(
    fb.json!.summary,
    /fallback failed at fallback:verify \(the new file does not equal PostgreSQL: ImageAsset: content hash/,
  );
  assert.match(fb.json!.summary, /nothing was switched, the app was not stopped/);
  assert.is(readFileSync(install.envPath, 'utf8'), envBefore, 'nothing switched');
  assert.is(sha256(install.sqlitePath), originalSha, 'the original file untouched');
  const h = await eventually(
    'the app on PostgreSQL',
    () => health(install.healthUrl),
    (x) => x?.status === 200,
  );
  assert.is(h!.body.database, 'postgresql');
});

test.run();
