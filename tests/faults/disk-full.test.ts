/**
 * Disk full for the run directory (issue 6), for real: the run dir lives on a small tmpfs the test mounts (we run
 * as root in CI; without mount permission the test says so and skips). After backup, the rest of the file system
 * is filled with a filler file, so export-sqlite and then load-pg hit ENOSPC at their first write. Each must end
 * with one line naming the full device and exit 4 (as backup's own free-space refusal,
 * tests/data/backup-export.test.ts), leave journal.json readable and the live SQLite file byte-identical; with the
 * space freed, the same command succeeds.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createSampleInstall, type SampleInstall } from '../../fixtures/sample-install.ts';
import { runTask } from '../helpers/cli.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';
import { failureLine, fillFileSystem, sha256 } from './fault-helpers.ts';

const test = suite('faults: disk full for the run directory');
let server: TestPg;
let install: SampleInstall;
let mnt: string;
let mounted = false;

test.before(async () => {
  try {
    server = await startTestPg();
    install = await createSampleInstall({ rows: 300 });
    mnt = path.join(install.appDir, 'small-fs');
    mkdirSync(mnt);
    mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mnt]).status === 0;
  } catch (err) {
    // uvu drops an error thrown in a `before` hook without a word.
    console.error(`disk-full setup failed: ${err instanceof Error ? err.stack : String(err)}`);
    throw err;
  }
});

test.after(async () => {
  if (mounted) spawnSync('umount', ['-l', mnt]);
  await server?.stop();
  if (install) rmSync(install.appDir, { recursive: true, force: true });
});

const fill = () => fillFileSystem(mnt);

const DISK_FULL =
  /^✖ no space left on the device.*\(ENOSPC\); free space .* or pass --run-dir on another one, then run again$/;

test('export-sqlite and load-pg on a full run-dir file system: exit 4 with one line, nothing lost; with space freed both succeed', async () => {
  if (!mounted) {
    console.log('  (skipped: cannot mount a small tmpfs here — needs root)');
    return;
  }
  const runDir = path.join(mnt, 'run');
  const liveSha = sha256(install.sqlitePath);
  const backup = await runTask('backup', ['--app-dir', install.appDir, '--run-dir', runDir]);
  assert.is(backup.code, 0, backup.stderr);

  // export-sqlite: manifest.json cannot be written.
  let filler = fill();
  const exp = await runTask('export-sqlite', ['--app-dir', install.appDir, '--run-dir', runDir, '--json']);
  assert.is(exp.code, 4, exp.stderr);
  assert.match(failureLine(exp.stderr), DISK_FULL);
  assert.is(exp.json?.exitCode, 4);
  JSON.parse(readFileSync(path.join(runDir, 'journal.json'), 'utf8')); // still whole (atomic writes)
  assert.is(sha256(install.sqlitePath), liveSha);
  rmSync(filler);
  const expOk = await runTask('export-sqlite', ['--app-dir', install.appDir, '--run-dir', runDir, '--json']);
  assert.is(expOk.code, 0, expOk.stderr);

  // load-pg: the generated PostgreSQL migrations cannot be written into the run dir.
  const db = await server.freshDatabase('diskfull');
  filler = fill();
  const load = await runTask('load-pg', ['--app-dir', install.appDir, '--run-dir', runDir, '--json'], {
    env: { TARGET_DATABASE_URL: db.url },
  });
  assert.is(load.code, 4, load.stderr);
  assert.match(failureLine(load.stderr), DISK_FULL);
  JSON.parse(readFileSync(path.join(runDir, 'journal.json'), 'utf8'));
  assert.is(sha256(install.sqlitePath), liveSha);
  rmSync(filler);
  const loadOk = await runTask('load-pg', ['--app-dir', install.appDir, '--run-dir', runDir, '--json', '--force'], {
    env: { TARGET_DATABASE_URL: db.url },
  });
  assert.is(loadOk.code, 0, loadOk.stderr);
  assert.is(
    loadOk.json?.totalRows,
    Object.values(install.rowCounts).reduce((a, b) => a + b, 0),
  );
  assert.is(sha256(install.sqlitePath), liveSha);
});

test.run();
