import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  openSync,
  renameSync,
  statSync,
} from 'node:fs';
import path from 'node:path';

/**
 * The fallback file takes the original's place under the name the app's env files already use, and the original
 * stays, byte for byte and inode for inode, under `<name>.pre-fallback-<stamp>` beside it: a hard link first (the
 * original now has both names), then one rename of the new file over the name. At every instant the name is
 * either the original or the new file, never missing or half written. The original's -wal/-shm/-journal (if a
 * crash left any) move with it, so the new file never opens with the old file's log.
 *
 * Keeping the name (rather than pointing DATABASE_URL at a new one) lets rollback's restore bring the env files
 * back byte-identical to before the upgrade, and keeps the app's own backup scripts pointing at the live data.
 */
export interface SwapPlan {
  /** The app's file name (what DATABASE_URL names). */
  live: string;
  /** The verified new file, beside it. */
  built: string;
  /** Where the original is kept. */
  aside: string;
}

export interface SwapResult {
  /** The new file's inode now under the live name. */
  ino: number;
  /** false: an earlier attempt had already swapped. */
  swapped: boolean;
  movedLogs: string[];
}

const inode = (file: string) => (existsSync(file) ? statSync(file).ino : undefined);

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** `builtIno`: the new file's inode recorded before the swap (a resumed run recognises its own file by it). */
export function swapIntoPlace(plan: SwapPlan, builtIno: number): SwapResult {
  if (inode(plan.live) === builtIno) return { ino: builtIno, swapped: false, movedLogs: [] };
  if (inode(plan.built) !== builtIno) throw new Error(`${plan.built} is not the verified fallback file any more`);
  const original = existsSync(plan.live) ? statSync(plan.live) : undefined;
  if (original) {
    const asideIno = inode(plan.aside);
    if (asideIno === undefined) linkSync(plan.live, plan.aside);
    else if (asideIno !== original.ino) throw new Error(`${plan.aside} exists and is not ${plan.live}`);
    // The app runs as the owner of its file: the new one gets the same owner and mode.
    chmodSync(plan.built, original.mode & 0o7777);
    if (process.getuid?.() === 0) chownSync(plan.built, original.uid, original.gid);
  }
  const movedLogs: string[] = [];
  for (const suffix of ['-wal', '-shm', '-journal']) {
    if (!existsSync(plan.live + suffix)) continue;
    renameSync(plan.live + suffix, plan.aside + suffix);
    movedLogs.push(plan.aside + suffix);
  }
  renameSync(plan.built, plan.live);
  fsyncDir(path.dirname(plan.live));
  return { ino: builtIno, swapped: true, movedLogs };
}
