import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ParseArgsConfig } from 'node:util';
import { loadSettings, type Settings } from './config.ts';
import { ExitCode, TaskError, diskFullError, errorMessage, type ExitCodeValue } from './errors.ts';
import { createLogger, type Logger } from './log.ts';
import { maskDeep, maskSecrets } from './secrets.ts';

/**
 * The thin CLI layer every tasks/<name>.ts uses: parse settings, run the typed step function, print,
 * map the result to the contract's exit code. Steps never call process.exit and never print to stdout;
 * this wrapper owns both, so `--json` always yields exactly one JSON object on stdout.
 */
export interface StepResult {
  ok: boolean;
  exitCode: ExitCodeValue;
  /** One line for the operator: what happened. */
  summary: string;
}

export interface StepContext<Extra> {
  settings: Settings;
  extra: Extra;
  positionals: string[];
  log: Logger;
}

export interface CliDefinition<Extra, Result extends StepResult> {
  task: string;
  usage: string;
  flags?: NonNullable<ParseArgsConfig['options']>;
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
    const loaded = loadSettings<Extra>(argv, definition.flags);
    json = loaded.settings.json;
    log = createLogger({ verbose: loaded.settings.verbose });
    if (loaded.help) {
      process.stderr.write(definition.usage.trim() + '\n');
      return ExitCode.Ok;
    }
    for (const warning of loaded.settings.warnings) log.warn(warning);
    const result = await definition.run({ settings: loaded.settings, extra: loaded.extra, positionals: loaded.positionals, log });
    definition.print?.(result, log);
    (result.ok ? log.ok : log.error)(result.summary);
    if (json) printJson({ task: definition.task, ...(result as unknown as Record<string, unknown>) });
    return result.exitCode;
  } catch (caught) {
    const err = diskFullError(caught) ?? caught;
    const exitCode = err instanceof TaskError ? err.exitCode : ExitCode.Internal;
    const message = err instanceof TaskError ? err.message : `internal error: ${errorMessage(err)}`;
    log.error(message);
    if (!(err instanceof TaskError) && err instanceof Error && err.stack) log.debug(err.stack);
    if (json) {
      printJson({
        task: definition.task,
        ok: false,
        exitCode,
        summary: message,
        error: message,
        ...(err instanceof TaskError && err.details ? { details: err.details } : {}),
      });
    }
    return exitCode;
  }
}

function printJson(value: Record<string, unknown>): void {
  process.stdout.write(maskSecrets(JSON.stringify(maskDeep(value))) + '\n');
}

/** True when this module is the process entry point (so a task file can be imported by tests and by upgrade). */
export function isMain(importMetaUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  return path.resolve(entry) === fileURLToPath(importMetaUrl);
}
