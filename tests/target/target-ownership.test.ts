/**
 * A target is "ours" only by proof (the marker load-pg writes), shown on one real PostgreSQL with two sample installs
 * (staging and production on one server): the second install's load-pg --force, check-target --force and upgrade
 * refuse the first one's database (exit 3) and its row counts stay as they were; our own previous load is refused
 * once rows were written to it or another client is connected, and re-loaded with --force when neither.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import pg from 'pg';
import { createSampleInstall, type SampleInstall } from '../../fixtures/sample-install.ts';
import { runTask } from '../helpers/cli.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';
import { SAFE_ENV } from '../e2e/e2e-helpers.ts';

const test = suite('target: ownership marker');
let server: TestPg;
let a: SampleInstall;
let b: SampleInstall;
let target: { name: string; url: string };
const env = SAFE_ENV;

test.before(async () => {
  server = await startTestPg();
  [a, b] = [await createSampleInstall({ rows: 40 }), await createSampleInstall({ rows: 30 })];
  target = await server.freshDatabase('shared');
  for (const install of [a, b]) {
    assert.is((await runTask('backup', ['--app-dir', install.appDir], { env })).code, 0);
    assert.is((await runTask('export-sqlite', ['--app-dir', install.appDir], { env })).code, 0);
  }
  const loaded = await runTask('load-pg', ['--app-dir', a.appDir, '--target', target.url], { env });
  assert.is(loaded.code, 0, loaded.stderr);
});
test.after(async () => {
  await server?.stop();
  for (const install of [a, b]) if (install) rmSync(install.appDir, { recursive: true, force: true });
});

async function rowCounts(database: string): Promise<Record<string, number>> {
  const { rows } = await server.query<{ relname: string }>(
    database,
    "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1",
  );
  const counts: Record<string, number> = {};
  for (const { relname } of rows)
    counts[relname] = Number(
      (await server.query(database, `SELECT count(*) AS n FROM public.${pg.escapeIdentifier(relname)}`)).rows[0].n,
    );
  return counts;
}

test("another install's database is refused (exit 3) by load-pg --force, check-target --force and upgrade; its rows stay", async () => {
  const before = await rowCounts(target.name);
  assert.ok(Object.keys(before).length > 3);
  const load = await runTask('load-pg', ['--app-dir', b.appDir, '--target', target.url, '--force'], { env });
  assert.is(load.code, 3, load.stderr);
  assert.match(load.stderr, /loaded by another install/);
  const check = await runTask('check-target', ['--app-dir', b.appDir, '--target', target.url, '--force'], { env });
  assert.is(check.code, 3, check.stderr);
  assert.match(check.stderr, /another install/);
  const upgrade = await runTask(
    'upgrade',
    ['--app-dir', b.appDir, '--target', target.url, '--yes', '--stop-cmd', 'true', '--start-cmd', 'true'],
    { env },
  );
  assert.is(upgrade.code, 3, upgrade.stderr);
  assert.equal(await rowCounts(target.name), before, "the first install's rows are unchanged");
});

test('tables without any marker are refused with --force (exit 3)', async () => {
  const bare = await server.freshDatabase('bare');
  await server.query(bare.name, 'CREATE TABLE public.invoices (id int); INSERT INTO public.invoices VALUES (1)');
  const load = await runTask('load-pg', ['--app-dir', a.appDir, '--target', bare.url, '--force'], { env });
  assert.is(load.code, 3, load.stderr);
  assert.match(load.stderr, /no marker of this suite/);
  assert.is(Number((await server.query(bare.name, 'SELECT count(*) AS n FROM public.invoices')).rows[0].n), 1);
});

test('our own load: refused once rows were written to it or another client is connected; re-loaded with --force otherwise', async () => {
  const args = ['--app-dir', a.appDir, '--target', target.url, '--force'];
  await server.query(target.name, `INSERT INTO public."Tag" (id, label) VALUES ('after-load', 'written-after-load')`);
  const written = await runTask('load-pg', args, { env });
  assert.is(written.code, 3, written.stderr);
  assert.match(written.stderr, /rows were written .* after our load/);
  await server.query(target.name, `DELETE FROM public."Tag" WHERE label = 'written-after-load'`);

  const app = new pg.Client({ connectionString: target.url, application_name: 'vs-backend' });
  await app.connect();
  try {
    const busy = await runTask('load-pg', args, { env });
    assert.is(busy.code, 3, busy.stderr);
    assert.match(busy.stderr, /other client session\(s\) are connected .*vs-backend/);
  } finally {
    await app.end();
  }
  const reloaded = await runTask('load-pg', args, { env });
  assert.is(reloaded.code, 0, reloaded.stderr);
});

test.run();
