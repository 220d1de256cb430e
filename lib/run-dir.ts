import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Settings } from './config.ts';
import { usageError } from './errors.ts';
import { writeJsonAtomic } from './fs-atomic.ts';
import { maskDeep } from './secrets.ts';

/**
 * One run directory holds every artifact of one migration run (cli-contract "Run directory"):
 * journal.json, manifest.json, the snapshot, report.json, run.log, and the generated PostgreSQL schema.
 * The first task of a run creates it; later tasks default to the newest one so an operator can chain
 * `just backup && just export-sqlite && just load-pg` without repeating --run-dir.
 */
export const RUN_FILES = {
  journal: 'journal.json',
  manifest: 'manifest.json',
  snapshot: 'snapshot.sqlite',
  snapshotChecksum: 'snapshot.sqlite.sha256',
  report: 'report.json',
  log: 'run.log',
  pgSchemaDir: 'postgres-schema',
  envBackups: 'env-backups',
  lock: 'upgrade.lock',
} as const;

export function runsRoot(settings: Settings): string {
  return path.join(settings.appDir, 'backups', 'pg-migration');
}

export function utcStamp(date = new Date()): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** Run directories under <app>/backups/pg-migration, newest first (names are UTC stamps, so they sort by time). */
export function listRunDirs(settings: Settings): string[] {
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

/** A new run directory (mode 0700: it will hold a full copy of the app's data). */
export function createRunDir(settings: Settings): string {
  const dir = settings.runDir ?? path.join(runsRoot(settings), utcStamp());
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** The run directory a later task works in: --run-dir, else the newest run; a usage error when none exists. */
export function existingRunDir(settings: Settings, neededFile?: string): string {
  const dir = settings.runDir ?? newestRunDir(settings);
  if (!dir || !existsSync(dir)) {
    throw usageError(`no run directory found (looked in ${settings.runDir ?? runsRoot(settings)}); run \`just backup\` first or pass --run-dir`);
  }
  if (neededFile && !existsSync(path.join(dir, neededFile))) {
    throw usageError(`${path.join(dir, neededFile)} is missing; run the step that writes it first`);
  }
  return dir;
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
  steps: Record<string, JournalStep>;
  /** Free-form state the orchestration needs to resume (e.g. which files switch-env touched). */
  state: Record<string, unknown>;
}

export function readJournal(runDir: string): Journal | undefined {
  const file = path.join(runDir, RUN_FILES.journal);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as Journal;
}

export function loadOrCreateJournal(runDir: string, appDir: string): Journal {
  const now = new Date().toISOString();
  return readJournal(runDir) ?? { version: 1, createdAt: now, updatedAt: now, appDir, steps: {}, state: {} };
}

export function writeJournal(runDir: string, journal: Journal): void {
  journal.updatedAt = new Date().toISOString();
  writeJsonAtomic(path.join(runDir, RUN_FILES.journal), maskDeep(journal));
}

/** Record a step's start/end in journal.json (re-read each time: several tasks may share one run dir). */
export function recordStep(runDir: string, appDir: string, step: string, update: Partial<JournalStep> & { status: StepStatus }): Journal {
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
  return JSON.parse(readFileSync(path.join(runDir, file), 'utf8')) as T;
}

export function writeRunJson(runDir: string, file: string, value: unknown): void {
  writeJsonAtomic(path.join(runDir, file), maskDeep(value));
}
