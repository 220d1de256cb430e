import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT } from '../helpers/cli.ts';

/**
 * lib/run-bundled.mjs, the launcher the justfile's load-pg recipe uses, run in a copy of the checkout (its own
 * tasks/, lib/, sql/ and node_modules/.cache, the packages linked from this one) so sources can be edited and the
 * bundle cache broken without touching the real checkout. Loading data through the bundle is covered by every
 * load-pg test: runTask starts load-pg this way.
 */
let checkout: string;
let cacheDir: string;

function launch(...args: string[]) {
  const run = spawnSync(process.execPath, [path.join(checkout, 'lib', 'run-bundled.mjs'), ...args], {
    cwd: checkout,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/**
 * The launcher does not record a build whose sources were saved less than a second before it started (they may have
 * changed while esbuild read them): a test that just wrote sources waits that second out, as a real checkout has.
 */
const sourcesSettle = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1100);

const bundleDirs = () => readdirSync(cacheDir).filter((name) => name.startsWith('load-pg-'));
const lastBuild = () => {
  const records = readdirSync(cacheDir).filter((name) => /^load-pg\.last-build\.[0-9a-f]{8}\.json$/.test(name));
  assert.is(records.length, 1, 'one record of the last build, for this checkout');
  return path.join(cacheDir, records[0]);
};

test.before(() => {
  checkout = mkdtempSync(path.join(os.tmpdir(), 'vs-run-bundled-'));
  for (const dir of ['tasks', 'lib', 'sql']) cpSync(path.join(REPO_ROOT, dir), path.join(checkout, dir), { recursive: true });
  for (const file of ['package.json', 'tsconfig.json']) cpSync(path.join(REPO_ROOT, file), path.join(checkout, file));
  mkdirSync(path.join(checkout, 'node_modules'));
  for (const name of readdirSync(path.join(REPO_ROOT, 'node_modules'))) {
    if (name !== '.cache') symlinkSync(path.join(REPO_ROOT, 'node_modules', name), path.join(checkout, 'node_modules', name));
  }
  cacheDir = path.join(checkout, 'node_modules', '.cache', 'visionsuit-bundles');
  sourcesSettle();
});

test.after(() => {
  if (checkout) rmSync(checkout, { recursive: true, force: true });
});

test('a task it does not run: exit 2 and one line naming the tasks it runs (with --json, the failure object too)', () => {
  const run = launch('demo', '--json');
  assert.is(run.code, 2, run.stderr);
  assert.is(run.stderr.trim().split('\n').length, 1, run.stderr);
  assert.match(run.stderr, /"demo" is not a task it runs \(load-pg\)/);
  const json = JSON.parse(run.stdout);
  assert.equal([json.ok, json.exitCode], [false, 2]);
  assert.match(json.error, /is not a task it runs/);
  assert.not.ok(existsSync(cacheDir), 'nothing was built');
});

test('first run builds the bundle; the next run reuses it without building; flags reach the task', () => {
  const first = launch('load-pg', '--help');
  assert.is(first.code, 0, first.stderr);
  assert.match(first.stderr + first.stdout, /Usage: npx just load-pg --target URL/);
  assert.equal(bundleDirs().length, 1);
  const dir = path.join(cacheDir, bundleDirs()[0]);
  for (const file of ['load-pg.js', 'worker-host.js', 'load-prep.js', 'copy-worker.js']) assert.ok(existsSync(path.join(dir, file)), `${file} in the bundle`);
  const recorded = statSync(lastBuild()).mtimeMs;

  const second = launch('load-pg', '--help');
  assert.is(second.code, 0, second.stderr);
  assert.equal(bundleDirs().length, 1);
  assert.is(statSync(lastBuild()).mtimeMs, recorded, 'no build: the record of the last build was not rewritten');

  // A bad flag is the task's own exit 2, through the bundle.
  const bad = launch('load-pg', '--jobs', '0');
  assert.is(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--jobs must be an integer from 1 to 8/);
});

test('a changed source is bundled again before it runs; a bundle missing a file is built again', () => {
  launch('load-pg', '--help'); // whatever the order the tests run in, there is a bundle to be stale
  const taskFile = path.join(checkout, 'tasks', 'load-pg.ts');
  writeFileSync(taskFile, readFileSync(taskFile, 'utf8').replace('Usage: npx just load-pg --target URL', 'Usage: npx just load-pg (edited) --target URL'));
  // Run at once: built from the new source, but not recorded (saved less than a second before the build).
  const unsettled = launch('load-pg', '--help');
  assert.match(unsettled.stderr + unsettled.stdout, /Usage: npx just load-pg \(edited\) --target URL/);
  assert.not.ok(readFileSync(path.join(cacheDir, JSON.parse(readFileSync(lastBuild(), 'utf8')).dir, 'load-pg.js'), 'utf8').includes('(edited)'), 'the record still names the old bundle');
  sourcesSettle();
  const run = launch('load-pg', '--help');
  assert.is(run.code, 0, run.stderr);
  assert.match(run.stderr + run.stdout, /Usage: npx just load-pg \(edited\) --target URL/);
  assert.ok(bundleDirs().length >= 2, 'a bundle of its own for the new sources');
  const record = JSON.parse(readFileSync(lastBuild(), 'utf8'));
  assert.ok(readFileSync(path.join(cacheDir, record.dir, 'load-pg.js'), 'utf8').includes('(edited)'), 'the record points at the new bundle');
  assert.ok('tasks/load-pg.ts' in record.inputs && 'lib/steps/load-pg.ts' in record.inputs && 'lib/run-bundled.mjs' in record.inputs, 'inputs recorded');

  // One of the bundle's files deleted (a clean-up half done): not run as it is, built again.
  const chunk = record.outputs.find((name: string) => name.startsWith('chunk-'));
  rmSync(path.join(cacheDir, record.dir, chunk));
  const rebuilt = launch('load-pg', '--help');
  assert.is(rebuilt.code, 0, rebuilt.stderr);
  assert.ok(existsSync(path.join(cacheDir, record.dir, chunk)), 'the missing file is back');
});

test('a cache folder it cannot write: exit 10 and one line naming the way to run from the sources', () => {
  rmSync(path.join(checkout, 'node_modules', '.cache'), { recursive: true, force: true });
  writeFileSync(path.join(checkout, 'node_modules', '.cache'), 'not a folder');
  const run = launch('load-pg', '--help');
  assert.is(run.code, 10, run.stderr);
  assert.is(run.stderr.trim().split('\n').length, 1, run.stderr);
  assert.match(run.stderr, /load-pg: cannot bundle the task with esbuild: .*run it from the sources instead: node --import tsx tasks\/load-pg\.ts/);
  rmSync(path.join(checkout, 'node_modules', '.cache'), { force: true });
});

test.run();
