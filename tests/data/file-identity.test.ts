/**
 * A file's identity (lib/files/file-identity.ts) and the live-file checks built on it (lib/steps/backup.ts), on real
 * SQLite files: a commit, a write that puts mtime back, a write of the very same bytes and a header change all show;
 * the identity says "unchanged" only while nothing wrote, and then the content hash is taken without a doubt; a
 * file changed since, with no content hash recorded, is reported changed, never taken for unchanged.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, utimesSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from '../../lib/sqlite/driver.ts';
import { identityDifference, identityIsTelling, readFileIdentity } from '../../lib/files/file-identity.ts';
import { sha256OfFile } from '../../lib/files/file-tree.ts';
import { liveChangeFrom, recordedContentHash, type SourceFileState } from '../../lib/steps/backup.ts';

const test = suite('file identity');
let dir: string;
test.before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vs-identity-'));
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sqliteFile(name: string): string {
  const file = path.join(dir, name);
  const db = new Database(file);
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'), ('b')");
  db.close();
  return file;
}

function recordedInPlace(file: string): SourceFileState {
  const identity = readFileIdentity(file);
  const st = statSync(file);
  return { path: file, sha256: '', size: st.size, mtime: st.mtime.toISOString(), wal: null, identity };
}

test('a commit, a write with mtime put back, and a write of the same bytes all change the identity', async () => {
  const file = sqliteFile('writes.db');
  await pause(60);
  const was = readFileIdentity(file);
  assert.ok(identityIsTelling(was), JSON.stringify(was));
  assert.is(identityDifference(was, readFileIdentity(file)), undefined);

  const db = new Database(file);
  db.prepare('UPDATE t SET v = ? WHERE id = 1').run('changed');
  db.close();
  assert.ok(identityDifference(was, readFileIdentity(file)), 'a commit');

  await pause(60);
  const beforeRaw = readFileIdentity(file);
  const st = statSync(file);
  const fd = openSync(file, 'r+');
  const page = Buffer.alloc(16);
  readSync(fd, page, 0, 16, 4096);
  page[0] ^= 0xff;
  writeSync(fd, page, 0, 16, 4096);
  closeSync(fd);
  utimesSync(file, st.atime, st.mtime);
  const afterRaw = readFileIdentity(file);
  assert.ok(identityDifference(beforeRaw, afterRaw), 'a write with mtime put back');
  assert.is.not(afterRaw.ctimeNs, beforeRaw.ctimeNs, 'ctime shows it: no call sets ctime back');
  assert.is(afterRaw.size, beforeRaw.size);

  await pause(60);
  const beforeSame = readFileIdentity(file);
  const same = openSync(file, 'r+');
  readSync(same, page, 0, 16, 8192);
  writeSync(same, page, 0, 16, 8192);
  closeSync(same);
  assert.ok(identityDifference(beforeSame, readFileIdentity(file)), 'the same bytes written again');
});

test('timestamps that cannot tell: whole milliseconds, or a change too recent', () => {
  const file = sqliteFile('recent.db');
  assert.not.ok(identityIsTelling(readFileIdentity(file)), 'changed just now');
  const id = readFileIdentity(file);
  const coarse = { ...id, mtimeNs: '1700000000000000000', ctimeNs: '1700000000000000000' };
  assert.not.ok(identityIsTelling(coarse), 'a file system that keeps whole seconds');
});

test('liveChangeFrom and recordedContentHash on a file read in place', async () => {
  const file = sqliteFile('live.db');
  await pause(60);
  const recorded = recordedInPlace(file);
  assert.is(await liveChangeFrom(recorded, file), undefined, 'unchanged, shown by its identity');
  const sha256 = recordedContentHash(recorded);
  assert.is(sha256, sha256OfFile(file));

  const db = new Database(file);
  db.prepare('INSERT INTO t (v) VALUES (?)').run('late');
  db.close();
  assert.is(recordedContentHash(recorded), '', 'changed since: no hash is taken for it');
  assert.match((await liveChangeFrom(recorded, file)) ?? '', /no content hash was recorded/);
  // With the content hash recorded, a moved identity is decided by the bytes.
  assert.match((await liveChangeFrom({ ...recorded, sha256 }, file)) ?? '', /^sha256/);
  const now = recordedInPlace(file);
  utimesSync(file, new Date(), new Date());
  assert.is(await liveChangeFrom({ ...now, sha256: sha256OfFile(file) }, file), undefined, 'touched, same bytes');
});

test.run();
