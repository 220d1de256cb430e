/**
 * Run dirs we own, one task per run dir, input paths, relative paths — each shown on real processes:
 *  - a wrong --app-dir (missing, or the install's backend/ folder) is exit 2 with one sentence and creates nothing;
 *  - a run dir owned by `nobody`, or reached through a symlink into a 0755 folder owned by `nobody`, is refused
 *    (exit 2), and so is a snapshot swapped by another user inside our own run dir;
 *  - under umask 000 every artifact is still 0600 and every folder 0700;
 *  - `load-pg --force` holding the run dir (stopped mid-load with SIGSTOP, so the test cannot race it) makes `verify`
 *    refuse with exit 2 naming load-pg and its pid; `rollback --app-dir B --run-dir <A's run>` is refused (exit 2);
 *  - an empty newer run dir is never the default; switch-env refuses (exit 4) a SQLite file changed since the backup;
 *  - relative --app-dir/--run-dir resolve against VS_INVOCATION_DIR (where the operator ran `just`), not the cwd.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from '../../lib/sqlite/driver.ts';
import { createSampleInstall } from '../../fixtures/sample-install.ts';
import { runTask, REPO_ROOT } from '../helpers/cli.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';
import { runDirs, spawnTask, SAFE_ENV } from '../e2e/e2e-helpers.ts';

const test = suite('faults: run dirs');
let server: TestPg;
let scratch: string;
const NOBODY = 65534;
const env = SAFE_ENV;

test.before(async () => {
  server = await startTestPg();
  scratch = mkdtempSync(path.join(os.tmpdir(), 'vs-rundirs-'));
});
test.after(async () => {
  await server?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

/** Every path under dir (files and folders), for "nothing was created". */
function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).sort();
}

test('a wrong --app-dir (missing, or the backend folder) is exit 2 with that sentence and creates nothing', async () => {
  const install = await createSampleInstall({ rows: 20 });
  try {
    const before = tree(install.appDir);
    const missing = path.join(scratch, 'no-such-install');
    for (const appDir of [missing, path.join(install.appDir, 'backend')]) {
      for (const task of ['backup', 'upgrade']) {
        const run = await runTask(task, ['--app-dir', appDir, '--yes', '--target', server.url('postgres')], { env });
        assert.is(run.code, 2, `${task} ${appDir}: ${run.stderr}`);
        assert.match(run.stderr, /is not a VisionSuit install: .*backend\/prisma\/schema\.prisma does not exist/);
      }
    }
    assert.not.ok(existsSync(missing), 'nothing created for a missing app dir');
    assert.equal(tree(install.appDir), before, 'nothing created inside the install (no backups/ in backend/)');
  } finally {
    rmSync(install.appDir, { recursive: true, force: true });
  }
});

test('run dirs we do not own are refused: owned by nobody, through a symlink into a 0755 folder of nobody, a swapped snapshot', async () => {
  const install = await createSampleInstall({ rows: 20 });
  try {
    const own = path.join(scratch, 'own-run');
    assert.is((await runTask('backup', ['--app-dir', install.appDir, '--run-dir', own], { env })).code, 0);

    // 1. The run dir itself belongs to nobody.
    const foreign = path.join(scratch, 'foreign-run');
    cpSync(own, foreign, { recursive: true });
    chownSync(foreign, NOBODY, NOBODY);
    const refusedOwner = await runTask('export-sqlite', ['--app-dir', install.appDir, '--run-dir', foreign], { env });
    assert.is(refusedOwner.code, 2, refusedOwner.stderr);
    assert.match(refusedOwner.stderr, /foreign-run is refused: it is owned by uid 65534/);
    const refusedNew = await runTask('backup', ['--app-dir', install.appDir, '--run-dir', foreign], { env });
    assert.is(refusedNew.code, 2, refusedNew.stderr);

    // 2. Our run dir (root, 0700) inside a 0755 folder owned by nobody, reached through a symlink.
    const theirs = path.join(scratch, 'theirs');
    mkdirSync(theirs, { mode: 0o755 });
    cpSync(own, path.join(theirs, 'run'), { recursive: true });
    chownSync(theirs, NOBODY, NOBODY);
    const link = path.join(scratch, 'link-to-run');
    symlinkSync(path.join(theirs, 'run'), link);
    const refusedChain = await runTask('export-sqlite', ['--app-dir', install.appDir, '--run-dir', link], { env });
    assert.is(refusedChain.code, 2, refusedChain.stderr);
    assert.match(refusedChain.stderr, /folder .*theirs on the way is owned by uid 65534/);

    // 3. Inside our own run dir, a snapshot and checksum another user put there.
    const swapped = path.join(scratch, 'swapped-run');
    cpSync(own, swapped, { recursive: true });
    chownSync(path.join(swapped, 'snapshot.sqlite'), NOBODY, NOBODY);
    chownSync(path.join(swapped, 'snapshot.sqlite.sha256'), NOBODY, NOBODY);
    const refusedFile = await runTask('export-sqlite', ['--app-dir', install.appDir, '--run-dir', swapped], { env });
    assert.is(refusedFile.code, 2, refusedFile.stderr);
    assert.match(refusedFile.stderr, /snapshot\.sqlite\.sha256 is refused: it is owned by uid 65534/);

    const ok = await runTask('export-sqlite', ['--app-dir', install.appDir, '--run-dir', own], { env });
    assert.is(ok.code, 0, ok.stderr);
  } finally {
    rmSync(install.appDir, { recursive: true, force: true });
  }
});

test('under umask 000 every artifact is 0600 and every folder 0700', async () => {
  const install = await createSampleInstall({ rows: 20 });
  const previous = process.umask(0);
  try {
    const db = await server.freshDatabase('umask');
    assert.is((await runTask('backup', ['--app-dir', install.appDir], { env })).code, 0);
    assert.is((await runTask('export-sqlite', ['--app-dir', install.appDir], { env })).code, 0);
    const load = await runTask('load-pg', ['--app-dir', install.appDir, '--target', db.url], { env });
    assert.is(load.code, 0, load.stderr);
    const runDir = runDirs(install.appDir).at(-1)!;
    for (const dir of [
      path.join(install.appDir, 'backups'),
      path.join(install.appDir, 'backups/pg-migration'),
      runDir,
    ]) {
      assert.is(statSync(dir).mode & 0o777, 0o700, dir);
    }
    for (const file of tree(runDir).map((f) => path.join(runDir, f))) {
      const st = statSync(file);
      assert.is(st.mode & 0o777, st.isDirectory() ? 0o700 : 0o600, `${file} mode ${(st.mode & 0o777).toString(8)}`);
    }
  } finally {
    process.umask(previous);
    rmSync(install.appDir, { recursive: true, force: true });
  }
});

test('one task per run dir: verify refuses while load-pg --force holds it; a run of another app is refused; switch-env refuses a changed SQLite', async () => {
  const a = await createSampleInstall({ rows: 200 });
  const b = await createSampleInstall({ rows: 20 });
  try {
    const db = await server.freshDatabase('lock');
    const args = ['--app-dir', a.appDir, '--target', db.url];
    assert.is((await runTask('backup', ['--app-dir', a.appDir], { env })).code, 0);
    assert.is((await runTask('export-sqlite', ['--app-dir', a.appDir], { env })).code, 0);
    assert.is((await runTask('load-pg', args, { env })).code, 0);
    const runDir = runDirs(a.appDir).at(-1)!;
    // An empty newer run dir (what a failed attempt used to leave) is not taken as "the newest run".
    mkdirSync(path.join(a.appDir, 'backups/pg-migration/29990101T000000Z'), { mode: 0o700 });

    const load = spawnTask('load-pg', [...args, '--force']);
    const lockFile = path.join(runDir, 'run.lock');
    const deadline = Date.now() + 60_000;
    while (!existsSync(lockFile) && Date.now() < deadline && load.child.exitCode === null)
      await new Promise((r) => setTimeout(r, 20));
    assert.ok(existsSync(lockFile), 'load-pg took the run dir lock');
    load.child.kill('SIGSTOP');
    try {
      const refused = await runTask('verify', args, { env });
      assert.is(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, new RegExp(`run dir .* is in use by load-pg pid ${load.child.pid}`));
    } finally {
      load.child.kill('SIGCONT');
    }
    const loaded = await load.done;
    assert.is(loaded.code, 0, loaded.stderr);
    const verified = await runTask('verify', args, { env });
    assert.is(verified.code, 0, verified.stderr);

    const foreign = await runTask(
      'rollback',
      ['--app-dir', b.appDir, '--run-dir', runDir, '--yes', '--stop-cmd', 'true', '--start-cmd', 'true'],
      { env },
    );
    assert.is(foreign.code, 2, foreign.stderr);
    assert.match(foreign.stderr, /belongs to the install at .*, not /);

    const live = new Database(a.sqlitePath);
    live.pragma('user_version = 7'); // a write after the backup: the file's bytes change
    live.close();
    const before = tree(a.appDir);
    const switched = await runTask('switch-env', args, { env });
    assert.is(switched.code, 4, switched.stderr);
    assert.match(switched.stderr, /changed since the backup/);
    assert.equal(
      tree(a.appDir).filter((f) => !f.includes('run.log')),
      before.filter((f) => !f.includes('run.log')),
      'switch-env changed nothing',
    );
  } finally {
    rmSync(a.appDir, { recursive: true, force: true });
    rmSync(b.appDir, { recursive: true, force: true });
  }
});

test('relative --app-dir and --run-dir resolve against VS_INVOCATION_DIR, not the cwd', async () => {
  const operatorDir = mkdtempSync(path.join(scratch, 'operator-'));
  await createSampleInstall({ rows: 20, dir: path.join(operatorDir, 'app') });
  const run = await runTask('backup', ['--app-dir', './app', '--run-dir', './my-run'], {
    env: { ...env, VS_INVOCATION_DIR: operatorDir },
    cwd: REPO_ROOT,
  });
  assert.is(run.code, 0, run.stderr);
  assert.ok(existsSync(path.join(operatorDir, 'my-run', 'snapshot.sqlite')));
  assert.not.ok(existsSync(path.join(REPO_ROOT, 'app')));
  assert.not.ok(existsSync(path.join(REPO_ROOT, 'my-run')));
});

test.run();
