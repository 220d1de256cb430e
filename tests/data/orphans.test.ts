/**
 * Orphan rows (children whose parent was deleted while foreign_keys was OFF) on the features app
 * (fixtures/prisma-features-app): refused by export-sqlite naming them, before the target is touched; or, with
 * --orphans=null / --orphans=delete, loaded with the foreign key NULL / left out with the rows depending on them,
 * every such row listed in orphans.jsonl, verify exact against the treated snapshot, every foreign key VALID.
 * Real SQLite files, real PostgreSQL, the tasks as real processes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import Database from '../../lib/sqlite/driver.ts';
import pg from 'pg';
import { createFeaturesInstall, type FeaturesInstall } from '../../fixtures/features-install.ts';
import { pgBucketSums } from '../../lib/pg/content-hash.ts';
import { loadSchemaModel } from '../../lib/prisma/schema-model.ts';
import { sqliteBucketSums } from '../../lib/sqlite/canonical-rows.ts';
import { loadSettings } from '../../lib/cli/config.ts';
import { createLogger } from '../../lib/cli/log.ts';
import { exportSqlite } from '../../lib/steps/export-sqlite.ts';
import { pauseMarker } from '../../lib/run/pause-point.ts';
import { eventually, journalOf, runDirs, spawnTask } from '../e2e/e2e-helpers.ts';
import { runTask, type CliRun } from '../helpers/cli.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';

let server: TestPg;
let membershipOrphans: FeaturesInstall;
let blobOrphans: FeaturesInstall;

test.before(async () => {
  server = await startTestPg();
  membershipOrphans = await createFeaturesInstall({ rows: 10, orphans: 2 });
  blobOrphans = await createFeaturesInstall({ rows: 12, blobOrphans: 1 });
});
test.after(async () => {
  await server?.stop();
  for (const install of [membershipOrphans, blobOrphans]) rmSync(install.appDir, { recursive: true, force: true });
});

/** backup → export-sqlite (with `exportFlags`) → load-pg → verify, stopping at the first failure. */
async function chain(
  install: FeaturesInstall,
  url: string,
  exportFlags: string[],
  loadFlags: string[] = [],
): Promise<{ runDir: string; runs: Record<string, CliRun> }> {
  const common = ['--app-dir', install.appDir, '--json'];
  const env = { TARGET_DATABASE_URL: url };
  const runs: Record<string, CliRun> = {};
  runs.backup = await runTask('backup', common);
  assert.is(runs.backup.code, 0, runs.backup.stderr);
  const runDir = runs.backup.json!.runDir as string;
  for (const task of ['export-sqlite', 'load-pg', 'verify']) {
    const extra =
      task === 'export-sqlite' ? exportFlags : task === 'verify' ? ['--only', 'counts,content,integrity'] : loadFlags;
    runs[task] = await runTask(task, [...common, '--run-dir', runDir, ...extra], { env, timeoutMs: 240_000 });
    if (runs[task].code !== 0) break;
  }
  return { runDir, runs };
}

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('✖'));

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Every foreign key of the schema is there and VALID. */
async function assertForeignKeysValid(url: string): Promise<void> {
  const { rows } = await withClient(url, (c) =>
    c.query<{ conname: string; convalidated: boolean }>(
      `SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace ORDER BY 1`,
    ),
  );
  assert.equal(
    rows.map((r) => `${r.conname} ${r.convalidated}`),
    [
      'Blob_parentHash_fkey true',
      'Membership_accountId_fkey true',
      'Membership_orgRegion_orgCode_fkey true',
      'Profile_accountId_fkey true',
    ],
  );
}

/** Tables other than `except`: the same rows on both sides (exact bucket sums of the canonical row form). */
async function assertOtherTablesEqual(install: FeaturesInstall, url: string, except: string): Promise<void> {
  const model = loadSchemaModel(install.schemaPath);
  const db = new Database(install.sqlitePath, { readonly: true });
  try {
    await withClient(url, async (client) => {
      for (const table of model.tables.filter((t) => t.name !== except)) {
        const sums = [...sqliteBucketSums(db, table, model.enums)].sort();
        assert.equal([...(await pgBucketSums(client, 'public', table))].sort(), sums, `${table.name} differs`);
      }
    });
  } finally {
    db.close();
  }
}

/** Blob rows as hex (hash → parentHash or null), from the live SQLite file and from PostgreSQL. */
function sqliteBlobs(install: FeaturesInstall): Map<string, string | null> {
  const db = new Database(install.sqlitePath, { readonly: true });
  try {
    const rows = db
      .prepare(
        `SELECT lower(hex("hash")) AS h, CASE WHEN "parentHash" IS NOT NULL THEN lower(hex("parentHash")) END AS p FROM "Blob"`,
      )
      .all() as {
      h: string;
      p: string | null;
    }[];
    return new Map(rows.map((r) => [r.h, r.p]));
  } finally {
    db.close();
  }
}
async function pgBlobs(url: string): Promise<Map<string, string | null>> {
  const { rows } = await withClient(url, (c) =>
    c.query<{ h: string; p: string | null }>(
      `SELECT encode("hash", 'hex') AS h, encode("parentHash", 'hex') AS p FROM "Blob"`,
    ),
  );
  return new Map(rows.map((r) => [r.h, r.p]));
}

/** The orphan Blob (its parent is gone) and the Blob depending on it, as hex. */
function blobOrphanAndChild(install: FeaturesInstall): { orphan: string; child: string } {
  const blobs = sqliteBlobs(install);
  const orphan = [...blobs].find(([, p]) => p !== null && !blobs.has(p))![0];
  const child = [...blobs].find(([, p]) => p === orphan)![0];
  return { orphan, child };
}

const readLines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

test('refuse (default): export-sqlite exits 4 with one line naming key, table, count and keys; load-pg then refuses before touching the target', async () => {
  const { url, name } = await server.freshDatabase('orphrefuse');
  const { runDir, runs } = await chain(membershipOrphans, url, []);
  const exp = runs['export-sqlite'];
  assert.is(exp.code, 4, exp.stderr);
  const lines = errorLines(exp.stderr);
  assert.is(lines.length, 1, exp.stderr);
  assert.match(
    lines[0],
    /foreign key "Membership_accountId_fkey" is violated by the snapshot's data: 2 rows of "Membership" \(id=\d+: accountId=\d+; id=\d+: accountId=\d+\) point at no "view" row through accountId .*--orphans=null .*--orphans=delete/,
  );
  assert.is(exp.json!.orphans.foreignKeys[0].count, 2);
  const load = await runTask('load-pg', ['--app-dir', membershipOrphans.appDir, '--run-dir', runDir, '--json'], {
    env: { TARGET_DATABASE_URL: url },
  });
  assert.is(load.code, 4, load.stderr);
  assert.match(load.json!.error, /foreign key "Membership_accountId_fkey" .*then run export-sqlite again/);
  const tables = await server.query(name, `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`);
  assert.is(tables.rows[0].n, 0, 'the target was never touched');
  const journal = JSON.parse(readFileSync(path.join(runDir, 'journal.json'), 'utf8'));
  assert.is(journal.steps['export-sqlite'].status, 'failed');
  assert.is(journal.steps['load-pg'].status, 'failed');
});

test('--orphans=null on a required relation: exit 2 naming the field; orphans.jsonl always matches the manifest', async () => {
  const backup = await runTask('backup', ['--app-dir', membershipOrphans.appDir, '--json']);
  const runDir = backup.json!.runDir as string;
  const exportWith = (flags: string[]) =>
    runTask('export-sqlite', ['--app-dir', membershipOrphans.appDir, '--run-dir', runDir, '--json', ...flags]);
  const listFile = path.join(runDir, 'orphans.jsonl');
  const manifest = () => JSON.parse(readFileSync(path.join(runDir, 'manifest.json'), 'utf8'));
  const deleted = await exportWith(['--orphans=delete']);
  assert.is(deleted.code, 0, deleted.stderr);
  assert.is(readLines(listFile).length, 2);
  const exp = await exportWith(['--orphans=null']);
  assert.is(exp.code, 2, exp.stderr);
  assert.match(
    exp.json!.error,
    /--orphans=null: field Membership\.accountId \("Membership"\."accountId", Int\) is required/,
  );
  assert.is(errorLines(exp.stderr).length, 1);
  // Refused before anything was written: the earlier manifest and its list are still a pair.
  assert.equal([manifest().orphans.mode, readLines(listFile).length], ['delete', 2]);
  const refused = await exportWith([]);
  assert.is(refused.code, 4, refused.stderr);
  assert.is(manifest().orphans.mode, 'refuse');
  assert.not.ok(existsSync(listFile), 'a refused export leaves no list of an earlier one');
});

test('--orphans=null: the orphan loads with its foreign key NULL, listed in orphans.jsonl; verify passes; keys VALID', async () => {
  const { url } = await server.freshDatabase('orphnull');
  const { orphan } = blobOrphanAndChild(blobOrphans);
  const before = sqliteBlobs(blobOrphans);
  const { runDir, runs } = await chain(blobOrphans, url, ['--orphans=null']);
  for (const task of ['export-sqlite', 'load-pg', 'verify'])
    assert.is(runs[task]?.code, 0, `${task}: ${runs[task]?.stderr}`);
  assert.equal(
    [runs['export-sqlite'].json!.orphans.nulledRows, runs['export-sqlite'].json!.orphans.leftOutRows],
    [1, 0],
  );
  assert.match(
    runs['load-pg'].json!.summary,
    /1 orphan row loaded with the foreign key NULL \(--orphans=null; listed in .*orphans\.jsonl\)/,
  );
  assert.match(runs.verify.json!.summary, /verify passed/);
  const counts = runs.verify.json!.gates.find((g: { gate: string }) => g.gate === 'counts');
  assert.match(counts.reason, /1 orphan row loaded with the foreign key NULL/);
  // Rows equal to the snapshot's, the orphan's parentHash NULL.
  const expected = new Map(before);
  expected.set(orphan, null);
  assert.equal([...(await pgBlobs(url))].sort(), [...expected].sort());
  await assertOtherTablesEqual(blobOrphans, url, 'Blob');
  const listed = readLines(path.join(runDir, 'orphans.jsonl'));
  assert.is(listed.length, 1);
  assert.is(listed[0].table, 'Blob');
  assert.is(listed[0].action, 'nulled');
  assert.equal(listed[0].nulledColumns, ['parentHash']);
  assert.is(listed[0].values.hash, `\\x${orphan}`);
  assert.is(listed[0].values.parentHash, `\\x${before.get(orphan)}`);
  await assertForeignKeysValid(url);
});

test('--orphans=delete: the orphan and the row depending on it are left out, both listed; verify passes; keys VALID', async () => {
  const { url } = await server.freshDatabase('orphdelete');
  const { orphan, child } = blobOrphanAndChild(blobOrphans);
  const before = sqliteBlobs(blobOrphans);
  // Six slots: every table but the biggest is converted in a worker thread of its own, the treated Blob included.
  const { runDir, runs } = await chain(blobOrphans, url, ['--orphans=delete'], ['--jobs', '6']);
  for (const task of ['export-sqlite', 'load-pg', 'verify'])
    assert.is(runs[task]?.code, 0, `${task}: ${runs[task]?.stderr}`);
  assert.equal(
    [runs['export-sqlite'].json!.orphans.nulledRows, runs['export-sqlite'].json!.orphans.leftOutRows],
    [0, 2],
  );
  const expected = new Map(before);
  expected.delete(orphan);
  expected.delete(child);
  assert.equal([...(await pgBlobs(url))].sort(), [...expected].sort());
  await assertOtherTablesEqual(blobOrphans, url, 'Blob');
  const listed = readLines(path.join(runDir, 'orphans.jsonl'));
  assert.equal(
    listed.map((l) => [l.values.hash, l.action]).sort(),
    [
      [`\\x${child}`, 'left out'],
      [`\\x${orphan}`, 'left out'],
    ].sort(),
  );
  const childEntry = listed.find((l) => l.values.hash === `\\x${child}`);
  assert.match(childEntry.reason, /depends on a left-out "Blob" row .*through foreign key "Blob_parentHash_fkey"/);
  const counts = runs.verify.json!.gates.find((g: { gate: string }) => g.gate === 'counts');
  assert.match(counts.reason, /agree; 2 rows left out: orphans and the rows depending on them/);
  await assertForeignKeysValid(url);
});

test('upgrade refuses orphans in phase 1 (exit 4, the app never stopped) naming them; --orphans=delete applies, kept in the journal for a resumed run', async () => {
  const install = await createFeaturesInstall({ rows: 12, blobOrphans: 1 });
  try {
    const { url } = await server.freshDatabase('orphupgrade');
    // A rehearsal on a copy as RUNBOOK.md's: no services to stop or start, no health probe, no app client to generate.
    const common = [
      ...['--app-dir', install.appDir, '--stop-cmd', 'true', '--start-cmd', 'true', '--health-url', 'none'],
      ...['--system-env', path.join(install.appDir, 'none.env'), '--no-generate', '--yes', '--json'],
    ];
    const env = { TARGET_DATABASE_URL: url };
    const refused = await runTask('upgrade', common, { env, timeoutMs: 300_000 });
    // Online, the export runs while the app runs: the refusal comes before anything was stopped or switched.
    assert.is(refused.code, 4, refused.stderr);
    assert.not.ok(refused.json!.rolledBack, 'nothing to roll back');
    assert.match(
      refused.json!.cause,
      /foreign key "Blob_parentHash_fkey" is violated .*--orphans=null .*--orphans=delete/,
    );
    const run = await runTask('upgrade', [...common, '--orphans=delete'], { env, timeoutMs: 300_000 });
    assert.is(run.code, 0, run.stderr);
    const runDir = run.json!.runDir as string;
    const journal = JSON.parse(readFileSync(path.join(runDir, 'journal.json'), 'utf8'));
    assert.is(journal.state.upgrade.options.orphans, 'delete');
    const manifest = JSON.parse(readFileSync(path.join(runDir, 'manifest.json'), 'utf8'));
    assert.equal([manifest.orphans.mode, manifest.orphans.leftOutRows], ['delete', 2]);
    assert.is(readLines(path.join(runDir, 'orphans.jsonl')).length, 2);
    assert.ok(run.json!.verify.gates.every((g: { ok: boolean }) => g.ok));
    await assertForeignKeysValid(url);
  } finally {
    rmSync(install.appDir, { recursive: true, force: true });
  }
});

test('the two-thread export (worker scans) applies the same treatment: the same manifest tables', async () => {
  const backup = await runTask('backup', ['--app-dir', blobOrphans.appDir, '--json']);
  const runDir = backup.json!.runDir as string;
  const { settings } = loadSettings(['--app-dir', blobOrphans.appDir, '--run-dir', runDir]);
  const log = createLogger({ quiet: true });
  const tablesOf = async (workerThresholdBytes?: number) => {
    const result = await exportSqlite(settings, log, { orphans: 'delete', workerThresholdBytes });
    assert.ok(result.ok, result.summary);
    const manifest = JSON.parse(readFileSync(path.join(runDir, 'manifest.json'), 'utf8'));
    return manifest.tables.map((t: { name: string; rowCount: number; contentHash: string }) => [
      t.name,
      t.rowCount,
      t.contentHash,
    ]);
  };
  const inline = await tablesOf();
  const threads = await tablesOf(0);
  assert.equal(threads, inline);
  assert.is(inline.find((t: unknown[]) => t[0] === 'Blob')[1], blobOrphans.rowCounts.Blob - 2);
});

test('a resumed upgrade with another --orphans redoes export, load and verify with it', async () => {
  const install = await createFeaturesInstall({ rows: 12, blobOrphans: 1 });
  try {
    const { url } = await server.freshDatabase('orphresume');
    const { orphan, child } = blobOrphanAndChild(install);
    const common = [
      ...['--app-dir', install.appDir, '--stop-cmd', 'true', '--start-cmd', 'true', '--health-url', 'none'],
      ...['--system-env', path.join(install.appDir, 'none.env'), '--no-generate', '--yes', '--json'],
    ];
    const env = { TARGET_DATABASE_URL: url };
    // Offline, killed after load-pg (paused at source-unchanged, inside the window): the guardian puts the app back,
    // the run stays unfinished and resumes in its mode.
    const first = spawnTask('upgrade', [...common, '--offline', '--orphans=delete'], {
      ...env,
      VISIONSUIT_MIGRATE_PAUSE_AT: 'source-unchanged',
    });
    const runDir = await eventually(
      'paused after load-pg',
      () => runDirs(install.appDir).find((d) => existsSync(pauseMarker(d, 'source-unchanged'))),
      (d) => d !== undefined,
      180_000,
    );
    first.child.kill('SIGKILL');
    await first.done;
    await eventually(
      'the guardian finished',
      () => journalOf(runDir!)?.state?.guardian,
      (g) => g?.upgradePid === first.child.pid,
      90_000,
    );
    assert.is(JSON.parse(readFileSync(path.join(runDir!, 'manifest.json'), 'utf8')).orphans.mode, 'delete');
    const resumed = await runTask('upgrade', [...common, '--orphans=null'], { env, timeoutMs: 300_000 });
    assert.is(resumed.code, 0, resumed.stderr);
    assert.is(resumed.json!.runDir, runDir);
    assert.match(
      resumed.stderr,
      /--orphans=null, the earlier export applied --orphans=delete: redoing export, load and verify/,
    );
    const manifest = JSON.parse(readFileSync(path.join(runDir!, 'manifest.json'), 'utf8'));
    assert.equal([manifest.orphans.mode, manifest.orphans.nulledRows, manifest.orphans.leftOutRows], ['null', 1, 0]);
    assert.equal(
      readLines(path.join(runDir!, 'orphans.jsonl')).map((l) => l.action),
      ['nulled'],
    );
    const blobs = await pgBlobs(url);
    assert.is(blobs.get(orphan), null, 'the orphan is loaded, its parentHash NULL');
    assert.is(blobs.get(child), orphan, 'the row depending on it is loaded too');
    assert.is(
      JSON.parse(readFileSync(path.join(runDir!, 'journal.json'), 'utf8')).state.upgrade.options.orphans,
      'null',
    );
  } finally {
    rmSync(install.appDir, { recursive: true, force: true });
  }
});

test('--orphans is in the help of export-sqlite and upgrade; a bad value is exit 2', async () => {
  for (const task of ['export-sqlite', 'upgrade']) {
    const help = await runTask(task, ['--help']);
    assert.is(help.code, 0);
    assert.match(help.stderr, /--orphans refuse\|null\|delete/);
  }
  const bad = await runTask('export-sqlite', ['--app-dir', blobOrphans.appDir, '--orphans=drop', '--json']);
  assert.is(bad.code, 2);
  assert.match(bad.json!.error, /--orphans must be refuse, null, delete, got "drop"/);
});

test.run();
