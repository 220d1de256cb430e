import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { checkFlags, closestFlag } from '../../lib/cli/run-cli.ts';
import { COMMON_FLAGS } from '../../lib/cli/config.ts';
import { DomainError } from '../../lib/errors.ts';
import { ExitCode, exitCodeOf } from '../../lib/cli/exit-codes.ts';
import { REPO_ROOT, runTask } from '../helpers/cli.ts';

const TASKS = readdirSync(path.join(REPO_ROOT, 'tasks'))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3));

test('a typo gets one line with the closest flag and where the help is, exit 2', async () => {
  const run = await runTask('upgrade', ['--yse']);
  assert.is(run.code, ExitCode.Usage);
  assert.is(run.stderr.trim(), '✖ unknown flag --yse; did you mean --yes? (npx just upgrade --help)');
  assert.is(run.stdout, '');
});

test('with --json the usage error is also the one JSON object on stdout', async () => {
  const run = await runTask('verify', ['--tagret', 'postgresql://x@h/db', '--json']);
  assert.is(run.code, ExitCode.Usage);
  assert.is(run.json?.ok, false);
  assert.is(run.json?.error, 'unknown flag --tagret; did you mean --target? (npx just verify --help)');
});

test('a missing value is one line naming the flag, exit 2', async () => {
  const atEnd = await runTask('load-pg', ['--target']);
  assert.is(atEnd.code, ExitCode.Usage);
  assert.is(atEnd.stderr.trim(), '✖ --target needs a value (npx just load-pg --help)');
  const beforeFlag = await runTask('load-pg', ['--run-dir', '--force']);
  assert.is(beforeFlag.code, ExitCode.Usage);
  assert.is(beforeFlag.stderr.trim(), '✖ --run-dir needs a value (npx just load-pg --help)');
});

test('checkFlags: no suggestion when nothing is close; a switch given a value; short flags', () => {
  const usage = (argv: string[]) => {
    try {
      checkFlags('backup', argv, COMMON_FLAGS);
      return undefined;
    } catch (err) {
      assert.instance(err, DomainError);
      assert.is(exitCodeOf((err as DomainError).outcome), ExitCode.Usage);
      return (err as Error).message;
    }
  };
  assert.is(usage(['--frobnicate']), 'unknown flag --frobnicate (npx just backup --help)');
  assert.is(usage(['--yes=1']), '--yes takes no value (npx just backup --help)');
  assert.is(usage(['-q']), 'unknown flag -q (npx just backup --help)');
  assert.is(usage(['-y', '-v', '--target=-odd', '--run-dir', 'r', 'positional']), undefined);
  assert.is(usage(['--', '--not-a-flag']), undefined);
  assert.is(closestFlag('taget', Object.keys(COMMON_FLAGS)), 'target');
  assert.is(closestFlag('app-dri', Object.keys(COMMON_FLAGS)), 'app-dir');
  assert.is(closestFlag('x', Object.keys(COMMON_FLAGS)), undefined);
});

// The flag lists are generated from the flags each task's parser accepts (lib/cli/run-cli.ts renderUsage), so a flag a task
// reads but does not describe shows up here as a line without a description.
test('every task: one usage format, every flag described, exit codes listed', async () => {
  for (const task of TASKS) {
    const run = await runTask(task, ['--help']);
    assert.is(run.code, 0, `${task} --help: ${run.stderr}`);
    const lines = run.stderr.trimEnd().split('\n');
    assert.match(lines[0], new RegExp(`^Usage: npx just ${task}( \\S+)? \\[flags\\]$`), task);
    assert.ok(lines[2]?.length > 0, `${task}: a one-line description under the usage line`);
    const flagLines = lines.filter((l) => /^ {2}--/.test(l));
    for (const line of flagLines) assert.match(line, /^ {2}--\S+( \S+)? +\S/, `${task}: described: ${line}`);
    const listed = new Set(flagLines.map((l) => l.trim().split(' ')[0].slice(2)));
    for (const flag of Object.keys(COMMON_FLAGS)) assert.ok(listed.has(flag), `${task} --help lists --${flag}`);
    const exit = lines.indexOf('Exit codes:');
    assert.ok(exit > 0, `${task}: exit codes`);
    const codes = lines.slice(exit + 1).map((l) => Number(l.trim().split(/\s+/)[0]));
    assert.ok(codes.includes(0) && codes.includes(2), `${task}: exit codes 0 and 2 at least (${codes})`);
  }
});

test.run();
