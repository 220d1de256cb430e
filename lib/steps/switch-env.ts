import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Settings } from '../cli/config.ts';
import { resolveSqlitePath } from '../cli/config.ts';
import type { StepContext, StepResult } from '../cli/run-cli.ts';
import { Outcome, sourceProblem, DomainError, usageError } from '../errors.ts';
import { setEnvValues, unifiedDiff, writeEnvFileAtomic } from '../app/env-file.ts';
import { copyDir, moveDir, setTreeModes, sha256File, sha256Text, topLevel, treeHash } from '../files/file-tree.ts';
import type { Logger } from '../cli/log.ts';
import {
  isPrisma7Datasource,
  readDatasourceProvider,
  readDatasourceUrlVariable,
  toPostgresAppSchema,
} from '../prisma/schema-file.ts';
import {
  appEnvFile,
  prisma7UrlVariable as configUrlVariable,
  projectRootOf,
  readSchemaSource,
  type SchemaSource,
} from '../prisma/schema-source.ts';
import { buildAppUrl } from '../pg/app-url.ts';
import { acquireLock, claimThisRunDir } from '../run/run-lock.ts';
import { existingRunDir, loadOrCreateJournal, readJournal, RUN_FILES, utcStamp, writeJournal } from '../run/run-dir.ts';
import { liveChange } from './backup.ts';
import { registerSecret } from '../cli/secrets.ts';
import { generateAppClient, type GenerateResult } from '../app/prisma-generate.ts';

/**
 * switch-env: point the app at PostgreSQL.
 *  - the URL variable the app reads (DATABASE_URL, or the one its schema or prisma.config.ts names; and
 *    SHADOW_DATABASE_URL when given) in the project root's .env (<app>/backend/.env for VisionSuit) and the system
 *    env file (when it exists), every other byte kept (lib/app/env-file.ts), atomic, 0600, owner kept;
 *  - the Prisma schema's datasource provider → postgresql (Prisma 6 form, url = env("DATABASE_URL") kept);
 *  - the PostgreSQL migration history load-pg applied (<runDir>/postgres-schema/migrations) installed as
 *    backend/prisma/migrations, so the app's own `prisma migrate deploy` finds every migration applied.
 *
 * Before anything changes, every touched file is copied into <runDir>/env-backups/ (0600) and the SQLite
 * migrations folder is moved to <runDir>/env-backups/sqlite-migrations; the journal's state.switchEnv records
 * each path with its sha256 before and after, which is what rollback restores and verifies against.
 * A second run finds everything already switched and changes nothing (and takes no new backup, so the
 * pre-switch copies are never overwritten by switched content).
 */
export interface SwitchedFile {
  path: string;
  kind: 'env' | 'schema';
  backup?: string;
  existed: boolean;
  sha256Before?: string;
  sha256After: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

export interface SwitchedMigrations {
  dir: string;
  backupDir?: string;
  existed: boolean;
  hashBefore?: string;
  hashAfter: string;
}

export interface SwitchState {
  files: SwitchedFile[];
  migrations?: SwitchedMigrations;
  startedAt?: string;
  completedAt?: string;
  rolledBackAt?: string;
}

export interface SwitchEnvResult extends StepResult {
  /** The app's `prisma generate` after the switch (the CLI task only; the upgrade runs it as part of its step). */
  generate?: GenerateResult;
  runDir: string;
  dryRun: boolean;
  files: { path: string; kind: 'env' | 'schema'; changed: boolean; keys?: string[]; backup?: string }[];
  migrations: { dir: string; changed: boolean; removed: string[]; added: string[]; backupDir?: string };
  /** Unified diffs (passwords masked) — what --dry-run prints. */
  diffs: string[];
}

export const SWITCH_STATE_KEY = 'switchEnv';

export function readSwitchState(runDir: string, appDir: string): SwitchState | undefined {
  return loadOrCreateJournal(runDir, appDir).state[SWITCH_STATE_KEY] as SwitchState | undefined;
}

export function writeSwitchState(runDir: string, appDir: string, state: SwitchState): void {
  const journal = loadOrCreateJournal(runDir, appDir);
  journal.state[SWITCH_STATE_KEY] = state;
  writeJournal(runDir, journal);
}

/**
 * The DSN the app must use (lib/pg/app-url.ts): the --target URL with the suite's password and TLS, checked to read
 * back through dotenv unchanged. Without any password the app must get it another way: warned.
 */
export function appDatabaseUrl(settings: Settings, log?: Logger): string {
  const app = buildAppUrl(settings);
  if (!app.passwordSource)
    log?.warn(
      'the target URL carries no password and neither PGPASSWORD nor --password-file gives one: the app must get it another way',
    );
  return app.url;
}

/**
 * The env files switch-env writes the URL to: the project root's .env, which Prisma reads first (backend/.env in
 * VisionSuit's layout; <app>/.env for an app whose package.json is at its root), and the system env file.
 */
export function envFilesOf(settings: Settings): string[] {
  const files = [
    existsSync(settings.schemaPath)
      ? appEnvFile(settings.schemaPath, settings.appDir)
      : path.join(settings.appDir, 'backend/.env'),
  ];
  if (existsSync(settings.systemEnvFile) && path.resolve(settings.systemEnvFile) !== files[0])
    files.push(path.resolve(settings.systemEnvFile));
  return files;
}

/** The app's migrations folder: beside the schema file, or for a folder schema beside its datasource file (Prisma 6.7+). */
export function migrationsDirOf(settings: Settings): string {
  if (existsSync(settings.schemaPath) && statSync(settings.schemaPath).isDirectory()) {
    const datasource = readSchemaSource(settings.schemaPath).datasourceFile;
    return path.join(datasource ? path.dirname(datasource.path) : settings.schemaPath, 'migrations');
  }
  return path.join(path.dirname(settings.schemaPath), 'migrations');
}

function backupName(settings: Settings, file: string, stamp: string): string {
  const rel = path.relative(settings.appDir, file);
  const flat = (rel.startsWith('..') || path.isAbsolute(rel) ? file.replace(/^\/+/, '') : rel).replace(/[\\/]+/g, '__');
  return `${flat}.${stamp}`;
}

interface PlannedFile {
  path: string;
  kind: 'env' | 'schema';
  oldText?: string;
  newText: string;
  keys?: string[];
}

export function postgresSchemaDir(runDir: string): string {
  return path.join(runDir, RUN_FILES.pgSchemaDir);
}

export interface SwitchEnvOptions {
  runDir: string;
  dryRun?: boolean;
  /** Called at the named in-between moments (lib/run/pause-point.ts SWITCH_ENV_PAUSE_POINTS); the upgrade's fire-drill hook. */
  pause?: (point: string) => Promise<void>;
}

function prisma7UrlVariable(source: SchemaSource, settings: Settings): string | undefined {
  return configUrlVariable(projectRootOf(source, settings.appDir));
}

/** The variable the app reads its URL from: the schema's env("…"), a Prisma 7 app's prisma.config.ts's, else DATABASE_URL. */
export function appUrlVariable(settings: Settings): string {
  const source = existsSync(settings.schemaPath) ? readSchemaSource(settings.schemaPath) : undefined;
  if (!source?.datasourceFile) return 'DATABASE_URL';
  return (
    readDatasourceUrlVariable(source.datasourceFile.text) ?? prisma7UrlVariable(source, settings) ?? 'DATABASE_URL'
  );
}

export async function switchEnv(settings: Settings, log: Logger, options: SwitchEnvOptions): Promise<SwitchEnvResult> {
  const { runDir } = options;
  const dryRun = Boolean(options.dryRun);
  const pgDir = postgresSchemaDir(runDir);
  const pgSchemaFile = path.join(pgDir, 'schema.prisma');
  const pgMigrations = path.join(pgDir, 'migrations');
  if (!existsSync(pgMigrations))
    throw usageError(`${pgMigrations} is missing: run load-pg (or fresh-install) into this run dir first`);
  const url = appDatabaseUrl(settings, log);
  // The app's schema (one file, or the folder's datasource file: only the datasource changes between providers).
  const source = readSchemaSource(settings.schemaPath);
  if (!source.datasourceFile) throw usageError(`Prisma schema ${settings.schemaPath} has no datasource block`);
  const appSchemaFile = source.datasourceFile.path;
  const currentSchema = source.datasourceFile.text;
  // Prisma reads the variable the schema names; a Prisma 7 app reads the one its prisma.config.ts names.
  const urlVariable = appUrlVariable(settings);
  if (isPrisma7Datasource(currentSchema)) {
    log.warn(
      `Prisma 7 app: the schema keeps its datasource without url; the app reads the URL from prisma.config.ts's datasource.url, which must resolve to ${urlVariable} (written below)`,
    );
  }

  // Plan: env files.
  const planned: PlannedFile[] = [];
  for (const file of envFilesOf(settings)) {
    const oldText = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
    const edit = setEnvValues(oldText ?? '', { [urlVariable]: url, SHADOW_DATABASE_URL: settings.shadowUrl });
    planned.push({ path: file, kind: 'env', oldText, newText: edit.text, keys: edit.changed });
  }
  // Plan: the schema. The run dir's copy is the one load-pg built the database from; fall back to switching the
  // provider of the app's current file (fresh-install writes the run dir copy too, so this is a safety net).
  // A folder schema gets its datasource file switched (the run dir's copy is the folder merged into one file).
  let newSchema: string;
  if (existsSync(pgSchemaFile) && !source.isFolder) newSchema = readFileSync(pgSchemaFile, 'utf8');
  else
    newSchema =
      readDatasourceProvider(currentSchema) === 'postgresql' ? currentSchema : toPostgresAppSchema(currentSchema);
  if (readDatasourceProvider(newSchema) !== 'postgresql')
    throw usageError(`${pgSchemaFile} is not a PostgreSQL schema`);
  planned.push({ path: appSchemaFile, kind: 'schema', oldText: currentSchema, newText: newSchema });

  // Plan: the migration history.
  const migDir = migrationsDirOf(settings);
  const hashNow = treeHash(migDir);
  const hashNew = treeHash(pgMigrations)!;
  const nowEntries = topLevel(migDir);
  const newEntries = topLevel(pgMigrations);
  const migChanged = hashNow !== hashNew;
  const diffs = planned
    .filter((p) => p.oldText !== p.newText)
    .map((p) => unifiedDiff(p.oldText ?? '', p.newText, p.oldText === undefined ? `${p.path} (new file)` : p.path));
  if (migChanged) {
    const lines = [`--- ${migDir}`, `+++ ${migDir} (new)`];
    for (const e of nowEntries) lines.push(`-${e}`);
    for (const e of newEntries) lines.push(`+${e}`);
    diffs.push(lines.join('\n') + '\n');
  }
  const migrationsSummary = {
    dir: migDir,
    changed: migChanged,
    removed: migChanged ? nowEntries : [],
    added: migChanged ? newEntries : [],
  };

  const files = planned.map((p) => ({
    path: p.path,
    kind: p.kind,
    changed: p.oldText !== p.newText,
    keys: p.kind === 'env' ? p.keys : undefined,
  }));
  const changes = files.filter((f) => f.changed).length + (migChanged ? 1 : 0);
  if (dryRun) {
    return {
      ok: true,
      outcome: Outcome.Ok,
      runDir,
      dryRun,
      files,
      migrations: migrationsSummary,
      diffs,
      summary: changes
        ? `dry run: would change ${changes} item(s); nothing was changed`
        : 'dry run: the app already points at PostgreSQL; nothing to change',
    };
  }
  if (!changes) {
    log.ok('the app already points at PostgreSQL (env files, schema and migrations); nothing changed');
    return {
      ok: true,
      outcome: Outcome.Ok,
      runDir,
      dryRun,
      files,
      migrations: migrationsSummary,
      diffs: [],
      summary: 'already switched: nothing changed',
    };
  }

  // 1. Backups + intent in the journal, before touching anything.
  const backupsDir = path.join(runDir, RUN_FILES.envBackups);
  mkdirSync(backupsDir, { recursive: true, mode: 0o700 });
  const stamp = utcStamp();
  const state: SwitchState = readSwitchState(runDir, settings.appDir) ?? { files: [] };
  state.startedAt = new Date().toISOString();
  delete state.completedAt;
  delete state.rolledBackAt;
  const resultFiles: SwitchEnvResult['files'] = [];
  for (const p of planned) {
    const changed = p.oldText !== p.newText;
    const shaNow = p.oldText === undefined ? undefined : sha256Text(p.oldText);
    const shaAfter = sha256Text(p.newText);
    let entry = state.files.find((f) => f.path === p.path);
    if (changed) {
      const reusable = entry && entry.sha256Before === shaNow && (!entry.backup || sha256File(entry.backup) === shaNow);
      if (!reusable && !(entry && shaNow === entry.sha256After)) {
        const st = p.oldText === undefined ? undefined : statSync(p.path);
        let backup: string | undefined;
        if (st) {
          backup = path.join(backupsDir, backupName(settings, p.path, stamp));
          copyFileSync(p.path, backup);
          // copyFile keeps the source's mode; backups of env files hold secrets, so force 0600.
          chmodSync(backup, 0o600);
          if (sha256File(backup) !== shaNow)
            throw new DomainError(Outcome.Internal, `backup ${backup} does not match ${p.path}`);
        }
        const fresh: SwitchedFile = {
          path: p.path,
          kind: p.kind,
          backup,
          existed: Boolean(st),
          sha256Before: shaNow,
          sha256After: shaAfter,
          mode: st ? st.mode & 0o7777 : undefined,
          uid: st?.uid,
          gid: st?.gid,
        };
        state.files = state.files.filter((f) => f.path !== p.path).concat(fresh);
        entry = fresh;
      } else if (entry) {
        entry.sha256After = shaAfter;
      }
    }
    resultFiles.push({
      path: p.path,
      kind: p.kind,
      changed,
      keys: p.kind === 'env' ? p.keys : undefined,
      backup: entry?.backup,
    });
  }
  let backupDir: string | undefined = state.migrations?.backupDir;
  if (migChanged) {
    const existing = state.migrations;
    // The first record of this run is the truth about the pre-switch folder; keep it while its backup is intact and
    // the folder is in a state an earlier attempt could have left (original, missing mid-swap, or switched).
    const existingValid =
      existing &&
      existing.dir === migDir &&
      (!existing.existed ||
        (existing.backupDir !== undefined && treeHash(existing.backupDir) === existing.hashBefore)) &&
      (hashNow === existing.hashBefore || hashNow === undefined || hashNow === existing.hashAfter);
    if (existingValid) {
      existing!.hashAfter = hashNew;
      backupDir = existing!.backupDir;
    } else {
      backupDir = undefined;
      if (hashNow !== undefined) {
        backupDir = path.join(backupsDir, 'sqlite-migrations');
        if (existsSync(backupDir)) backupDir = path.join(backupsDir, `sqlite-migrations.${stamp}`);
      }
      state.migrations = {
        dir: migDir,
        backupDir,
        existed: hashNow !== undefined,
        hashBefore: hashNow,
        hashAfter: hashNew,
      };
    }
  }
  writeSwitchState(runDir, settings.appDir, state);
  await options.pause?.('switch-env:backed-up');

  // 2. The migration history: stage the new folder next to the old one, move the old one into the backups, rename.
  if (migChanged) {
    const staging = path.join(path.dirname(migDir), `.migrations.postgresql.${process.pid}`);
    rmSync(staging, { recursive: true, force: true });
    copyDir(pgMigrations, staging);
    // The run dir's copy is 0600/0700 and ours; in the app the history must be readable like the folder it replaces
    // (the app may run as another user than this tool): its mode (files without x bits) and its owner.
    const like = statSync(existsSync(migDir) ? migDir : path.dirname(migDir));
    const dirMode = like.mode & 0o777;
    setTreeModes(staging, { dir: dirMode, file: dirMode & 0o666 }, { uid: like.uid, gid: like.gid });
    if (hashNow !== undefined) {
      if (backupDir && !existsSync(backupDir)) moveDir(migDir, backupDir);
      else if (backupDir && treeHash(backupDir) === hashNow)
        rmSync(migDir, { recursive: true, force: true }); // identical copy in the backups
      else moveDir(migDir, path.join(backupsDir, `migrations-replaced.${stamp}`)); // never delete what no backup holds
    }
    await options.pause?.('switch-env:migrations-aside');
    moveDir(staging, migDir);
    if (treeHash(migDir) !== hashNew)
      throw new DomainError(Outcome.Internal, `installed migrations in ${migDir} do not match ${pgMigrations}`);
    const dirs = (list: string[]) => list.filter((e) => !e.includes('.')).length; // migration folders, not migration_lock.toml
    log.ok(
      `migration history: ${dirs(nowEntries)} SQLite migration(s) → ${backupDir ?? '(none)'}; ${dirs(newEntries)} PostgreSQL migration(s) installed`,
    );
  }

  // 3. The files (env files 0600 with their owner kept; the schema keeps its own mode).
  for (const p of planned) {
    if (p.oldText === p.newText) continue;
    const entry = state.files.find((f) => f.path === p.path);
    const mode = p.kind === 'env' ? 0o600 : (entry?.mode ?? 0o644);
    writeEnvFileAtomic(p.path, p.newText, mode);
    if (sha256File(p.path) !== sha256Text(p.newText))
      throw new DomainError(Outcome.Internal, `${p.path} did not read back as written`);
    log.ok(
      p.kind === 'env'
        ? `${p.path}: ${p.keys?.join(', ')} → PostgreSQL`
        : `${p.path}: datasource provider → postgresql`,
    );
    // planned lists the env files first, the schema last: after the last env file the app is half switched.
    if (
      p.kind === 'env' &&
      !planned.slice(planned.indexOf(p) + 1).some((q) => q.kind === 'env' && q.oldText !== q.newText)
    )
      await options.pause?.('switch-env:env-written');
  }
  state.completedAt = new Date().toISOString();
  writeSwitchState(runDir, settings.appDir, state);
  return {
    ok: true,
    outcome: Outcome.Ok,
    runDir,
    dryRun,
    files: resultFiles,
    migrations: { ...migrationsSummary, backupDir },
    diffs,
    summary: `app switched to PostgreSQL (${files.filter((f) => f.changed).length} file(s)${migChanged ? ' + migration history' : ''}); backups in ${backupsDir}`,
  };
}

/**
 * By hand, switch-env is the point of no return for the app's SQLite writes: when the live file differs from what
 * this run's backup recorded, those writes are not in PostgreSQL, so refuse (exit 4) instead of stranding them.
 */
async function refuseChangedSource(settings: Settings, runDir: string): Promise<void> {
  const journal = readJournal(runDir);
  if (!journal?.steps['backup']) return; // a fresh-install run: there is no SQLite data to lose
  const sqlite = resolveSqlitePath(settings);
  if (!sqlite || !existsSync(sqlite)) return; // the app's env no longer points at a SQLite file (already switched)
  const change = await liveChange(journal, sqlite);
  if (change) {
    throw sourceProblem(
      `the SQLite file ${sqlite} changed since the backup in ${runDir} (${change}): those writes are not in PostgreSQL; run the upgrade again (backup, export, load, verify) before switching`,
    );
  }
}

/** The CLI entry: takes the per-app lock unless --dry-run. */
export async function runSwitchEnv(ctx: StepContext<Record<string, unknown>>): Promise<SwitchEnvResult> {
  const { settings, log } = ctx;
  const runDir = existingRunDir(settings, RUN_FILES.pgSchemaDir);
  claimThisRunDir(settings, runDir, 'switch-env');
  if (settings.dryRun) {
    // A dry run changes nothing, so a changed source is said, not refused: the real switch-env will refuse it.
    await refuseChangedSource(settings, runDir).catch((err: Error) =>
      log.warn(`the real switch-env would refuse: ${err.message}`),
    );
    return switchEnv(settings, log, { runDir, dryRun: true });
  }
  await refuseChangedSource(settings, runDir);
  const lock = acquireLock(settings, 'switch-env');
  try {
    const result = await switchEnv(settings, log, { runDir });
    return {
      ...result,
      generate: await regenerateAfterSwitch(
        settings,
        log,
        runDir,
        ctx.extra.noGenerate === true || process.env.VS_NO_GENERATE === '1',
      ),
    };
  } finally {
    lock.release();
  }
}

/** The app's own `prisma generate` for postgresql after the switch, journaled beside the switch (lib/app/prisma-generate.ts). */
async function regenerateAfterSwitch(
  settings: Settings,
  log: Logger,
  runDir: string,
  skip: boolean,
): Promise<GenerateResult> {
  const generate = await generateAppClient(settings.appDir, 'postgresql', log, { skip });
  const journal = loadOrCreateJournal(runDir, settings.appDir);
  journal.state.prismaGenerate = generate;
  writeJournal(runDir, journal);
  if (!generate.ok) {
    throw new DomainError(
      Outcome.Usage,
      `the app is switched but its Prisma Client is not regenerated (${generate.detail}): run it in backend/ by hand, or \`just rollback\``,
      { generate },
    );
  }
  return generate;
}
