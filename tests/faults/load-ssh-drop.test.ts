/**
 * The SSH tunnel to PostgreSQL dropped while load-pg streams rows (issue 6): the test's SSH server (ssh2, in
 * process) is shut down once COPY is seen running through it. Expect exit 3 with one line saying the connection
 * was lost (not a rejected value, not an internal error), the live SQLite file byte-identical, and the next
 * `load-pg --force` through a new tunnel loads everything.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import type { SampleInstall } from '../../fixtures/sample-install.ts';
import { runTask } from '../helpers/cli.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';
import { startSshServer, type TestSshServer } from '../helpers/ssh-server.ts';
import { LOST_CONNECTION, failureLine, prepareLoadRun, sha256, waitForCopy } from './fault-helpers.ts';

const test = suite('faults: SSH tunnel dropped during load-pg');
let server: TestPg;
let install: SampleInstall;
let runDir: string;
let liveSha: string;
const sshServers: TestSshServer[] = [];

test.before(async () => {
  server = await startTestPg();
  ({ install, runDir, liveSha } = await prepareLoadRun(80_000));
});

test.after(async () => {
  for (const s of sshServers) await s.stop().catch(() => undefined);
  await server?.stop();
  if (install) rmSync(install.appDir, { recursive: true, force: true });
});

function loadThrough(ssh: TestSshServer, url: string, force = false) {
  return runTask(
    'load-pg',
    [
      '--app-dir',
      install.appDir,
      '--run-dir',
      runDir,
      '--json',
      '--ssh',
      ssh.target,
      '--ssh-key',
      ssh.keyFile,
      '--known-hosts',
      ssh.knownHostsFile,
      ...(force ? ['--force'] : []),
    ],
    { env: { TARGET_DATABASE_URL: url } },
  );
}

test('tunnel dropped during COPY: exit 3 naming the lost connection, SQLite untouched; next load-pg --force succeeds', async () => {
  const db = await server.freshDatabase('sshdrop');
  const ssh = await startSshServer();
  sshServers.push(ssh);
  const load = loadThrough(ssh, db.url);
  await waitForCopy(server, db.name);
  assert.ok(ssh.forwards.length >= 2, 'the load went through the tunnel');
  await ssh.stop();
  const failed = await load;
  assert.is(failed.code, 3, failed.stderr);
  const line = failureLine(failed.stderr);
  assert.match(line, LOST_CONNECTION);
  assert.not.match(line, /rejected the value|internal error/);
  assert.is(failed.stderr.split('\n').filter((l) => l.startsWith('✖')).length, 1, 'one failure line');
  assert.is(sha256(install.sqlitePath), liveSha, 'live SQLite file byte-identical');

  const ssh2 = await startSshServer();
  sshServers.push(ssh2);
  const again = await loadThrough(ssh2, db.url, true);
  assert.is(again.code, 0, again.stderr);
  const total = Object.values(install.rowCounts).reduce((a, b) => a + b, 0);
  assert.is(again.json?.totalRows, total);
  assert.is(sha256(install.sqlitePath), liveSha);
});

test.run();
