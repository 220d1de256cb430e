/**
 * `just upgrade` without --yes on a real terminal (a pseudo-terminal from util-linux `script`, as an operator's
 * ssh session has): it asks once, after the read-only target check and before the app is touched.
 *  - "n" (or just Enter): exit 2, "not confirmed: nothing was changed", the app never stopped, files untouched;
 *  - "y": the upgrade runs to the end and the app is on PostgreSQL.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SAFE_ENV, appFingerprint, eventually, health, useUpgradeHarness } from './e2e-helpers.ts';
import { appState, classify } from '../faults/fault-helpers.ts';

const test = suite('e2e: upgrade confirmation on a terminal');
const harness = useUpgradeHarness(test);
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Run upgrade on a pty; answer `answer` once the prompt shows. Resolves with the exit code and everything printed. */
function upgradeOnTerminal(
  appDir: string,
  targetUrl: string,
  answer: string,
): Promise<{ code: number | null; output: string; prompted: boolean }> {
  const command = [process.execPath, '--import', 'tsx', path.join(REPO, 'tasks', 'upgrade.ts'), '--app-dir', appDir]
    .map(shellQuote)
    .join(' ');
  // -q quiet, -f flush, -e the command's exit code, -c the command; the target URL (a secret) travels in the env.
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NO_COLOR: '1',
      TERM: 'dumb',
      ...SAFE_ENV,
      TARGET_DATABASE_URL: targetUrl,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  let prompted = false;
  const onData = (d: Buffer) => {
    output += d.toString();
    if (!prompted && /\[y\/N\] $/.test(output)) {
      prompted = true;
      child.stdin.write(`${answer}\r`);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, output, prompted })));
}

test('on a terminal the upgrade asks once: "n" changes nothing (exit 2), "y" cuts over', async () => {
  if (spawnSync('script', ['--version']).status !== 0) {
    console.log('  (skipped: util-linux `script` is not installed)');
    return;
  }
  const install = await harness.runningInstall(100);
  const before = appFingerprint(install);
  const db = await harness.pg.freshDatabase('tty');
  const pidFile = path.join(install.appDir, 'run', 'vs-backend.pid');
  const pidBefore = readFileSync(pidFile, 'utf8').trim();

  const no = await upgradeOnTerminal(install.appDir, db.url, 'n');
  assert.ok(no.prompted, no.output);
  assert.match(no.output, /Stop the app in .* and move it to .*\? \[y\/N\] /);
  assert.is(no.code, 2, no.output);
  assert.match(no.output, /not confirmed: nothing was changed/);
  assert.equal(appFingerprint(install), before, 'files untouched');
  const still = await health(install.healthUrl);
  assert.is(still?.body?.database, 'sqlite');
  assert.is(readFileSync(pidFile, 'utf8').trim(), pidBefore, 'the app was never restarted');
  assert.not.match(no.output, new RegExp(harness.pg.superPassword), 'password printed on the terminal');

  const yes = await upgradeOnTerminal(install.appDir, db.url, 'y');
  assert.ok(yes.prompted, yes.output);
  assert.is(yes.code, 0, yes.output);
  const after = await eventually(
    'app on PostgreSQL',
    () => appState(install),
    (s) => classify(s) === 'postgresql',
  );
  assert.is(classify(after), 'postgresql', JSON.stringify(after));
});

test.run();
