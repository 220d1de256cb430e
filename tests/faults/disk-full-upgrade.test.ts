/**
 * (`just upgrade --offline`, the full-stop run: what is tested here happens with the app stopped.)
 * Disk full during `just upgrade` (issue 6): <app>/backups (where run directories live) is a small tmpfs; once the
 * journal shows load-pg running, the test fills it to the last byte. The upgrade must fail its step, roll back and
 * leave the app running on SQLite (exit 5), env/schema/migrations byte-identical; with space freed, the next
 * `just upgrade` cuts over. Skips with a message where mount is not permitted (needs root).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { startTestPg, type TestPg } from '../helpers/pg.ts';
import {
  appFingerprint,
  eventually,
  health,
  journalOf,
  makeInstall,
  runDirs,
  spawnTask,
  type Install,
} from '../e2e/e2e-helpers.ts';
import { appState, classify, fillFileSystem, guardianPids, pollFast } from './fault-helpers.ts';

const test = suite('faults: disk full during upgrade');
let server: TestPg;
let install: Install | undefined;
let mnt: string | undefined;

test.before(async () => {
  server = await startTestPg();
});
test.after(async () => {
  install?.stop();
  if (mnt) spawnSync('umount', ['-l', mnt]);
  if (install) rmSync(install.appDir, { recursive: true, force: true });
  await server?.stop();
});

test('run-dir file system fills up during load-pg: rolled back (exit 5), app on SQLite, files identical; next upgrade cuts over', async () => {
  install = await makeInstall(300);
  const backups = path.join(install.appDir, 'backups');
  mkdirSync(backups);
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=6m,mode=0700', 'tmpfs', backups]).status !== 0) {
    console.log('  (skipped: cannot mount a small tmpfs here — needs root)');
    return;
  }
  mnt = backups;
  install.start();
  await eventually(
    'backend up on SQLite',
    () => health(install!.healthUrl),
    (h) => h?.status === 200 && h.body?.database === 'sqlite',
  );
  const before = appFingerprint(install);
  const db = await server.freshDatabase('diskfullup');
  const env = { TARGET_DATABASE_URL: db.url };
  const args = ['--app-dir', install.appDir, '--offline', '--yes', '--json'];

  const first = spawnTask('upgrade', args, env);
  await pollFast(
    'load-pg running',
    () => {
      const dir = runDirs(install!.appDir)[0];
      return dir ? journalOf(dir)?.steps?.['load-pg']?.status : undefined;
    },
    (s) => s === 'running',
    120_000,
  );
  const filler = fillFileSystem(backups);
  const failed = await first.done;
  // The upgrade ended the run itself, so its guardian stood down — even though the journal could not record the
  // outcome. (Before, the guardian read the unfinished journal as a death, redid the rollback and held the lock
  // while the next upgrade started: exit 2.)
  const runDir = runDirs(install.appDir)[0];
  // Gone at once (SIGTERM before the upgrade exits), not after a rollback of its own that takes seconds.
  await eventually(
    'guardian gone',
    () => guardianPids(runDir),
    (p) => p.length === 0,
    1_500,
  );
  assert.is(failed.code, 5, failed.stderr);
  const result = JSON.parse(failed.stdout);
  assert.is(result.rolledBack, true);
  assert.match(result.summary, /rolled back: the app runs on SQLite again/);
  assert.match(result.cause, /^no space left on the device.*\(ENOSPC\)/);
  assert.is(result.failedStep, 'load-pg', 'the failed step is named, not hidden by the failed journal write');
  const state = await eventually(
    'app on SQLite',
    () => appState(install!),
    (s) => classify(s) === 'sqlite',
  );
  assert.is(classify(state), 'sqlite', JSON.stringify(state));
  assert.equal(appFingerprint(install), before);

  rmSync(filler);
  const second = spawnTask('upgrade', args, env);
  const done = await second.done;
  assert.is(done.code, 0, done.stderr);
  const after = await eventually(
    'app on PostgreSQL',
    () => appState(install!),
    (s) => classify(s) === 'postgresql',
  );
  assert.is(classify(after), 'postgresql');
});

test.run();
