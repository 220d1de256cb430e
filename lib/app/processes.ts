import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { $ } from 'zx';

/**
 * The app's processes and their TCP sockets, read from /proc (what ss/lsof do), so the suite can prove from
 * outside which database the app talks to.
 */
export interface TcpSocket {
  inode: string;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** Kernel state: 01 ESTABLISHED, 0A LISTEN, … */
  state: string;
}

function pids(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
}

/** socket:[inode] entries of a process's fd table (empty when it cannot be read). */
export function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(m[1]);
    } catch {
      // closed while we looked
    }
  }
  return out;
}

function decodeAddress(hex: string): string {
  if (hex.length === 8) return [0, 1, 2, 3].map((i) => parseInt(hex.slice(6 - 2 * i, 8 - 2 * i), 16)).join('.');
  // IPv6: four little-endian 32-bit words; an IPv4-mapped address is shown as its IPv4 form.
  const words = [0, 1, 2, 3].map((w) =>
    hex
      .slice(w * 8, w * 8 + 8)
      .match(/../g)!
      .reverse()
      .join(''),
  );
  if (words[0] === '00000000' && words[1] === '00000000' && words[2] === '0000FFFF')
    return decodeAddress(hex.slice(24, 32));
  return words
    .join('')
    .match(/.{4}/g)!
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')
    .toLowerCase();
}

/** Every TCP socket of the host (this network namespace), IPv4 and IPv6. */
export function tcpSockets(): TcpSocket[] {
  const out: TcpSocket[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const [la, lp] = f[1].split(':');
      const [ra, rp] = f[2].split(':');
      out.push({
        inode: f[9],
        localAddress: decodeAddress(la),
        localPort: parseInt(lp, 16),
        remoteAddress: decodeAddress(ra),
        remotePort: parseInt(rp, 16),
        state: f[3],
      });
    }
  }
  return out;
}

/** Processes with a listening socket on this TCP port. */
export function listeningPids(port: number): number[] {
  const inodes = new Set(
    tcpSockets()
      .filter((s) => s.state === '0A' && s.localPort === port)
      .map((s) => s.inode),
  );
  if (!inodes.size) return [];
  return pids().filter((pid) => [...socketInodes(pid)].some((i) => inodes.has(i)));
}

/** The given processes plus all their descendants (from /proc/<pid>/stat's parent PID). */
export function withDescendants(roots: number[]): number[] {
  const children = new Map<number, number[]>();
  for (const pid of pids()) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
    } catch {
      // exited
    }
  }
  const seen = new Set<number>();
  const queue = [...roots];
  while (queue.length) {
    const pid = queue.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return [...seen].sort((a, b) => a - b);
}

function pidFilePids(appDir: string): number[] {
  const runDir = path.join(appDir, 'run');
  let names: string[] = [];
  try {
    names = readdirSync(runDir).filter((n) => n.endsWith('.pid'));
  } catch {
    return [];
  }
  return names
    .map((n) => {
      try {
        return Number(readFileSync(path.join(runDir, n), 'utf8').trim());
      } catch {
        return NaN;
      }
    })
    .filter((pid) => Number.isInteger(pid) && pid > 0 && pids().includes(pid));
}

async function systemdMainPid(unit: string): Promise<number | undefined> {
  const which = await $({ nothrow: true, quiet: true })`command -v systemctl`;
  if (which.exitCode !== 0) return undefined;
  const out = await $({ nothrow: true, quiet: true })`systemctl show -p MainPID --value ${unit}`;
  const pid = Number(out.stdout.trim());
  return out.exitCode === 0 && pid > 0 ? pid : undefined;
}

/**
 * The app's processes: whoever listens on its port, the PIDs in its run/*.pid files (the legacy scripts' backend
 * and Prisma Studio) and systemd's MainPID of vs-backend.service, each with its whole process tree — a backend
 * started through `npm run dev` talks to the database from a child of the PID that was recorded.
 */
export async function appProcesses(appDir: string, port: number | undefined): Promise<number[]> {
  const roots = new Set<number>(port ? listeningPids(port) : []);
  for (const pid of pidFilePids(appDir)) roots.add(pid);
  const main = await systemdMainPid('vs-backend.service');
  if (main) roots.add(main);
  roots.delete(process.pid);
  return withDescendants([...roots]).filter((pid) => pid !== process.pid);
}

/** The TCP sockets owned by these processes. */
export function socketsOf(processIds: number[]): TcpSocket[] {
  const inodes = new Set<string>();
  for (const pid of processIds) for (const i of socketInodes(pid)) inodes.add(i);
  return tcpSockets().filter((s) => inodes.has(s.inode));
}
