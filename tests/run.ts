/**
 * Test runner: every tests/<dir>/<name>.test.ts file runs in its own Node process (uvu suites, real servers started
 * by the file itself), three at a time (TEST_CONCURRENCY). uvu prints Total/Passed lines that CI does not read,
 * so this runner adds them up and ends with the plain line `N passed, N failed`, exiting non-zero on any
 * failure. `npm test -- load` runs only files whose path contains "load".
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

const testsDir = path.dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);

function findTests(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === 'helpers' ? [] : findTests(full);
    return name.endsWith('.test.ts') ? [full] : [];
  });
}

const files = findTests(testsDir)
  .filter((f) => filters.length === 0 || filters.some((needle) => f.includes(needle)))
  .sort();
const FILE_TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_SECONDS ?? 300) * 1000;
// Three files at a time on two cores: most files spend much of their time waiting (an app restarting, a guardian
// polling, a server starting), so a third file fills those gaps — measured 4.1 min instead of 5.3 min for the suite.
const requestedConcurrency = Number(process.env.TEST_CONCURRENCY);
const concurrency =
  Number.isInteger(requestedConcurrency) && requestedConcurrency > 0
    ? requestedConcurrency
    : Math.max(2, Math.min(3, os.cpus().length + 1));

interface FileOutcome {
  file: string;
  passed: number;
  failed: number;
  code: number | null;
  seconds: number;
  output: string;
}

function runFile(file: string): Promise<FileOutcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    // A file whose tests finished but which cannot exit (a server it failed to stop keeps the event loop alive)
    // must not stall CI for its whole time budget: past the limit it is killed and counted as a failure.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, FILE_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (timedOut) output += `\n(killed after ${FILE_TIMEOUT_MS / 1000} s: the file did not finish or did not exit)\n`;
      const total = Number(/Total:\s+(\d+)/.exec(output)?.[1] ?? 0);
      const passed = Number(/Passed:\s+(\d+)/.exec(output)?.[1] ?? 0);
      const skipped = Number(/Skipped:\s+(\d+)/.exec(output)?.[1] ?? 0);
      // A file that crashed before uvu summarised counts as one failure, so it can never pass silently.
      let failed = Math.max(0, total - passed - skipped);
      if ((code !== 0 || timedOut) && failed === 0) failed = 1;
      resolve({ file, passed, failed, code, seconds: (Date.now() - started) / 1000, output });
    });
  });
}

const queue = [...files];
const outcomes: FileOutcome[] = [];
async function worker() {
  for (let file = queue.shift(); file; file = queue.shift()) {
    const outcome = await runFile(file);
    outcomes.push(outcome);
    const rel = path.relative(process.cwd(), file);
    const status = outcome.failed ? 'FAIL' : 'ok  ';
    process.stdout.write(
      `${status} ${rel}  (${outcome.passed} passed, ${outcome.failed} failed, ${outcome.seconds.toFixed(1)}s)\n`,
    );
    if (outcome.failed || process.env.TEST_VERBOSE) process.stdout.write(outcome.output.replace(/^/gm, '    ') + '\n');
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));

const passed = outcomes.reduce((n, o) => n + o.passed, 0);
const failed = outcomes.reduce((n, o) => n + o.failed, 0);
if (files.length === 0) {
  process.stdout.write('no test files matched\n0 passed, 1 failed\n');
  process.exit(1);
}
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed ? 1 : 0);
