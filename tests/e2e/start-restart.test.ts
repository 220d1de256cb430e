/**
 * startServices after a restore: an app instance that was started before the env files were put back (the
 * start of an upgrade killed mid-cutover can finish after the guardian's stop) still answers from PostgreSQL,
 * and a start command that sees it running does nothing. startServices must restart it once so it re-reads the
 * restored configuration. The "app" here is a tiny HTTP server that reads its database kind at boot, driven by
 * real stop/start shell commands with a PID file, like maintenance.sh.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadSettings } from '../../lib/cli/config.ts';
import { createLogger } from '../../lib/cli/log.ts';
import { freePort } from '../../lib/pg/embedded-pg.ts';
import { startServices } from '../../lib/steps/maintenance.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'vs-start-restart-'));
const pidFile = path.join(dir, 'app.pid');
const kindFile = path.join(dir, 'kind');

test.after(() => {
  if (existsSync(pidFile)) {
    try {
      process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGTERM');
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

test('an instance on the other database is restarted once, then the app is proven on SQLite', async () => {
  const port = await freePort();
  const dbFile = path.join(dir, 'dev.db');
  writeFileSync(dbFile, '');
  // Holds the SQLite file only when it booted while the configuration said sqlite (as the app opens its database).
  writeFileSync(
    path.join(dir, 'app.cjs'),
    `const fs = require('fs');
     const kind = fs.readFileSync(${JSON.stringify(kindFile)}, 'utf8').trim();
     if (kind === 'sqlite') globalThis.db = fs.openSync(${JSON.stringify(dbFile)}, 'r');
     require('http').createServer((q, s) => { s.setHeader('content-type', 'application/json');
       s.end(JSON.stringify({ timestamp: new Date().toISOString(), service: { status: 'online', message: 'ok' } })); })
       .listen(${port}, '127.0.0.1');`,
  );
  const startCmd = `if [ -f ${pidFile} ] && kill -0 "$(cat ${pidFile})" 2>/dev/null; then echo already running; else nohup ${process.execPath} ${dir}/app.cjs >/dev/null 2>&1 & echo $! > ${pidFile}; fi`;
  const stopCmd = `if [ -f ${pidFile} ]; then pid=$(cat ${pidFile}); kill "$pid" 2>/dev/null; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done; rm -f ${pidFile}; fi; true`;
  const { settings } = loadSettings(['--app-dir', dir, '--stop-cmd', stopCmd, '--start-cmd', startCmd], {}, {});
  const log = createLogger({ quiet: true });
  const healthUrl = `http://127.0.0.1:${port}/api/meta/status/backend`;

  // The stale instance: booted while the configuration said PostgreSQL.
  writeFileSync(kindFile, 'postgresql');
  const first = await startServices(settings, log, { healthUrl, waitSeconds: 10 });
  assert.ok(first.health?.ok, JSON.stringify(first.health));
  const stalePid = readFileSync(pidFile, 'utf8').trim();

  // The configuration is restored to SQLite while that instance keeps running.
  writeFileSync(kindFile, 'sqlite');
  const again = await startServices(settings, log, {
    healthUrl,
    waitSeconds: 3,
    expectDatabase: 'sqlite',
    sqlitePath: dbFile,
  });
  assert.ok(again.health?.ok, JSON.stringify(again.health));
  assert.ok(again.proof?.ok, JSON.stringify(again.proof));
  assert.is.not(readFileSync(pidFile, 'utf8').trim(), stalePid, 'the stale instance was replaced');
});

test.run();
