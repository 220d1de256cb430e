/**
 * (`just upgrade --offline`, the full-stop run: what is tested here happens with the app stopped.)
 * `just upgrade` killed with SIGKILL (no handler runs) at two representative steps of the window, on the sample
 * install with its real writer (issue 6). The kill points are chosen from the journal, not by timing:
 *  1. maintenance-on running (the app is being stopped);
 *  2. verify-after-switch running — the env file and schema already point at PostgreSQL, the app is stopped: the
 *     most "in between" moment of the run. The step is held there by an ACCESS EXCLUSIVE lock the test takes on
 *     the target's tables after the main verify finished, so the kill lands inside it every time.
 * The guardian is frozen (SIGSTOP) at the kill so the test can look at the exact state the kill left, then
 * released. After each kill: the app is entirely on SQLite again (env DATABASE_URL file:, provider sqlite,
 * the app holds the SQLite file), env/schema/migrations byte-identical to before, the live SQLite file unchanged by us
 * (sha256 = the backup's fingerprint while the app was stopped). The next `just upgrade` then cuts over fully.
 * (kill -9 during load-pg: tests/e2e/resume.test.ts; during start-services: tests/faults/kill-start.test.ts.)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { FIXTURE_TABLES } from '../../fixtures/sample-install.ts';
import {
  appFingerprint,
  eventually,
  health,
  journalOf,
  runDirs,
  spawnTask,
  type Install,
  useUpgradeHarness,
} from '../e2e/e2e-helpers.ts';
import { appState, classify, guardianPids, pollFast, resumeAndCutOver, sha256 } from './fault-helpers.ts';

const test = suite('faults: kill -9 of the upgrade during the cutover');
const harness = useUpgradeHarness(test);
/** The install under test, for the journal and state probes below. */
let install: Install | undefined;

const stepStatus = (step: string) => () => {
  const dir = runDirs(install!.appDir)[0];
  return dir ? journalOf(dir)?.steps?.[step]?.status : undefined;
};

async function killAndCheckBack(
  upgrade: ReturnType<typeof spawnTask>,
  runDir: string,
  before: Record<string, string>,
  onFrozen: () => Promise<void> | void,
) {
  // Freeze the guardian first, so what we look at is exactly what the kill left behind.
  const guardians = await eventually(
    'guardian running',
    () => guardianPids(runDir),
    (p) => p.length > 0,
  );
  for (const pid of guardians) process.kill(pid, 'SIGSTOP');
  upgrade.child.kill('SIGKILL');
  const killed = await upgrade.done;
  assert.is(killed.signal, 'SIGKILL');
  await onFrozen();
  for (const pid of guardians) process.kill(pid, 'SIGCONT');
  await eventually(
    'guardian recorded its rollback',
    () => journalOf(runDir)?.state?.guardian,
    (g) => Boolean(g),
    90_000,
  );
  const state = await eventually(
    'app back on SQLite',
    () => appState(install!),
    (s) => classify(s) === 'sqlite',
    60_000,
  );
  assert.is(classify(state), 'sqlite', JSON.stringify(state));
  assert.equal(appFingerprint(install!), before, 'env, schema and migrations byte-identical to before the upgrade');
  assert.not.ok(journalOf(runDir).state.upgrade.finishedAt, 'the run stays open for the next upgrade to resume');
}

test('SIGKILL at maintenance-on and at verify-after-switch: each time the app is back on SQLite, never in between; the next upgrade cuts over', async () => {
  install = await harness.runningInstall(300);
  const before = appFingerprint(install);
  const db = await harness.pg.freshDatabase('killcut');
  const env = { TARGET_DATABASE_URL: db.url };
  const args = ['--app-dir', install.appDir, '--offline', '--yes', '--json'];

  // 1. maintenance-on running.
  const first = spawnTask('upgrade', args, env);
  await pollFast('maintenance-on running', stepStatus('maintenance-on'), (s) => s === 'running');
  const runDir = runDirs(install.appDir)[0];
  await killAndCheckBack(first, runDir, before, () => {
    // The stop may be half done; nothing was switched.
    assert.ok(
      readFileSync(install!.envPath, 'utf8').includes('DATABASE_URL="file:'),
      'env not switched at maintenance-on',
    );
  });

  // 2. verify-after-switch running, held there by a lock on the target's tables. The locker connects first, so
  // between "verify done" and the lock there is one round trip (the upgrade needs pre-switch-check and switch-env).
  const locker = new pg.Client({ connectionString: db.url });
  await locker.connect();
  const lockAll = `BEGIN; LOCK TABLE ${FIXTURE_TABLES.map((t) => pg.escapeIdentifier(t)).join(', ')} IN ACCESS EXCLUSIVE MODE`;
  const second = spawnTask('upgrade', args, env);
  try {
    await pollFast(
      'verify done in the resumed run',
      () => journalOf(runDir)?.steps?.verify,
      (s) => s?.status === 'done' && journalOf(runDir).state.upgrade.attempts === 2,
      180_000,
    );
    await locker.query(lockAll);
    const status = stepStatus('verify-after-switch')();
    assert.not.equal(status, 'done', 'lock taken before verify-after-switch could finish');
    await pollFast('verify-after-switch running', stepStatus('verify-after-switch'), (s) => s === 'running');
    // The step is really inside PostgreSQL, waiting for our lock.
    await eventually(
      'verify-after-switch waiting on the lock',
      // (Asked on another connection: inside the locker's transaction pg_stat_activity would be a frozen snapshot.)
      async () =>
        (
          await harness.pg.query(
            'postgres',
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`,
            [db.name],
          )
        ).rows[0].n,
      (n) => n > 0,
    );
    const backupSha = journalOf(runDir).steps.backup.data.source.sha256;
    await killAndCheckBack(second, runDir, before, async () => {
      // What the kill left on disk: switched files, app stopped — exactly the state the guardian must undo.
      assert.match(readFileSync(install!.envPath, 'utf8'), /DATABASE_URL=.*postgres/);
      assert.is(await health(install!.healthUrl), undefined, 'app stopped at the kill');
      assert.is(sha256(install!.sqlitePath), backupSha, 'live SQLite unchanged since the backup');
    });
  } finally {
    await locker.query('ROLLBACK').catch(() => undefined);
    await locker.end();
  }

  // 3. The next upgrade resumes the run and cuts over completely.
  await resumeAndCutOver(args, env, install!, runDir);
  assert.is(journalOf(runDir).state.upgrade.outcome, 'cut-over');
});

test.run();
