import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadSettings, parseSshTarget, resolveSqlitePath, sqlitePathFromUrl } from '../../lib/cli/config.ts';
import { DomainError } from '../../lib/errors.ts';
import { ExitCode, exitCodeOf } from '../../lib/cli/exit-codes.ts';
import { maskSecrets, maskDeep, registerSecret } from '../../lib/cli/secrets.ts';
import { parseKnownHosts, verifyHostKey, assertPrivateKeyFile } from '../../lib/pg/ssh-tunnel.ts';
import { createHmac, randomBytes } from 'node:crypto';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'vs-config-'));

test('flags override environment, environment overrides the dotenv file', () => {
  const dir = tmp();
  const file = path.join(dir, 'migration.env');
  writeFileSync(file, 'PG_ROLE=from_file\nPG_DATABASE=db_file\nTARGET_DATABASE_URL=postgresql://u@file/db\n');
  const env = { PG_ROLE: 'from_env', TARGET_DATABASE_URL: 'postgresql://u@env/db' };
  const { settings } = loadSettings(['--config', file, '--role', 'from_flag'], {}, env);
  assert.is(settings.role, 'from_flag');
  assert.is(settings.database, 'db_file');
  assert.is(settings.targetUrl, 'postgresql://u@env/db');
  const noFlag = loadSettings(['--config', file], {}, {}).settings;
  assert.is(noFlag.role, 'from_file');
  assert.is(noFlag.targetUrl, 'postgresql://u@file/db');
});

test('defaults follow the contract', () => {
  const { settings } = loadSettings(['--app-dir', '/srv/vs'], {}, {});
  assert.is(settings.role, 'visionsuit');
  assert.is(settings.database, 'visionsuit');
  assert.is(settings.schemaPath, '/srv/vs/backend/prisma/schema.prisma');
  assert.is(settings.systemEnvFile, '/etc/visionsuit/vs-backend.env');
  assert.is(settings.requireTls, false);
  const tls = loadSettings([], {}, { PG_REQUIRE_TLS: 'true' }).settings;
  assert.is(tls.requireTls, true);
});

test('an unknown flag is a usage error (exit 2) with a one-line cause', () => {
  try {
    loadSettings(['--tagret', 'x'], {}, {});
    assert.unreachable('should throw');
  } catch (err) {
    assert.instance(err, DomainError);
    assert.is(exitCodeOf((err as DomainError).outcome), ExitCode.Usage);
    assert.not.match((err as Error).message, /\n/);
    assert.match((err as Error).message, /tagret/);
  }
});

test('a password inside --target is accepted, warned about, and masked', () => {
  const { settings } = loadSettings(['--target', 'postgresql://app:S3cretPass@db:5432/vs'], {}, {});
  assert.is(settings.warnings.length, 1);
  assert.not.match(settings.warnings[0], /S3cretPass/);
  assert.is(
    maskSecrets('connecting to postgresql://app:S3cretPass@db:5432/vs'),
    'connecting to postgresql://app:***@db:5432/vs',
  );
  assert.is(maskSecrets('error near S3cretPass'), 'error near ***');
});

test('masking covers DSNs, key=value passwords, registered secrets and nested JSON', () => {
  registerSecret('pa$$-word-123');
  assert.is(maskSecrets('postgres://u:pw@h/d'), 'postgres://u:***@h/d');
  assert.is(maskSecrets('password=hunter22 user=x'), 'password=*** user=x');
  assert.is(maskSecrets('PGPASSWORD: "abc def"'), 'PGPASSWORD: ***');
  const masked = maskDeep({ a: ['x pa$$-word-123 y'], b: { c: `q=${encodeURIComponent('pa$$-word-123')}` }, n: 10n });
  assert.equal(masked, { a: ['x *** y'], b: { c: 'q=***' }, n: '10' });
});

test('SQLite path comes from backend/.env, resolved against the schema folder, quotes and params dropped', () => {
  const app = tmp();
  mkdirSync(path.join(app, 'backend/prisma'), { recursive: true });
  writeFileSync(
    path.join(app, 'backend/prisma/schema.prisma'),
    'datasource db {\n  provider = "sqlite"\n  url = env("DATABASE_URL")\n}\n',
  );
  writeFileSync(
    path.join(app, 'backend/.env'),
    'PORT=4000\n# comment\nDATABASE_URL="file:./dev.db?connection_limit=1"\nHOST=0.0.0.0\n',
  );
  const { settings } = loadSettings(['--app-dir', app], {}, {});
  assert.is(resolveSqlitePath(settings), path.join(app, 'backend/prisma/dev.db'));
  writeFileSync(path.join(app, 'backend/.env'), "DATABASE_URL='file:../data/vs.db'\n");
  assert.is(resolveSqlitePath(settings), path.join(app, 'backend/data/vs.db'));
  writeFileSync(path.join(app, 'backend/.env'), 'DATABASE_URL=postgresql://u@h/d\n');
  assert.is(resolveSqlitePath(settings), undefined);
  assert.is(sqlitePathFromUrl('file:///var/lib/vs/dev.db', '/x'), '/var/lib/vs/dev.db');
  const explicit = loadSettings(['--app-dir', app, '--sqlite', '/data/other.db'], {}, {}).settings;
  assert.is(resolveSqlitePath(explicit), '/data/other.db');
});

test('--ssh parsing', () => {
  assert.equal(parseSshTarget('deploy@db.example.org'), { user: 'deploy', host: 'db.example.org', port: 22 });
  assert.equal(parseSshTarget('root@[::1]:2222'), { user: 'root', host: '::1', port: 2222 });
  assert.throws(() => parseSshTarget('db.example.org'), /user@host/);
});

test('known_hosts: plain, hashed, port form, mismatch, revoked', () => {
  const key = randomBytes(51);
  const other = randomBytes(51);
  const salt = randomBytes(20);
  const hashedName = createHmac('sha1', salt).update('[10.0.0.5]:2222').digest();
  const text = [
    '# comment',
    `db.example.org,192.0.2.1 ssh-ed25519 ${key.toString('base64')}`,
    `|1|${salt.toString('base64')}|${hashedName.toString('base64')} ssh-ed25519 ${key.toString('base64')}`,
    `@revoked * ssh-ed25519 ${other.toString('base64')}`,
  ].join('\n');
  const entries = parseKnownHosts(text);
  assert.is(verifyHostKey(entries, 'db.example.org', 22, key), 'known');
  assert.is(verifyHostKey(entries, '10.0.0.5', 2222, key), 'known');
  assert.is(verifyHostKey(entries, '10.0.0.5', 22, key), 'unknown');
  assert.is(verifyHostKey(entries, 'db.example.org', 22, randomBytes(51)), 'mismatch');
  assert.is(verifyHostKey(entries, 'db.example.org', 22, other), 'revoked');
});

test('an SSH key readable by others is refused', () => {
  const dir = tmp();
  const keyFile = path.join(dir, 'id');
  writeFileSync(keyFile, 'x');
  chmodSync(keyFile, 0o644);
  assert.throws(() => assertPrivateKeyFile(keyFile), /chmod 600/);
  chmodSync(keyFile, 0o600);
  assertPrivateKeyFile(keyFile);
});

test.run();
