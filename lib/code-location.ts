import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where this code runs from. Most tasks (and every test that imports lib/) run the TypeScript sources through tsx;
 * load-pg runs from an esbuild bundle that lib/run-bundled.mjs builds (see there for why). A bundle puts every
 * module into a few chunk files beside each other, so paths that the sources find relative to their own file
 * (the sql/ folder, a helper thread's module) have to be found another way there: the bundler defines
 * __VS_REPO_ROOT__, and the helper threads' modules are entries of the bundle, side by side with its chunks.
 */
declare const __VS_REPO_ROOT__: string | undefined;

/** True inside a bundle built by lib/run-bundled.mjs. */
export const RUNS_FROM_BUNDLE = typeof __VS_REPO_ROOT__ === 'string';

/** The checkout: the folder holding tasks/, lib/, sql/ and node_modules/. */
export const REPO_ROOT: string = typeof __VS_REPO_ROOT__ === 'string' ? __VS_REPO_ROOT__ : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The module a helper thread runs (worker-call.ts, table-loader.ts): lib/<name>.ts from the sources, <name>.js
 * beside the bundle's chunks in a bundle (lib/run-bundled.mjs lists these modules as entries of its bundle).
 */
export function helperThreadModule(name: string): URL {
  return new URL(RUNS_FROM_BUNDLE ? `./${name}.js` : `./${name}.ts`, import.meta.url);
}

/** Tasks the justfile runs from a bundle (lib/run-bundled.mjs, which says why only these; keep the three in step). */
const BUNDLED_TASKS = new Set(['load-pg']);

/**
 * Node's arguments for starting a task the way its justfile recipe does: `lib/run-bundled.mjs <task>` for a bundled
 * task, `--import tsx tasks/<task>.ts` otherwise. For tests and the benchmark, which start tasks as real processes.
 */
export function taskNodeArgs(task: string): string[] {
  return BUNDLED_TASKS.has(task) ? [path.join(REPO_ROOT, 'lib', 'run-bundled.mjs'), task] : ['--import', 'tsx', path.join(REPO_ROOT, 'tasks', `${task}.ts`)];
}
