import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadSettings } from '../../lib/cli/config.ts';
import { DomainError } from '../../lib/errors.ts';
import { exitCodeOf } from '../../lib/cli/exit-codes.ts';
import { acquireLock, lockPath } from '../../lib/run/run-lock.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'vs-lock-'));
const settings = loadSettings(['--app-dir', dir], {}, {}).settings;
test.after(() => rmSync(dir, { recursive: true, force: true }));

function deadPid(): number {
  // A PID that just exited (a finished child) is dead for the lock's purposes.
  return spawnSync(process.execPath, [
    '-e',
    'process.stdout.write(String(process.pid))',
  ]).stdout.toString() as unknown as number;
}

test('takes the lock with O_EXCL, a second holder is refused with exit 2 naming the owner, release removes it', () => {
  const lock = acquireLock(settings, 'upgrade --target x');
  const info = JSON.parse(readFileSync(lockPath(settings), 'utf8'));
  assert.is(info.pid, process.pid);
  assert.is(info.host, os.hostname());
  try {
    acquireLock(settings, 'upgrade again');
    assert.unreachable('second lock taken');
  } catch (err) {
    assert.instance(err, DomainError);
    assert.is(exitCodeOf((err as DomainError).outcome), 2);
    assert.match((err as DomainError).message, new RegExp(`another run \\(pid ${process.pid}`));
  }
  lock.release();
  assert.not.ok(existsSync(lockPath(settings)));
});

test('a lock whose PID is dead is stale and taken over', () => {
  mkdirSync(path.dirname(lockPath(settings)), { recursive: true });
  const pid = Number(deadPid());
  writeFileSync(
    lockPath(settings),
    JSON.stringify({ pid, host: os.hostname(), startedAt: '2020-01-01T00:00:00Z', command: 'upgrade' }),
  );
  const lock = acquireLock(settings, 'upgrade');
  assert.is(lock.tookOverFrom?.pid, pid);
  lock.release();
});

test('a live PID with another start time (PID reused) is stale; a half-written lock is stale', () => {
  writeFileSync(
    lockPath(settings),
    JSON.stringify({ pid: process.pid, host: os.hostname(), startedAt: 'x', command: 'upgrade', pidStart: '1' }),
  );
  acquireLock(settings, 'upgrade').release();
  writeFileSync(lockPath(settings), '{"pid": 12');
  acquireLock(settings, 'upgrade').release();
});

test('a lock from another host is never taken over', () => {
  writeFileSync(
    lockPath(settings),
    JSON.stringify({ pid: 1, host: 'other-host.example', startedAt: 'x', command: 'upgrade' }),
  );
  try {
    acquireLock(settings, 'upgrade');
    assert.unreachable();
  } catch (err) {
    assert.is(exitCodeOf((err as DomainError).outcome), 2);
    assert.match((err as DomainError).message, /other-host.example/);
  }
  rmSync(lockPath(settings));
});

test.run();
