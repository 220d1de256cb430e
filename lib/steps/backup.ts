import {
  copyFileSync,
  existsSync,
  mkdirSync,
  closeSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statfsSync,
  statSync,
  chmodSync,
} from 'node:fs';
import path from 'node:path';
import Database from '../sqlite/driver.ts';
import type { StepResult } from '../cli/run-cli.ts';
import { resolveSqlitePath, sqliteLookupDescription, type Settings } from '../cli/config.ts';
import { Outcome, DomainError, errorMessage, sourceProblem, usageError } from '../errors.ts';
import { copyFileHashed, sha256OfFile } from '../files/file-tree.ts';
import { identityDifference, readFileIdentity, type FileIdentity } from '../files/file-identity.ts';
import type { Logger } from '../cli/log.ts';
import { createRunDir, recordStep, RUN_FILES, runsRoot, type Journal } from '../run/run-dir.ts';
import { claimThisRunDir } from '../run/run-lock.ts';
import { loadSql } from '../files/sql-files.ts';
import { recordSnapshotChecksum } from '../sqlite/snapshot-check.ts';

/**
 * backup: an online copy of the live SQLite file through SQLite's backup API (consistent even while the app
 * writes), checked with PRAGMA integrity_check, checksummed, in a new run directory. The live file is opened
 * read-only and is never written by this step; every later step reads the copy.
 */
export interface SourceFileState {
  path: string;
  sha256: string;
  size: number;
  mtime: string;
  /** The write-ahead log next to the database, when there is one (its content is part of the database). */
  wal: { path: string; size: number; sha256: string } | null;
  /**
   * Taken before the file was read, equal after (lib/files/file-identity.ts): while the file still shows it, it holds
   * the bytes that were read. `sha256` may then be '' until it is hashed outside the window.
   */
  identity?: FileIdentity;
}

export interface BackupResult extends StepResult {
  runDir: string;
  snapshot: string;
  sha256: string;
  bytes: number;
  /** 'not checked': the online cutover's final snapshot, read only for its delta. */
  integrity: 'ok' | 'not checked';
  foreignKeyViolations: number;
  source: SourceFileState;
  /** How the copy was made: SQLite's backup API, or byte for byte (writers stopped, the file the whole database). */
  copiedBy: 'backup API' | 'byte copy';
  seconds: number;
}

/** Free space needed in the run directory's file system, as a multiple of database + WAL size. */
const SPACE_FACTOR = 1.2;
const SQLITE_HEADER = 'SQLite format 3\u0000';

/** Size, mtime and sha256 of the live database file and its -wal: what the maintenance-window check compares later. */
export async function sourceFileState(
  file: string,
  options: { skipMainHash?: boolean } = {},
): Promise<SourceFileState> {
  const st = statSync(file);
  const walPath = `${file}-wal`;
  let wal: SourceFileState['wal'] = null;
  if (existsSync(walPath)) wal = { path: walPath, size: statSync(walPath).size, sha256: sha256OfFile(walPath) };
  const sha256 = options.skipMainHash ? '' : sha256OfFile(file);
  return { path: file, sha256, size: st.size, mtime: st.mtime.toISOString(), wal };
}

/** Checks that need no SQLite connection: the file exists, is a regular file and starts with SQLite's header. */
export function checkSqliteFile(file: string): void {
  if (!existsSync(file)) {
    if (existsSync(`${file}-wal`)) {
      throw sourceProblem(
        `SQLite file ${file} does not exist, but its write-ahead log ${file}-wal does: the database file was moved or deleted; restore it before migrating`,
      );
    }
    throw sourceProblem(`SQLite file ${file} does not exist`);
  }
  const st = statSync(file);
  if (!st.isFile()) throw sourceProblem(`SQLite file ${file} is not a regular file`);
  if (st.size === 0) throw sourceProblem(`SQLite file ${file} is empty (0 bytes): there is no database to migrate`);
  const header = Buffer.alloc(16);
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    readSync(fd, header, 0, 16, 0);
  } catch (err) {
    throw sourceProblem(`SQLite file ${file} cannot be read: ${errorMessage(err)}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (header.toString('latin1') !== SQLITE_HEADER)
    throw sourceProblem(`${file} is not a SQLite database (no SQLite header)`);
}

/** A SQLite error as a one-line source problem. */
export function sqliteProblem(file: string, err: unknown, doing: string): DomainError {
  if (err instanceof DomainError) return err;
  const code = (err as { code?: string }).code ?? '';
  const message = errorMessage(err);
  if (code === 'SQLITE_READONLY_ROLLBACK') {
    return sourceProblem(
      `SQLite file ${file} has a hot journal (${file}-journal): a writer crashed mid-transaction; let the app (or sqlite3) open it once to roll back, then retry`,
    );
  }
  if (
    code === 'SQLITE_READONLY_DIRECTORY' ||
    code === 'SQLITE_READONLY_CANTINIT' ||
    code === 'SQLITE_READONLY_CANTLOCK'
  ) {
    return sourceProblem(
      `SQLite file ${file} is a WAL-mode database whose ${file}-wal holds data, and this user cannot create ${file}-shm to read it (${code}); run as the app's user, or stop the app so it checkpoints the WAL`,
    );
  }
  if (code === 'SQLITE_NOTADB') return sourceProblem(`${file} is not a SQLite database (${message})`);
  if (code.startsWith('SQLITE_CORRUPT'))
    return sourceProblem(`SQLite file ${file} is corrupt (${message}) while ${doing}`);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
    return sourceProblem(`SQLite file ${file} is locked (${message}) while ${doing}`);
  if (code.startsWith('SQLITE_CANTOPEN'))
    return sourceProblem(
      `SQLite file ${file} cannot be opened (${message}); a WAL-mode database also needs its -wal and -shm readable`,
    );
  if (code.startsWith('SQLITE_')) return sourceProblem(`SQLite error while ${doing} ${file}: ${message} (${code})`);
  return sourceProblem(`${doing} ${file} failed: ${message}`);
}

function nearestExisting(dir: string): string {
  let current = path.resolve(dir);
  while (!existsSync(current)) {
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  return current;
}

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

export async function backup(
  settings: Settings,
  log: Logger,
  options: { online?: boolean } = {},
): Promise<BackupResult> {
  const started = Date.now();
  const live = resolveSqlitePath(settings);
  if (!live) {
    throw usageError(
      `no SQLite database configured: ${sqliteLookupDescription(settings)}; pass --sqlite FILE or --app-dir`,
    );
  }
  checkSqliteFile(live);
  const liveSize = statSync(live).size;
  const walSize = existsSync(`${live}-wal`) ? statSync(`${live}-wal`).size : 0;

  // Refuse before copying anything when the run directory's file system cannot hold the copy.
  const runDirTarget = settings.runDir ?? runsRoot(settings);
  const fsDir = nearestExisting(runDirTarget);
  const fsInfo = statfsSync(fsDir);
  const free = Number(fsInfo.bavail) * Number(fsInfo.bsize);
  const needed = Math.ceil((liveSize + walSize) * SPACE_FACTOR);
  if (free < needed) {
    throw sourceProblem(
      `not enough free space for the snapshot in ${fsDir}: need ${mb(needed)} (${SPACE_FACTOR}× database + WAL), ${mb(free)} free`,
    );
  }

  const runDir = createRunDir(settings);
  claimThisRunDir(settings, runDir, 'backup');
  log.attachFile(path.join(runDir, RUN_FILES.log));
  recordStep(runDir, settings.appDir, 'backup', { status: 'running' });
  log.info(`backup of ${live} (${mb(liveSize + walSize)}) into ${runDir}`);
  try {
    const result = await backupInto(live, runDir, log, { online: options.online });
    const summary = `snapshot ${result.snapshot} (${mb(result.bytes)}, integrity ok, sha256 ${result.sha256.slice(0, 12)}…) in ${((Date.now() - started) / 1000).toFixed(1)} s`;
    recordStep(runDir, settings.appDir, 'backup', {
      status: 'done',
      message: summary,
      data: {
        snapshot: result.snapshot,
        sha256: result.sha256,
        bytes: result.bytes,
        foreignKeyViolations: result.foreignKeyViolations,
        source: result.source,
      },
    });
    return { ok: true, outcome: Outcome.Ok, summary, runDir, ...result, seconds: (Date.now() - started) / 1000 };
  } catch (err) {
    const failure = sqliteProblem(live, err, 'backing up');
    recordStep(runDir, settings.appDir, 'backup', { status: 'failed', message: failure.message });
    throw failure;
  }
}

/**
 * How a snapshot is taken. The phase-1 snapshot (the default) is integrity-checked, checksummed and sealed, and
 * replaces the run's manifest; the online cutover's final snapshot is only read for its delta, inside the window.
 */
export interface SnapshotOptions {
  /** File name in the run dir (default snapshot.sqlite). */
  file?: string;
  /** The full snapshot checks: integrity, foreign keys, checksum and seal, stale manifest removed (default true). */
  checked?: boolean;
  /** The app keeps writing during the copy by design (online cutover): no warning about it. */
  online?: boolean;
  /**
   * The writers are stopped and proven gone (the online cutover's window): a file with no hot journal and no WAL
   * content is the whole database, so it is copied byte for byte and its fingerprint hashed from the same bytes.
   */
  writersStopped?: boolean;
  /**
   * false: the live file's sha256 is not taken (a catch-up round's copy: what the cutover compares the live file
   * with is the window's final state, not this copy's source).
   */
  fingerprint?: boolean;
}

/** The database file alone holds the database: no rollback journal beside it, no -wal or an empty one. */
export function fileIsWholeDatabase(live: string): boolean {
  if (existsSync(`${live}-journal`)) return false;
  const wal = `${live}-wal`;
  return !existsSync(wal) || statSync(wal).size === 0;
}

export async function backupInto(
  live: string,
  runDir: string,
  log: Logger,
  options: SnapshotOptions = {},
): Promise<Omit<BackupResult, keyof StepResult | 'runDir' | 'seconds'>> {
  const checked = options.checked ?? true;
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const snapshot = path.join(runDir, options.file ?? RUN_FILES.snapshot);
  const partial = `${snapshot}.partial`;
  rmSync(partial, { force: true });
  rmSync(`${partial}-journal`, { force: true });
  // Created empty with mode 0600 first: SQLite keeps the mode of an existing file, and the copy holds all app data.
  closeSync(openSync(partial, 'w', 0o600));

  // The live file's state BEFORE the copy is what the cutover check compares against later: any write after this
  // point (during or after the copy) then shows as a change, never as "unchanged but missing from the snapshot".
  // With the writers stopped a file that is the whole database is copied byte for byte, hashed from the same bytes: a
  // write that lands during the copy changes the live file after it was hashed, the cutover's later check sees a
  // different sha256 and refuses, so a torn copy is never taken for the database.
  const wholeFile = Boolean(options.writersStopped) && fileIsWholeDatabase(live);
  const sourceState = await sourceFileState(live, { skipMainHash: wholeFile || options.fingerprint === false });
  let copiedBy: BackupResult['copiedBy'] = wholeFile ? 'byte copy' : 'backup API';
  try {
    if (wholeFile) sourceState.sha256 = copyFileHashed(live, partial);
    else await onlineBackup(live, partial, log);
  } catch (err) {
    if (!canCopyAsFile(live, err)) {
      rmSync(partial, { force: true });
      throw sqliteProblem(live, err, 'backing up');
    }
    // A WAL-mode database in a directory we may not write: SQLite needs to create its -shm there even to read.
    // With no -wal file the database file alone is the whole database, so a byte copy proven unchanged is exact.
    log.warn(
      `${live} is a WAL-mode database in a directory this user cannot write (${(err as { code?: string }).code}); copying the file itself and proving it did not change during the copy`,
    );
    await verifiedFileCopy(live, partial);
    copiedBy = 'byte copy';
  }
  const after = statSync(live);
  if (!options.online && (after.size !== sourceState.size || after.mtime.toISOString() !== sourceState.mtime)) {
    log.warn(
      `${live} changed while it was backed up (the app is writing): the snapshot is consistent, but the cutover needs a backup taken with the writers stopped`,
    );
  }

  let foreignKeyViolations = 0;
  const copy = new Database(partial, { fileMustExist: true });
  try {
    // The copy inherits WAL mode from the source's header; a self-contained single file is easier to checksum,
    // archive and open read-only later.
    copy.prepare(loadSql('backup-sqlite-journal-delete')).get();
    if (!checked) {
      copy.close();
      rmSync(`${partial}-journal`, { force: true });
      renameSync(partial, snapshot);
      return {
        snapshot,
        sha256: '',
        bytes: statSync(snapshot).size,
        integrity: 'not checked',
        foreignKeyViolations: 0,
        source: sourceState,
        copiedBy,
      };
    }
    const integrity = copy.prepare(loadSql('backup-sqlite-integrity-check')).pluck().all() as string[];
    if (!(integrity.length === 1 && integrity[0] === 'ok')) {
      throw sourceProblem(
        `PRAGMA integrity_check failed on the snapshot of ${live}: ${integrity.slice(0, 3).join('; ')}${integrity.length > 3 ? ` (+${integrity.length - 3} more)` : ''}`,
      );
    }
    foreignKeyViolations = (copy.prepare(loadSql('sqlite-foreign-key-check')).all() as unknown[]).length;
    if (foreignKeyViolations) {
      log.warn(
        `PRAGMA foreign_key_check: ${foreignKeyViolations} row(s) reference a missing parent in the snapshot; export-sqlite names them and refuses unless --orphans=null|delete`,
      );
    }
  } catch (err) {
    copy.close();
    rmSync(partial, { force: true });
    throw sqliteProblem(live, err, 'checking the snapshot of');
  }
  copy.close();
  rmSync(`${partial}-journal`, { force: true });
  chmodSync(partial, 0o600);
  renameSync(partial, snapshot);
  // A manifest made from an earlier snapshot in this run directory no longer describes the data.
  const staleManifest = path.join(runDir, RUN_FILES.manifest);
  if (existsSync(staleManifest)) {
    rmSync(staleManifest);
    log.warn(`removed ${staleManifest}: it described the previous snapshot; run \`just export-sqlite\` again`);
  }
  const { sha256, bytes } = recordSnapshotChecksum(runDir);
  return {
    snapshot,
    sha256,
    bytes,
    integrity: 'ok',
    foreignKeyViolations,
    source: sourceState,
    copiedBy,
  };
}

/** How often a backup that found the source locked is retried (with a growing pause) before giving up. */
const BACKUP_ATTEMPTS = 20;
const BUSY_TIMEOUT_MS = 2000;

/** The SQLite backup API copy, source opened read-only, all pages in one step. */
async function onlineBackup(live: string, partial: string, log: Logger): Promise<void> {
  // Busy timeout per attempt; the retry loop below adds up to about a minute before giving up.
  const source = new Database(live, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  try {
    for (let attempt = 1; ; attempt++) {
      let progress = { totalPages: 0, remainingPages: 0 };
      try {
        // A cheap read first, so a file with a valid header but garbage pages fails here with a clear cause.
        source.prepare(loadSql('backup-sqlite-schema-count')).pluck().get();
        // The whole copy in one backup step: SQLite restarts a stepwise backup whenever another process writes, which
        // with a busy app could never finish. One step holds a read transaction for its duration instead (WAL mode:
        // writers carry on; rollback-journal mode: they wait for about a second per 300 MB).
        progress = await source.backup(partial, { progress: () => 0x7fffffff });
      } catch (err) {
        const code = (err as { code?: string }).code ?? '';
        if (!code.startsWith('SQLITE_BUSY') && !code.startsWith('SQLITE_LOCKED')) throw err;
      }
      // better-sqlite3 reports "done" when the very first step met a write lock (SQLITE_BUSY before the page count
      // is known): totalPages 0 and nothing copied. Only a copy with pages is a copy.
      if (progress.totalPages > 0 && progress.remainingPages === 0) return;
      if (attempt === BACKUP_ATTEMPTS) {
        throw sourceProblem(
          `SQLite file ${live} stayed locked by a writer through ${BACKUP_ATTEMPTS} backup attempts; stop the app's writers (just maintenance on) and retry`,
        );
      }
      log.debug(`backup attempt ${attempt}: the source was locked by a writer, retrying`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(50 * attempt, 500)));
    }
  } finally {
    source.close();
  }
}

/** A read-only-directory failure on a database with no (or an empty) -wal file: the file alone is the database. */
function canCopyAsFile(live: string, err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  // Only the "cannot create -shm in this directory" family; never a hot rollback journal (the file is mid-write).
  if (
    !['SQLITE_READONLY_DIRECTORY', 'SQLITE_CANTOPEN', 'SQLITE_READONLY_CANTINIT', 'SQLITE_READONLY_CANTLOCK'].includes(
      code,
    )
  )
    return false;
  if (existsSync(`${live}-journal`)) return false;
  const wal = `${live}-wal`;
  return !existsSync(wal) || statSync(wal).size === 0;
}

/** Byte copy whose consistency is proven: source sha256 before == after == copy's sha256. */
async function verifiedFileCopy(live: string, partial: string): Promise<void> {
  const before = sha256OfFile(live);
  copyFileSync(live, partial);
  chmodSync(partial, 0o600); // copyFile carries the source's mode over (0444 on a read-only install)
  const after = sha256OfFile(live);
  const copied = sha256OfFile(partial);
  if (before !== after || copied !== before) {
    rmSync(partial, { force: true });
    throw sourceProblem(
      `SQLite file ${live} changed while it was copied (read-only directory, so the backup API could not be used): stop the app first, or let this user write to ${path.dirname(live)}`,
    );
  }
}

/** The live file's state recorded by the backup step in the journal (steps.backup.data.source). */
export function backupFingerprint(journal: Journal): SourceFileState | undefined {
  const source = (journal.steps['backup']?.data as { source?: SourceFileState } | undefined)?.source;
  return source && typeof source.sha256 === 'string' ? source : undefined;
}

function sameFingerprint(recorded: SourceFileState, now: SourceFileState): string | undefined {
  if (recorded.sha256 !== now.sha256) return `sha256 ${recorded.sha256.slice(0, 12)}… → ${now.sha256.slice(0, 12)}…`;
  if (recorded.size !== now.size) return `size ${recorded.size} → ${now.size} bytes`;
  // An empty -wal and no -wal hold the same database content.
  const recWal = recorded.wal && recorded.wal.size > 0 ? recorded.wal.sha256 : null;
  const nowWal = now.wal && now.wal.size > 0 ? now.wal.sha256 : null;
  if (recWal !== nowWal)
    return `-wal ${recWal ? recWal.slice(0, 12) + '…' : 'empty'} → ${nowWal ? nowWal.slice(0, 12) + '…' : 'empty'}`;
  return undefined;
}

/** How the live SQLite file differs from what the backup recorded, or undefined when it is byte-identical. */
export async function liveChange(journal: Journal, sqlitePath: string): Promise<string | undefined> {
  return liveChangeFrom(backupFingerprint(journal), sqlitePath);
}

/**
 * The recorded sha256, or for a file read in place (identity recorded, sha256 left for later) its sha256 now, taken
 * only while it still shows that identity before and after the hash; '' when it no longer does.
 */
export function recordedContentHash(recorded: SourceFileState): string {
  if (recorded.sha256 || !recorded.identity || !existsSync(recorded.path)) return recorded.sha256;
  const unchanged = () => !identityDifference(recorded.identity!, readFileIdentity(recorded.path));
  if (!unchanged()) return '';
  const sha256 = sha256OfFile(recorded.path);
  return unchanged() ? sha256 : '';
}

/**
 * How the live SQLite file differs from a recorded fingerprint, or undefined when it is byte-identical: shown by its
 * identity when one was recorded and the file still has it (no read), else by its sha256.
 */
export async function liveChangeFrom(
  recorded: SourceFileState | undefined,
  sqlitePath: string,
): Promise<string | undefined> {
  if (!recorded) return 'no fingerprint of the live file was recorded by the snapshot step';
  if (!existsSync(sqlitePath)) return `${sqlitePath} is gone`;
  if (recorded.identity) {
    const moved = identityDifference(recorded.identity, readFileIdentity(sqlitePath));
    const walContent = !fileIsWholeDatabase(sqlitePath) || Boolean(recorded.wal && recorded.wal.size > 0);
    if (!moved && !walContent) return undefined;
    if (!recorded.sha256)
      return `not as the final read found it (${moved ?? 'a journal or -wal beside it'}), and no content hash was recorded to compare`;
  }
  return sameFingerprint(recorded, await sourceFileState(sqlitePath));
}
