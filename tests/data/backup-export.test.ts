/**
 * backup and export-sqlite as an operator runs them (real processes, real exit codes) on the sample install:
 * online backup while another process writes, the live file left untouched, bad sources refused with exit 4,
 * the manifest's counts / storage classes / problems, schema mismatches, and the manifest's content hashes equal
 * to what verify computes on PostgreSQL after the rows are COPYed in with load-pg's converters.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Database from '../../lib/sqlite/driver.ts';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { createSampleInstall, type SampleInstall } from '../../fixtures/sample-install.ts';
import { REPO_ROOT, runTask } from '../helpers/cli.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';
import { pgTableHash } from '../../lib/pg/content-hash.ts';
import { loadSchemaModel, type ColumnKind } from '../../lib/prisma/schema-model.ts';
import { columnConverter, convertChecked, type SqliteValue } from '../../lib/sqlite/values.ts';
import { exportSqlite, type Manifest } from '../../lib/steps/export-sqlite.ts';
import { loadSettings } from '../../lib/cli/config.ts';
import { createLogger } from '../../lib/cli/log.ts';

let server: TestPg;
let install: SampleInstall;
let scratch: string;

test.before(async () => {
  server = await startTestPg();
  install = await createSampleInstall({ rows: 800 });
  scratch = mkdtempSync(path.join(os.tmpdir(), 'vs-backup-export-'));
});
test.after(async () => {
  await server?.stop();
  if (install) rmSync(install.appDir, { recursive: true, force: true });
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const oneLine = (stderr: string) =>
  stderr
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('✖'))
    .join('\n');

/** A copy of the sample database under scratch/<name>/dev.db, optionally changed by SQL. */
function sqliteCopy(name: string, sql?: string): string {
  const dir = path.join(scratch, name);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'dev.db');
  copyFileSync(install.sqlitePath, file);
  if (sql) {
    const db = new Database(file);
    db.exec(sql);
    db.close();
  }
  return file;
}

async function backupAndExport(name: string, sqlite: string, exportArgs: string[] = []) {
  const runDir = path.join(scratch, name, 'run');
  const common = ['--app-dir', install.appDir, '--sqlite', sqlite, '--run-dir', runDir];
  const backup = await runTask('backup', [...common, '--json']);
  assert.is(backup.code, 0, backup.stderr);
  const exported = await runTask('export-sqlite', [...common, '--json', ...exportArgs]);
  const manifestFile = path.join(runDir, 'manifest.json');
  const manifest = existsSync(manifestFile) ? (JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest) : undefined;
  return { runDir, backup, exported, manifest };
}

// ---------------------------------------------------------------------------------------------------- happy path

test('backup + export-sqlite on the sample install: snapshot, counts, storage classes, manifest shape', async () => {
  const liveBefore = sha256(install.sqlitePath);
  const backup = await runTask('backup', ['--app-dir', install.appDir, '--json']);
  assert.is(backup.code, 0, backup.stderr);
  const b = backup.json!;
  assert.is(b.integrity, 'ok');
  assert.ok(b.runDir.startsWith(path.join(install.appDir, 'backups', 'pg-migration')), b.runDir);
  assert.is(statSync(b.snapshot).mode & 0o777, 0o600);
  assert.is(sha256(b.snapshot), b.sha256);
  assert.is(readFileSync(path.join(b.runDir, 'snapshot.sqlite.sha256'), 'utf8'), `${b.sha256}  snapshot.sqlite\n`);
  assert.is(b.source.sha256, liveBefore);
  assert.is(sha256(install.sqlitePath), liveBefore, 'live file unchanged');
  const journal = JSON.parse(readFileSync(path.join(b.runDir, 'journal.json'), 'utf8'));
  assert.is(journal.steps.backup.status, 'done');
  assert.is(journal.steps.backup.data.source.sha256, liveBefore);
  assert.ok(readFileSync(path.join(b.runDir, 'run.log'), 'utf8').includes('backup of'));

  // export-sqlite finds the newest run by itself.
  const exported = await runTask('export-sqlite', ['--app-dir', install.appDir, '--json']);
  assert.is(exported.code, 0, exported.stderr);
  assert.is(exported.json!.problemCount, 0);
  const manifest = JSON.parse(readFileSync(path.join(b.runDir, 'manifest.json'), 'utf8')) as Manifest;
  assert.is(manifest.version, 1);
  assert.equal(manifest.snapshot, { file: b.snapshot, sha256: b.sha256, bytes: statSync(b.snapshot).size });
  assert.is(manifest.source.sha256, liveBefore);
  assert.is(manifest.schema.sha256, sha256(install.schemaPath));
  assert.is(manifest.tables.length, 30);
  assert.equal(manifest.problems, []);
  assert.is(manifest.problemCount, 0);

  const db = new Database(install.sqlitePath, { readonly: true });
  try {
    for (const table of manifest.tables) {
      const count = db
        .prepare(`SELECT count(*) FROM ${pg.escapeIdentifier(table.name)}`)
        .pluck()
        .get() as number;
      assert.is(table.rowCount, count, `${table.name} rowCount`);
      assert.ok(/^-?\d+$/.test(table.contentHash), table.contentHash);
    }
    // Storage-class census of a DateTime column holding both epoch-ms INTEGER and TEXT.
    const user = manifest.tables.find((t) => t.name === 'User')!;
    const classes = Object.fromEntries(
      (
        db.prepare(`SELECT typeof("createdAt") AS c, count(*) AS n FROM "User" GROUP BY 1`).all() as {
          c: string;
          n: number;
        }[]
      ).map((r) => [r.c, r.n]),
    );
    assert.ok(classes.integer > 0 && classes.text > 0, 'fixture has a mixed DateTime column');
    assert.equal(user.storageClasses.createdAt, {
      integer: classes.integer ?? 0,
      real: 0,
      text: classes.text ?? 0,
      blob: 0,
      null: 0,
    });
    assert.equal(user.key, ['id']);
    assert.equal(manifest.tables.find((t) => t.name === '_ModelAssetToTag')!.key, ['A', 'B']);
  } finally {
    db.close();
  }
  assert.ok(exported.stderr.includes('createdAt:'), 'per-table summary lists mixed columns');
});

test('the two-thread scan (big snapshots) writes the same manifest as the single-thread scan', async () => {
  const runDir = path.join(scratch, 'threads');
  const backup = await runTask('backup', ['--app-dir', install.appDir, '--run-dir', runDir]);
  assert.is(backup.code, 0, backup.stderr);
  const single = await runTask('export-sqlite', ['--app-dir', install.appDir, '--run-dir', runDir]);
  assert.is(single.code, 0, single.stderr);
  const manifestFile = path.join(runDir, 'manifest.json');
  const one = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
  const { settings } = loadSettings(['--app-dir', install.appDir, '--run-dir', runDir]);
  const result = await exportSqlite(settings, createLogger({ quiet: true }), { workerThresholdBytes: 0 });
  assert.is(result.outcome, 'ok', result.summary);
  const two = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
  assert.equal(two.tables, one.tables);
  assert.is(two.problemCount, 0);
});

test("content hashes in manifest.json equal verify's PostgreSQL computation after a COPY of every table", async () => {
  const { runDir, exported, manifest } = await backupAndExport('pgcheck', install.sqlitePath);
  assert.is(exported.code, 0, exported.stderr);
  const model = loadSchemaModel(install.schemaPath);
  const PG_TYPES: Record<ColumnKind, string> = {
    text: 'text',
    enum: 'text',
    int: 'integer',
    bigint: 'bigint',
    float: 'double precision',
    decimal: 'numeric(65,30)',
    boolean: 'boolean',
    datetime: 'timestamp(3)',
    json: 'jsonb',
    bytes: 'bytea',
  };
  const { url } = await server.freshDatabase('export');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const snapshot = new Database(path.join(runDir, 'snapshot.sqlite'), { readonly: true });
  try {
    for (const table of model.tables) {
      const cols = table.columns.map((c) => `${pg.escapeIdentifier(c.name)} ${PG_TYPES[c.kind]}`).join(', ');
      await client.query(`CREATE TABLE ${pg.escapeIdentifier(table.name)} (${cols})`);
      const converters = table.columns.map((c) => columnConverter(c, model.enums));
      const rows = snapshot
        .prepare(
          `SELECT ${table.columns.map((c) => pg.escapeIdentifier(c.name)).join(', ')} FROM ${pg.escapeIdentifier(table.name)}`,
        )
        .raw(true)
        .safeIntegers(true)
        .all() as SqliteValue[][];
      const lines = rows.map(
        (row) =>
          row
            .map(
              (v, i) =>
                convertChecked(converters[i].copy, v, () => (typeof v === 'string' ? Buffer.from(v) : null)) as string,
            )
            .join('\t') + '\n',
      );
      await pipeline(
        Readable.from(lines),
        client.query(copyFrom(`COPY ${pg.escapeIdentifier(table.name)} FROM STDIN`)),
      );
      const pgHash = await pgTableHash(client, 'public', { name: table.name, columns: table.columns, key: table.key });
      const entry = manifest!.tables.find((t) => t.name === table.name)!;
      assert.is(pgHash.rowCount, entry.rowCount, `${table.name} count`);
      assert.is(pgHash.contentHash, entry.contentHash, `${table.name} content hash`);
    }
  } finally {
    snapshot.close();
    await client.end();
  }
});

// ------------------------------------------------------------------------------------------ backup under writes

const WRITER = `
const Database = require('better-sqlite3');
const db = new Database(process.argv[1], { timeout: 10000 });
// WAL mode with checkpoints off: everything the writer commits stays in the -wal, which the backup must include.
if (process.argv[2] === 'wal') { db.pragma('journal_mode = WAL'); db.pragma('wal_autocheckpoint = 0'); }
const insert = db.prepare('INSERT INTO "AuditLog" ("action", "target", "details", "created_at") VALUES (\\'HEARTBEAT\\', ?, ?, ?)');
let n = 0, stop = false;
process.on('SIGTERM', () => { stop = true; });
const step = () => {
  if (stop) { db.close(); process.stdout.write(String(n)); process.exit(0); }
  db.transaction(() => { for (let i = 0; i < 20; i++) insert.run('w-' + n++, JSON.stringify({ n }), Date.now()); })();
  if (n === 20) process.stderr.write('writing\\n');
  setImmediate(step);
};
step();
`;

function startWriter(
  file: string,
  mode: 'rollback' | 'wal' = 'rollback',
): Promise<{ child: ChildProcess; stop: () => Promise<number> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', WRITER, file, mode], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => {
      err += d;
      if (err.includes('writing')) resolve({ child, stop });
    });
    child.on('error', reject);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    async function stop(): Promise<number> {
      child.kill('SIGTERM');
      const code = await exited;
      assert.is(code, 0, `writer failed: ${err}`);
      return Number(out);
    }
    void exited.then((code) => reject(new Error(`writer exited early (${code}): ${err}`)));
  });
}

test('backup while another process keeps writing: consistent snapshot; the live file is only read', async () => {
  const live = sqliteCopy('writer');
  const countBefore = new Database(live, { readonly: true })
    .prepare('SELECT count(*) FROM "AuditLog"')
    .pluck()
    .get() as number;
  const writer = await startWriter(live);
  let written: number;
  const runDir = path.join(scratch, 'writer', 'run');
  try {
    const backup = await runTask('backup', [
      '--app-dir',
      install.appDir,
      '--sqlite',
      live,
      '--run-dir',
      runDir,
      '--json',
    ]);
    assert.is(backup.code, 0, backup.stderr);
    assert.is(backup.json!.integrity, 'ok');
  } finally {
    written = await writer.stop();
  }
  assert.ok(written > 0, 'the writer wrote while the backup ran');
  const snap = new Database(path.join(runDir, 'snapshot.sqlite'), { readonly: true });
  const inSnapshot = snap.prepare('SELECT count(*) FROM "AuditLog"').pluck().get() as number;
  assert.is(snap.prepare('PRAGMA integrity_check').pluck().get(), 'ok');
  snap.close();
  assert.ok(
    inSnapshot >= countBefore && inSnapshot <= countBefore + written,
    `snapshot holds a committed state (${inSnapshot})`,
  );
  assert.is((inSnapshot - countBefore) % 20, 0, 'never half a writer transaction');

  // With the writer stopped, a backup must leave the live file byte-identical, mtime included.
  const before = { sha: sha256(live), mtime: statSync(live).mtimeMs, size: statSync(live).size };
  const again = await runTask('backup', [
    '--app-dir',
    install.appDir,
    '--sqlite',
    live,
    '--run-dir',
    path.join(scratch, 'writer', 'run2'),
  ]);
  assert.is(again.code, 0, again.stderr);
  assert.equal({ sha: sha256(live), mtime: statSync(live).mtimeMs, size: statSync(live).size }, before);
});

test('backup of a WAL-mode database being written includes what is only in the -wal', async () => {
  const live = sqliteCopy('wal-writer');
  const countBefore = new Database(live, { readonly: true })
    .prepare('SELECT count(*) FROM "AuditLog"')
    .pluck()
    .get() as number;
  const writer = await startWriter(live, 'wal');
  const runDir = path.join(scratch, 'wal-writer', 'run');
  let written: number;
  try {
    assert.ok(statSync(`${live}-wal`).size > 0, 'committed rows sit in the -wal');
    const backup = await runTask('backup', [
      '--app-dir',
      install.appDir,
      '--sqlite',
      live,
      '--run-dir',
      runDir,
      '--json',
    ]);
    assert.is(backup.code, 0, backup.stderr);
    assert.ok(
      backup.json!.source.wal && backup.json!.source.wal.size > 0,
      'the -wal is part of the recorded source state',
    );
  } finally {
    written = await writer.stop();
  }
  const snap = new Database(path.join(runDir, 'snapshot.sqlite'), { readonly: true });
  const inSnapshot = snap.prepare('SELECT count(*) FROM "AuditLog"').pluck().get() as number;
  assert.is(snap.prepare('PRAGMA journal_mode').pluck().get(), 'delete');
  snap.close();
  assert.ok(
    inSnapshot > countBefore && inSnapshot <= countBefore + written,
    `WAL rows are in the snapshot (${inSnapshot - countBefore})`,
  );
  assert.is((inSnapshot - countBefore) % 20, 0, 'never half a writer transaction');
});

// The lock outlasts one attempt's busy timeout (2 s), so the first backup step really meets SQLITE_BUSY.
test('backup waits out a writer holding an exclusive lock and copies the committed database, not an empty one', async () => {
  const live = sqliteCopy('locked');
  const locker = spawn(
    process.execPath,
    [
      '-e',
      `const D = require('better-sqlite3'); const db = new D(${JSON.stringify(live)}); db.exec('BEGIN EXCLUSIVE');
      db.exec("INSERT INTO \\"AuditLog\\" (\\"action\\", \\"created_at\\") VALUES ('LOGIN', 1)");
      process.stdout.write('locked'); setTimeout(() => { db.exec('COMMIT'); db.close(); }, 3000);`,
    ],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise((resolve) => locker.on('exit', resolve));
  await new Promise((resolve) => locker.stdout!.once('data', resolve));
  const runDir = path.join(scratch, 'locked', 'run');
  const r = await runTask('backup', ['--app-dir', install.appDir, '--sqlite', live, '--run-dir', runDir, '--json']);
  await exited;
  assert.is(r.code, 0, r.stderr);
  const snap = new Database(path.join(runDir, 'snapshot.sqlite'), { readonly: true });
  const source = new Database(live, { readonly: true });
  try {
    const tables = `SELECT count(*) FROM sqlite_schema WHERE type = 'table'`;
    assert.is(snap.prepare(tables).pluck().get(), source.prepare(tables).pluck().get(), 'every table copied');
    assert.is(
      snap.prepare('SELECT count(*) FROM "AuditLog"').pluck().get(),
      source.prepare('SELECT count(*) FROM "AuditLog"').pluck().get(),
    );
  } finally {
    snap.close();
    source.close();
  }
});

// ------------------------------------------------------------------------------------------------ bad sources

test('backup refuses bad sources with exit 4 and a one-line cause', async () => {
  const dir = path.join(scratch, 'bad');
  mkdirSync(dir, { recursive: true });
  const notSqlite = path.join(dir, 'notes.db');
  writeFileSync(notSqlite, 'this is not a database\n'.repeat(100));
  const empty = path.join(dir, 'empty.db');
  writeFileSync(empty, '');
  const walOnly = path.join(dir, 'gone.db');
  writeFileSync(`${walOnly}-wal`, Buffer.alloc(4096, 1));
  const corrupt = sqliteCopy('corrupt');
  const size = statSync(corrupt).size;
  const bytes = readFileSync(corrupt);
  // Keep the header page, scramble the rest: table b-tree pages become garbage.
  for (let i = 4096; i < size; i++) bytes[i] = (i * 7919) & 0xff;
  writeFileSync(corrupt, bytes);

  // A writer killed mid-transaction leaves a hot rollback journal: a read-only reader must not copy the torn file.
  const hot = path.join(dir, 'hot.db');
  spawnSync(
    process.execPath,
    [
      '-e',
      `const D = require('better-sqlite3'); const db = new D(${JSON.stringify(hot)}); db.exec('CREATE TABLE t(a)');
      const i = db.prepare('INSERT INTO t VALUES (?)'); db.transaction(() => { for (let k = 0; k < 5000; k++) i.run('x'.repeat(100) + k); })();
      db.pragma('cache_size = 10'); db.exec('BEGIN'); db.exec("UPDATE t SET a = a || 'changed'"); process.kill(process.pid, 'SIGKILL');`,
    ],
    { cwd: REPO_ROOT },
  );
  assert.ok(existsSync(`${hot}-journal`), 'hot journal left behind');

  const cases: [string, string, RegExp][] = [
    ['missing', path.join(dir, 'nope.db'), /SQLite file .*nope\.db does not exist$/m],
    ['hot-journal', hot, /has a hot journal/],
    ['wal-only', walOnly, /does not exist, but its write-ahead log .*gone\.db-wal does/],
    ['not-sqlite', notSqlite, /is not a SQLite database/],
    ['empty', empty, /is empty \(0 bytes\)/],
    ['corrupt', corrupt, /corrupt|malformed|integrity_check failed|not a database/],
  ];
  const results = await Promise.all(
    cases.map(([name, file]) =>
      runTask('backup', [
        '--app-dir',
        install.appDir,
        '--sqlite',
        file,
        '--run-dir',
        path.join(dir, `run-${name}`),
        '--json',
      ]),
    ),
  );
  results.forEach((r, i) => {
    const [name, , pattern] = cases[i];
    assert.is(r.code, 4, `${name}: ${r.stderr}`);
    const line = oneLine(r.stderr);
    assert.is(line.split('\n').length, 1, `${name}: one line: ${line}`);
    assert.match(line, pattern, name);
    assert.is(r.json!.exitCode, 4);
  });
  // No SQLite configured at all (an app dir without backend/.env): a configuration error.
  const bare = path.join(scratch, 'bare-app');
  mkdirSync(bare, { recursive: true });
  const none = await runTask('backup', ['--app-dir', bare]);
  assert.is(none.code, 2, none.stderr);
  assert.match(none.stderr, /is not a VisionSuit install/);
});

test('backup works on a read-only WAL database in a read-only directory (as an unprivileged user when root)', async () => {
  const dir = path.join(scratch, 'ro');
  mkdirSync(path.join(dir, 'db'), { recursive: true });
  const live = path.join(dir, 'db', 'dev.db');
  copyFileSync(install.sqlitePath, live);
  const db = new Database(live);
  db.pragma('journal_mode = WAL');
  db.close(); // a clean close checkpoints and removes -wal/-shm, as a stopped app leaves it
  const runs = path.join(dir, 'runs');
  mkdirSync(runs);
  chmodSync(live, 0o444);
  chmodSync(path.join(dir, 'db'), 0o555);
  const before = sha256(live);
  const asRoot = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;
  let result: { code: number | null; stderr: string };
  if (asRoot) {
    // Root ignores file modes; run the task as `nobody` so the read-only bits are real.
    for (let p = dir; p !== path.dirname(p) && p.startsWith(scratch); p = path.dirname(p))
      chmodSync(p, statSync(p).mode | 0o555);
    chmodSync(scratch, statSync(scratch).mode | 0o555);
    const nobody = Number(spawnSync('id', ['-u', 'nobody']).stdout.toString());
    chownSync(runs, nobody, 0);
    const child = spawnSync(
      'setpriv',
      [
        '--reuid=nobody',
        '--regid=nogroup',
        '--clear-groups',
        process.execPath,
        '--import',
        'tsx',
        path.join(REPO_ROOT, 'tasks/backup.ts'),
        '--app-dir',
        install.appDir,
        '--sqlite',
        live,
        '--run-dir',
        path.join(runs, 'r'),
      ],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH, HOME: '/tmp', NO_COLOR: '1' }, encoding: 'utf8' },
    );
    result = { code: child.status, stderr: child.stderr };
  } else {
    result = await runTask('backup', [
      '--app-dir',
      install.appDir,
      '--sqlite',
      live,
      '--run-dir',
      path.join(runs, 'r'),
    ]);
  }
  assert.is(result.code, 0, result.stderr);
  assert.is(sha256(live), before);
  assert.not.ok(existsSync(`${live}-wal`) || existsSync(`${live}-shm`), 'nothing created next to the live file');
  const snap = new Database(path.join(runs, 'r', 'snapshot.sqlite'), { readonly: true });
  assert.is(snap.prepare('PRAGMA journal_mode').pluck().get(), 'delete', 'the snapshot is a self-contained file');
  snap.close();
  chmodSync(path.join(dir, 'db'), 0o755);
});

test('backup refuses a run directory without room for the copy, before copying', async () => {
  const mnt = path.join(scratch, 'tiny');
  mkdirSync(mnt);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]).status === 0;
  if (!mounted) {
    console.log('  (skipped: cannot mount a small tmpfs here)');
    return;
  }
  try {
    const r = await runTask('backup', [
      '--app-dir',
      install.appDir,
      '--sqlite',
      install.sqlitePath,
      '--run-dir',
      path.join(mnt, 'run'),
      '--json',
    ]);
    assert.is(r.code, 4, r.stderr);
    assert.match(oneLine(r.stderr), /not enough free space for the snapshot in .*tiny: need [\d.]+ MB/);
    assert.not.ok(existsSync(path.join(mnt, 'run')), 'nothing written');
  } finally {
    spawnSync('umount', [mnt]);
  }
});

// ----------------------------------------------------------------------------------------------- export checks

test('export-sqlite names values that will not convert (table, column, key) and exits 4 unless --allow-problems', async () => {
  const live = sqliteCopy(
    'problems',
    `UPDATE "AuditLog" SET "details" = '{"broken": ' WHERE "id" = (SELECT min("id") FROM "AuditLog");
     UPDATE "User" SET "displayName" = 'nul' || char(0) || 'byte' WHERE "id" = (SELECT min("id") FROM "User");
     UPDATE "ImageAsset" SET "width" = 'wide' WHERE "id" = (SELECT min("id") FROM "ImageAsset");
     UPDATE "User" SET "role" = 'SUPERUSER' WHERE "id" = (SELECT max("id") FROM "User");
     UPDATE "User" SET "isActive" = 2 WHERE "id" = (SELECT max("id") FROM "User");`,
  );
  const db = new Database(live, { readonly: true });
  const auditId = String(db.prepare('SELECT min("id") FROM "AuditLog"').pluck().get());
  const userMin = db.prepare('SELECT min("id") FROM "User"').pluck().get() as string;
  const imageId = db.prepare('SELECT min("id") FROM "ImageAsset"').pluck().get() as string;
  db.close();

  const { exported, manifest, runDir } = await backupAndExport('problems', live);
  assert.is(exported.code, 4, exported.stderr);
  assert.match(oneLine(exported.stderr), /^✖ 5 values will not convert, first: \S+\.\S+ \S+=\S+ /);
  assert.is(manifest!.problemCount, 5);
  const find = (table: string, column: string) =>
    manifest!.problems.find((p) => p.table === table && p.column === column);
  const json = find('AuditLog', 'details')!;
  assert.ok(json, 'invalid JSON reported');
  assert.equal(json.key, { id: auditId });
  assert.match(json.reason, /invalid JSON/);
  assert.is(json.value, '{"broken": ');
  const nul = find('User', 'displayName')!;
  assert.equal(nul.key, { id: userMin });
  assert.match(nul.reason, /NUL/);
  const wrong = find('ImageAsset', 'width')!;
  assert.equal(wrong.key, { id: imageId });
  assert.match(wrong.reason, /TEXT value in a Int column/);
  assert.match(find('User', 'role')!.reason, /not a value of enum UserRole/);
  assert.match(find('User', 'isActive')!.reason, /not 0 or 1/);
  const journal = JSON.parse(readFileSync(path.join(runDir, 'journal.json'), 'utf8'));
  assert.is(journal.steps['export-sqlite'].status, 'failed');

  const allowed = await runTask('export-sqlite', [
    '--app-dir',
    install.appDir,
    '--run-dir',
    runDir,
    '--allow-problems',
    '--json',
  ]);
  assert.is(allowed.code, 0, allowed.stderr);
  assert.is(allowed.json!.problemCount, 5);
  assert.match(allowed.stderr, /--allow-problems/);
});

test('export-sqlite warns about DateTime integers that look like epoch seconds, and loads nothing differently', async () => {
  const live = sqliteCopy(
    'epoch-seconds',
    `UPDATE "User" SET "createdAt" = 1709406482 WHERE "id" = (SELECT min("id") FROM "User");
     UPDATE "User" SET "createdAt" = 0 WHERE "id" = (SELECT max("id") FROM "User");`,
  );
  const db = new Database(live, { readonly: true });
  const userMin = db.prepare('SELECT min("id") FROM "User"').pluck().get() as string;
  db.close();
  const { exported, manifest } = await backupAndExport('epoch-seconds', live);
  assert.is(exported.code, 0, exported.stderr);
  const suspects = manifest!.epochSuspects.filter((s) => s.table === 'User' && s.column === 'createdAt');
  assert.is(suspects.length, 1, JSON.stringify(manifest!.epochSuspects));
  assert.is(suspects[0].count, 2);
  assert.equal(suspects[0].example, { key: { id: userMin }, value: '1709406482' });
  assert.match(
    exported.stderr,
    new RegExp(
      `"User"\\."createdAt": 2 integer DateTime values near 1970 when read as milliseconds — epoch seconds\\? \\(row id=${userMin}: 1709406482 → 1970-01-20T18:50:06\\.482Z as ms, 2024-03-02T19:08:02\\.000Z as seconds\\)`,
    ),
  );
  // Not a conversion problem: the values convert (as the app reads them today).
  assert.is(manifest!.problemCount, 0);
});

test('export-sqlite refuses a database that does not match the Prisma schema (exit 4, names table and column)', async () => {
  const cases: [string, string, RegExp][] = [
    [
      'missing-table',
      'DROP TABLE "Tag"',
      /table "Tag" \(model Tag\) of the Prisma schema is missing in the SQLite database/,
    ],
    [
      'extra-column',
      'ALTER TABLE "User" ADD COLUMN "nickname" TEXT',
      /column "User"\."nickname" in the SQLite database is not in the Prisma schema/,
    ],
    [
      'renamed-column',
      'ALTER TABLE "User" RENAME COLUMN "displayName" TO "display_name"',
      /column "User"\."displayName" of the Prisma schema is missing in the SQLite database \(SQLite has "display_name" instead: renamed\?\)/,
    ],
  ];
  const results = await Promise.all(cases.map(([name, sql]) => backupAndExport(name, sqliteCopy(name, sql))));
  results.forEach(({ exported, manifest }, i) => {
    const [name, , pattern] = cases[i];
    assert.is(exported.code, 4, `${name}: ${exported.stderr}`);
    assert.match(oneLine(exported.stderr), pattern, name);
    assert.is(manifest, undefined, `${name}: no manifest written`);
  });
});

test('export-sqlite: no snapshot → exit 2 telling to run backup; a changed snapshot → exit 4', async () => {
  const empty = path.join(scratch, 'no-snapshot');
  mkdirSync(empty, { recursive: true });
  const none = await runTask('export-sqlite', ['--app-dir', install.appDir, '--run-dir', empty]);
  assert.is(none.code, 2, none.stderr);
  assert.match(oneLine(none.stderr), /run `just backup` first/);

  const runDir = path.join(scratch, 'tampered');
  const backup = await runTask('backup', ['--app-dir', install.appDir, '--run-dir', runDir]);
  assert.is(backup.code, 0, backup.stderr);
  const snap = new Database(path.join(runDir, 'snapshot.sqlite'));
  snap.exec(`UPDATE "User" SET "displayName" = 'changed' WHERE "id" = (SELECT min("id") FROM "User")`);
  snap.close();
  const r = await runTask('export-sqlite', ['--app-dir', install.appDir, '--run-dir', runDir]);
  assert.is(r.code, 4, r.stderr);
  assert.match(oneLine(r.stderr), /does not match its checksum/);
});

test.run();
