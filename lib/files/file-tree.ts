import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  cpSync,
  existsSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';

/** Hashes and moves for the files switch-env and rollback touch (small files: read whole). */
export function sha256Text(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * sha256 of a file of any size through one reused 1 MB buffer: a read stream allocates a new buffer per chunk, and
 * on a 350 MB snapshot the dead ones add ~30 MB to peak RSS before the GC notices them (load-pg's memory bound).
 */
export function sha256OfFile(file: string): string {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(1 << 20);
  const fd = openSync(file, 'r');
  try {
    for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) hash.update(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** Copies `from` over `to` (created or truncated, its mode kept) and returns the sha256 of exactly the bytes copied. */
export function copyFileHashed(from: string, to: string): string {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(1 << 20);
  const source = openSync(from, 'r');
  try {
    const target = openSync(to, 'w');
    try {
      for (let n = readSync(source, buffer); n > 0; n = readSync(source, buffer)) {
        const chunk = buffer.subarray(0, n);
        hash.update(chunk);
        for (let written = 0; written < n;) written += writeSync(target, chunk, written);
      }
    } finally {
      closeSync(target);
    }
  } finally {
    closeSync(source);
  }
  return hash.digest('hex');
}

/** sha256 of a file, undefined when it does not exist. */
export function sha256File(file: string): string | undefined {
  return existsSync(file) ? sha256OfFile(file) : undefined;
}

function walk(dir: string, rel = ''): string[] {
  return readdirSync(path.join(dir, rel), { withFileTypes: true })
    .flatMap((e) => {
      const r = rel ? `${rel}/${e.name}` : e.name;
      return e.isDirectory() ? walk(dir, r) : [r];
    })
    .sort();
}

/** One hash over a folder's relative file names and contents; undefined when the folder does not exist. */
export function treeHash(dir: string): string | undefined {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return undefined;
  const h = createHash('sha256');
  for (const rel of walk(dir)) h.update(`${rel}\0${sha256Text(readFileSync(path.join(dir, rel)))}\n`);
  return h.digest('hex');
}

/**
 * Set the mode of every folder and file below `dir` (the folder itself included). Symbolic links are left alone:
 * chmod would follow them out of the tree (the generated Prisma client links to the suite's node_modules).
 * With `owner`, also chown (best effort: only root may give files away).
 */
export function setTreeModes(
  dir: string,
  modes: { dir: number; file: number },
  owner?: { uid: number; gid: number },
): void {
  if (!existsSync(dir)) return;
  const visit = (p: string) => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return;
    if (owner && (st.uid !== owner.uid || st.gid !== owner.gid)) {
      try {
        chownSync(p, owner.uid, owner.gid);
      } catch {
        // not root: the files stay ours, readable by the modes below
      }
    }
    if (st.isDirectory()) {
      chmodSync(p, modes.dir);
      for (const name of readdirSync(p)) visit(path.join(p, name));
    } else chmodSync(p, modes.file);
  };
  visit(dir);
}

/** Run-dir contents are ours alone: folders 0700, files 0600. */
export function restrictTree(dir: string): void {
  setTreeModes(dir, { dir: 0o700, file: 0o600 });
}

export function listTree(dir: string): string[] {
  return existsSync(dir) ? walk(dir) : [];
}

/** Top-level entries (migration folders) of a migrations directory. */
export function topLevel(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** rename, or copy + delete when source and destination are on different file systems. */
export function moveDir(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    cpSync(from, to, { recursive: true, preserveTimestamps: true });
    rmSync(from, { recursive: true, force: true });
  }
}

export function copyDir(from: string, to: string): void {
  cpSync(from, to, { recursive: true, preserveTimestamps: true });
}
