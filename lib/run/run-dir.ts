import {
  realpathSync,
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
} from 'node:fs';
import path from 'node:path';
import { assertAppInstall, type Settings } from '../cli/config.ts';
import { usageError } from '../errors.ts';
import { writeJsonAtomic } from '../files/fs-atomic.ts';
import { maskDeep } from '../cli/secrets.ts';

/**
 * One run directory holds every artifact of one migration run (cli-contract "Run directory"):
 * journal.json, manifest.json, the snapshot, report.json, run.log, and the generated PostgreSQL schema.
 * The first task of a run creates it; later tasks default to the newest one so an operator can chain
 * `just backup && just export-sqlite && just load-pg` without repeating --run-dir.
 */
export const RUN_FILES = {
  journal: 'journal.json',
  manifest: 'manifest.json',
  /** Rows --orphans=null|delete nulled or left out, with their original values (JSON lines). */
  orphans: 'orphans.jsonl',
  snapshot: 'snapshot.sqlite',
  snapshotChecksum: 'snapshot.sqlite.sha256',
  report: 'report.json',
  log: 'run.log',
  pgSchemaDir: 'postgres-schema',
  envBackups: 'env-backups',
  /** The run dir's own lock (run-lock.ts claimRunDir): one task at a time works on a run's artifacts. */
  lock: 'run.lock',
} as const;

export function runsRoot(settings: Settings): string {
  return path.join(settings.appDir, 'backups', 'pg-migration');
}

export function utcStamp(date = new Date()): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** Run directories under <app>/backups/pg-migration, newest first (names are UTC stamps, so they sort by time). */
export function listRunDirs(settings: Settings): string[] {
  assertAppInstall(settings);
  const root = runsRoot(settings);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((name) => /^\d{8}T\d{6}Z/.test(name) && statSync(path.join(root, name)).isDirectory())
    .sort()
    .reverse()
    .map((name) => path.join(root, name));
}

/** Newest run directory under <app>/backups/pg-migration. */
export function newestRunDir(settings: Settings): string | undefined {
  return listRunDirs(settings)[0];
}

const myUid = () => (typeof process.getuid === 'function' ? process.getuid() : 0);

/**
 * Who may own the folders above a run dir: root, us, and the app dir's owner (the app's service user already owns
 * the data we copy). Anyone else owning a folder on the way could rename our run dir and put theirs in its place.
 */
function trustedOwners(settings: Settings): Set<number> {
  const owners = new Set([0, myUid()]);
  try {
    owners.add(statSync(settings.appDir).uid);
  } catch {
    // no app dir: nothing more to trust
  }
  return owners;
}

/**
 * Walk `target` component by component with lstat, following symlinks ourselves: every symlink and every folder on
 * the way must be owned by a trusted user and not writable by group/others (a sticky folder like /tmp is fine); the
 * final folder must be ours and 0700-like. A usage error (exit 2) names the first component that fails.
 */
export function assertOwnedDir(target: string, trusted: Set<number>, what = 'run dir'): void {
  const refuse = (why: string) =>
    usageError(`${what} ${target} is refused: ${why}; use a folder owned by uid ${myUid()} that only it can write`);
  const pending = path.resolve(target).split(path.sep).filter(Boolean);
  let current = '/';
  let hops = 0;
  while (pending.length) {
    const next = path.join(current, pending.shift()!);
    const st = lstatSync(next);
    if (st.isSymbolicLink()) {
      if (!trusted.has(st.uid)) throw refuse(`symlink ${next} is owned by uid ${st.uid}`);
      if (++hops > 40) throw refuse('too many symlinks');
      const link = readlinkSync(next);
      pending.unshift(...link.split(path.sep).filter(Boolean));
      if (path.isAbsolute(link)) current = '/';
      continue;
    }
    if (!st.isDirectory()) throw refuse(`${next} is not a folder`);
    const last = pending.length === 0;
    if (last) {
      if (st.uid !== myUid()) throw refuse(`it is owned by uid ${st.uid}`);
      if (st.mode & 0o022) throw refuse(`it is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`);
    } else {
      if (!trusted.has(st.uid)) throw refuse(`folder ${next} on the way is owned by uid ${st.uid}`);
      if (st.mode & 0o022 && !(st.mode & 0o1000))
        throw refuse(`folder ${next} on the way is writable by group or others`);
    }
    current = next;
  }
}

/** A file we read back from a run dir: a regular file (no symlink), ours, not writable by group/others. */
export function assertOwnedFile(file: string): void {
  const st = lstatSync(file);
  const refuse = (why: string) =>
    usageError(`${file} is refused: ${why}; it may have been replaced, run the step that writes it again`);
  if (st.isSymbolicLink()) throw refuse('it is a symlink');
  if (!st.isFile()) throw refuse('it is not a regular file');
  if (st.uid !== myUid()) throw refuse(`it is owned by uid ${st.uid}, not ${myUid()}`);
  if (st.mode & 0o022) throw refuse(`it is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`);
}

/** The run dir's folders checked for who owns them (see assertOwnedDir). */
export function assertRunDirOwned(settings: Settings, dir: string): void {
  assertOwnedDir(dir, trustedOwners(settings));
}

/** mkdir -p with mode 0700 set explicitly (umask cannot widen it) for every folder this call creates. */
function mkdirPrivate(dir: string): void {
  const missing: string[] = [];
  for (let current = path.resolve(dir); !existsSync(current); current = path.dirname(current)) missing.unshift(current);
  for (const folder of missing) {
    mkdirSync(folder, { mode: 0o700 });
    chmodSync(folder, 0o700);
  }
}

/** A new run directory (mode 0700: it will hold a full copy of the app's data); an existing --run-dir must be ours. */
export function createRunDir(settings: Settings): string {
  assertAppInstall(settings);
  const dir = settings.runDir ?? path.join(runsRoot(settings), utcStamp());
  mkdirPrivate(dir);
  assertRunDirOwned(settings, dir);
  return dir;
}

/** What a later task needs from a run: files that must exist (relative to the run dir). */
function hasAll(dir: string, needed: string[]): boolean {
  return needed.every((file) => existsSync(path.join(dir, file)));
}

/**
 * The run directory a later task works in: --run-dir, else the newest run that has every needed file (an empty or
 * unfinished newer run is skipped, never taken); a usage error when none exists. The folder's owners are checked.
 */
export function existingRunDir(settings: Settings, neededFile?: string | string[]): string {
  assertAppInstall(settings);
  const needed = neededFile === undefined ? [] : Array.isArray(neededFile) ? neededFile : [neededFile];
  let dir = settings.runDir;
  if (!dir) {
    const runs = listRunDirs(settings);
    dir = runs.find((candidate) => hasAll(candidate, needed));
    if (!dir) {
      throw usageError(
        runs.length && needed.length
          ? `no run under ${runsRoot(settings)} has ${needed.join(' and ')} (${runs.length} run dirs looked at); run the step that writes it first or pass --run-dir`
          : `no run directory found (looked in ${runsRoot(settings)}); run \`just backup\` first or pass --run-dir`,
      );
    }
  }
  if (!existsSync(dir))
    throw usageError(`no run directory found (looked in ${dir}); run \`just backup\` first or pass --run-dir`);
  assertRunDirOwned(settings, dir);
  for (const file of needed) {
    if (!existsSync(path.join(dir, file)))
      throw usageError(`${path.join(dir, file)} is missing; run the step that writes it first`);
  }
  return dir;
}

/** (dev, inode) and real path of the app dir, recorded in the journal: a run dir belongs to one install. */
export interface AppIdentity {
  realpath: string;
  dev: string;
  ino: string;
}

export function appIdentity(appDir: string): AppIdentity | undefined {
  try {
    const st = statSync(appDir, { bigint: true });
    return { realpath: realpathOf(appDir), dev: String(st.dev), ino: String(st.ino) };
  } catch {
    return undefined;
  }
}

function realpathOf(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return path.resolve(dir);
  }
}

/** Refuse (exit 2) a run dir whose journal names another install than the one this task is pointed at. */
export function assertRunDirBelongsTo(settings: Settings, runDir: string): void {
  const journal = readJournal(runDir);
  if (!journal) return;
  const here = appIdentity(settings.appDir);
  const recorded = journal.appIdentity;
  const same =
    recorded && here
      ? recorded.dev === here.dev && recorded.ino === here.ino
      : realpathOf(journal.appDir) === realpathOf(settings.appDir);
  if (!same) {
    throw usageError(
      `run dir ${runDir} belongs to the install at ${recorded?.realpath ?? journal.appDir}, not ${settings.appDir}; pass that --app-dir or another --run-dir`,
    );
  }
}

export type StepStatus = 'running' | 'done' | 'failed' | 'skipped';

export interface JournalStep {
  status: StepStatus;
  startedAt: string;
  finishedAt?: string;
  message?: string;
  data?: Record<string, unknown>;
}

export interface Journal {
  version: 1;
  createdAt: string;
  updatedAt: string;
  appDir: string;
  /** The install this run belongs to (older journals have only appDir). */
  appIdentity?: AppIdentity;
  steps: Record<string, JournalStep>;
  /** Free-form state the orchestration needs to resume (e.g. which files switch-env touched). */
  state: Record<string, unknown>;
}

export function readJournal(runDir: string): Journal | undefined {
  const file = path.join(runDir, RUN_FILES.journal);
  if (!existsSync(file)) return undefined;
  assertOwnedFile(file);
  return JSON.parse(readFileSync(file, 'utf8')) as Journal;
}

export function loadOrCreateJournal(runDir: string, appDir: string): Journal {
  const now = new Date().toISOString();
  return (
    readJournal(runDir) ?? {
      version: 1,
      createdAt: now,
      updatedAt: now,
      appDir,
      appIdentity: appIdentity(appDir),
      steps: {},
      state: {},
    }
  );
}

export function writeJournal(runDir: string, journal: Journal): void {
  journal.updatedAt = new Date().toISOString();
  writeJsonAtomic(path.join(runDir, RUN_FILES.journal), maskDeep(journal));
}

/** Record a step's start/end in journal.json (re-read each time: several tasks may share one run dir). */
export function recordStep(
  runDir: string,
  appDir: string,
  step: string,
  update: Partial<JournalStep> & { status: StepStatus },
): Journal {
  const journal = loadOrCreateJournal(runDir, appDir);
  const previous = journal.steps[step];
  const now = new Date().toISOString();
  journal.steps[step] = {
    ...previous,
    ...update,
    startedAt: update.status === 'running' ? now : (previous?.startedAt ?? now),
    finishedAt: update.status === 'running' ? undefined : now,
  };
  writeJournal(runDir, journal);
  return journal;
}

export function readRunJson<T>(runDir: string, file: string): T {
  assertOwnedFile(path.join(runDir, file));
  return JSON.parse(readFileSync(path.join(runDir, file), 'utf8')) as T;
}

export function writeRunJson(runDir: string, file: string, value: unknown): void {
  writeJsonAtomic(path.join(runDir, file), maskDeep(value));
}
