import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import pg from 'pg';
import { parse as parseConnectionString } from 'pg-connection-string';
import type { Settings } from '../cli/config.ts';
import { DomainError, targetNotReady, usageError } from '../errors.ts';
import type { Logger } from '../cli/log.ts';
import { registerSecret } from '../cli/secrets.ts';
import { loadSql } from '../files/sql-files.ts';
import { GuardedClient, type TargetClientConfig } from './guarded-client.ts';
import { decideTlsPolicy, tlsVerified, type TlsPolicy } from './tls-policy.ts';
import { resolvePassword } from '../cli/password-file.ts';
import { openSsh, openTunnel, type SshSession, type SshTunnel } from './ssh-tunnel.ts';

/**
 * How every task reaches PostgreSQL: one place that applies the TLS policy (--require-tls, --ca →
 * verify-full), the password source (URL, environment, --password-file), the optional SSH tunnel, and
 * turns driver errors into the contract's one-line causes (exit 3).
 */
export interface TargetConnection {
  /** A connected client for the database named in the URL (or the override). */
  client: pg.Client;
  /** Settings for more connections to the same place (COPY workers, Prisma's adapter). Contains the password. */
  clientConfig: TargetClientConfig;
  /** The TLS this connection uses (what the app's URL gets too). */
  tls: TlsPolicy;
  /** host:port/database as the operator named it, never with a password. */
  display: string;
  /** Open another connection through the same tunnel and TLS policy. */
  connect(database?: string): Promise<pg.Client>;
  close(): Promise<void>;
}

export interface OpenTargetOptions {
  /** Which DSN: defaults to settings.targetUrl. */
  url?: string;
  /** Connect to this database instead of the one in the URL (e.g. `postgres` for admin work). */
  database?: string;
  /** Name of the flag the URL came from, for messages. */
  flag?: string;
}

export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * Settings every session of ours starts with (the `options` startup parameter, so pooled, worker and schema-engine
 * connections get them too): a role's or database's statement_timeout must not cut a COPY, an index build or a
 * verification query short, and an idle transaction of ours is never killed; a lock held by someone else fails
 * after a minute (55P03, exit 3) instead of hanging the maintenance window.
 */
export const SESSION_OPTIONS = '-c statement_timeout=0 -c idle_in_transaction_session_timeout=0 -c lock_timeout=60s';

export function buildClientConfig(settings: Settings, url: string, flag = '--target'): TargetClientConfig {
  if (!/^postgres(ql)?:\/\//i.test(url))
    throw usageError(`${flag} must be a postgresql:// URL, got "${displayUrl(url)}"`);
  let parsed: ReturnType<typeof parseConnectionString>;
  try {
    // Only host, port, user, database and password are taken from here; TLS is decided by decideTlsPolicy. Parsed
    // without its query, which pg-connection-string would act on (reading certificate files, printing warnings).
    parsed = parseConnectionString(url.replace(/\?.*$/s, ''));
  } catch (err) {
    throw usageError(`${flag} is not a valid PostgreSQL URL: ${(err as Error).message}`);
  }
  const policy = decideTlsPolicy(settings, url, flag);
  const { password } = resolvePassword(parsed.password || undefined, settings.passwordFile);
  const config: TargetClientConfig = {
    host: parsed.host ?? 'localhost',
    port: parsed.port ? Number(parsed.port) : 5432,
    user: parsed.user ?? process.env.PGUSER ?? 'postgres',
    database: parsed.database ?? undefined,
    password,
    application_name: 'visionsuit-pg-migrate',
    connectionTimeoutMillis: 15_000,
    options: SESSION_OPTIONS,
    plainPasswordAllowed: tlsVerified(policy) || Boolean(settings.allowInsecureAuth),
  };
  registerSecret(password);
  if (policy.level !== 'none') {
    let ca: string | undefined;
    if (policy.caFile) {
      try {
        ca = readFileSync(policy.caFile, 'utf8');
      } catch (err) {
        throw usageError(
          `cannot read ${settings.caFile ? '--ca' : `sslrootcert of ${flag}`} ${policy.caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        );
      }
    }
    // verify-full: the chain must lead to the CA (or the system's) and the certificate must name the host we asked
    // for. Through an SSH tunnel the socket goes to 127.0.0.1, so the name to check is passed explicitly: as SNI
    // `servername` for a DNS name, as `host` for an IP address (SNI must not carry an IP, RFC 6066).
    const expected = String(config.host);
    const name = isIP(expected) ? { host: expected } : { servername: expected };
    config.ssl =
      policy.level === 'unverified'
        ? { rejectUnauthorized: false }
        : { ...(ca ? { ca } : {}), rejectUnauthorized: true, ...name };
    if (policy.level === 'verify-ca') config.skipHostnameCheck = true;
  }
  return config;
}

/**
 * What kind of connection failure this was, so check-target can tell "unreachable" from "wrong password"
 * from "TLS policy". Carried in DomainError.details.failure of the errors openTarget throws.
 */
export type ConnectFailure = 'ssh' | 'unreachable' | 'tls' | 'authentication' | 'database' | 'other';

/** Node's TLS error codes for a server certificate the given CA does not vouch for (classify and describe alike). */
export const TLS_CERTIFICATE_ERRORS: ReadonlySet<string> = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

export function classifyPgError(err: unknown): ConnectFailure {
  const e = err as { code?: string; message?: string };
  const message = e?.message ?? String(err);
  switch (e?.code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'unreachable';
    case '28P01':
      return 'authentication';
    case '28000':
      return /no encryption/i.test(message) ? 'tls' : 'authentication';
    case '3D000':
      return 'database';
  }
  if (TLS_CERTIFICATE_ERRORS.has(e?.code ?? '')) return 'tls';
  if (/does not support SSL/i.test(message)) return 'tls';
  if (/timeout/i.test(message)) return 'unreachable';
  return 'other';
}

/** Map a connection or query error to the one-line cause an operator can act on. */
export function describePgError(err: unknown, config: pg.ClientConfig): string {
  const e = err as { code?: string; message?: string };
  const where = `${config.host}:${config.port}`;
  const message = e?.message ?? String(err);
  switch (e?.code) {
    case 'ECONNREFUSED':
      return `PostgreSQL at ${where} refused the connection (is it running and listening there?)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host ${config.host} could not be resolved`;
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
      return `PostgreSQL at ${where} is unreachable (${e.code})`;
    case '28P01':
      return `authentication failed for role "${config.user}" at ${where} (wrong password)`;
    case '28000':
      return /no encryption/i.test(message)
        ? `server at ${where} refuses unencrypted connections for role "${config.user}"; use --require-tls`
        : `role "${config.user}" may not connect to ${where}: ${message}`;
    case '3D000':
      return `database "${config.database}" does not exist at ${where}`;
  }
  if (TLS_CERTIFICATE_ERRORS.has(e?.code ?? '')) {
    return `TLS certificate of ${where} could not be verified against ${config.ssl && typeof config.ssl === 'object' && config.ssl.ca ? 'the given CA' : "the system's CAs"} (${e.code}); pass --ca FILE with the server's CA (or, knowingly, --insecure-skip-tls-verify)`;
  }
  if (/does not support SSL/i.test(message)) return `TLS is required but PostgreSQL at ${where} does not offer it`;
  if (/timeout/i.test(message)) return `PostgreSQL at ${where} did not answer in time`;
  return `cannot connect to PostgreSQL at ${where}: ${message}`;
}

export async function openTarget(
  settings: Settings,
  log: Logger,
  options: OpenTargetOptions = {},
): Promise<TargetConnection> {
  const url = options.url ?? settings.targetUrl;
  const flag = options.flag ?? '--target';
  if (!url)
    throw usageError(
      `${flag} is required (or set ${flag === '--admin-url' ? 'ADMIN_DATABASE_URL' : 'TARGET_DATABASE_URL'})`,
    );
  const baseConfig = buildClientConfig(settings, url, flag);
  if (options.database) baseConfig.database = options.database;
  const tls = decideTlsPolicy(settings, url, flag);
  if (tls.verificationSkipped) {
    log.warn(
      `--insecure-skip-tls-verify: the certificate of ${baseConfig.host}:${baseConfig.port} is NOT verified; anyone on the network path can pose as this server`,
    );
  }

  let session: SshSession | undefined;
  let tunnel: SshTunnel | undefined;
  const clientConfig: TargetClientConfig = { ...baseConfig };
  if (settings.ssh) {
    session = await openSsh(settings, log);
    tunnel = await openTunnel(session, String(baseConfig.host), Number(baseConfig.port), log);
    clientConfig.host = tunnel.localHost;
    clientConfig.port = tunnel.localPort;
  }
  const cleanup = async () => {
    await tunnel?.close();
    session?.close();
  };

  const connect = async (database?: string): Promise<pg.Client> => {
    const client = new GuardedClient({ ...clientConfig, ...(database ? { database } : {}) });
    // An idle client whose server goes away emits 'error'; without a listener that would crash the process.
    client.on('error', (err) => log.debug(`PostgreSQL connection error: ${err.message}`));
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      if (err instanceof DomainError) throw err; // our own refusal (a password asked for in the clear)
      if (tunnel?.lastError) {
        // Through a tunnel the driver only sees the local socket close; the SSH host knows why.
        const cause = tunnel.lastError;
        tunnel.lastError = undefined;
        throw targetNotReady(
          `PostgreSQL at ${baseConfig.host}:${baseConfig.port} is unreachable from SSH host ${settings.ssh?.host}: ${cause}`,
          { failure: 'unreachable' },
        );
      }
      throw targetNotReady(describePgError(err, baseConfig), {
        failure: classifyPgError(err),
        code: (err as { code?: string })?.code,
      });
    }
    if (tls.level !== 'none') {
      const { rows } = await client.query<{ ssl: boolean | null }>(loadSql('connection-ssl'));
      if (!rows[0]?.ssl) {
        await client.end().catch(() => undefined);
        throw targetNotReady(
          `TLS is required but the connection to ${baseConfig.host}:${baseConfig.port} is not encrypted`,
          { failure: 'tls' },
        );
      }
    }
    return client;
  };

  let client: pg.Client;
  try {
    client = await connect();
  } catch (err) {
    await cleanup();
    throw err;
  }
  return {
    client,
    clientConfig,
    tls,
    display: displayUrl(url),
    connect,
    close: async () => {
      await client.end().catch(() => undefined);
      await cleanup();
    },
  };
}
