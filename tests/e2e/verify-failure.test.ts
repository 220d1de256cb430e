/**
 * (`just upgrade --offline`, the full-stop run: what is tested here happens with the app stopped.)
 * End to end, the failed gate: a real divergence in the target (a trigger that alters a value on insert, planted
 * through a template database before the load) makes verify fail → automatic rollback → exit 5, env/schema/
 * migrations byte-identical, the writer running on SQLite again; then switch-env --dry-run on the run's
 * PostgreSQL schema prints the masked diff and changes nothing.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runTask } from '../helpers/cli.ts';
import { SAFE_ENV, appFingerprint, eventually, health, sqliteCount, useUpgradeHarness } from './e2e-helpers.ts';

const test = suite('e2e verify failure');
const harness = useUpgradeHarness(test);

test('verify fails on a real divergence in the target → exit 5, files byte-identical, writer back on SQLite; switch-env --dry-run changes nothing', async () => {
  const install = await harness.runningInstall();
  const before = appFingerprint(install);

  // A template database with an event trigger: every "Tag" table created in a copy gets a row trigger (ALWAYS, so
  // replica mode cannot skip it) that alters the label on insert. The load goes through; verify must catch it.
  const tpl = await harness.pg.freshDatabase('tpl');
  await harness.pg.query(
    tpl.name,
    `CREATE FUNCTION corrupt_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW."label" := NEW."label" || ' (altered)'; RETURN NEW; END $$;
     CREATE FUNCTION corrupt_on_create() RETURNS event_trigger LANGUAGE plpgsql AS $$
     DECLARE r record;
     BEGIN
       FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE TABLE' LOOP
         IF r.object_identity = 'public."Tag"' THEN
           EXECUTE 'CREATE TRIGGER corrupt BEFORE INSERT ON public."Tag" FOR EACH ROW EXECUTE FUNCTION corrupt_row()';
           EXECUTE 'ALTER TABLE public."Tag" ENABLE ALWAYS TRIGGER corrupt';
         END IF;
       END LOOP;
     END $$;
     CREATE EVENT TRIGGER corrupt_tables ON ddl_command_end EXECUTE FUNCTION corrupt_on_create();`,
  );
  const dbName = `bad_${process.pid}`;
  await harness.pg.query('postgres', `CREATE DATABASE ${dbName} TEMPLATE ${tpl.name}`);
  const url = harness.pg.url(dbName);

  const up = await runTask('upgrade', ['--app-dir', install.appDir, '--offline', '--yes', '--json'], {
    env: { ...SAFE_ENV, TARGET_DATABASE_URL: url },
  });
  assert.is(up.code, 5, up.stderr);
  assert.is(up.json?.failedStep, 'verify', up.stderr);
  assert.match(up.stderr, /Tag/);
  assert.equal(appFingerprint(install), before, 'env, schema and migrations byte-identical');
  const h = await eventually(
    'writer back on SQLite',
    () => health(install.healthUrl),
    (x) => x?.status === 200,
  );
  assert.is(h!.body.database, 'sqlite');
  const n = sqliteCount(install.sqlitePath, 'AuditLog');
  await eventually(
    'backend writing to SQLite',
    () => sqliteCount(install.sqlitePath, 'AuditLog'),
    (m) => m > n,
  );

  // The run dir holds the PostgreSQL schema load-pg wrote: switch-env --dry-run shows the diff and changes nothing.
  const runDir = up.json!.runDir as string;
  const dry = await runTask('switch-env', ['--app-dir', install.appDir, '--run-dir', runDir, '--dry-run'], {
    env: { ...SAFE_ENV, TARGET_DATABASE_URL: url },
  });
  assert.is(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /-DATABASE_URL="file:.\/dev.db"/);
  assert.match(dry.stdout, /\+DATABASE_URL="postgresql:\/\/postgres:\*\*\*@127.0.0.1/);
  assert.match(dry.stdout, /provider\s*=\s*"postgresql"/);
  assert.not.match(dry.stdout + dry.stderr, new RegExp(harness.pg.superPassword));
  assert.equal(appFingerprint(install), before, 'dry run changed nothing');
});

test.run();
