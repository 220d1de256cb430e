import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import dotenv from 'dotenv';
import { usageError } from '../errors.ts';
import { defaultSchemaPath, resolveSqliteFile } from '../prisma/schema-source.ts';
import { registerSecret } from './secrets.ts';

/**
 * The one settings loader for every task (docs/cli-contract.md): flags > environment > dotenv file
 * (`--config FILE`, default ./migration.env when present). Values are resolved here, once, so a task never
 * reads process.env itself.
 */
export interface SshTarget {
  user: string;
  host: string;
  port: number;
}

export interface Settings {
  appDir: string;
  /** Explicit --sqlite/SQLITE_PATH; otherwise resolved from the app's backend/.env by resolveSqlitePath(). */
  sqlitePath?: string;
  schemaPath: string;
  targetUrl?: string;
  shadowUrl?: string;
  adminUrl?: string;
  role: string;
  database: string;
  passwordFile?: string;
  requireTls: boolean;
  caFile?: string;
  /** --insecure-skip-tls-verify: TLS without certificate verification (warned on every connection). */
  insecureSkipTlsVerify: boolean;
  /** --allow-insecure-auth: answer cleartext/MD5 password requests over a connection without verified TLS. */
  allowInsecureAuth: boolean;
  ssh?: SshTarget;
  sshKey?: string;
  knownHosts?: string;
  runDir?: string;
  stopCmd?: string;
  startCmd?: string;
  /** Extra env files switch-env rewrites besides backend/.env (default /etc/visionsuit/vs-backend.env when present). */
  systemEnvFile: string;
  json: boolean;
  yes: boolean;
  dryRun: boolean;
  force: boolean;
  verbose: boolean;
  /** --accept-uninspected-processes: not root, the holder proof cannot see other users' processes; go on anyway. */
  acceptUninspected: boolean;
  /** VISIONSUIT_MIGRATE_PAUSE_AT (environment only): the upgrade's pause point for fire drills/tests (lib/run/pause-point.ts). */
  pauseAt?: string;
  /** --exclude-table NAME (repeatable, or EXCLUDE_TABLES comma-separated): SQLite tables the operator chose not to migrate. */
  excludeTables: string[];
  /** Warnings found while loading (e.g. a password in a flag); the CLI wrapper prints them. */
  warnings: string[];
}

type FlagSpec = NonNullable<ParseArgsConfig['options']>;

/** Flags every task accepts. Task-specific flags are passed to loadSettings as `extraFlags`. */
export const COMMON_FLAGS = {
  config: { type: 'string' },
  'app-dir': { type: 'string' },
  sqlite: { type: 'string' },
  schema: { type: 'string' },
  target: { type: 'string' },
  'shadow-url': { type: 'string' },
  'admin-url': { type: 'string' },
  role: { type: 'string' },
  database: { type: 'string' },
  'password-file': { type: 'string' },
  'require-tls': { type: 'boolean' },
  ca: { type: 'string' },
  'insecure-skip-tls-verify': { type: 'boolean' },
  'allow-insecure-auth': { type: 'boolean' },
  ssh: { type: 'string' },
  'ssh-key': { type: 'string' },
  'known-hosts': { type: 'string' },
  'run-dir': { type: 'string' },
  'stop-cmd': { type: 'string' },
  'start-cmd': { type: 'string' },
  'system-env': { type: 'string' },
  'exclude-table': { type: 'string', multiple: true },
  json: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  'dry-run': { type: 'boolean' },
  force: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  'accept-uninspected-processes': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies FlagSpec;

export interface LoadedSettings<Extra> {
  settings: Settings;
  extra: Extra;
  positionals: string[];
  help: boolean;
}

export function loadSettings<Extra extends Record<string, unknown> = Record<string, never>>(
  argv: string[],
  extraFlags: FlagSpec = {},
  env: NodeJS.ProcessEnv = process.env,
): LoadedSettings<Extra> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...COMMON_FLAGS, ...extraFlags },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    // parseArgs messages are already one line ("Unknown option '--tagret'"), which is what the contract wants.
    throw usageError((err as Error).message);
  }
  const flags = parsed.values as Record<string, string | boolean | string[] | undefined>;

  // `just` runs recipes in the suite's folder: operator-relative paths resolve where the operator ran `just`.
  const base = invocationDir(env);
  const resolveOpt = (v: string | undefined) => (v ? path.resolve(base, v) : undefined);
  const configRaw = str(flags.config) ?? env.VS_MIGRATION_CONFIG;
  const configFile = resolveOpt(configRaw);
  const defaultConfig = path.join(base, 'migration.env');
  let fileValues: Record<string, string> = {};
  if (configFile) {
    if (!existsSync(configFile)) throw usageError(`config file ${configFile} does not exist`);
    fileValues = dotenv.parse(readFileSync(configFile));
  } else if (existsSync(defaultConfig)) {
    fileValues = dotenv.parse(readFileSync(defaultConfig));
  }
  const pick = (flag: string, envName: string): string | undefined =>
    str(flags[flag]) ?? nonEmpty(env[envName]) ?? nonEmpty(fileValues[envName]);
  const pickBool = (flag: string, envName: string): boolean => {
    if (flags[flag] !== undefined) return Boolean(flags[flag]);
    const raw = nonEmpty(env[envName]) ?? nonEmpty(fileValues[envName]);
    return raw !== undefined && /^(1|true|yes|on)$/i.test(raw);
  };

  const warnings: string[] = [];
  for (const flag of ['target', 'admin-url', 'shadow-url']) {
    const value = str(flags[flag]);
    if (value && dsnPassword(value)) {
      registerSecret(dsnPassword(value));
      warnings.push(
        `--${flag} carries a password, which every user on this host can read in ps; use the environment, the --config file or --password-file instead`,
      );
    }
  }

  const appDir = path.resolve(base, pick('app-dir', 'VS_APP_DIR') ?? '.');
  const schemaPath = path.resolve(base, pick('schema', 'PRISMA_SCHEMA') ?? defaultSchemaPath(appDir));
  const sqliteRaw = pick('sqlite', 'SQLITE_PATH');
  const sshRaw = pick('ssh', 'SSH_TARGET');
  const maintenanceScript = path.join(appDir, 'maintenance.sh');

  const settings: Settings = {
    appDir,
    schemaPath,
    sqlitePath: resolveOpt(sqliteRaw),
    targetUrl: pick('target', 'TARGET_DATABASE_URL'),
    shadowUrl: pick('shadow-url', 'SHADOW_DATABASE_URL'),
    adminUrl: pick('admin-url', 'ADMIN_DATABASE_URL'),
    role: pick('role', 'PG_ROLE') ?? 'visionsuit',
    database: pick('database', 'PG_DATABASE') ?? 'visionsuit',
    passwordFile: resolveOpt(pick('password-file', 'PG_PASSWORD_FILE')),
    requireTls: pickBool('require-tls', 'PG_REQUIRE_TLS'),
    caFile: resolveOpt(pick('ca', 'PG_SSLROOTCERT')),
    insecureSkipTlsVerify: pickBool('insecure-skip-tls-verify', 'PG_INSECURE_SKIP_TLS_VERIFY'),
    allowInsecureAuth: pickBool('allow-insecure-auth', 'PG_ALLOW_INSECURE_AUTH'),
    ssh: sshRaw ? parseSshTarget(sshRaw) : undefined,
    sshKey: resolveOpt(pick('ssh-key', 'SSH_KEY_PATH')),
    knownHosts: resolveOpt(pick('known-hosts', 'SSH_KNOWN_HOSTS')),
    runDir: resolveOpt(pick('run-dir', 'RUN_DIR')),
    stopCmd:
      pick('stop-cmd', 'VS_STOP_CMD') ??
      (existsSync(maintenanceScript) ? `${shellQuote(maintenanceScript)} stop` : undefined),
    startCmd:
      pick('start-cmd', 'VS_START_CMD') ??
      (existsSync(maintenanceScript) ? `${shellQuote(maintenanceScript)} start` : undefined),
    systemEnvFile: resolveOpt(pick('system-env', 'VS_SYSTEM_ENV_FILE')) ?? '/etc/visionsuit/vs-backend.env',
    json: Boolean(flags.json),
    yes: Boolean(flags.yes),
    dryRun: Boolean(flags['dry-run']),
    force: Boolean(flags.force),
    verbose: Boolean(flags.verbose),
    acceptUninspected: pickBool('accept-uninspected-processes', 'VS_ACCEPT_UNINSPECTED_PROCESSES'),
    pauseAt: nonEmpty(env.VISIONSUIT_MIGRATE_PAUSE_AT),
    excludeTables: excludeTablesOf(
      flags['exclude-table'],
      nonEmpty(env.EXCLUDE_TABLES) ?? nonEmpty(fileValues.EXCLUDE_TABLES),
    ),
    warnings,
  };
  for (const url of [settings.targetUrl, settings.adminUrl, settings.shadowUrl])
    registerSecret(url ? dsnPassword(url) : undefined);

  const extra = Object.fromEntries(Object.keys(extraFlags).map((name) => [camel(name), flags[name]])) as Extra;
  return { settings, extra, positionals: parsed.positionals, help: Boolean(flags.help) };
}

/** The folder the operator ran `just` from (the justfile exports it), else this process's cwd. */
export function invocationDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(nonEmpty(env.VS_INVOCATION_DIR) ?? process.cwd());
}

/** A path the operator typed, resolved where they ran `just` (task-specific flags use this too). */
export function resolveOperatorPath(value: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(invocationDir(env), value);
}

function excludeTablesOf(flag: unknown, fromEnv: string | undefined): string[] {
  const names = Array.isArray(flag) ? (flag as string[]) : (fromEnv?.split(',') ?? []);
  return [...new Set(names.map((n) => n.trim()).filter((n) => n !== ''))].sort();
}

/** `user@host[:port]` → parts; a bad value is a usage error naming the flag. */
export function parseSshTarget(raw: string): SshTarget {
  const match = /^([^@\s]+)@(\[[^\]]+\]|[^:\s]+)(?::(\d+))?$/.exec(raw);
  if (!match) throw usageError(`--ssh must look like user@host[:port], got "${raw}"`);
  const port = match[3] ? Number(match[3]) : 22;
  if (port < 1 || port > 65535) throw usageError(`--ssh port ${port} is out of range`);
  return { user: match[1], host: match[2].replace(/^\[|\]$/g, ''), port };
}

/**
 * Refuse (exit 2) an app dir that is not a VisionSuit-like install before anything is created in it: it must hold
 * backend/prisma/schema.prisma (or a schema folder backend/prisma/schema/), unless --sqlite names the SQLite file explicitly.
 */
export function assertAppInstall(settings: Settings): void {
  const defaultSchema = defaultSchemaPath(settings.appDir);
  if (existsSync(defaultSchema)) return;
  // An explicit --sqlite names the data itself (backup needs nothing else); a missing schema is then the later step's refusal.
  if (settings.sqlitePath) return;
  throw usageError(
    `--app-dir ${settings.appDir} is not a VisionSuit install: ${defaultSchema} does not exist (pass the install's root folder, or --schema and --sqlite for another Prisma app)`,
  );
}

/**
 * Where the app's SQLite file is: --sqlite wins; else the schema's datasource url resolved the way Prisma does
 * (lib/schema/schema-source.ts: env("ANY_VAR") from the app's .env files, a literal url, prisma.config.ts); with no
 * schema file, DATABASE_URL from <app>/backend/.env. A `file:` path is relative to the schema file's folder.
 * Query parameters (`?connection_limit=1`) and any quoting are dropped. Returns undefined when the app
 * is not on SQLite (e.g. already switched); callers decide whether that is an error.
 */
export function resolveSqlitePath(settings: Settings): string | undefined {
  if (settings.sqlitePath) return settings.sqlitePath;
  assertAppInstall(settings);
  if (existsSync(settings.schemaPath)) return resolveSqliteFile(settings.schemaPath, settings.appDir).file;
  const envFile = path.join(settings.appDir, 'backend/.env');
  if (!existsSync(envFile)) return undefined;
  const url = dotenv.parse(readFileSync(envFile)).DATABASE_URL?.trim();
  return url ? sqlitePathFromUrl(url, path.dirname(settings.schemaPath)) : undefined;
}

/** Where resolveSqlitePath looked, for the one-line refusal when it finds nothing. */
export function sqliteLookupDescription(settings: Settings): string {
  if (existsSync(settings.schemaPath)) return resolveSqliteFile(settings.schemaPath, settings.appDir).from;
  return `${path.join(settings.appDir, 'backend/.env')} has no file: DATABASE_URL`;
}

export function sqlitePathFromUrl(url: string, schemaDir: string): string | undefined {
  const match = /^file:(.*)$/i.exec(url);
  if (!match) return undefined;
  let file = match[1].replace(/\?.*$/, '');
  if (file.startsWith('//')) file = file.slice(2); // file://./dev.db and file:///abs/path both appear in the wild
  if (!file) return undefined;
  return path.resolve(schemaDir, file);
}

export function dsnPassword(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return parsed.password ? decodeURIComponent(parsed.password) : undefined;
  } catch {
    return undefined;
  }
}

export function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
const nonEmpty = (v: string | undefined) => (v !== undefined && v !== '' ? v : undefined);
const camel = (s: string) => s.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

/** `--orphans refuse|null|delete`: export-sqlite's and upgrade's choice for rows whose parent is gone. */
export const ORPHANS_FLAG = {
  orphans: { type: 'string' },
} satisfies FlagSpec;

/** `--wait-seconds N` and `--health-url URL|none`: the flags of every task that starts the app and waits for health. */
export const START_FLAGS = {
  'wait-seconds': { type: 'string' },
  'health-url': { type: 'string' },
  'no-generate': { type: 'boolean' },
} satisfies FlagSpec;

/**
 * --wait-seconds, --health-url, and --no-generate (env VS_NO_GENERATE=1: the operator's start command runs the
 * app's `prisma generate` itself, so the suite does not).
 */
export function parseStartFlags(
  extra: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): { waitSeconds?: number; healthUrl?: string; noGenerate?: boolean } {
  const raw = extra.waitSeconds as string | undefined;
  const waitSeconds = raw === undefined ? undefined : Number(raw);
  if (waitSeconds !== undefined && !(waitSeconds >= 0)) throw usageError('--wait-seconds must be a number of seconds');
  const noGenerate = extra.noGenerate === true || /^(1|true|yes)$/i.test(env.VS_NO_GENERATE ?? '') ? true : undefined;
  return { waitSeconds, healthUrl: extra.healthUrl as string | undefined, noGenerate };
}
