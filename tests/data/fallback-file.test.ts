/**
 * The fallback file's schema on the second fixture (fixtures/prisma-features-app: multi-file schema, a view, Bytes
 * keys, an @@ignore model, and a hand-written seed migration with double-quoted string literals, which the SQLite
 * build of better-sqlite3 refuses): the migrations cannot run here, so the file gets the DDL of the app's own file;
 * either way every schema object equals the app's, `_prisma_migrations` is the app's row for row, the seeded rows
 * are gone (the data comes from PostgreSQL), integrity and foreign keys are clean, and the app's file is untouched.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from '../../lib/sqlite/driver.ts';
import { createFeaturesInstall } from '../../fixtures/features-install.ts';
import { loadSchemaModel } from '../../lib/prisma/schema-model.ts';
import {
  buildPrismaSqliteFile,
  finishPrismaSqliteFile,
  readSqliteHeader,
  schemaDifferences,
  schemaObjects,
} from '../../lib/sqlite/fallback-file.ts';

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

test('features app: schema from the app file when a migration does not run here; history and schema identical', async () => {
  const app = await createFeaturesInstall({ rows: 10 });
  const out = mkdtempSync(path.join(os.tmpdir(), 'vs-fallback-file-'));
  try {
    const before = sha256(app.sqlitePath);
    const file = path.join(out, 'features.db');
    const header = readSqliteHeader(app.sqlitePath);
    const model = loadSchemaModel(app.schemaPath);
    const built = buildPrismaSqliteFile({
      file,
      migrationsDir: path.join(app.schemaPath, 'migrations'),
      snapshotFile: app.sqlitePath,
      header,
      tables: model.tables,
    });
    assert.is(built.schemaFrom.source, 'snapshot');
    assert.match(built.schemaFrom.reason!, /no such column/);
    assert.is(built.prismaMigrations, 2);
    const finish = finishPrismaSqliteFile(built.db, file, header, built.deferredIndexes);
    assert.equal(finish.integrity, []);
    assert.is(finish.foreignKeyViolations, 0);

    const mine = new Database(file, { readonly: true });
    const theirs = new Database(app.sqlitePath, { readonly: true });
    try {
      assert.equal(schemaDifferences(schemaObjects(mine), schemaObjects(theirs)), []);
      const history = (db: Database.Database) =>
        db.prepare('SELECT * FROM "_prisma_migrations" ORDER BY "id"').raw(true).safeIntegers(true).all();
      assert.equal(history(mine), history(theirs));
      for (const t of model.tables)
        assert.is(mine.prepare(`SELECT count(*) FROM "${t.name}"`).pluck().get(), 0, `${t.name} is empty`);
      assert.ok(schemaObjects(mine).some((o) => o.type === 'view' && o.name === 'AccountHandle'));
    } finally {
      mine.close();
      theirs.close();
    }
    assert.is(sha256(app.sqlitePath), before, "the app's file is untouched");
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(app.appDir, { recursive: true, force: true });
  }
});

test.run();
