import { readdirSync, readFileSync, readlinkSync, realpathSync, existsSync } from 'node:fs';
import path from 'node:path';

/**
 * Which processes hold a file open — read straight from /proc (what lsof/fuser do), so the maintenance window
 * can PROVE the app's writers are gone instead of trusting maintenance.sh's exit code. Two sources per process:
 * its open descriptors (/proc/<pid>/fd/* symlinks) and its memory maps (/proc/<pid>/maps; SQLite maps the -shm
 * file of a WAL database).
 */
export interface FileHolder {
  pid: number;
  /** Command line with arguments joined by spaces (may be empty for kernel threads / zombies). */
  command: string;
  file: string;
  via: 'fd' | 'maps';
}

export interface HolderScan {
  holders: FileHolder[];
  /** Processes whose fd table we could not read (not root, or they exited while we looked). */
  unreadable: number;
}

/** The SQLite file plus the side files SQLite opens next to it. */
export function sqliteFamily(file: string): string[] {
  return [file, `${file}-wal`, `${file}-shm`, `${file}-journal`];
}

function canonical(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    // A side file that does not exist yet: canonicalise its folder so symlinked app dirs still match.
    try {
      return path.join(realpathSync(path.dirname(file)), path.basename(file));
    } catch {
      return path.resolve(file);
    }
  }
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

export function findHolders(files: string[], options: { excludePids?: number[] } = {}): HolderScan {
  const wanted = new Set(files.map(canonical));
  const exclude = new Set([process.pid, ...(options.excludePids ?? [])]);
  const holders: FileHolder[] = [];
  let unreadable = 0;
  if (!existsSync('/proc/self/fd')) throw new Error('/proc is not available: cannot prove the SQLite file is closed');
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (exclude.has(pid)) continue;
    const found = new Map<string, 'fd' | 'maps'>();
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      if (existsSync(`/proc/${pid}`)) unreadable++;
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      target = target.replace(/ \(deleted\)$/, '');
      if (wanted.has(target)) found.set(target, 'fd');
    }
    try {
      for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
        // address perms offset dev inode pathname — the path starts at the first '/' after the inode column.
        const slash = line.indexOf('/');
        if (slash < 0) continue;
        const target = line.slice(slash).replace(/ \(deleted\)$/, '');
        if (wanted.has(target) && !found.has(target)) found.set(target, 'maps');
      }
    } catch {
      // maps unreadable: the fd table already told us what matters most.
    }
    if (found.size) {
      const command = commandLine(pid);
      for (const [file, via] of found) holders.push({ pid, command, file, via });
    }
  }
  return { holders, unreadable };
}

export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot): tells a reused PID from the original. */
export function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses; fields after the last ')' are fixed.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}
