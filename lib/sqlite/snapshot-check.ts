import { existsSync, readFileSync, rmSync, statSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { sourceProblem } from '../errors.ts';
import { sha256OfFile } from '../files/file-tree.ts';
import { writeFileAtomic, writeJsonAtomic } from '../files/fs-atomic.ts';
import { assertOwnedFile, RUN_FILES } from '../run/run-dir.ts';

/**
 * "Is the snapshot still exactly the file backup wrote?" — asked by export-sqlite and load-pg before they read it.
 *
 * The answer is the sha256 in snapshot.sqlite.sha256. Hashing a 350 MB snapshot costs ~0.6 s of CPU each time, and an
 * upgrade asks several times within minutes, so a full hash that matches leaves a *seal* beside the snapshot: the
 * file's identity and change times (dev, inode, size, mtime and ctime in ns). While the file's stat still equals the
 * seal, nothing has written to it since it was hashed, and the hash is not redone; any write, copy over, rename or
 * touch changes the stat (ctime cannot be set back from user space) and the next check hashes in full again.
 * That is the racy-git rule: a file modified within the same coarse timestamp tick as the hash could keep its mtime,
 * so a file whose mtime is less than RACY_MS old when hashed is not sealed (the next check hashes it again).
 */
export interface SnapshotCheck {
  file: string;
  sha256: string;
  bytes: number;
  /** 'hashed': read and hashed now; 'sealed': stat unchanged since an earlier full hash matched. */
  method: 'hashed' | 'sealed';
}

export const SNAPSHOT_SEAL_FILE = 'snapshot.sqlite.seal.json';
const RACY_MS = 2000;

interface Seal {
  sha256: string;
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
  sealedAt: string;
}

/** Parse snapshot.sqlite.sha256 (`<hex>  snapshot.sqlite`, sha256sum's format). */
export function parseChecksumFile(text: string): string | undefined {
  const match = /^([0-9a-f]{64})\b/.exec(text.trim());
  return match?.[1];
}

type StatKey = Omit<Seal, 'sha256' | 'sealedAt'>;

function statKey(st: BigIntStats): StatKey {
  return {
    dev: String(st.dev),
    ino: String(st.ino),
    size: String(st.size),
    mtimeNs: String(st.mtimeNs),
    ctimeNs: String(st.ctimeNs),
  };
}

const sameStat = (a: StatKey, b: StatKey) =>
  a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;

function readSeal(file: string): Seal | undefined {
  if (existsSync(file)) assertOwnedFile(file);
  try {
    const seal = JSON.parse(readFileSync(file, 'utf8')) as Seal;
    return typeof seal.sha256 === 'string' ? seal : undefined;
  } catch {
    return undefined;
  }
}

/** Seal the snapshot as hashed, when its stat did not move during the hash and its last change is settled. */
function sealIfSettled(runDir: string, sha256: string, before: StatKey, afterStats: BigIntStats): void {
  const sealFile = path.join(runDir, SNAPSHOT_SEAL_FILE);
  const after = statKey(afterStats);
  const settled = Date.now() - Number(afterStats.mtimeNs / 1_000_000n) >= RACY_MS;
  try {
    if (sameStat(before, after) && settled)
      writeJsonAtomic(sealFile, { sha256, ...after, sealedAt: new Date().toISOString() } satisfies Seal);
    else rmSync(sealFile, { force: true });
  } catch {
    // Only a shortcut for the next check: without it, that check hashes in full (e.g. on a full disk).
  }
}

/**
 * backup: hash the snapshot it just wrote and record snapshot.sqlite.sha256 (sha256sum's format), sealing it when
 * it is already settled (a large snapshot usually is, after the integrity check).
 */
export function recordSnapshotChecksum(runDir: string): { sha256: string; bytes: number } {
  const file = path.join(runDir, RUN_FILES.snapshot);
  const before = statKey(statSync(file, { bigint: true }));
  const sha256 = sha256OfFile(file);
  writeFileAtomic(path.join(runDir, RUN_FILES.snapshotChecksum), `${sha256}  ${RUN_FILES.snapshot}\n`);
  const afterStats = statSync(file, { bigint: true });
  sealIfSettled(runDir, sha256, before, afterStats);
  return { sha256, bytes: Number(afterStats.size) };
}

/** The snapshot checked against its checksum file; a missing, changed or damaged snapshot is a source problem (exit 4). */
export function verifySnapshot(runDir: string): SnapshotCheck {
  const file = path.join(runDir, RUN_FILES.snapshot);
  const checksumFile = path.join(runDir, RUN_FILES.snapshotChecksum);
  if (!existsSync(checksumFile))
    throw sourceProblem(`${checksumFile} is missing: the snapshot cannot be trusted; run \`just backup\` again`);
  const expected = parseChecksumFile(readFileSync(checksumFile, 'utf8'));
  if (!expected) throw sourceProblem(`${checksumFile} does not hold a sha256; run \`just backup\` again`);
  if (!existsSync(file)) throw sourceProblem(`snapshot ${file} is missing; run \`just backup\` again`);
  // Another user able to swap the snapshot could swap its checksum too: both must be ours before either counts.
  assertOwnedFile(checksumFile);
  assertOwnedFile(file);

  const before = statKey(statSync(file, { bigint: true }));
  const seal = readSeal(path.join(runDir, SNAPSHOT_SEAL_FILE));
  if (seal && seal.sha256 === expected && sameStat(seal, before))
    return { file, sha256: expected, bytes: Number(before.size), method: 'sealed' };

  const actual = sha256OfFile(file);
  if (actual !== expected) {
    throw sourceProblem(
      `snapshot ${file} does not match its checksum (sha256 ${actual.slice(0, 12)}…, expected ${expected.slice(0, 12)}…): it changed after the backup; run \`just backup\` again`,
    );
  }
  const afterStats = statSync(file, { bigint: true });
  sealIfSettled(runDir, actual, before, afterStats);
  return { file, sha256: actual, bytes: Number(afterStats.size), method: 'hashed' };
}
