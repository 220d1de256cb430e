import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout: the folder holding tasks/, lib/, sql/ and node_modules/. */
export const REPO_ROOT: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The module a helper thread runs (worker-call.ts, table-loader.ts): lib/<name>.ts, e.g. `copy/copy-worker`. */
export function helperThreadModule(name: string): URL {
  return new URL(`../${name}.ts`, import.meta.url);
}

/** The node flags the justfile gives the tasks that run every step in one process (upgrade, fallback, demo). */
export const ONE_PROCESS_TASK_FLAGS = ['--max-semi-space-size=1', '--optimize-for-size'];

/** Where the justfile keeps the operator's own MALLOC_ARENA_MAX ('' when unset) before setting ours. */
export const OPERATOR_MALLOC_ARENA_MAX = 'VS_MIGRATE_APP_MALLOC_ARENA_MAX';

/**
 * The environment the justfile gives those tasks: glibc keeps at most two malloc arenas (not one per thread), and
 * the operator's own value is kept for the app's commands (lib/app/service-commands.ts serviceEnv).
 */
export function oneProcessTaskEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return { [OPERATOR_MALLOC_ARENA_MAX]: env.MALLOC_ARENA_MAX ?? '', MALLOC_ARENA_MAX: '2' };
}

/**
 * Node's arguments for starting a task the way its justfile recipe does (`node --import tsx tasks/<task>.ts`), for
 * tests and the benchmark, which start tasks as real processes.
 */
export function taskNodeArgs(task: string): string[] {
  return ['--import', 'tsx', path.join(REPO_ROOT, 'tasks', `${task}.ts`)];
}
