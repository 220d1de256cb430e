import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';

/**
 * Which processes hold a file open — read straight from /proc (what lsof/fuser do), so the maintenance window
 * can PROVE the app's writers are gone instead of trusting maintenance.sh's exit code. Files are matched by
 * (device, inode), never by path: a process in another mount namespace (a container, a bind mount) sees the same
 * file under another path, and stat() on /proc/<pid>/fd/N follows the kernel's own link to the open object.
 * Two sources per process: its open descriptors (/proc/<pid>/fd/*) and its memory maps (/proc/<pid>/map_files/*
 * as root, else the dev/inode columns of /proc/<pid>/maps; SQLite maps the -shm file of a WAL database).
 */
export interface FileHolder {
  pid: number;
  /** Command line with arguments joined by spaces (may be empty for kernel threads / zombies). */
  command: string;
  /** The path we asked about (the holder may see it under another path in its own mount namespace). */
  file: string;
  via: 'fd' | 'maps';
}

export interface UninspectedProcess {
  pid: number;
  /** Owner of the process (numeric uid), the reason we could not look: another user's process while not root. */
  uid?: number;
  command: string;
}

export interface HolderScan {
  holders: FileHolder[];
  /** Processes whose fd table we could not read (not root, or they exited while we looked). */
  unreadable: number;
  /** The processes behind `unreadable` that still exist: what the proof could not cover. */
  uninspected: UninspectedProcess[];
  /** One line saying what could not be inspected, or undefined when every process was. */
  gap?: string;
}
/** The SQLite file plus the side files SQLite opens next to it. */
export function sqliteFamily(file: string): string[] {
  return [file, `${file}-wal`, `${file}-shm`, `${file}-journal`];
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

/** (device, inode) of a file as a map key; undefined when it does not exist (nobody can hold it by that name). */
function fileKey(file: string): string | undefined {
  try {
    const st = statSync(file, { bigint: true });
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** st_dev → the "major:minor" hex pair /proc/<pid>/maps prints (glibc's gnu_dev_major/minor). */
function mapsDevice(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

export function findHolders(files: string[], options: { excludePids?: number[] } = {}): HolderScan {
  if (!existsSync('/proc/self/fd')) throw new Error('/proc is not available: cannot prove the SQLite file is closed');
  const byKey = new Map<string, string>();
  const byMaps = new Map<string, string>();
  const inodes = new Set<string>();
  for (const file of files) {
    try {
      const st = statSync(file, { bigint: true });
      byKey.set(`${st.dev}:${st.ino}`, file);
      byMaps.set(`${mapsDevice(st.dev)} ${st.ino}`, file);
      inodes.add(String(st.ino));
    } catch {
      // does not exist: no process can hold it
    }
  }
  const exclude = new Set([process.pid, ...(options.excludePids ?? [])]);
  const holders: FileHolder[] = [];
  const uninspected: UninspectedProcess[] = [];
  let unreadable = 0;
  const root = isRoot();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (exclude.has(pid)) continue;
    const found = new Map<string, 'fd' | 'maps'>();
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      if (existsSync(`/proc/${pid}`)) {
        unreadable++;
        let uid: number | undefined;
        try {
          uid = statSync(`/proc/${pid}`).uid;
        } catch {
          uid = undefined;
        }
        uninspected.push({ pid, uid, command: commandLine(pid) });
      }
      continue;
    }
    if (byKey.size) {
      for (const fd of fds) {
        const file = byKey.get(fileKey(`/proc/${pid}/fd/${fd}`) ?? '');
        if (file) found.set(file, 'fd');
      }
      let maps = '';
      try {
        maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
      } catch {
        // maps unreadable: the fd table already told us what matters most.
      }
      for (const line of maps.split('\n')) {
        // address perms offset dev inode [pathname]: dev and inode are the kernel's, whatever the holder's namespace.
        const [range, , , device, inode] = line.split(/\s+/, 5);
        if (!inode || inode === '0') continue;
        let file = byMaps.get(`${device} ${inode}`);
        // As root, map_files stats the mapped object itself (stacked file systems may print another device in maps).
        if (!file && root && inodes.has(inode)) file = byKey.get(fileKey(`/proc/${pid}/map_files/${range}`) ?? '');
        if (file && !found.has(file)) found.set(file, 'maps');
      }
    }
    if (found.size) {
      const command = commandLine(pid);
      for (const [file, via] of found) holders.push({ pid, command, file, via });
    }
  }
  return { holders, unreadable, uninspected, gap: describeGap(uninspected) };
}

function describeGap(uninspected: UninspectedProcess[]): string | undefined {
  if (!uninspected.length) return undefined;
  const uids = [...new Set(uninspected.map((p) => p.uid).filter((uid) => uid !== undefined))].sort((a, b) => a! - b!);
  return `${uninspected.length} processes of other users (uid ${uids.join(', ') || '?'}) could not be inspected (not root): run as root to prove none of them holds the file`;
}

/** The process exists and has not exited: a zombie (exited, not yet collected by its parent) counts as gone. */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return statFields(pid)?.[0] !== 'Z';
}

/** The fields of /proc/<pid>/stat after the command name, from field 3 (the state) on. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses; fields after the last ')' are fixed.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot): tells a reused PID from the original. */
export function processStartTicks(pid: number): string | undefined {
  return statFields(pid)?.[19];
}
