/**
 * verify against a real embedded PostgreSQL: a good load of the sample install passes every gate; deliberate
 * corruptions each fail the right gate (exit 1) and name the table and key. The data path is the real one:
 * backup → export-sqlite → load-pg. The good load goes into a template database once; every case gets
 * `CREATE DATABASE … TEMPLATE`.
 */
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { createSampleInstall, type SampleInstall } from '../../fixtures/sample-install.ts';
import { pgTableHash } from '../../lib/pg/content-hash.ts';
import { parseGates, VERIFY_LOCK } from '../../lib/steps/verify.ts';
import { showField } from '../../lib/verify/table-gates.ts';
import { processStartTicks } from '../../lib/app/process-files.ts';
import { loadSchemaModel } from '../../lib/prisma/schema-model.ts';
import { runTask, type CliRun } from '../helpers/cli.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';
import { jsTableHashes } from './js-hashes.ts';
import Database from '../../lib/sqlite/driver.ts';
import { pgHashAtKeys } from '../../lib/pg/delta-hash.ts';
import { readTargetColumns } from '../../lib/pg/schema-objects.ts';
import { planTables } from '../../lib/copy/load-plan.ts';
import { canonicalRowOf } from '../../lib/sqlite/canonical-rows.ts';
import { canonicalTable } from '../../lib/sqlite/snapshot-delta.ts';
import type { SqliteValue } from '../../lib/sqlite/values.ts';

let server: TestPg;
let install: SampleInstall;
let runDir: string;
const TEMPLATE = 'verify_template';
let counter = 0;

async function sql(database: string, text: string, params: unknown[] = []) {
  return server.query(database, text, params);
}

/** A fresh copy of the good load. */
async function copyOfGoodLoad(): Promise<{ name: string; url: string }> {
  const name = `verify_case_${++counter}`;
  await sql('postgres', `CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(TEMPLATE)}`);
  return { name, url: server.url(name) };
}

function verify(url: string, args: string[] = [], dir = runDir): Promise<CliRun> {
  // The target travels in the environment, as the contract recommends (no password in argv).
  return runTask('verify', ['--app-dir', install.appDir, '--run-dir', dir, '--json', ...args], {
    env: { TARGET_DATABASE_URL: url },
    timeoutMs: 180_000,
  });
}

function gate(run: CliRun, name: string): { gate: string; ok: boolean; reason: string; details: Record<string, any> } {
  const found = (run.json?.gates ?? []).find((g: { gate: string }) => g.gate === name);
  assert.ok(found, `gate ${name} missing in ${run.stdout.slice(0, 500)} / ${run.stderr.slice(-1500)}`);
  return found;
}

const explain = (run: CliRun) => `exit ${run.code}\n${run.stderr.slice(-3000)}`;

test.before(async () => {
  try {
    await prepare();
  } catch (err) {
    // uvu swallows a failing hook silently: say why before every test fails.
    console.error('verify tests: setup failed:', err);
    throw err;
  }
});

async function prepare(): Promise<void> {
  server = await startTestPg();
  install = await createSampleInstall({ rows: 600 });
  runDir = path.join(install.appDir, 'backups', 'pg-migration', '20250101T000000Z');
  const backup = await runTask('backup', ['--app-dir', install.appDir, '--run-dir', runDir]);
  assert.is(backup.code, 0, `backup: ${backup.stderr}`);
  const exported = await runTask('export-sqlite', ['--app-dir', install.appDir, '--run-dir', runDir]);
  assert.is(exported.code, 0, `export-sqlite: ${exported.stderr}`);
  await server.createDatabase(TEMPLATE);
  const load = await runTask('load-pg', ['--app-dir', install.appDir, '--run-dir', runDir], {
    env: { TARGET_DATABASE_URL: server.url(TEMPLATE) },
    timeoutMs: 180_000,
  });
  assert.is(load.code, 0, `load-pg: ${load.stderr}`);
}

test.after(async () => {
  await server?.stop();
  if (install) rmSync(install.appDir, { recursive: true, force: true });
});

test('cross-check: the SQL content hash equals the JS hash of the canonical form (and the manifest) for every table', async () => {
  const model = loadSchemaModel(install.schemaPath);
  const js = jsTableHashes(path.join(runDir, 'snapshot.sqlite'), model);
  const manifest = JSON.parse(readFileSync(path.join(runDir, 'manifest.json'), 'utf8')) as {
    tables: { name: string; contentHash: string }[];
  };
  const client = new pg.Client({ connectionString: server.url(TEMPLATE) });
  await client.connect();
  try {
    let rows = 0;
    for (const table of model.tables) {
      const inPg = await pgTableHash(client, 'public', table);
      const inJs = js.find((t) => t.name === table.name)!;
      assert.is(inPg.rowCount, inJs.rowCount, `${table.name} row count`);
      assert.is(inPg.contentHash, inJs.contentHash, `${table.name} content hash`);
      assert.is(
        inPg.contentHash,
        manifest.tables.find((t) => t.name === table.name)?.contentHash,
        `${table.name} manifest hash`,
      );
      rows += inPg.rowCount;
    }
    assert.is(model.tables.length, 30);
    assert.ok(rows > 500, `only ${rows} rows compared`);
  } finally {
    await client.end();
  }
});

test('the hash of the rows at given keys (the online delta check) equals the JS hash of those rows, every table', async () => {
  const model = loadSchemaModel(install.schemaPath);
  const snapshot = new Database(path.join(runDir, 'snapshot.sqlite'), { readonly: true, fileMustExist: true });
  const client = new pg.Client({ connectionString: server.url(TEMPLATE) });
  await client.connect();
  try {
    const columns = await readTargetColumns(client, 'public');
    const plans = planTables(model, snapshot, columns, 'public', new Map(model.tables.map((t) => [t.name, 0])));
    let picked = 0;
    for (const table of model.tables) {
      const canonical = canonicalRowOf(snapshot, canonicalTable(table), model.enums);
      const select = snapshot.prepare(
        `SELECT ${table.columns.map((c) => pg.escapeIdentifier(c.name)).join(', ')} FROM ${pg.escapeIdentifier(table.name)}`,
      );
      // Every third row: a subset, so a query that read the whole table would not add up.
      const rows = (select.raw(true).safeIntegers(true).all() as SqliteValue[][]).filter((_r, i) => i % 3 === 0);
      const expected = rows.reduce((sum, r) => sum + canonical(r).hash, 0n);
      const plan = plans.find((p) => p.table === table.name)!;
      const found = await pgHashAtKeys(client, canonicalTable(table), plan, rows);
      assert.is(found.rowCount, rows.length, `${table.name} rows at the keys`);
      assert.is(BigInt(found.contentHash), expected, `${table.name} hash at the keys`);
      picked += rows.length;
    }
    assert.ok(picked > 150, `only ${picked} rows picked`);
  } finally {
    await client.end();
    snapshot.close();
  }
});

test('a good load passes every gate (exit 0) and writes report.json', async () => {
  const db = await copyOfGoodLoad();
  const run = await verify(db.url);
  assert.is(run.code, 0, explain(run));
  assert.is(run.json?.ok, true);
  assert.equal(
    run.json?.gates.map((g: { gate: string }) => g.gate),
    ['counts', 'content', 'integrity', 'prisma'],
  );
  for (const g of run.json?.gates ?? []) assert.ok(g.ok, `${g.gate}: ${g.reason}`);
  const prisma = gate(run, 'prisma');
  assert.is(prisma.details.client.models.length, 28);
  assert.ok(prisma.details.client.write.ok);
  const report = JSON.parse(readFileSync(path.join(runDir, 'report.json'), 'utf8'));
  assert.is(report.ok, true);
  assert.is(report.gates.length, 4);
  assert.not.match(JSON.stringify(report), new RegExp(server.superPassword));
  // Every gate ran: this is the run's verify step in journal.json.
  const step = JSON.parse(readFileSync(path.join(runDir, 'journal.json'), 'utf8')).steps.verify;
  assert.is(step.status, 'done');
  assert.match(step.message, /^verify passed: counts, content, integrity, prisma/);
});

test('changed value: content gate fails naming table, key and both values', async () => {
  const db = await copyOfGoodLoad();
  const { rows } = await sql(db.name, `SELECT id, "displayName" FROM "User" ORDER BY id LIMIT 1`);
  const { id, displayName } = rows[0];
  await sql(db.name, `UPDATE "User" SET "displayName" = 'Tampered Name' WHERE id = $1`, [id]);
  const run = await verify(db.url);
  assert.is(run.code, 1, explain(run));
  assert.ok(gate(run, 'counts').ok);
  const content = gate(run, 'content');
  assert.is(content.ok, false);
  assert.match(content.reason, `"User" row id=${id}`);
  assert.match(content.reason, 'displayName');
  assert.match(content.reason, JSON.stringify(displayName));
  assert.match(content.reason, '"Tampered Name"');
  const diff = content.details.differences[0];
  assert.is(diff.table, 'User');
  assert.equal(diff.rows[0].columns, [
    { column: 'displayName', sqlite: JSON.stringify(displayName), postgres: '"Tampered Name"' },
  ]);
  assert.ok(gate(run, 'integrity').ok, gate(run, 'integrity').reason);
  assert.ok(gate(run, 'prisma').ok, gate(run, 'prisma').reason);
  // The one-line summary names the gate and the first difference.
  assert.match(run.stderr, /verify FAILED: content: "User" row id=/);
  const journalStep = () => JSON.parse(readFileSync(path.join(runDir, 'journal.json'), 'utf8')).steps.verify;
  assert.is(journalStep().status, 'failed');
  assert.match(journalStep().message, /^verify FAILED: content: "User" row id=/);
  // A partial run (counts only, which pass here) is not the verify step: it cannot turn the failure into "done".
  const countsOnly = await verify(db.url, ['--only', 'counts']);
  assert.is(countsOnly.code, 0, explain(countsOnly));
  assert.is(journalStep().status, 'failed');
});

test('deleted row: counts and content fail naming the table and the missing key', async () => {
  const db = await copyOfGoodLoad();
  const { rows } = await sql(db.name, `SELECT id FROM "AuditLog" ORDER BY id LIMIT 1`);
  await sql(db.name, `DELETE FROM "AuditLog" WHERE id = $1`, [rows[0].id]);
  // A composite key too: the row is named by both key columns.
  const follow = (
    await sql(
      db.name,
      `DELETE FROM "Follow" WHERE ("followerId", "followingId") = (SELECT "followerId", "followingId" FROM "Follow" ORDER BY 1, 2 LIMIT 1) RETURNING *`,
    )
  ).rows[0];
  const run = await verify(db.url, ['--only', 'counts,content']);
  assert.is(run.code, 1, explain(run));
  const counts = gate(run, 'counts');
  assert.is(counts.ok, false);
  assert.match(counts.reason, /"AuditLog" has \d+ rows in PostgreSQL, the manifest says \d+/);
  const content = gate(run, 'content');
  assert.is(content.ok, false);
  assert.match(content.reason, `"AuditLog" row id=${rows[0].id} is missing in PostgreSQL`);
  const followDiff = content.details.differences.find((d: { table: string }) => d.table === 'Follow');
  assert.equal(followDiff.rows, [
    {
      table: 'Follow',
      key: `followerId=${follow.followerId}, followingId=${follow.followingId}`,
      status: 'missing in PostgreSQL',
    },
  ]);
  assert.equal(
    run.json?.gates.map((g: { gate: string }) => g.gate),
    ['counts', 'content'],
  );
});

test('extra row: counts and content fail naming the extra key', async () => {
  const db = await copyOfGoodLoad();
  await sql(db.name, `INSERT INTO "Setting" (key, value, "updatedAt") VALUES ('verify-extra', '{"x": 1}', now())`);
  const run = await verify(db.url, ['--only', 'counts,content']);
  assert.is(run.code, 1, explain(run));
  assert.match(gate(run, 'counts').reason, /"Setting" has/);
  assert.match(gate(run, 'content').reason, '"Setting" row key=verify-extra is extra in PostgreSQL');
});

test('dropped foreign key (and an orphan it let in): integrity names the missing constraint and the orphan', async () => {
  const db = await copyOfGoodLoad();
  await sql(db.name, `ALTER TABLE "Session" DROP CONSTRAINT "Session_userId_fkey"`);
  await sql(db.name, `UPDATE "Session" SET "userId" = 'ghost-user' WHERE id = (SELECT min(id) FROM "Session")`);
  const run = await verify(db.url, ['--only', 'integrity']);
  assert.is(run.code, 1, explain(run));
  const integrity = gate(run, 'integrity');
  assert.is(integrity.ok, false);
  const messages = integrity.details.findings.map((f: { message: string }) => f.message).join('\n');
  assert.match(messages, /foreign key "Session" \(userId\) → User\(id\) is missing in PostgreSQL/);
  assert.match(messages, /"Session" \(userId\) → User\(id\) has rows pointing at no "User" row: userId=ghost-user/);
});

test('sequence set behind max(id): integrity fails naming the sequence and table', async () => {
  const db = await copyOfGoodLoad();
  await sql(db.name, `SELECT setval(pg_get_serial_sequence('"GeneratorJob"', 'id'), 1)`);
  const run = await verify(db.url, ['--only', 'integrity']);
  assert.is(run.code, 1, explain(run));
  const integrity = gate(run, 'integrity');
  assert.is(integrity.ok, false);
  assert.match(
    integrity.reason,
    /sequence GeneratorJob_id_seq of "GeneratorJob".id would hand out 2, but max\(id\) is \d+/,
  );
});

test('drifted column: integrity names the extra column and the prisma gate reports drift', async () => {
  const db = await copyOfGoodLoad();
  await sql(db.name, `ALTER TABLE "User" ADD COLUMN "nickname" text`);
  const run = await verify(db.url, ['--only', 'integrity,prisma']);
  assert.is(run.code, 1, explain(run));
  assert.match(gate(run, 'integrity').reason, /column "User"."nickname" is in PostgreSQL but not in the Prisma schema/);
  const prisma = gate(run, 'prisma');
  assert.is(prisma.ok, false);
  assert.match(prisma.details.problems.join('\n'), /drifted from the Prisma schema.*"nickname"/);
});

test('edited migration file: the prisma gate names the migration', async () => {
  const db = await copyOfGoodLoad();
  const otherRun = `${runDir}-edited`;
  // The generated client comes along: its stamp matches the schema, so it is reused rather than regenerated.
  cpSync(runDir, otherRun, { recursive: true, verbatimSymlinks: true });
  const migrations = path.join(otherRun, 'postgres-schema', 'migrations');
  const first = readdirSync(migrations, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()[0];
  const file = path.join(migrations, first, 'migration.sql');
  writeFileSync(file, readFileSync(file, 'utf8') + '\n-- edited after it was applied\n');
  const run = await verify(db.url, ['--only', 'prisma'], otherRun);
  assert.is(run.code, 1, explain(run));
  const prisma = gate(run, 'prisma');
  assert.is(prisma.ok, false);
  assert.match(prisma.details.problems.join('\n'), new RegExp(`edited after they were applied.*${first}`));
});

test('dropped table: counts names it, integrity reports it missing', async () => {
  const db = await copyOfGoodLoad();
  await sql(db.name, `DROP TABLE "GeneratorArtifact"`);
  const run = await verify(db.url, ['--only', 'counts,integrity']);
  assert.is(run.code, 1, explain(run));
  assert.match(gate(run, 'counts').reason, 'table "GeneratorArtifact" does not exist in PostgreSQL');
  assert.match(gate(run, 'integrity').reason, 'table "GeneratorArtifact" is missing in PostgreSQL');
});

test('a role that may not create schemas still gets the integrity gate (reference in its temporary schema)', async () => {
  const db = await copyOfGoodLoad();
  const password = 'limited-Pw-4711';
  await sql(db.name, `CREATE ROLE verify_limited LOGIN PASSWORD '${password}'`).catch(() => undefined);
  await sql(db.name, `GRANT CONNECT ON DATABASE ${pg.escapeIdentifier(db.name)} TO verify_limited`);
  await sql(db.name, `GRANT USAGE ON SCHEMA public TO verify_limited`);
  await sql(db.name, `GRANT SELECT ON ALL TABLES IN SCHEMA public TO verify_limited`);
  await sql(db.name, `GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO verify_limited`);
  const url = server.url(db.name, 'verify_limited', password);
  const run = await verify(url, ['--only', 'counts,content,integrity']);
  assert.is(run.code, 0, explain(run));
  assert.match(gate(run, 'integrity').details.referenceBuiltIn, /temporary schema/);
  assert.not.match(run.stdout + run.stderr, password);
});

test('gate selection and value display (no database)', () => {
  assert.equal(parseGates(undefined), ['counts', 'content', 'integrity', 'prisma']);
  assert.equal(parseGates('prisma, counts'), ['counts', 'prisma']);
  assert.throws(() => parseGates('counts,speed'), /unknown gate "speed"/);
  assert.is(showField('N', 'text'), 'NULL');
  assert.is(showField('Va "b"', 'text'), '"a \\"b\\""');
  assert.is(showField('V3fb999999999999a', 'float'), '0.1 (0x3fb999999999999a)');
  assert.is(showField('V1714557600123', 'datetime'), '2024-05-01T10:00:00.123Z (1714557600123 ms)');
  assert.is(showField('V{"a": 1}', 'json'), '{"a": 1}');
  assert.is(showField('Vdeadbeef', 'bytes'), '\\xdeadbeef');
  assert.is(showField('!contains NUL', 'text'), '(not convertible: contains NUL)');
});

test('bad flags, missing run dir and unreachable target get the contract exit codes', async () => {
  const db = await copyOfGoodLoad();
  const bad = await verify(db.url, ['--only', 'counts,bogus']);
  assert.is(bad.code, 2, explain(bad));
  assert.match(bad.stderr, /unknown gate "bogus"/);
  const noRun = await verify(db.url, [], path.join(install.appDir, 'no-such-run'));
  assert.is(noRun.code, 2, explain(noRun));
  const unreachable = await verify('postgresql://postgres@127.0.0.1:1/nothing', ['--only', 'counts']);
  assert.is(unreachable.code, 3, explain(unreachable));
});

test('a verify of a run dir another verify holds is refused (exit 2, naming it); the journal is left alone', async () => {
  const db = await copyOfGoodLoad();
  const journalBefore = readFileSync(path.join(runDir, 'journal.json'), 'utf8');
  // The holder is this test process (alive, same start time): exactly what a running verify leaves in the file.
  const lockFile = path.join(runDir, VERIFY_LOCK);
  const holder = {
    pid: process.pid,
    host: os.hostname(),
    startedAt: new Date().toISOString(),
    command: 'verify --run-dir (the other one)',
    pidStart: processStartTicks(process.pid),
  };
  writeFileSync(lockFile, JSON.stringify(holder), { mode: 0o600 });
  try {
    const refused = await verify(db.url);
    assert.is(refused.code, 2, explain(refused));
    assert.match(
      refused.json!.error,
      new RegExp(
        `^run dir .* is in use by verify --run-dir \\(the other one\\) pid ${process.pid} \\(started .*\\); wait for it to finish$`,
      ),
    );
    assert.is(readFileSync(path.join(runDir, 'journal.json'), 'utf8'), journalBefore, 'journal untouched');
  } finally {
    rmSync(lockFile, { force: true });
  }
  const after = await verify(db.url, ['--only', 'counts']);
  assert.is(after.code, 0, explain(after));
  assert.not.ok(readdirSync(runDir).includes(VERIFY_LOCK), 'a finished verify leaves no lock behind');
});

test.run();
