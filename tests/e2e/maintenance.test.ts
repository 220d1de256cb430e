/**
 * maintenance on|off against the sample install's real writer (no PostgreSQL needed):
 * a stop command that "succeeds" but leaves the writer running is caught through /proc (exit 4, PID named);
 * the real stop proves the file closed; off starts the app, waits for its status route and proves it holds the file.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import { runTask } from '../helpers/cli.ts';
import { SAFE_ENV, eventually, health, makeInstall, type Install } from './e2e-helpers.ts';

const test = suite('e2e maintenance');
let install: Install;
test.before(async () => {
  install = await makeInstall(100);
});
test.after(() => {
  install.stop();
  rmSync(install.appDir, { recursive: true, force: true });
});

test('off starts the writer and waits for health; on with a stop command that lies → exit 4 naming the PID; real on proves the file closed', async () => {
  const off = await runTask('maintenance', ['off', '--app-dir', install.appDir, '--json'], { env: SAFE_ENV });
  assert.is(off.code, 0, off.stderr);
  assert.is(off.json!.started.health.serviceStatus, 'online');
  assert.ok(
    off.json!.started.proof.ok && off.json!.started.proof.sqliteHolders.length > 0,
    JSON.stringify(off.json!.started.proof),
  );
  const h = await health(install.healthUrl);
  assert.is(h?.status, 200);

  // maintenance.sh-style failure: exit 0, writer still there.
  const lying = await runTask(
    'maintenance',
    ['on', '--app-dir', install.appDir, '--stop-cmd', 'true', '--wait-seconds', '1', '--json'],
    { env: SAFE_ENV },
  );
  assert.is(lying.code, 4, lying.stderr);
  assert.match(lying.stderr, /writers did not stop: pid \d+ \(.*fake-backend\.ts\) still has dev\.db open/);
  assert.ok((await health(install.healthUrl))?.status === 200, 'writer untouched');

  const on = await runTask('maintenance', ['on', '--app-dir', install.appDir, '--json'], { env: SAFE_ENV });
  assert.is(on.code, 0, on.stderr);
  assert.ok(on.json!.stopped.holdersBefore.length >= 1, 'the writer was seen holding the file before the stop');
  assert.equal(on.json!.stopped.holdersAfter, []);
  await eventually(
    'writer gone',
    () => health(install.healthUrl),
    (x) => x === undefined,
  );

  const bad = await runTask('maintenance', ['sideways', '--app-dir', install.appDir], { env: SAFE_ENV });
  assert.is(bad.code, 2);
});

test.run();
