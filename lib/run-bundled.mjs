#!/usr/bin/env node
// Run a task from an esbuild bundle of its TypeScript, in this process:
//
//   node lib/run-bundled.mjs load-pg [flags…]      (what the justfile's load-pg recipe runs)
//
// Why: tsx compiles each module through Node's module hooks, which on Node 20 run in a separate hooks thread that
// every import waits for. load-pg pays that twice, in its main thread and in the Prisma schema engine's helper
// thread, and both are on the path to the first COPY. Measured on the 1.5 M-row bench: first COPY at 0.64 s
// instead of 0.95-1.0 s, 0.3-0.5 CPU-s less, load-pg 0.2-0.4 s faster. Building the bundle (esbuild, the compiler
// tsx itself uses) takes ~50 ms, so it is built whenever a source changed: there is no build step to forget.
//
// Plain JavaScript on purpose: this file is what avoids loading tsx. Only load-pg runs this way: a task that
// checks `isMain(import.meta.url)` (demo, upgrade, ...) must not be bundled together with the task modules it
// imports, since every module of a bundle shares the bundle file's import.meta.url.
//
// The bundle is written to node_modules/.cache/visionsuit-bundles/<task>-<content hash>/, inside the checkout so
// that its imports of npm packages resolve as the sources' do. Next time, when none of the files it was built from
// changed (size, mtime and ctime of each, as make would judge) and every file of it is there, it is run without
// starting esbuild (-60 ms). A source saved while a build runs is not trusted: the record is then not written, and
// the next run builds again.
// Folders of older sources stay until node_modules is rebuilt (a few hundred KB each; safe to delete when no task
// runs).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Tasks this launcher runs (see above for why only these). */
const BUNDLED_TASKS = new Set(['load-pg']);
/**
 * The lib/ modules a helper thread can run (code-location.ts's helperThreadModule): load-pg's, and export-sqlite's,
 * whose code load-pg's imports bring into the bundle too.
 */
const HELPER_THREAD_MODULES = ['worker-host', 'load-prep', 'copy-worker', 'schema-model', 'export-scan'];
// The CLI contract's exit codes (lib/errors.ts): 2 bad flags, 10 internal error.
const EXIT_USAGE = 2;
const EXIT_INTERNAL = 10;

/** One line on stderr and, with --json, the failure object lib/cli.ts prints; then the contract's exit code. */
function fail(code, message) {
  process.stderr.write(`✖ ${message}\n`);
  if (process.argv.includes('--json')) {
    process.stdout.write(JSON.stringify({ task: process.argv[2] ?? null, ok: false, exitCode: code, summary: message, error: message }) + '\n');
  }
  process.exit(code);
}

const [task, ...taskArgs] = process.argv.slice(2);
if (!BUNDLED_TASKS.has(task)) {
  fail(EXIT_USAGE, `run-bundled: "${task ?? ''}" is not a task it runs (${[...BUNDLED_TASKS].join(', ')}); run other tasks with \`npx just <task>\``);
}

const CACHE_DIR = path.join(REPO_ROOT, 'node_modules', '.cache', 'visionsuit-bundles');
/**
 * Which bundle folder the task's sources last built, and the state of every file it was built from. Per checkout: a
 * second checkout (a git worktree) may share this node_modules through a symlink.
 */
const lastBuildFile = path.join(CACHE_DIR, `${task}.last-build.${createHash('sha256').update(REPO_ROOT).digest('hex').slice(0, 8)}.json`);
/** Besides the sources esbuild read: this launcher (its build options) and tsconfig.json (esbuild reads it too). */
const BUILD_CONFIG_FILES = ['lib/run-bundled.mjs', 'tsconfig.json'];

function fileStat(file) {
  try {
    return statSync(path.join(REPO_ROOT, file));
  } catch {
    return undefined;
  }
}

/** What the record keeps of a file: changed size, content or metadata all change it. */
const fileState = (st) => (st ? `${st.size}:${st.mtimeMs}:${st.ctimeMs}` : 'missing');

/** The last bundle's entry file when every file it was built from is unchanged; otherwise undefined. */
function unchangedBundle() {
  try {
    const last = JSON.parse(readFileSync(lastBuildFile, 'utf8'));
    const dir = path.join(CACHE_DIR, last.dir);
    if (!last.outputs.every((name) => existsSync(path.join(dir, name)))) return undefined;
    for (const [file, state] of Object.entries(last.inputs)) if (fileState(fileStat(file)) !== state) return undefined;
    return path.join(dir, `${task}.js`);
  } catch {
    return undefined; // no record yet, or an unreadable one: build
  }
}

/** Bundle the task and its helper-thread modules into the cache folder; returns the task's bundled entry file. */
async function bundle() {
  const esbuild = await import('esbuild');
  // Whole seconds of margin: a file stamped at or after this may have changed after esbuild read it.
  const buildStartedMs = Date.now() - 1000;
  try {
    const result = await esbuild.build({
      absWorkingDir: REPO_ROOT,
      entryPoints: { [task]: `tasks/${task}.ts`, ...Object.fromEntries(HELPER_THREAD_MODULES.map((name) => [name, `lib/${name}.ts`])) },
      bundle: true,
      splitting: true, // the helper threads share modules with the task (errors, worker-call, …): one copy each
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external', // npm packages are imported from node_modules as usual (native addons, WebAssembly)
      outdir: path.join(CACHE_DIR, 'pending'), // output names carry no folder: the files are placed below
      entryNames: '[name]',
      write: false,
      metafile: true, // the list of source files read, for unchangedBundle() next time
      logLevel: 'silent',
      define: { __VS_REPO_ROOT__: JSON.stringify(REPO_ROOT) },
    });
    const files = result.outputFiles.map((f) => ({ name: path.basename(f.path), contents: f.contents })).sort((a, b) => (a.name < b.name ? -1 : 1));
    const hash = createHash('sha256');
    for (const f of files) hash.update(f.name).update('\0').update(f.contents);
    const dir = path.join(CACHE_DIR, `${task}-${hash.digest('hex').slice(0, 16)}`);
    // Written beside and renamed into place, so a task started at the same moment never imports a half-written file.
    if (!existsSync(dir)) {
      mkdirSync(CACHE_DIR, { recursive: true });
      const tmp = mkdtempSync(path.join(CACHE_DIR, `.${task}-`));
      for (const f of files) writeFileSync(path.join(tmp, f.name), f.contents);
      try {
        renameSync(tmp, dir);
      } catch (err) {
        rmSync(tmp, { recursive: true, force: true });
        if (!existsSync(dir)) throw err; // not "another run put the same bundle there first"
      }
    }
    // The same bundle, with a file deleted under it (a clean-up half done): put the file back.
    for (const f of files) {
      const file = path.join(dir, f.name);
      if (existsSync(file)) continue;
      writeFileSync(`${file}.${process.pid}`, f.contents);
      renameSync(`${file}.${process.pid}`, file);
    }
    // The record says which files this bundle is current for. Not written when one of them was saved during the build
    // (esbuild may have read it before or after): the next run builds again rather than trust an old bundle.
    const inputs = [...Object.keys(result.metafile.inputs), ...BUILD_CONFIG_FILES].map((file) => [file, fileStat(file)]);
    const changedDuringBuild = inputs.some(([, st]) => !st || Math.max(st.mtimeMs, st.ctimeMs) >= buildStartedMs);
    if (!changedDuringBuild) {
      const tmpRecord = `${lastBuildFile}.${process.pid}`;
      writeFileSync(tmpRecord, JSON.stringify({ dir: path.basename(dir), outputs: files.map((f) => f.name), inputs: Object.fromEntries(inputs.map(([file, st]) => [file, fileState(st)])) }));
      renameSync(tmpRecord, lastBuildFile);
    }
    return path.join(dir, `${task}.js`);
  } finally {
    // esbuild keeps its compiler process around for more builds; the task has no use for it.
    await esbuild.stop();
  }
}

let entry;
try {
  entry = unchangedBundle() ?? (await bundle());
} catch (err) {
  const cause = String(err?.message ?? err).split('\n')[0];
  fail(EXIT_INTERNAL, `${task}: cannot bundle the task with esbuild: ${cause} (run it from the sources instead: node --import tsx tasks/${task}.ts)`);
}
// The task reads its flags from process.argv as if it had been started directly. It handles its own failures (exit
// codes, --json); a failure here is the bundle's, e.g. one of its files deleted under it.
const launcherArgv = process.argv;
process.argv = [process.argv[0], entry, ...taskArgs];
try {
  await import(pathToFileURL(entry).href);
} catch (err) {
  process.argv = launcherArgv;
  fail(EXIT_INTERNAL, `${task}: cannot load its bundle ${path.dirname(entry)}: ${String(err?.message ?? err).split('\n')[0]} (delete that folder to rebuild it)`);
}
