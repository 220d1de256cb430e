import type { EventEmitter } from 'node:events';
import pg from 'pg';
import { targetNotReady } from '../errors.ts';

/**
 * Every pg connection the suite opens is a GuardedClient: the password goes out only as a SCRAM exchange, or in
 * the clear/MD5 only over a TLS connection whose certificate was verified, or when the operator opted out
 * (--allow-insecure-auth). The policy travels as plain data in the config, so it survives being posted to a
 * worker thread.
 */
export interface TargetClientConfig extends pg.ClientConfig {
  /** Cleartext and MD5 password requests are answered (verified TLS, or --allow-insecure-auth). */
  plainPasswordAllowed?: boolean;
  /** sslmode=verify-ca: the chain is verified, the host name is not (a flag, since a function cannot be posted). */
  skipHostnameCheck?: boolean;
}

function withHostnamePolicy(config: TargetClientConfig): pg.ClientConfig {
  if (!config.skipHostnameCheck || !config.ssl || typeof config.ssl !== 'object') return config;
  return { ...config, ssl: { ...config.ssl, checkServerIdentity: () => undefined } };
}

const PLAIN_REQUESTS = [
  ['authenticationCleartextPassword', 'in cleartext'],
  ['authenticationMD5Password', 'as an MD5 hash'],
] as const;

export class GuardedClient extends pg.Client {
  constructor(config: TargetClientConfig) {
    super(withHostnamePolicy(config));
    if (config.plainPasswordAllowed) return;
    const where = `${config.host}:${config.port}`;
    // pg's own handlers for these events (client.js _attachListeners) run right after ours in the same emit and
    // fetch the password through _getPassword: when it is a function pg calls it first, so a function that rejects
    // means the password message is never written and connect() fails with our error.
    const connection = (this as unknown as { connection: EventEmitter }).connection;
    for (const [event, how] of PLAIN_REQUESTS) {
      connection.prependListener(event, () => {
        const refusal = targetNotReady(
          `PostgreSQL at ${where} asked for the password ${how}; refused, since the connection is not TLS with a verified certificate: use scram-sha-256 in pg_hba.conf, --ca FILE, or --allow-insecure-auth`,
          { failure: 'authentication', code: 'insecure-auth' },
        );
        Object.defineProperty(this, 'password', {
          configurable: true,
          writable: true,
          enumerable: false,
          value: () => Promise.reject(refusal),
        });
      });
    }
  }
}

/** Pool options for pg.Pool / PrismaPg: every pooled connection guarded the same way. */
export const guardedPoolClient = { Client: GuardedClient as unknown as typeof pg.Client };
