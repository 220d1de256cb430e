/**
 * lib/sqlite/snapshot-check.ts: the snapshot's checksum check and its stat seal. A matching full hash seals the file
 * (inode, size, mtime, ctime); while the stat is unchanged the hash is not redone; any change to the file — even one
 * that keeps its size and puts its mtime back — breaks the seal and the full hash finds the change (exit-4 error).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  openSync,
  closeSync,
  writeSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SNAPSHOT_SEAL_FILE, verifySnapshot } from '../../lib/sqlite/snapshot-check.ts';
import { DomainError } from '../../lib/errors.ts';
import { exitCodeOf } from '../../lib/cli/exit-codes.ts';

const test = suite('snapshot check and seal');
let dir = '';

function makeSnapshot(content: Buffer, ageSeconds: number): string {
  const file = path.join(dir, 'snapshot.sqlite');
  writeFileSync(file, content);
  writeFileSync(
    path.join(dir, 'snapshot.sqlite.sha256'),
    `${createHash('sha256').update(content).digest('hex')}  snapshot.sqlite\n`,
  );
  const past = new Date(Date.now() - ageSeconds * 1000);
  if (ageSeconds > 0) utimesSync(file, past, past);
  return file;
}

test.before.each(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vs-seal-'));
});
test.after.each(() => {
  rmSync(dir, { recursive: true, force: true });
});

test('a settled snapshot is hashed once and sealed; the next check trusts the unchanged stat', () => {
  makeSnapshot(Buffer.alloc(3 << 20, 7), 60);
  const first = verifySnapshot(dir);
  assert.is(first.method, 'hashed');
  assert.ok(existsSync(path.join(dir, SNAPSHOT_SEAL_FILE)), 'seal written');
  assert.is(statSync(path.join(dir, SNAPSHOT_SEAL_FILE)).mode & 0o777, 0o600);
  const second = verifySnapshot(dir);
  assert.is(second.method, 'sealed');
  assert.is(second.sha256, first.sha256);
  assert.is(second.bytes, 3 << 20);
});

test('an in-place change that keeps size and mtime still breaks the seal (ctime) and fails the check', () => {
  const file = makeSnapshot(Buffer.alloc(1 << 20, 1), 60);
  assert.is(verifySnapshot(dir).method, 'hashed');
  const { atime, mtime } = statSync(file);
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.from([2]), 0, 1, 4096);
  closeSync(fd);
  utimesSync(file, atime, mtime); // mtime put back; ctime cannot be
  const err = (() => {
    try {
      verifySnapshot(dir);
    } catch (e) {
      return e;
    }
  })();
  assert.instance(err, DomainError);
  assert.is(exitCodeOf((err as DomainError).outcome), 4);
  assert.match((err as DomainError).message, /does not match its checksum/);
});

test('a snapshot modified moments ago is hashed but not sealed (a write in the same timestamp tick could hide)', () => {
  makeSnapshot(Buffer.alloc(1 << 16, 3), 0);
  assert.is(verifySnapshot(dir).method, 'hashed');
  assert.not.ok(existsSync(path.join(dir, SNAPSHOT_SEAL_FILE)));
  assert.is(verifySnapshot(dir).method, 'hashed');
});

test('a seal for another checksum or a copied file is ignored', () => {
  const file = makeSnapshot(Buffer.alloc(1 << 16, 4), 60);
  verifySnapshot(dir);
  const seal = JSON.parse(readFileSync(path.join(dir, SNAPSHOT_SEAL_FILE), 'utf8'));
  writeFileSync(path.join(dir, SNAPSHOT_SEAL_FILE), JSON.stringify({ ...seal, sha256: 'f'.repeat(64) }));
  assert.is(verifySnapshot(dir).method, 'hashed', 'seal of another checksum');
  // A different file with the same content (new inode): hashed again.
  const copy = Buffer.from(readFileSync(file));
  rmSync(file);
  makeSnapshot(copy, 60);
  assert.is(verifySnapshot(dir).method, 'hashed', 'new inode');
});

test('a missing checksum file or snapshot is a source problem naming the file', () => {
  makeSnapshot(Buffer.alloc(10), 60);
  rmSync(path.join(dir, 'snapshot.sqlite.sha256'));
  assert.throws(
    () => verifySnapshot(dir),
    (e: unknown) =>
      e instanceof DomainError && exitCodeOf(e.outcome) === 4 && /snapshot\.sqlite\.sha256 is missing/.test(e.message),
  );
  makeSnapshot(Buffer.alloc(10), 60);
  rmSync(path.join(dir, 'snapshot.sqlite'));
  assert.throws(
    () => verifySnapshot(dir),
    (e: unknown) => e instanceof DomainError && exitCodeOf(e.outcome) === 4 && /snapshot .* is missing/.test(e.message),
  );
});

test.run();
