import { closeSync, openSync, readSync, statSync } from 'node:fs';

/**
 * What the kernel shows of a file without reading it: device, inode, size, mtime and ctime to the nanosecond, and its
 * first 100 bytes (a SQLite file's header, whose change counter every commit in rollback-journal mode moves). Every
 * write(2) moves mtime and ctime, and no call can set ctime back, so an identity taken before a file was read, and
 * equal after, proves the bytes read were the file's at that moment: when its timestamps can tell (see `telling`).
 */
export interface FileIdentity {
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
  head: string;
  /** Wall clock (ns) when the identity was taken. */
  takenAtNs: string;
}

const HEAD_BYTES = 100;
/** Older than this, a file's last change cannot share a timestamp tick with a later write. */
const QUIET_NS = 50_000_000n;
const MS_NS = 1_000_000n;

export function readFileIdentity(file: string): FileIdentity {
  const takenAtNs = BigInt(Date.now()) * MS_NS;
  const st = statSync(file, { bigint: true });
  const head = Buffer.alloc(HEAD_BYTES);
  const fd = openSync(file, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, HEAD_BYTES, 0);
  } finally {
    closeSync(fd);
  }
  return {
    dev: st.dev.toString(),
    ino: st.ino.toString(),
    size: st.size.toString(),
    mtimeNs: st.mtimeNs.toString(),
    ctimeNs: st.ctimeNs.toString(),
    head: head.subarray(0, n).toString('hex'),
    takenAtNs: takenAtNs.toString(),
  };
}

/**
 * The timestamps can tell a later write: finer than a millisecond (a file system that keeps whole seconds shows
 * none of it), and the last change old enough that a write after the identity lands on a later clock tick (Linux
 * stamps files from a coarse clock, a tick of 1–10 ms).
 */
export function identityIsTelling(id: FileIdentity): boolean {
  const mtime = BigInt(id.mtimeNs);
  const ctime = BigInt(id.ctimeNs);
  const fine = mtime % MS_NS !== 0n || ctime % MS_NS !== 0n;
  const last = mtime > ctime ? mtime : ctime;
  return fine && BigInt(id.takenAtNs) - last >= QUIET_NS;
}

/** How two identities of a file differ (the first field that does), or undefined when they are the same. */
export function identityDifference(was: FileIdentity, now: FileIdentity): string | undefined {
  const fields: (keyof FileIdentity)[] = ['dev', 'ino', 'size', 'mtimeNs', 'ctimeNs', 'head'];
  const field = fields.find((f) => was[f] !== now[f]);
  if (!field) return undefined;
  if (field === 'head') return 'its header changed';
  return `${field} ${was[field]} → ${now[field]}`;
}
