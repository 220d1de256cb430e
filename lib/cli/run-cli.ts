import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { COMMON_FLAGS, loadSettings, type Settings } from './config.ts';
import { DomainError, diskFullError, errorMessage, usageError, type OutcomeKind } from '../errors.ts';
import { ExitCode, exitCodeOf, type ExitCodeValue } from './exit-codes.ts';
import { createLogger, writeIfHeard, type Logger } from './log.ts';
import { maskDeep, maskSecrets } from './secrets.ts';
import { driverProblem } from '../sqlite/driver.ts';

/**
 * The thin CLI layer every tasks/<name>.ts uses: parse settings, run the typed step function, print,
 * map the result's outcome (or a thrown DomainError's) to the contract's exit code — the only place that happens.
 * Steps never call process.exit and never print to stdout;
 * this wrapper owns both, so `--json` always yields exactly one JSON object on stdout.
 */
export interface StepResult {
  ok: boolean;
  outcome: OutcomeKind;
  /** One line for the operator: what happened. */
  summary: string;
}

export interface StepContext<Extra> {
  settings: Settings;
  extra: Extra;
  positionals: string[];
  log: Logger;
}

type FlagSpec = NonNullable<ParseArgsConfig['options']>;

/** A flag's help: the placeholder of its value ('' for a switch) and one line saying what it does. */
export type FlagHelp = readonly [value: string, description: string];

/**
 * Help of the flags every task reads (config.ts's COMMON_FLAGS) and of the start flags (START_FLAGS); a task
 * describes its own flags in CliDefinition.flagHelp. The environment variable or --config key is in brackets.
 */
const SHARED_FLAG_HELP: Record<keyof typeof COMMON_FLAGS, FlagHelp> = {
  config: ['FILE', 'KEY=value settings, keys as in brackets (VS_MIGRATION_CONFIG; default ./migration.env)'],
  'app-dir': ['DIR', 'the app install: backend/, maintenance.sh (VS_APP_DIR; default: the current folder)'],
  sqlite: [
    'FILE',
    "the app's SQLite file (SQLITE_PATH; default: the schema's datasource url as Prisma resolves it from the app's .env files)",
  ],
  schema: ['FILE', 'the Prisma schema (PRISMA_SCHEMA; default <app>/backend/prisma/schema.prisma)'],
  target: ['URL', 'PostgreSQL the app will use; ?schema=NAME selects the schema (TARGET_DATABASE_URL)'],
  'shadow-url': ['URL', "Prisma's shadow database for the app's migrate dev (SHADOW_DATABASE_URL)"],
  'admin-url': ['URL', 'a PostgreSQL superuser or CREATEROLE login, for create-role (ADMIN_DATABASE_URL)'],
  role: ['NAME', "the app's login role (PG_ROLE; default visionsuit)"],
  database: ['NAME', "the app's database (PG_DATABASE; default visionsuit)"],
  'password-file': ['FILE', "the app role's password, mode 0600 (PG_PASSWORD_FILE; default <app>/.pg-password)"],
  'require-tls': ['', 'refuse a connection without TLS (PG_REQUIRE_TLS)'],
  ca: ['FILE', "CA certificate that verifies the server's (PG_SSLROOTCERT)"],
  ssh: ['USER@HOST[:PORT]', 'reach PostgreSQL through an SSH tunnel (SSH_TARGET)'],
  'ssh-key': ['FILE', 'private key for --ssh (SSH_KEY_PATH)'],
  'known-hosts': ['FILE', "known_hosts holding --ssh's host key (SSH_KNOWN_HOSTS)"],
  'run-dir': ['DIR', 'the run directory (RUN_DIR; default: the newest under <app>/backups/pg-migration)'],
  'stop-cmd': ['CMD', "stops the app's writers (VS_STOP_CMD; default <app>/maintenance.sh stop)"],
  'start-cmd': ['CMD', 'starts the app (VS_START_CMD; default <app>/maintenance.sh start)'],
  'system-env': ['FILE', "the services' env file (VS_SYSTEM_ENV_FILE; default /etc/visionsuit/vs-backend.env)"],
  json: ['', 'one JSON result object on stdout (the log stays on stderr)'],
  yes: ['', 'do it without asking (-y)'],
  'dry-run': ['', 'read-only checks and the plan; change nothing'],
  force: ['', 'go on where the task would refuse (what it overrides is said above)'],
  verbose: ['', 'debug lines on stderr (-v)'],
  'insecure-skip-tls-verify': [
    '',
    'with --require-tls: encrypt but do NOT verify the certificate (PG_INSECURE_SKIP_TLS_VERIFY; warned every run)',
  ],
  'allow-insecure-auth': [
    '',
    'let the password go over cleartext or MD5 authentication (PG_ALLOW_INSECURE_AUTH; warned)',
  ],
  'exclude-table': [
    'NAME',
    'a SQLite table not to migrate, named in the manifest as excluded; repeatable (EXCLUDE_TABLES, comma-separated)',
  ],
  'accept-uninspected-processes': [
    '',
    "not root: go on although other users' processes could not be checked for holding the SQLite file (VS_ACCEPT_UNINSPECTED_PROCESSES)",
  ],
  help: ['', 'this text (-h)'],
};

/** Help of the flags of every task that starts the app (config.ts's START_FLAGS). */
export const START_FLAG_HELP = {
  'wait-seconds': ['N', 'how long to wait for the writers to stop or the app to answer (default 30)'],
  'health-url': [
    'URL|none',
    'status URL that must say "online" (default http://HOST:PORT/api/meta/status/backend at the service\'s address)',
  ],
  'no-generate': ['', "the start command runs the app's prisma generate itself; do not run it (VS_NO_GENERATE=1)"],
} satisfies Record<string, FlagHelp>;

/** Help of --orphans (config.ts's ORPHANS_FLAG), shared by export-sqlite and upgrade. */
export const ORPHANS_FLAG_HELP = {
  orphans: [
    'refuse|null|delete',
    'rows whose parent is gone: refuse (default, exit 4 naming them), load with the foreign key NULL (nullable relations), or leave out with the rows depending on them; listed in <run-dir>/orphans.jsonl',
  ],
} satisfies Record<string, FlagHelp>;

export interface CliDefinition<Extra, Result extends StepResult> {
  task: string;
  /** One line for the operator: what the task does. */
  description: string;
  /** More about what it does and how (optional paragraphs). */
  details?: string;
  /** Positional arguments shown in the usage line, e.g. `on|off`. */
  positionals?: string;
  /** The task's own flags (beside the shared ones), each described in flagHelp. */
  flags?: FlagSpec;
  flagHelp?: Record<string, FlagHelp>;
  /** What each exit code the task can return means for it (the contract's numbers, lib/errors.ts). */
  exitCodes: Partial<Record<ExitCodeValue, string>>;
  run: (ctx: StepContext<Extra>) => Promise<Result>;
  /** Human rendering of the result on stderr (tables, check lists). The summary line is printed anyway. */
  print?: (result: Result, log: Logger) => void;
}

export async function runCli<Extra extends Record<string, unknown>, Result extends StepResult>(
  definition: CliDefinition<Extra, Result>,
  argv: string[] = process.argv.slice(2),
): Promise<never> {
  const exitCode = await executeCli(definition, argv);
  // Let stdout drain before exiting (a pipe into jq would otherwise get a truncated object).
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(exitCode);
}

export async function executeCli<Extra extends Record<string, unknown>, Result extends StepResult>(
  definition: CliDefinition<Extra, Result>,
  argv: string[],
): Promise<ExitCodeValue> {
  let json = argv.includes('--json');
  let log = createLogger();
  try {
    refuseUnsupportedNode();
    checkFlags(definition.task, argv, { ...COMMON_FLAGS, ...definition.flags });
    const loaded = loadSettings<Extra>(argv, definition.flags);
    json = loaded.settings.json;
    log = createLogger({ verbose: loaded.settings.verbose });
    if (loaded.help) {
      writeIfHeard(process.stderr, renderUsage(definition));
      return ExitCode.Ok;
    }
    for (const warning of loaded.settings.warnings) log.warn(warning);
    const result = await definition.run({
      settings: loaded.settings,
      extra: loaded.extra,
      positionals: loaded.positionals,
      log,
    });
    definition.print?.(result, log);
    (result.ok ? log.ok : log.error)(result.summary);
    const exitCode = exitCodeOf(result.outcome);
    if (json) printJson({ task: definition.task, ...(result as unknown as Record<string, unknown>), exitCode });
    return exitCode;
  } catch (caught) {
    const err = diskFullError(caught) ?? caught;
    const exitCode = err instanceof DomainError ? exitCodeOf(err.outcome) : ExitCode.Internal;
    const message = err instanceof DomainError ? err.message : `internal error: ${errorMessage(err)}`;
    log.error(message);
    if (!(err instanceof DomainError) && err instanceof Error && err.stack) log.debug(err.stack);
    if (json) {
      printJson({
        task: definition.task,
        ok: false,
        outcome: err instanceof DomainError ? err.outcome : 'internal',
        exitCode,
        summary: message,
        error: message,
        ...(err instanceof DomainError && err.details ? { details: err.details } : {}),
      });
    }
    return exitCode;
  }
}

/** A Node this install cannot serve safely (lib/sqlite/driver.ts says why) gets one line, not an abort mid-run. */
export function refuseUnsupportedNode(problem: string | undefined = driverProblem): void {
  if (problem) throw usageError(problem);
}

/** The task's --help text, its flag lists generated from the flags its parser accepts. */
export function renderUsage(
  definition: Pick<
    CliDefinition<never, StepResult>,
    'task' | 'description' | 'details' | 'positionals' | 'flags' | 'flagHelp' | 'exitCodes'
  >,
): string {
  const help: Record<string, FlagHelp> = {
    ...SHARED_FLAG_HELP,
    ...START_FLAG_HELP,
    ...ORPHANS_FLAG_HELP,
    ...definition.flagHelp,
  };
  const flagLine = (name: string) => {
    const [value, description] = help[name] ?? ['', ''];
    return `  ${`--${name}${value ? ` ${value}` : ''}`.padEnd(24)} ${description}`.trimEnd();
  };
  const own = Object.keys(definition.flags ?? {});
  const shared = Object.keys(COMMON_FLAGS).filter((name) => !own.includes(name));
  const positionals = definition.positionals ? ` ${definition.positionals}` : '';
  const lines = [`Usage: npx just ${definition.task}${positionals} [flags]`, '', definition.description];
  if (definition.details) lines.push('', definition.details.trim());
  if (own.length > 0) lines.push('', 'Flags:', ...own.map(flagLine));
  lines.push(
    '',
    'Shared flags (every task; environment variable or --config key in brackets):',
    ...shared.map(flagLine),
  );
  lines.push('', 'Exit codes:');
  for (const [code, meaning] of Object.entries(definition.exitCodes)) lines.push(`  ${code.padStart(2)}  ${meaning}`);
  return lines.join('\n') + '\n';
}

/**
 * Flags checked before parsing, so that a typo gets one line naming the flag, the closest known one and where the
 * help is, rather than parseArgs' own text.
 */
export function checkFlags(task: string, argv: string[], options: FlagSpec): void {
  const help = `(npx just ${task} --help)`;
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const spec = options[token.name];
    if (!spec) {
      const suggestion = token.rawName.startsWith('--') ? closestFlag(token.name, Object.keys(options)) : undefined;
      throw usageError(`unknown flag ${token.rawName}${suggestion ? `; did you mean --${suggestion}?` : ''} ${help}`);
    }
    if (spec.type === 'string') {
      // Without `=`, parseArgs takes the next argument even when it is another flag: then the value is missing.
      const value = token.value;
      if (
        value === undefined ||
        value === '' ||
        (!token.inlineValue && value.startsWith('-') && value in optionsByRawName(options))
      ) {
        throw usageError(`${token.rawName} needs a value ${help}`);
      }
    } else if (token.inlineValue) {
      throw usageError(`${token.rawName} takes no value ${help}`);
    }
  }
}

/** Every spelling of every option: `--name` and `-s`. */
function optionsByRawName(options: FlagSpec): Record<string, true> {
  const names: Record<string, true> = {};
  for (const [name, spec] of Object.entries(options)) {
    names[`--${name}`] = true;
    if (spec.short) names[`-${spec.short}`] = true;
  }
  return names;
}

/** The known flag closest to a typo (edit distance, a swap of two letters counting as one), if close enough. */
export function closestFlag(typed: string, known: string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = editDistance(typed, name);
    if (!best || distance < best.distance) best = { name, distance };
  }
  return best && best.distance <= Math.max(1, Math.min(3, Math.floor(typed.length / 3))) ? best.name : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps cost 1 each. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

function printJson(value: Record<string, unknown>): void {
  writeIfHeard(process.stdout, maskSecrets(JSON.stringify(maskDeep(value))) + '\n');
}

/** True when this module is the process entry point (so a task file can be imported by tests and by upgrade). */
export function isMain(importMetaUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  return path.resolve(entry) === fileURLToPath(importMetaUrl);
}

/** What a task file declares for its --help (renderUsage adds the shared flags). */
export type CliHelp = Pick<
  CliDefinition<never, StepResult>,
  'description' | 'details' | 'positionals' | 'flagHelp' | 'exitCodes'
>;
