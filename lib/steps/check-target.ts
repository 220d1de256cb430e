import { existsSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import type { StepResult } from '../cli.ts';
import type { Settings } from '../config.ts';
import { ExitCode, TaskError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { openTarget, TLS_CERTIFICATE_ERRORS, type ConnectFailure, type TargetConnection } from '../pg-target.ts';
import { loadSchemaModel } from '../schema-model.ts';
import { mergedSchemaText, readSchemaSource } from '../schema/schema-source.ts';
import { loadSql } from '../sql-files.ts';

/**
 * check-target: is this PostgreSQL ready to receive VisionSuit? One connection (through the SSH tunnel and TLS
 * policy every other task uses), then a list of named checks, each pass / warn / fail with a one-line reason.
 * A connection failure still yields the whole list: the checks that could not run are marked `skip`, so the
 * operator sees where it stopped. Any `fail` means "not ready" (exit 3).
 */
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface Check {
  name: string;
  status: CheckStatus;
  reason: string;
}

export interface CheckTargetResult extends StepResult {
  target: string;
  schema: string;
  checks: Check[];
  serverVersion?: string;
}

/** Names in the order they are reported. */
export const CHECK_NAMES = [
  'ssh',
  'reachable',
  'tls',
  'certificate',
  'authentication',
  'database exists',
  'server version',
  'text sort order',
  'not superuser',
  'create privilege',
  'extensions',
  'target contents',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

/**
 * End of community support per major version (https://www.postgresql.org/support/versioning/). A major past
 * its date still works but gets no security fixes: warn. Update this table when a new major ships.
 */
export const PG_END_OF_LIFE: Record<number, string> = {
  13: '2025-11-13',
  14: '2026-11-12',
  15: '2027-11-11',
  16: '2028-11-09',
  17: '2029-11-08',
  18: '2030-11-14',
};
export const MIN_PG_MAJOR = 13;

export function versionCheck(versionNum: number, versionText: string, today: Date = new Date()): Omit<Check, 'name'> {
  const major = versionNum >= 100000 ? Math.floor(versionNum / 10000) : Math.floor(versionNum / 100) / 100;
  if (major < MIN_PG_MAJOR) {
    return { status: 'fail', reason: `PostgreSQL ${versionText} is too old; VisionSuit needs ${MIN_PG_MAJOR} or newer` };
  }
  const eol = PG_END_OF_LIFE[major];
  if (!eol) {
    const newest = Math.max(...Object.keys(PG_END_OF_LIFE).map(Number));
    return major > newest
      ? { status: 'pass', reason: `PostgreSQL ${versionText} (newer than this tool's support table)` }
      : { status: 'warn', reason: `PostgreSQL ${versionText}: end of life unknown to this tool` };
  }
  const todayIso = today.toISOString().slice(0, 10);
  if (eol <= todayIso) {
    return { status: 'warn', reason: `PostgreSQL ${versionText} reached end of life on ${eol} (no more security fixes); plan an upgrade` };
  }
  return { status: 'pass', reason: `PostgreSQL ${versionText} (supported until ${eol})` };
}

/**
 * Extensions the app's schema declares (`extensions = [pgcrypto, uuid_ossp(map: "uuid-ossp")]` in the datasource
 * block; the `map` argument is the real extension name). VisionSuit declares none today.
 */
export function declaredExtensions(schemaText: string): string[] {
  // Comments out first (a `// extensions = [...]` note must not count), then the datasource block's body.
  const code = schemaText.replace(/\/\/.*$/gm, '');
  const datasource = /^\s*datasource\s+\w+\s*\{([\s\S]*?)^\s*\}/m.exec(code);
  if (!datasource) return [];
  const body = datasource[1];
  const list = /^\s*extensions\s*=\s*\[([\s\S]*?)\]/m.exec(body);
  if (!list) return [];
  const names: string[] = [];
  // Each entry: name, optionally followed by (arguments) in which `map: "real-name"` may appear.
  for (const entry of list[1].matchAll(/([A-Za-z_][\w]*)\s*(\(([^)]*)\))?/g)) {
    const mapped = entry[3] ? /\bmap\s*:\s*"([^"]+)"/.exec(entry[3]) : null;
    names.push(mapped ? mapped[1] : entry[1]);
  }
  return names;
}

/** Prisma's `?schema=` URL parameter picks the PostgreSQL schema; public by default. */
export function targetSchemaOf(url: string | undefined): string {
  if (!url) return 'public';
  try {
    return new URL(url).searchParams.get('schema') || 'public';
  } catch {
    return 'public';
  }
}

function targetHostOf(url: string | undefined): string {
  try {
    return new URL(url ?? '').hostname.replace(/^\[|\]$/g, '');
  } catch {
    return '';
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

interface SchemaInfo {
  extensions: string[];
  /** Database table names of the app (null when the schema file is absent or unreadable). */
  tables: string[] | null;
  note?: string;
}

function readAppSchema(settings: Settings): SchemaInfo {
  if (!existsSync(settings.schemaPath)) {
    return { extensions: [], tables: null, note: `no Prisma schema at ${settings.schemaPath}` };
  }
  let extensions: string[] = [];
  try {
    extensions = declaredExtensions(mergedSchemaText(readSchemaSource(settings.schemaPath)));
  } catch {
    // unreadable here means unreadable below too; the note says so
  }
  try {
    return { extensions, tables: loadSchemaModel(settings.schemaPath).tables.map((t) => t.name) };
  } catch (err) {
    return { extensions, tables: null, note: `Prisma schema ${path.basename(settings.schemaPath)} not usable: ${(err as Error).message}` };
  }
}

export async function checkTarget(settings: Settings, log: Logger): Promise<CheckTargetResult> {
  const schema = targetSchemaOf(settings.targetUrl);
  const checks = new Map<CheckName, Check>();
  const set = (name: CheckName, status: CheckStatus, reason: string) => checks.set(name, { name, status, reason });

  let conn: TargetConnection | undefined;
  try {
    conn = await openTarget(settings, log);
  } catch (err) {
    // Bad flags (exit 2) and internal errors are not a verdict on the target: let the CLI report them.
    if (!(err instanceof TaskError) || err.exitCode !== ExitCode.TargetNotReady) throw err;
    recordConnectFailure(settings, err, set);
  }

  let serverVersion: string | undefined;
  if (conn) {
    try {
      serverVersion = await runChecks(settings, conn.client, schema, set);
    } finally {
      await conn.close();
    }
  }

  const ordered = CHECK_NAMES.filter((name) => checks.has(name) || name !== 'ssh').map(
    (name) => checks.get(name) ?? { name, status: 'skip' as const, reason: 'not checked: no connection' },
  );
  const failed = ordered.filter((c) => c.status === 'fail');
  // A rejected certificate fails both tls (no handshake) and certificate; the latter says why (unknown CA, name).
  const cause = (list: typeof failed) => list.find((c) => c.name === 'certificate') ?? list[0];
  const warned = ordered.filter((c) => c.status === 'warn');
  const target = conn?.display ?? displayTarget(settings);
  const summary = failed.length
    ? // The first failure's own reason goes into the one line, so `upgrade`'s final message names the cause too.
      `${target} is not ready: ${failed.map((c) => c.name).join(', ')} failed — ${cause(failed).name}: ${cause(failed).reason.split('\n')[0]}`
    : `${target} is ready for VisionSuit${warned.length ? ` (${warned.length} warning${warned.length > 1 ? 's' : ''})` : ''}`;
  return {
    ok: failed.length === 0,
    exitCode: failed.length ? ExitCode.TargetNotReady : ExitCode.Ok,
    summary,
    target,
    schema,
    checks: ordered,
    ...(serverVersion ? { serverVersion } : {}),
  };
}

function displayTarget(settings: Settings): string {
  try {
    const u = new URL(settings.targetUrl ?? '');
    return `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return 'target';
  }
}

function recordConnectFailure(settings: Settings, err: TaskError, set: (name: CheckName, status: CheckStatus, reason: string) => void): void {
  const failure = (err.details?.failure as ConnectFailure | undefined) ?? 'other';
  const code = err.details?.code as string | undefined;
  if (settings.ssh) {
    if (failure === 'ssh') {
      set('ssh', 'fail', err.message);
      return;
    }
    set('ssh', 'pass', `tunnel through ${settings.ssh.user}@${settings.ssh.host}:${settings.ssh.port} (host key known)`);
  }
  switch (failure) {
    case 'unreachable':
    case 'other':
      set('reachable', 'fail', err.message);
      return;
    case 'tls':
      set('reachable', 'pass', 'the server answered');
      if (code && TLS_CERTIFICATE_ERRORS.has(code)) {
        set('tls', 'fail', 'TLS handshake did not complete: the server certificate was rejected');
        set('certificate', 'fail', err.message);
      } else {
        set('tls', 'fail', err.message);
      }
      return;
    case 'authentication':
      set('reachable', 'pass', 'the server answered');
      set('authentication', 'fail', err.message);
      return;
    case 'database':
      set('reachable', 'pass', 'the server answered');
      set('authentication', 'pass', 'password accepted');
      set('database exists', 'fail', `${err.message} (create-role creates it)`);
      return;
    case 'ssh':
      set('reachable', 'fail', err.message);
  }
}

async function runChecks(
  settings: Settings,
  client: pg.Client,
  schema: string,
  set: (name: CheckName, status: CheckStatus, reason: string) => void,
): Promise<string> {
  if (settings.ssh) set('ssh', 'pass', `tunnel through ${settings.ssh.user}@${settings.ssh.host}:${settings.ssh.port} (host key known)`);
  set('reachable', 'pass', 'connected');

  const { rows: sslRows } = await client.query<{ ssl: boolean | null; tls_version: string | null; cipher: string | null }>(loadSql('connection-ssl'));
  const ssl = sslRows[0];
  if (ssl?.ssl) {
    set('tls', 'pass', `connection encrypted (${ssl.tls_version}, ${ssl.cipher})`);
    set(
      'certificate',
      settings.caFile ? 'pass' : 'warn',
      settings.caFile
        ? `server certificate verified against ${settings.caFile} and the host name (verify-full)`
        : 'server certificate not verified: pass --ca FILE to rule out a man-in-the-middle',
    );
  } else if (!settings.requireTls && settings.ssh && isLoopback(targetHostOf(settings.targetUrl))) {
    // The bytes are encrypted by SSH up to the database host and only cross its loopback interface in clear.
    set('tls', 'pass', `not TLS, but carried inside the SSH tunnel to ${settings.ssh.host} (PostgreSQL on its loopback)`);
    set('certificate', 'skip', 'no TLS on this connection');
  } else {
    set(
      'tls',
      settings.requireTls ? 'fail' : 'warn',
      settings.requireTls ? 'TLS is required but this connection is not encrypted' : 'connection not encrypted; use --require-tls (and --ca) unless the server is on this host',
    );
    set('certificate', 'skip', 'no TLS on this connection');
  }

  const { rows } = await client.query<{ version_num: number; version: string; role_name: string; database_name: string; superuser: boolean }>(
    loadSql('check-target-server'),
  );
  const server = rows[0];
  set('authentication', 'pass', `logged in as role "${server.role_name}"`);
  set('database exists', 'pass', `database "${server.database_name}"`);
  const version = versionCheck(Number(server.version_num), server.version);
  set('server version', version.status, version.reason);
  const { rows: collationRows } = await client.query<{ collation_name: string; byte_order: boolean }>(loadSql('check-target-collation'));
  const collation = collationRows[0];
  set(
    'text sort order',
    collation.byte_order ? 'pass' : 'warn',
    collation.byte_order
      ? `text sorts by bytes, as in SQLite (collation ${collation.collation_name})`
      : `database "${server.database_name}" sorts text by language rules (collation ${collation.collation_name}), not by bytes as SQLite did: lists the app sorts by text may change order (RUNBOOK §8); create-role makes databases that sort by bytes`,
  );
  set(
    'not superuser',
    server.superuser ? 'warn' : 'pass',
    server.superuser
      ? `role "${server.role_name}" is a superuser; the app should use its own unprivileged role (create-role)`
      : `role "${server.role_name}" is not a superuser`,
  );

  const { rows: privRows } = await client.query<{ schema_exists: boolean; schema_create: boolean | null; schema_usage: boolean | null; database_create: boolean }>(
    loadSql('check-target-privileges'),
    [schema],
  );
  const priv = privRows[0];
  if (priv.schema_exists) {
    const missing = [priv.schema_create ? '' : 'CREATE', priv.schema_usage ? '' : 'USAGE'].filter(Boolean);
    set(
      'create privilege',
      missing.length ? 'fail' : 'pass',
      missing.length
        ? `role "${server.role_name}" lacks ${missing.join(' and ')} on schema "${schema}" (PostgreSQL 15+ no longer grants CREATE on public to everyone); run create-role or GRANT ${missing.join(', ')} ON SCHEMA ${schema} TO the role`
        : `role "${server.role_name}" may create tables in schema "${schema}"`,
    );
  } else {
    set(
      'create privilege',
      priv.database_create ? 'pass' : 'fail',
      priv.database_create
        ? `schema "${schema}" does not exist yet; role "${server.role_name}" may create it`
        : `schema "${schema}" does not exist and role "${server.role_name}" may not create it (needs CREATE on the database)`,
    );
  }

  const app = readAppSchema(settings);
  const wanted = [...new Set(['plpgsql', ...app.extensions])];
  const { rows: extRows } = await client.query<{ name: string; installed_version: string | null }>(loadSql('check-target-extensions'), [wanted]);
  const available = new Map(extRows.map((r) => [r.name, r.installed_version]));
  const missingExt = wanted.filter((name) => !available.has(name));
  set(
    'extensions',
    missingExt.length ? 'fail' : 'pass',
    missingExt.length
      ? `not available on this server: ${missingExt.join(', ')} (install the extension's OS package)`
      : `available: ${wanted.map((n) => `${n}${available.get(n) ? ' (installed)' : ''}`).join(', ')}`,
  );

  const { rows: tableRows } = await client.query<{ name: string }>(loadSql('check-target-tables'), [schema]);
  set('target contents', ...contentsVerdict(tableRows.map((r) => r.name), app, schema, settings.force));
  return server.version;
}

/** Empty → pass; `_prisma_migrations` plus only the app's tables → a previous run of ours (warn); else fail unless --force. */
export function contentsVerdict(tables: string[], app: Pick<SchemaInfo, 'tables'>, schema: string, force: boolean): [CheckStatus, string] {
  if (tables.length === 0) return ['pass', `schema "${schema}" is empty`];
  const appTables = app.tables ? new Set(app.tables) : null;
  const others = tables.filter((t) => t !== '_prisma_migrations' && !(appTables ? appTables.has(t) : true));
  if (tables.includes('_prisma_migrations') && others.length === 0) {
    return ['warn', `schema "${schema}" holds a previous run of this migration (${tables.length - 1} app tables + _prisma_migrations); load-pg replaces it`];
  }
  const list = (others.length ? others : tables).slice(0, 5).join(', ') + ((others.length || tables.length) > 5 ? ', …' : '');
  const reason = `schema "${schema}" has ${tables.length} table(s) that are not a previous run of this migration (${list})`;
  return force ? ['warn', `${reason}; accepted with --force`] : ['fail', `${reason}; use an empty database or --force`];
}
