/**
 * The holder proof by (device, inode): a process in another mount namespace (what a container or a bind mount
 * gives) holds dev.db, -wal and -shm under a path that does not exist in ours; `maintenance on` must still find it
 * and refuse (exit 4), and findHolders must name every file of the family it holds.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findHolders, sqliteFamily } from '../../lib/app/process-files.ts';
import { runTask } from '../helpers/cli.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'vs-mntns-'));
const dataDir = path.join(dir, 'data');
const otherDir = path.join(dir, 'elsewhere');
const db = path.join(dataDir, 'dev.db');
let holder: ChildProcess | undefined;

const unshareProbe = spawnSync('unshare', ['-m', 'true']);
const skipReason = unshareProbe.error
  ? `unshare is not installed (${unshareProbe.error.message})`
  : unshareProbe.status !== 0
    ? `unshare -m is not permitted here: ${unshareProbe.stderr.toString().trim()}`
    : undefined;

test.before(async () => {
  if (skipReason) return;
  mkdirSync(dataDir);
  mkdirSync(otherDir);
  writeFileSync(
    path.join(dir, 'schema.prisma'),
    'datasource db {\n  provider = "sqlite"\n  url = env("DATABASE_URL")\n}\n',
  );
  // The holder writes in WAL mode and stays: dev.db and -wal as descriptors, -shm also memory-mapped.
  const py = [
    'import sqlite3, sys, time',
    `c = sqlite3.connect(${JSON.stringify(path.join(otherDir, 'dev.db'))})`,
    "c.execute('pragma journal_mode=wal')",
    "c.execute('create table if not exists t(x)')",
    "c.execute('insert into t values (1)')",
    'c.commit()',
    "print('ready', flush=True)",
    'time.sleep(600)',
  ].join('\n');
  holder = spawn(
    'unshare',
    ['-m', 'sh', '-c', `mount --bind "$1" "$2" && exec python3 -c "$3"`, 'sh', dataDir, otherDir, py],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    holder!.stdout!.on('data', (d) => String(d).includes('ready') && resolve());
    holder!.on('exit', (code) => reject(new Error(`holder exited ${code}`)));
  });
});
test.after(() => {
  holder?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test('findHolders sees dev.db, -wal and -shm held from another mount namespace, by (device, inode)', () => {
  if (skipReason) return console.log(`skipped: ${skipReason}`);
  // In our namespace the holder's path is an empty folder: a path-string comparison cannot match.
  assert.not.ok(existsSync(path.join(otherDir, 'dev.db')));
  const scan = findHolders(sqliteFamily(db));
  const held = scan.holders.filter((h) => h.pid === holder!.pid);
  const files = new Set(held.map((h) => path.basename(h.file)));
  assert.ok(files.has('dev.db'), JSON.stringify(scan.holders));
  assert.ok(files.has('dev.db-wal'));
  assert.ok(files.has('dev.db-shm'));
  assert.is(scan.gap, undefined, 'as root every process is inspected');
});

test('maintenance on refuses (exit 4) while the other namespace holds the file, naming the pid', async () => {
  if (skipReason) return console.log(`skipped: ${skipReason}`);
  const run = await runTask('maintenance', [
    'on',
    '--app-dir',
    dir,
    '--sqlite',
    db,
    '--schema',
    path.join(dir, 'schema.prisma'),
    '--stop-cmd',
    'true',
    '--wait-seconds',
    '1',
  ]);
  assert.is(run.code, 4, run.stderr);
  assert.match(run.stderr, new RegExp(`pid ${holder!.pid}`));
  assert.match(run.stderr, /writers did not stop/);
});

test.run();
