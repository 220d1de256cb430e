import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import Database from 'better-sqlite3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from '../helpers/cli.ts';

/**
 * lib/build-sqlite-binding.mjs (package.json's postinstall) builds better-sqlite3 with V8's one-call builders for its
 * rows and its iterator records. These tests check that the binary every task loads is that build, and that its rows
 * and records are what the stock builders return: whole arrays with every storage class intact, { value, done }.
 */
const packageDir = path.dirname(createRequire(path.join(REPO_ROOT, 'package.json')).resolve('better-sqlite3/package.json'));
const binaryFile = path.join(packageDir, 'build', 'Release', 'better_sqlite3.node');
const recordFile = path.join(packageDir, 'build', 'Release', 'visionsuit-row-builder.json');
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

test('the binding tasks load is the one build-sqlite-binding built with the one-call row and record builders', () => {
  const record = JSON.parse(readFileSync(recordFile, 'utf8')) as Record<string, unknown>;
  assert.is(record.patched, true, 'built from the patched source (false: the patch no longer applies to this better-sqlite3)');
  assert.is(record.binarySha256, sha256(binaryFile), 'the binary on disk is the one that build recorded (run `npm run build:sqlite-binding`)');
  assert.is(record.nodeModuleVersion, process.versions.modules, 'built for this Node');
  assert.ok(readFileSync(path.join(packageDir, 'src', 'util', 'data.cpp'), 'utf8').includes('v8::Array::New(isolate, values.data(), values.size())'));
  assert.ok(readFileSync(path.join(packageDir, 'src', 'objects', 'statement-iterator.hpp'), 'utf8').includes('v8::Object::New(isolate, v8::Object::New(isolate)->GetPrototype(), names, values, 2)'));
  // The binary itself loads (a broken build would throw here, not at the first query).
  new Database(':memory:').close();
});

test('raw rows are whole arrays with every storage class intact, safe integers or not', () => {
  const db = new Database(':memory:');
  try {
    db.exec('CREATE TABLE t (i INTEGER, big INTEGER, r REAL, s TEXT, b BLOB, n TEXT)');
    const text = 'quote \' back\\slash \n tab\t emoji 🧪 nul\u0000end';
    db.prepare('INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)').run(-7, 2n ** 62n + 1n, 3.25, text, Buffer.from([0, 1, 255]), null);
    db.prepare('INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)').run(0, -(2n ** 63n), -0.5, '', Buffer.alloc(0), 'x'.repeat(100_000));

    const safe = db.prepare('SELECT * FROM t ORDER BY rowid').raw(true).safeIntegers(true).all() as unknown[][];
    assert.equal(safe, [
      [-7n, 2n ** 62n + 1n, 3.25, text, Buffer.from([0, 1, 255]), null],
      [0n, -(2n ** 63n), -0.5, '', Buffer.alloc(0), 'x'.repeat(100_000)],
    ]);
    for (const row of safe) {
      assert.ok(Array.isArray(row));
      assert.equal(Object.keys(row), ['0', '1', '2', '3', '4', '5'], 'no holes, no extra properties');
    }

    const iterated = [...(db.prepare('SELECT i, r, n FROM t ORDER BY rowid').raw(true).iterate() as IterableIterator<unknown[]>)];
    assert.equal(iterated, [
      [-7, 3.25, null],
      [0, -0.5, 'x'.repeat(100_000)],
    ]);

    // The iterator's records: plain objects with exactly value and done, in that order, then the closing record.
    const iterator = db.prepare('SELECT i FROM t ORDER BY rowid').raw(true).iterate() as IterableIterator<unknown[]>;
    const first = iterator.next();
    assert.equal(Object.keys(first), ['value', 'done']);
    assert.is(Object.getPrototypeOf(first), Object.prototype);
    assert.equal(first, { value: [-7], done: false });
    assert.equal(iterator.next(), { value: [0], done: false });
    const closing = iterator.next();
    assert.is(closing.done, true);
    assert.is(closing.value, undefined);

    // A wide row: the builder sizes the array from the column count.
    const wide = db.prepare(`SELECT ${Array.from({ length: 300 }, (_, k) => `${k} AS c${k}`).join(', ')}`).raw(true).get() as number[];
    assert.equal(wide, Array.from({ length: 300 }, (_, k) => k));
  } finally {
    db.close();
  }
});

test('running the build again when the binding is up to date changes nothing', () => {
  // Only on an up-to-date binding: otherwise the script would start a minute-long rebuild that the timeout below
  // cuts off half-way, leaving no binary at all. The first test says why the record does not match.
  const record = JSON.parse(readFileSync(recordFile, 'utf8')) as Record<string, unknown>;
  assert.is(record.binarySha256, sha256(binaryFile), 'the binary on disk is the one the build recorded (run `npm run build:sqlite-binding`)');
  const before = statSync(binaryFile).mtimeMs;
  const run = spawnSync(process.execPath, [path.join(REPO_ROOT, 'lib', 'build-sqlite-binding.mjs')], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 });
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stderr, /up to date/);
  assert.is(statSync(binaryFile).mtimeMs, before, 'not rebuilt');
});

test.run();
