import { existsSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import type { StepResult } from '../cli/run-cli.ts';
import type { Settings } from '../cli/config.ts';
import { Outcome, DomainError } from '../errors.ts';
import type { Logger } from '../cli/log.ts';
import { buildAppUrl } from '../pg/app-url.ts';
import type { TlsPolicy } from '../pg/tls-policy.ts';
import { openTarget, TLS_CERTIFICATE_ERRORS, type ConnectFailure, type TargetConnection } from '../pg/target.ts';
import { loadSchemaModel } from '../prisma/schema-model.ts';
import { mergedSchemaText, readSchemaSource } from '../prisma/schema-source.ts';
import { loadSql } from '../files/sql-files.ts';
import { judgeTarget, readInstallId } from '../pg/target-marker.ts';

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
  'connection headroom',
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
    return {
      status: 'fail',
      reason: `PostgreSQL ${versionText} is too old; VisionSuit needs ${MIN_PG_MAJOR} or newer`,
    };
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
    return {
      status: 'warn',
      reason: `PostgreSQL ${versionText} reached end of life on ${eol} (no more security fixes); plan an upgrade`,
    };
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
    return {
      extensions,
      tables: null,
      note: `Prisma schema ${path.basename(settings.schemaPath)} not usable: ${(err as Error).message}`,
    };
  }
}

/**
 * Connections load-pg holds at its peak with --jobs N (lib/steps/load-pg.ts): its main connection, one per slot,
 * max(2, N) - 1 that put foreign keys back, and the schema engine's one while the schema is applied.
 */
export function loadPgPeakConnections(jobs = 2): number {
  return 1 + jobs + (Math.max(2, jobs) - 1) + 1;
}

export async function checkTarget(settings: Settings, log: Logger): Promise<CheckTargetResult> {
  // What the app will be given is checked before anything else: a value switch-env could not write fails here, not
  // after the app was stopped.
  buildAppUrl(settings);
  const schema = targetSchemaOf(settings.targetUrl);
  const checks = new Map<CheckName, Check>();
  const set = (name: CheckName, status: CheckStatus, reason: string) => checks.set(name, { name, status, reason });

  let conn: TargetConnection | undefined;
  try {
    conn = await openTarget(settings, log);
  } catch (err) {
    // Bad flags (exit 2) and internal errors are not a verdict on the target: let the CLI report them.
    if (!(err instanceof DomainError) || err.outcome !== Outcome.TargetNotReady) throw err;
    recordConnectFailure(settings, err, set);
  }

  let serverVersion: string | undefined;
  if (conn) {
    try {
      serverVersion = await runChecks(settings, conn.client, conn.tls, schema, set);
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
    outcome: failed.length ? Outcome.TargetNotReady : Outcome.Ok,
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

function recordConnectFailure(
  settings: Settings,
  err: DomainError,
  set: (name: CheckName, status: CheckStatus, reason: string) => void,
): void {
  const failure = (err.details?.failure as ConnectFailure | undefined) ?? 'other';
  const code = err.details?.code as string | undefined;
  if (settings.ssh) {
    if (failure === 'ssh') {
      set('ssh', 'fail', err.message);
      return;
    }
    set(
      'ssh',
      'pass',
      `tunnel through ${settings.ssh.user}@${settings.ssh.host}:${settings.ssh.port} (host key known)`,
    );
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
  tls: TlsPolicy,
  schema: string,
  set: (name: CheckName, status: CheckStatus, reason: string) => void,
): Promise<string> {
  if (settings.ssh)
    set(
      'ssh',
      'pass',
      `tunnel through ${settings.ssh.user}@${settings.ssh.host}:${settings.ssh.port} (host key known)`,
    );
  set('reachable', 'pass', 'connected');

  const { rows: sslRows } = await client.query<{
    ssl: boolean | null;
    tls_version: string | null;
    cipher: string | null;
  }>(loadSql('connection-ssl'));
  const ssl = sslRows[0];
  if (ssl?.ssl) {
    set('tls', 'pass', `connection encrypted (${ssl.tls_version}, ${ssl.cipher})`);
    set(
      'certificate',
      tls.level === 'unverified' ? 'warn' : 'pass',
      tls.level === 'unverified'
        ? `server certificate NOT verified (${tls.verificationSkipped ? '--insecure-skip-tls-verify' : tls.decidedBy}): pass --ca FILE to rule out a man-in-the-middle`
        : `server certificate verified against ${tls.caFile ?? "the system's CAs"}${tls.level === 'verify-full' ? ' and the host name (verify-full)' : ' (verify-ca)'}`,
    );
  } else if (!settings.requireTls && settings.ssh && isLoopback(targetHostOf(settings.targetUrl))) {
    // The bytes are encrypted by SSH up to the database host and only cross its loopback interface in clear.
    set(
      'tls',
      'pass',
      `not TLS, but carried inside the SSH tunnel to ${settings.ssh.host} (PostgreSQL on its loopback)`,
    );
    set('certificate', 'skip', 'no TLS on this connection');
  } else {
    set(
      'tls',
      settings.requireTls ? 'fail' : 'warn',
      settings.requireTls
        ? 'TLS is required but this connection is not encrypted'
        : 'connection not encrypted; use --require-tls (and --ca) unless the server is on this host',
    );
    set('certificate', 'skip', 'no TLS on this connection');
  }

  const { rows } = await client.query<{
    version_num: number;
    version: string;
    role_name: string;
    database_name: string;
    superuser: boolean;
  }>(loadSql('check-target-server'));
  const server = rows[0];
  set('authentication', 'pass', `logged in as role "${server.role_name}"`);
  set('database exists', 'pass', `database "${server.database_name}"`);
  const version = versionCheck(Number(server.version_num), server.version);
  set('server version', version.status, version.reason);
  const { rows: collationRows } = await client.query<{ collation_name: string; byte_order: boolean }>(
    loadSql('check-target-collation'),
  );
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

  const { rows: privRows } = await client.query<{
    schema_exists: boolean;
    schema_create: boolean | null;
    schema_usage: boolean | null;
    schema_owner: string | null;
    database_create: boolean;
  }>(loadSql('check-target-privileges'), [schema]);
  const priv = privRows[0];
  const role = server.role_name;
  if (priv.schema_exists) {
    const missing = [priv.schema_create ? '' : 'CREATE', priv.schema_usage ? '' : 'USAGE'].filter(Boolean);
    const owner = priv.schema_owner === role ? 'owned by the role' : `owned by "${priv.schema_owner}"`;
    set(
      'create privilege',
      missing.length || !priv.database_create ? 'fail' : 'pass',
      missing.length
        ? `role "${role}" lacks ${missing.join(' and ')} on schema "${schema}" (${owner}; PostgreSQL 15+ no longer grants CREATE on public to everyone); run create-role or GRANT ${missing.join(', ')} ON SCHEMA ${schema} TO the role`
        : !priv.database_create
          ? `role "${role}" lacks CREATE on database "${server.database_name}", which load-pg's CREATE SCHEMA IF NOT EXISTS needs even for an existing schema (${owner}); run create-role or GRANT CREATE ON DATABASE ${server.database_name} TO ${role}`
          : `role "${role}" may create tables in schema "${schema}" (${owner}) and run CREATE SCHEMA IF NOT EXISTS`,
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

  const { rows: connRows } = await client.query<ConnectionCounts>(loadSql('check-target-connections'));
  set('connection headroom', ...headroomVerdict(connRows[0], role, server.database_name));

  const app = readAppSchema(settings);
  const wanted = [...new Set(['plpgsql', ...app.extensions])];
  const { rows: extRows } = await client.query<{ name: string; installed_version: string | null }>(
    loadSql('check-target-extensions'),
    [wanted],
  );
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
  // Ours only by the marker load-pg writes (lib/pg/target-marker.ts), the same judgement load-pg makes.
  const verdict = await judgeTarget(
    client,
    schema,
    tableRows.map((r) => r.name),
    readInstallId(settings),
  );
  set('target contents', verdict.kind === 'empty' ? 'pass' : verdict.ok ? 'warn' : 'fail', verdict.message);
  return server.version;
}

/** One row of sql/check-target-connections.sql: the server's, the role's and the database's slots. */
export interface ConnectionCounts {
  max_connections: number;
  superuser_reserved: number;
  reserved: number;
  in_use: number;
  superuser: boolean;
  role_limit: number;
  role_in_use: number;
  database_limit: number;
  database_in_use: number;
}

/**
 * Free slots for load-pg, counting this check's own connection as free (it closes before load-pg starts): the
 * server's, the role's and the database's limit, the tightest one named.
 */
export function headroomVerdict(
  c: ConnectionCounts,
  role: string,
  database: string,
  needed = loadPgPeakConnections(),
): [CheckStatus, string] {
  const serverFree = c.max_connections - (c.superuser ? 0 : c.superuser_reserved + c.reserved) - (c.in_use - 1);
  const limits: [string, number][] = [
    [
      `max_connections ${c.max_connections} (${c.in_use - 1} other sessions, ${c.superuser ? 0 : c.superuser_reserved + c.reserved} reserved)`,
      serverFree,
    ],
  ];
  if (c.role_limit >= 0)
    limits.push([`role "${role}" CONNECTION LIMIT ${c.role_limit}`, c.role_limit - (c.role_in_use - 1)]);
  if (c.database_limit >= 0)
    limits.push([
      `database "${database}" CONNECTION LIMIT ${c.database_limit}`,
      c.database_limit - (c.database_in_use - 1),
    ]);
  const [what, free] = limits.reduce((a, b) => (b[1] < a[1] ? b : a));
  return free >= needed
    ? ['pass', `${free} connection slots free; load-pg needs ${needed}`]
    : [
        'fail',
        `only ${Math.max(0, free)} connection slot(s) free under ${what}; load-pg needs ${needed}: close other sessions or raise the limit`,
      ];
}
