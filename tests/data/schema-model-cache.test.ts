/**
 * lib/prisma/schema-model-cache.ts: export-sqlite leaves the parsed schema model in the run dir; load-pg takes it only
 * while schema.prisma is byte-identical (sha256), never from another schema or cache format.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  cacheSchemaModel,
  readCachedSchemaModel,
  SCHEMA_MODEL_FILE,
  schemaSha256,
} from '../../lib/prisma/schema-model-cache.ts';
import { loadSchemaModel } from '../../lib/prisma/schema-model.ts';
import { TEMPLATE_DIR } from '../../fixtures/sample-install.ts';

const test = suite('schema model cache');
let dir = '';
let schema = '';

test.before.each(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vs-model-cache-'));
  schema = path.join(dir, 'schema.prisma');
  copyFileSync(path.join(TEMPLATE_DIR, 'backend', 'prisma', 'schema.prisma'), schema);
});
test.after.each(() => rmSync(dir, { recursive: true, force: true }));

test('the cached model equals a fresh parse of the same schema, and the file is 0600', () => {
  const model = loadSchemaModel(schema);
  assert.is(readCachedSchemaModel(dir, schemaSha256(schema)), undefined, 'nothing cached yet');
  cacheSchemaModel(dir, schemaSha256(schema), model);
  assert.equal(readCachedSchemaModel(dir, schemaSha256(schema)), model);
  assert.is(statSync(path.join(dir, SCHEMA_MODEL_FILE)).mode & 0o777, 0o600);
});

test('a schema changed after the cache was written (even a comment) is parsed again', () => {
  cacheSchemaModel(dir, schemaSha256(schema), loadSchemaModel(schema));
  appendFileSync(schema, '\n// changed\n');
  assert.is(readCachedSchemaModel(dir, schemaSha256(schema)), undefined);
});

test('a cache of another format, or damaged, is ignored', () => {
  cacheSchemaModel(dir, schemaSha256(schema), loadSchemaModel(schema));
  const file = path.join(dir, SCHEMA_MODEL_FILE);
  const cached = JSON.parse(readFileSync(file, 'utf8'));
  writeFileSync(file, JSON.stringify({ ...cached, format: 999 }));
  assert.is(readCachedSchemaModel(dir, schemaSha256(schema)), undefined);
  writeFileSync(file, '{ not json');
  assert.is(readCachedSchemaModel(dir, schemaSha256(schema)), undefined);
});

test.run();
