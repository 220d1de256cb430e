/** The one schema loader: files and folders, and the SQLite file found the way Prisma 6 and 7 find it. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadSettings, resolveSqlitePath, sqliteLookupDescription } from '../../lib/cli/config.ts';
import { mergedSchemaText, readSchemaSource, resolveSqliteFile } from '../../lib/prisma/schema-source.ts';
import { loadSchemaModel } from '../../lib/prisma/schema-model.ts';

const root = mkdtempSync(path.join(os.tmpdir(), 'vs-schema-source-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function app(datasource: string, files: Record<string, string> = {}): { appDir: string; schema: string } {
  const appDir = path.join(root, `app${++n}`);
  mkdirSync(path.join(appDir, 'backend/prisma'), { recursive: true });
  const schema = path.join(appDir, 'backend/prisma/schema.prisma');
  writeFileSync(schema, `datasource db {\n${datasource}}\n\nmodel A {\n  id Int @id\n}\n`);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(appDir, name)), { recursive: true });
    writeFileSync(path.join(appDir, name), text);
  }
  return { appDir, schema };
}

test('url = env("ANY_VAR"): the variable the schema names, from the root .env or the .env beside the schema', () => {
  const a = app('  provider = "sqlite"\n  url      = env("PRISMA_DATABASE_URL")\n', {
    'backend/.env': 'DATABASE_URL="file:./wrong.db"\nPRISMA_DATABASE_URL="file:./right.db"\n',
  });
  assert.is(resolveSqliteFile(a.schema, a.appDir).file, path.join(a.appDir, 'backend/prisma/right.db'));
  const b = app('  provider = "sqlite"\n  url      = env("DB")\n', {
    'backend/prisma/.env': 'DB=file:../data/app.db?connection_limit=1\n',
  });
  assert.is(resolveSqliteFile(b.schema, b.appDir).file, path.join(b.appDir, 'backend/data/app.db'));
  const settings = loadSettings(['--app-dir', b.appDir], {}, {}).settings;
  assert.is(resolveSqlitePath(settings), path.join(b.appDir, 'backend/data/app.db'));
});

test('a literal url; nothing to resolve says where it looked', () => {
  const a = app('  provider = "sqlite"\n  url      = "file:dev.db"\n');
  assert.is(resolveSqliteFile(a.schema, a.appDir).file, path.join(a.appDir, 'backend/prisma/dev.db'));
  const b = app('  provider = "sqlite"\n  url      = env("NOWHERE")\n');
  const settings = loadSettings(['--app-dir', b.appDir], {}, {}).settings;
  assert.is(resolveSqlitePath(settings), undefined);
  assert.match(sqliteLookupDescription(settings), /NOWHERE \(not set in the environment, .*backend\/\.env/);
  assert.is(
    loadSettings(['--app-dir', b.appDir, '--sqlite', '/data/x.db'], {}, {}).settings.sqlitePath,
    '/data/x.db',
    '--sqlite still wins',
  );
});

test('Prisma 7: no url in the schema, prisma.config.ts names it (literal or env), relative to the config', () => {
  const a = app('  provider = "sqlite"\n', {
    'backend/package.json': '{}',
    'backend/prisma.config.ts': `export default defineConfig({\n  datasource: { url: "file:./prisma/p7.db" },\n});\n`,
  });
  assert.is(resolveSqliteFile(a.schema, a.appDir).file, path.join(a.appDir, 'backend/prisma/p7.db'));
  const b = app('  provider = "sqlite"\n', {
    'backend/package.json': '{}',
    'backend/.env': 'APP_DB=file:./db/p7.db\n',
    'backend/prisma.config.ts': `export default defineConfig({\n  datasource: {\n    url: process.env.APP_DB,\n  },\n});\n`,
  });
  assert.is(resolveSqliteFile(b.schema, b.appDir).file, path.join(b.appDir, 'backend/db/p7.db'));
  const c = app('  provider = "sqlite"\n', {
    'backend/package.json': '{}',
    'backend/prisma.config.ts': `export default defineConfig({ datasource: { url: buildUrl() } });\n`,
  });
  assert.match(resolveSqliteFile(c.schema, c.appDir).from, /is computed.*pass --sqlite FILE/);
});

test('a folder schema: every .prisma file, the datasource file found, the default location backend/prisma/schema', () => {
  const appDir = path.join(root, 'folder');
  const dir = path.join(appDir, 'backend/prisma/schema');
  mkdirSync(path.join(dir, 'models'), { recursive: true });
  writeFileSync(
    path.join(dir, 'main.prisma'),
    'datasource db {\n  provider = "sqlite"\n  url      = "file:./f.db"\n}\n',
  );
  writeFileSync(path.join(dir, 'models/a.prisma'), 'model A {\n  id Int @id\n  b  B[]\n}\n');
  writeFileSync(
    path.join(dir, 'models/b.prisma'),
    'model B {\n  id  Int @id\n  aId Int\n  a   A   @relation(fields: [aId], references: [id])\n}\n',
  );
  const settings = loadSettings(['--app-dir', appDir], {}, {}).settings;
  assert.is(settings.schemaPath, dir);
  const source = readSchemaSource(dir);
  assert.equal(
    source.files.map((f) => f.name),
    ['main.prisma', 'models/a.prisma', 'models/b.prisma'],
  );
  assert.is(source.datasourceFile!.name, 'main.prisma');
  assert.is(resolveSqlitePath(settings), path.join(dir, 'f.db'), 'relative to the file holding the datasource');
  assert.equal(
    loadSchemaModel(dir).tables.map((t) => t.name),
    ['A', 'B'],
  );
  assert.match(mergedSchemaText(source), /\/\/ ---- models\/b\.prisma\nmodel B/);
});

test.run();
