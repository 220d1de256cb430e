import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
  fsyncSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Settings } from '../cli/config.ts';
import { Outcome, DomainError } from '../errors.ts';
import { assertRunDirBelongsTo, existingRunDir, RUN_FILES, runsRoot } from './run-dir.ts';
import { isPidAlive, processStartTicks } from '../app/process-files.ts';
import { maskSecrets } from '../cli/secrets.ts';

/**
 * One state-changing run per app at a time (upgrade, switch-env, rollback, fresh-install): a lock file
 * `<app>/backups/pg-migration/.lock` created with O_EXCL, holding who owns it. A lock whose PID is dead (or was
 * reused by another program — we compare the process start time) is stale and taken over; a lock from another
 * host is never taken over automatically, because we cannot see that host's processes.
 *
 * A refused lock is exit 2 (the run did not start and changed nothing; it is a "not now", not a data problem).
 */
export interface LockInfo {
  pid: number;
  /** The task holding a run dir's lock (load-pg, verify…); the app-level lock names its command instead. */
  task?: string;
  host: string;
  startedAt: string;
  command: string;
  /** /proc/<pid>/stat start time: tells a reused PID from the owner. */
  pidStart?: string;
}

export interface RunLock {
  file: string;
  info: LockInfo;
  /** Previous owner whose stale lock we took over, if any. */
  tookOverFrom?: LockInfo;
  release(): void;
}

export function lockPath(settings: Settings): string {
  return path.join(runsRoot(settings), '.lock');
}

export function readLock(file: string): LockInfo | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
}

function isStale(info: LockInfo | undefined): boolean {
  if (!info || typeof info.pid !== 'number') return true; // unreadable/half-written lock: its writer died mid-write
  if (!isPidAlive(info.pid)) return true;
  if (info.pidStart && processStartTicks(info.pid) !== info.pidStart) return true;
  return false;
}

/** The per-app lock every upgrade, switch-env and rollback takes (<app>/backups/pg-migration/.lock). */
export function acquireLock(settings: Settings, command: string): RunLock {
  return acquireLockFile(lockPath(settings), command);
}

/** Any lock file with the same rules: owner PID + start time, stale owners taken over, another host refused. */
export function acquireLockFile(
  file: string,
  command: string,
  options: { task?: string; busyMessage?: (holder: LockInfo) => string } = {},
): RunLock {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const info: LockInfo = {
    pid: process.pid,
    host: os.hostname(),
    startedAt: new Date().toISOString(),
    command: maskSecrets(command),
    ...(options.task ? { task: options.task } : {}),
    pidStart: processStartTicks(process.pid),
  };
  let tookOverFrom: LockInfo | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readLock(file);
      if (holder && holder.host !== info.host) {
        throw new DomainError(
          Outcome.Usage,
          `lock ${file} belongs to host ${holder.host} (pid ${holder.pid}, started ${holder.startedAt}); make sure no upgrade runs there, then delete the file`,
          { lock: file, holder },
        );
      }
      if (!isStale(holder)) {
        throw new DomainError(
          Outcome.Usage,
          options.busyMessage?.(holder!) ??
            `another run (pid ${holder!.pid}, started ${holder!.startedAt}: ${holder!.command}) holds ${file}; wait for it to finish`,
          { lock: file, holder },
        );
      }
      // Stale: move it aside atomically so two processes racing for the takeover cannot both win.
      const aside = `${file}.stale.${process.pid}`;
      try {
        renameSync(file, aside);
        rmSync(aside, { force: true });
        tookOverFrom = holder;
      } catch {
        // someone else took it over first; loop and look again
      }
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(info, null, 2) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return {
      file,
      info,
      tookOverFrom,
      release: () => {
        const current = readLock(file);
        if (current && current.pid === info.pid && current.startedAt === info.startedAt) rmSync(file, { force: true });
      },
    };
  }
  throw new DomainError(Outcome.Usage, `could not take the lock ${file} (contended); try again`);
}

export function lockExists(settings: Settings): boolean {
  return existsSync(lockPath(settings));
}

/**
 * One lock per run dir (`<run>/run.lock`), exclusive, taken by every task that writes or reads the run's artifacts
 * (backup, export-sqlite, load-pg, verify, switch-env, rollback, upgrade): a reader alongside a writer would check
 * half-written data, and two readers share report files and generated clients, so readers are exclusive too.
 * Re-entrant within one process (the upgrade runs load-pg and verify in-process); released at exit at the latest.
 */
const heldRunDirLocks = new Map<string, { lock: RunLock; count: number }>();

export function lockRunDir(runDir: string, task: string, command = task): RunLock {
  const file = path.join(runDir, RUN_FILES.lock);
  const held = heldRunDirLocks.get(file);
  if (held) {
    held.count++;
    return { ...held.lock, release: () => releaseRunDirLock(file) };
  }
  const lock = acquireLockFile(file, command, {
    task,
    busyMessage: (holder) =>
      `run dir ${runDir} is in use by ${holder.task ?? holder.command} pid ${holder.pid} (started ${holder.startedAt}); wait for it to finish`,
  });
  heldRunDirLocks.set(file, { lock, count: 1 });
  if (heldRunDirLocks.size === 1) process.once('exit', releaseAllRunDirLocks);
  return { ...lock, release: () => releaseRunDirLock(file) };
}

function releaseRunDirLock(file: string): void {
  const held = heldRunDirLocks.get(file);
  if (!held || --held.count > 0) return;
  heldRunDirLocks.delete(file);
  held.lock.release();
}

function releaseAllRunDirLocks(): void {
  for (const { lock } of heldRunDirLocks.values()) lock.release();
  heldRunDirLocks.clear();
}

/**
 * The run dir a later task works in (existingRunDir: --run-dir or the newest usable run, folders ours), checked to
 * belong to the app it is pointed at, and locked for this task until it ends.
 */
export function claimRunDir(
  settings: Settings,
  task: string,
  neededFile?: string | string[],
): { runDir: string; lock: RunLock } {
  const runDir = existingRunDir(settings, neededFile);
  return { runDir, lock: claimThisRunDir(settings, runDir, task) };
}

/** The same checks and lock for a run dir the task already chose (or just created). */
export function claimThisRunDir(settings: Settings, runDir: string, task: string): RunLock {
  assertRunDirBelongsTo(settings, runDir);
  return lockRunDir(runDir, task);
}
