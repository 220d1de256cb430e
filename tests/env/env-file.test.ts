import { test } from 'uvu';
import * as assert from 'uvu/assert';
import dotenv from 'dotenv';
import { encodeValue, setEnvValues, unifiedDiff } from '../../lib/app/env-file.ts';

const PG = 'postgresql://visionsuit:s3cr%40t@db.example:5432/visionsuit?schema=public&sslmode=require';

const sample = [
  '# VisionSuit backend settings',
  'PORT=4000',
  'HOST=0.0.0.0',
  '',
  '# database',
  'DATABASE_URL="file:./dev.db"',
  "export MINIO_SECRET_KEY='abc#def'",
  'MAINTENANCE_MODE=false # toggled by admins',
  'GENERATOR_NOTE="line1\\nline2"',
  '',
].join('\n');

test('replaces DATABASE_URL in place, keeps every other line and the quote style', () => {
  const { text, changed } = setEnvValues(sample, { DATABASE_URL: PG });
  assert.equal(changed, ['DATABASE_URL']);
  const before = sample.split('\n');
  const after = text.split('\n');
  assert.equal(after.length, before.length);
  for (let i = 0; i < before.length; i++) if (i !== 5) assert.is(after[i], before[i]);
  assert.is(after[5], `DATABASE_URL="${PG}"`);
  const parsed = dotenv.parse(text);
  assert.is(parsed.DATABASE_URL, PG);
  assert.is(parsed.MINIO_SECRET_KEY, 'abc#def');
  assert.is(parsed.MAINTENANCE_MODE, 'false');
  assert.is(parsed.GENERATOR_NOTE, 'line1\nline2');
});

test('second run changes nothing', () => {
  const once = setEnvValues(sample, { DATABASE_URL: PG }).text;
  const twice = setEnvValues(once, { DATABASE_URL: PG });
  assert.equal(twice.changed, []);
  assert.is(twice.text, once);
});

test('keeps single quotes, export prefix, unquoted style and trailing comments', () => {
  const src = "export DATABASE_URL='file:./dev.db' # sqlite\nX=1\n";
  const { text } = setEnvValues(src, { DATABASE_URL: PG });
  assert.is(text, `export DATABASE_URL='${PG}' # sqlite\nX=1\n`);
  const plain = setEnvValues('DATABASE_URL=file:./dev.db\n', { DATABASE_URL: 'postgresql://u@h/db?x=1' }).text;
  assert.is(plain, 'DATABASE_URL=postgresql://u@h/db?x=1\n');
  // unquoted but the new value has a '#': must be quoted or dotenv would cut it at the '#'
  const hash = setEnvValues('DATABASE_URL=file:./dev.db # c\n', { DATABASE_URL: 'postgresql://u:p#w@h/db' }).text;
  assert.is(dotenv.parse(hash).DATABASE_URL, 'postgresql://u:p#w@h/db');
  assert.match(hash, /# c\n$/);
});

test('appends absent keys, also SHADOW_DATABASE_URL; file without final newline', () => {
  const { text, changed } = setEnvValues('PORT=4000', { DATABASE_URL: PG, SHADOW_DATABASE_URL: PG + '_shadow' });
  assert.equal(changed.sort(), ['DATABASE_URL', 'SHADOW_DATABASE_URL']);
  assert.ok(text.startsWith('PORT=4000\n'));
  assert.is(dotenv.parse(text).SHADOW_DATABASE_URL, PG + '_shadow');
});

test('every occurrence of a duplicated key is replaced (dotenv takes the last)', () => {
  const { text } = setEnvValues('DATABASE_URL="a"\nDATABASE_URL="b"\n', { DATABASE_URL: PG });
  assert.is(text, `DATABASE_URL="${PG}"\nDATABASE_URL="${PG}"\n`);
});

test('CRLF files stay CRLF; empty value KEY= is filled', () => {
  const { text } = setEnvValues('A=1\r\nDATABASE_URL=\r\nB=2\r\n', { DATABASE_URL: PG });
  assert.is(text, `A=1\r\nDATABASE_URL="${PG}"\r\nB=2\r\n`);
});

test('a multi-line value of another key is not mistaken for a key', () => {
  const src = 'CERT="-----BEGIN\nDATABASE_URL=fake\n-----END"\nDATABASE_URL="file:./dev.db"\n';
  const { text } = setEnvValues(src, { DATABASE_URL: PG });
  assert.ok(text.startsWith('CERT="-----BEGIN\nDATABASE_URL=fake\n-----END"\n'));
  assert.is(dotenv.parse(text).DATABASE_URL, PG);
  assert.is(dotenv.parse(text).CERT, dotenv.parse(src).CERT);
});

test('encodeValue round-trips hostile values through dotenv.parse', () => {
  const values = [
    'a b',
    'with"double',
    "with'single",
    'both\'"',
    'hash#tag',
    '  lead',
    'back\\slash',
    'a\\nb',
    'x?y=1&z=2',
    'emoji 🐘',
    'new\nline',
    'all\'"`'.slice(0, 5),
  ];
  for (const v of values) {
    const line = `K=${encodeValue(v)}`;
    assert.is(dotenv.parse(line).K, v, line);
  }
  assert.throws(() => encodeValue('\'"`'));
});

test('unifiedDiff masks DSN passwords and is empty for equal text', () => {
  const { text } = setEnvValues(sample, { DATABASE_URL: PG });
  const diff = unifiedDiff(sample, text, 'backend/.env');
  assert.match(diff, /^--- backend\/.env/);
  assert.match(diff, /-DATABASE_URL="file:.\/dev.db"/);
  assert.match(diff, /\+DATABASE_URL="postgresql:\/\/visionsuit:\*\*\*@db.example/);
  assert.not.match(diff, /s3cr/);
  assert.is(unifiedDiff(sample, sample, 'x'), '');
});

test.run();
