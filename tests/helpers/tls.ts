import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { chownToPostgres } from '../../lib/pg/embedded-pg.ts';
import { startTestPg, type TestPg } from './pg.ts';

/**
 * TLS material and TLS-enabled PostgreSQL servers for the tests. Certificates are made by `openssl` at test
 * time (nothing checked in, nothing expires in the repository): a CA, a server certificate it signs for
 * DNS:localhost and IP:127.0.0.1, and a second, unrelated CA that a client must not accept.
 */
export interface TestCerts {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** A CA that did not sign the server certificate. */
  otherCaFile: string;
  cleanup(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeCerts(): TestCerts {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vs-tls-'));
  // As root the server runs as `postgres`, which must enter this folder and own the key (0600) it reads.
  chownToPostgres(dir);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const name of ['ca', 'other-ca']) {
    openssl(
      [
        'req',
        '-x509',
        ...ec,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.crt`,
        '-days',
        '3',
        '-subj',
        `/CN=vs-test-${name}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      dir,
    );
  }
  openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'], dir);
  writeFileSync(
    path.join(dir, 'server.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.crt',
      '-days',
      '3',
      '-extfile',
      'server.ext',
    ],
    dir,
  );
  const keyFile = path.join(dir, 'server.key');
  const certFile = path.join(dir, 'server.crt');
  chmodSync(keyFile, 0o600);
  chownToPostgres(keyFile);
  chownToPostgres(certFile);
  return {
    dir,
    caFile: path.join(dir, 'ca.crt'),
    certFile,
    keyFile,
    otherCaFile: path.join(dir, 'other-ca.crt'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface TlsTestPg extends TestPg {
  certs: TestCerts;
  /** A superuser client over verified TLS (works against a server that refuses plaintext). */
  tlsClient(database?: string): Promise<pg.Client>;
}

/**
 * A server that offers TLS; with `refusePlaintext` its pg_hba.conf rejects every unencrypted TCP connection
 * (hostssl … scram-sha-256, hostnossl … reject), and the helper's own query/freshDatabase go over verified TLS.
 */
export async function startTlsTestPg(options: { refusePlaintext?: boolean } = {}): Promise<TlsTestPg> {
  const certs = makeCerts();
  const hbaLines = options.refusePlaintext
    ? [
        'local all all trust',
        'hostssl all all 127.0.0.1/32 scram-sha-256',
        'hostssl all all ::1/128 scram-sha-256',
        'hostnossl all all 127.0.0.1/32 reject',
        'hostnossl all all ::1/128 reject',
      ]
    : undefined;
  const server = await startTestPg({ tls: { certFile: certs.certFile, keyFile: certs.keyFile }, hbaLines });
  const tlsServer: TlsTestPg = {
    ...server,
    certs,
    async tlsClient(database = 'postgres') {
      const client = new pg.Client({
        host: '127.0.0.1',
        port: server.port,
        user: 'postgres',
        password: server.superPassword,
        database,
        ssl: { ca: readFileSync(certs.caFile, 'utf8'), rejectUnauthorized: true, host: '127.0.0.1' },
      });
      await client.connect();
      return client;
    },
    async stop() {
      await server.stop();
      certs.cleanup();
    },
  };
  if (options.refusePlaintext) {
    // Every TCP connection must be TLS, the harness's own included: administer the server over verified TLS.
    let counter = 0;
    tlsServer.query = async (database, sql, params) => {
      const client = await tlsServer.tlsClient(database);
      try {
        return await client.query(sql, params as unknown[]);
      } finally {
        await client.end();
      }
    };
    tlsServer.createDatabase = async (name) => {
      await tlsServer.query('postgres', `CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    };
    tlsServer.freshDatabase = async (prefix = 'test') => {
      const name = `${prefix}_tls_${process.pid}_${++counter}`;
      await tlsServer.createDatabase(name);
      return { name, url: server.url(name) };
    };
  }
  return tlsServer;
}
