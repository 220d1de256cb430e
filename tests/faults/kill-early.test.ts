/**
 * (`just upgrade --offline`, the full-stop run: what is tested here happens with the app stopped.)
 * `just upgrade` killed with SIGKILL before the cutover (issue 6), kill points read from the journal:
 *  1. check-target running — before the maintenance window: the app is never stopped, nothing changes; the lock file
 *     stays behind with a dead PID, and the next upgrade takes it over as stale (naming the dead owner);
 *  2. verify running (the data is loaded, nothing switched, the app stopped) — the guardian, frozen across the kill
 *     so the test can see what the kill left, puts the app back on SQLite.
 * Then the next `just upgrade` resumes the run and cuts over.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  appFingerprint,
  eventually,
  health,
  journalOf,
  runDirs,
  spawnTask,
  useUpgradeHarness,
} from '../e2e/e2e-helpers.ts';
import { appState, classify, guardianPids, pollFast, resumeAndCutOver, sha256 } from './fault-helpers.ts';

const test = suite('faults: kill -9 of the upgrade before the cutover');
const harness = useUpgradeHarness(test);

test('SIGKILL at check-target (app never stopped, stale lock taken over) and at verify (guardian: back on SQLite); the next upgrade cuts over', async () => {
  const install = await harness.runningInstall(300);
  const before = appFingerprint(install);
  const pidFile = path.join(install.appDir, 'run', 'vs-backend.pid');
  const appPid = readFileSync(pidFile, 'utf8');
  const db = await harness.pg.freshDatabase('killearly');
  const env = { TARGET_DATABASE_URL: db.url };
  const args = ['--app-dir', install.appDir, '--offline', '--yes', '--json'];
  const lockFile = path.join(install.appDir, 'backups', 'pg-migration', '.lock');
  const status = (step: string) => () => {
    const dir = runDirs(install!.appDir)[0];
    return dir ? journalOf(dir)?.steps?.[step]?.status : undefined;
  };

  // 1. check-target running: nothing has been touched yet.
  const first = spawnTask('upgrade', args, env);
  await pollFast('check-target running', status('check-target'), (s) => s === 'running');
  const runDir = runDirs(install.appDir)[0];
  first.child.kill('SIGKILL');
  assert.is((await first.done).signal, 'SIGKILL');
  assert.equal(guardianPids(runDir), [], 'no guardian: the window was never opened');
  assert.is(readFileSync(pidFile, 'utf8'), appPid, 'the app was never stopped');
  assert.is((await health(install.healthUrl))?.body?.database, 'sqlite');
  assert.equal(appFingerprint(install), before);
  assert.ok(existsSync(lockFile), 'the dead run left its lock');
  assert.is(JSON.parse(readFileSync(lockFile, 'utf8')).pid, first.child.pid);

  // 2. verify running: loaded, not switched, app stopped.
  const second = spawnTask('upgrade', args, env);
  await pollFast('verify running in the resumed run', status('verify'), (s) => s === 'running', 180_000);
  const guardians = guardianPids(runDir);
  assert.ok(guardians.length > 0, 'a guardian watches the window');
  for (const pid of guardians) process.kill(pid, 'SIGSTOP');
  second.child.kill('SIGKILL');
  const killed = await second.done;
  assert.is(killed.signal, 'SIGKILL');
  assert.match(killed.stderr, new RegExp(`took over a stale lock of pid ${first.child.pid}`));
  assert.match(killed.stderr, /resuming the unfinished upgrade/);
  assert.equal(appFingerprint(install), before, 'nothing switched at verify');
  assert.is(await health(install.healthUrl), undefined, 'app stopped at the kill');
  assert.is(
    sha256(install.sqlitePath),
    journalOf(runDir).steps.backup.data.source.sha256,
    'live SQLite unchanged since the backup',
  );
  for (const pid of guardians) process.kill(pid, 'SIGCONT');
  await eventually(
    'guardian recorded its rollback',
    () => journalOf(runDir)?.state?.guardian,
    (g) => Boolean(g),
    90_000,
  );
  const back = await eventually(
    'app back on SQLite',
    () => appState(install!),
    (s) => classify(s) === 'sqlite',
    60_000,
  );
  assert.is(classify(back), 'sqlite', JSON.stringify(back));
  assert.equal(appFingerprint(install), before);

  // 3. The next upgrade resumes and cuts over.
  await resumeAndCutOver(args, env, install, runDir);
});

test.run();
