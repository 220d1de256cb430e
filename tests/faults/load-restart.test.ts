/**
 * Faults on the PostgreSQL side while load-pg streams rows (issue 6), injected for real once COPY is seen running
 * in pg_stat_activity:
 *  - the server restarted (pg_ctl restart -m fast: every backend terminated, server back on the same port);
 *  - the COPY backends killed with pg_terminate_backend from a second connection.
 * After each: exit 3 with one line naming the lost connection, the live SQLite file byte-identical, and the next
 * `load-pg --force` loads everything.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import type { SampleInstall } from '../../fixtures/sample-install.ts';
import { runTask } from '../helpers/cli.ts';
import {
  LOST_CONNECTION,
  failureLine,
  prepareLoadRun,
  sha256,
  startRestartablePg,
  type RestartablePg,
  waitForCopy,
} from './fault-helpers.ts';

const test = suite('faults: PostgreSQL restarted / backend killed during load-pg');
let server: RestartablePg;
let install: SampleInstall;
let runDir: string;
let liveSha: string;
let totalRows: number;

// Big enough that COPY runs for a few seconds on a loaded two-core machine, so the fault lands inside it.
const ROWS = 80_000;

test.before(async () => {
  server = await startRestartablePg();
  ({ install, runDir, liveSha, totalRows } = await prepareLoadRun(ROWS));
});

test.after(async () => {
  await server?.stop();
  if (install) rmSync(install.appDir, { recursive: true, force: true });
});

function loadPg(url: string, force = false) {
  return runTask(
    'load-pg',
    ['--app-dir', install.appDir, '--run-dir', runDir, '--json', ...(force ? ['--force'] : [])],
    {
      env: { TARGET_DATABASE_URL: url },
    },
  );
}

async function rowsIn(database: string): Promise<number> {
  const tables = await server.query<{ relname: string }>(
    database,
    `SELECT relname FROM pg_stat_user_tables WHERE relname <> '_prisma_migrations'`,
  );
  let n = 0;
  for (const t of tables.rows)
    n += (await server.query(database, `SELECT count(*)::int AS n FROM "${t.relname}"`)).rows[0].n;
  return n;
}

test('PostgreSQL restarted during COPY: exit 3, one-line cause, SQLite untouched; next load-pg --force succeeds', async () => {
  const db = await server.freshDatabase('restart');
  const load = loadPg(db.url);
  await waitForCopy(server, db.name);
  server.restart();
  const failed = await load;
  assert.is(failed.code, 3, failed.stderr);
  const line = failureLine(failed.stderr);
  // The driver's own words vary with where the socket died (57P01 message, ECONNRESET, "Connection terminated").
  assert.match(line, LOST_CONNECTION);
  assert.not.match(line, /rejected the value/, 'a lost connection is not blamed on the data');
  assert.is(failed.json?.exitCode, 3);
  assert.is(sha256(install.sqlitePath), liveSha, 'live SQLite file byte-identical');

  const again = await loadPg(db.url, true);
  assert.is(again.code, 0, again.stderr);
  assert.is(again.json?.totalRows, totalRows);
  assert.is(await rowsIn(db.name), totalRows);
  assert.is(sha256(install.sqlitePath), liveSha);
});

test('COPY backends killed with pg_terminate_backend: exit 3, one-line cause; next load-pg --force succeeds', async () => {
  const db = await server.freshDatabase('terminate');
  const load = loadPg(db.url);
  const pids = await waitForCopy(server, db.name);
  const { rows } = await server.query(
    'postgres',
    'SELECT count(*) FILTER (WHERE t)::int AS n FROM (SELECT pg_terminate_backend(p) AS t FROM unnest($1::int[]) p) x',
    [pids],
  );
  assert.ok(rows[0].n >= 1, 'terminated a COPY backend');
  const failed = await load;
  assert.is(failed.code, 3, failed.stderr);
  assert.match(failureLine(failed.stderr), LOST_CONNECTION);
  assert.is(sha256(install.sqlitePath), liveSha);

  // Without --force the half-loaded target is refused (it is not empty) — the documented way back is --force.
  const refused = await loadPg(db.url);
  assert.is(refused.code, 3, refused.stderr);
  assert.match(failureLine(refused.stderr), /is not empty .* pass --force/);

  const again = await loadPg(db.url, true);
  assert.is(again.code, 0, again.stderr);
  assert.is(await rowsIn(db.name), totalRows);
});

test.run();
