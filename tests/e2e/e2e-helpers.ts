/**
 * Shared by the e2e test files: a sample install with its real writer (the fake backend started through the
 * install's own maintenance.sh), fingerprints of the files switch-env may touch, and a task process whose PID we
 * know (for kill -9).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from '../../lib/sqlite/driver.ts';
import { createSampleInstall, type SampleInstall } from '../../fixtures/sample-install.ts';
import { listeningPids, socketsOf, withDescendants } from '../../lib/app/processes.ts';
import { taskNodeArgs } from '../../lib/files/code-location.ts';
import { REPO_ROOT } from '../helpers/cli.ts';
import { startTestPg, type TestPg } from '../helpers/pg.ts';
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import { pgBucketRows, type Queryable } from '../../lib/pg/content-hash.ts';
import { loadSchemaModel } from '../../lib/prisma/schema-model.ts';
import { canonicalRowOf } from '../../lib/sqlite/canonical-rows.ts';
import { canonicalTable } from '../../lib/sqlite/snapshot-delta.ts';

export interface Install extends SampleInstall {
  start(): void;
  stop(): void;
}

export async function makeInstall(rows = 300, start: 'legacy' | 'systemd' = 'legacy'): Promise<Install> {
  const install = await createSampleInstall({ rows, start });
  const script = path.join(install.appDir, 'maintenance.sh');
  const run = (action: string) => {
    const r = spawnSync('bash', [script, action], {
      stdio: 'ignore',
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
    });
    if (r.status !== 0 && action === 'start') throw new Error(`maintenance.sh ${action} failed`);
  };
  return { ...install, start: () => run('start'), stop: () => run('stop') };
}

/**
 * What every upgrade-level test file needs: one embedded PostgreSQL for the file, and sample installs whose
 * backend already runs on SQLite and answers health; all of them stopped and removed after the file.
 */
export interface UpgradeHarness {
  readonly pg: TestPg;
  runningInstall(rows?: number, start?: 'legacy' | 'systemd'): Promise<Install>;
  /** A running install, its file fingerprint before anything ran, a fresh target database and `upgrade --yes --json` args. */
  upgradeCase(database: string, rows?: number): Promise<UpgradeCase>;
}

export interface UpgradeCase {
  install: Install;
  before: Record<string, string>;
  db: { name: string; url: string };
  env: { TARGET_DATABASE_URL: string };
  args: string[];
}

export function useUpgradeHarness(test: Test): UpgradeHarness {
  let pg: TestPg | undefined;
  const installs: Install[] = [];
  test.before(async () => {
    pg = await startTestPg();
  });
  test.after(async () => {
    for (const install of installs) {
      install.stop();
      rmSync(install.appDir, { recursive: true, force: true });
    }
    await pg?.stop();
  });
  return {
    get pg() {
      if (!pg) throw new Error('the harness PostgreSQL is not started (use it inside a test)');
      return pg;
    },
    async runningInstall(rows = 300, start: 'legacy' | 'systemd' = 'legacy') {
      const install = await makeInstall(rows, start);
      installs.push(install);
      install.start();
      await eventually(
        'backend up on SQLite',
        () => health(install.healthUrl),
        (h) => h?.status === 200 && h.body?.database === 'sqlite',
      );
      return install;
    },
    async upgradeCase(database, rows = 300) {
      const install = await this.runningInstall(rows);
      const before = appFingerprint(install);
      const db = await this.pg.freshDatabase(database);
      return {
        install,
        before,
        db,
        env: { TARGET_DATABASE_URL: db.url },
        args: ['--app-dir', install.appDir, '--yes', '--json'],
      };
    },
  };
}

/**
 * GET the app's status route. When it says "online", `body.database` is added as seen from outside (the app never
 * says): 'sqlite' when a process listening on that port (or its children) holds a .db file, 'postgresql' when it
 * holds an outbound TCP connection instead.
 */
export async function health(url: string): Promise<{ status: number; body: any } | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(3000) });
    const body = await r.json().catch(() => undefined);
    if (body?.service?.status === 'online') body.database = databaseSeenFromOutside(Number(new URL(url).port));
    // Upstream answers 200 even when "degraded": for these tests only "online" counts as up (503 otherwise).
    const status = r.status === 200 && body?.service && body.service.status !== 'online' ? 503 : r.status;
    return { status, body };
  } catch {
    return undefined;
  }
}

export function databaseSeenFromOutside(port: number): 'sqlite' | 'postgresql' | undefined {
  const pids = withDescendants(listeningPids(port));
  const holdsDb = pids.some((pid) => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try {
          return /\.db$/.test(readlinkSync(`/proc/${pid}/fd/${fd}`));
        } catch {
          return false;
        }
      });
    } catch {
      return false;
    }
  });
  if (holdsDb) return 'sqlite';
  return socketsOf(pids).some((s) => s.state === '01' && s.localPort !== port) ? 'postgresql' : undefined;
}

/** Poll until `check` is true (a generous ceiling so a slow machine does not fail a correct program). */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T> | T,
  check: (v: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  const started = Date.now();
  let last: T = await probe();
  while (!check(last)) {
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
    last = await probe();
  }
  return last;
}

export function sqliteCount(file: string, table: string): number {
  const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 5000 });
  try {
    return Number((db.prepare(`SELECT count(*) AS n FROM "${table}"`).get() as { n: number }).n);
  } finally {
    db.close();
  }
}

function hashTree(dir: string): string {
  const h = createHash('sha256');
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(dir, rel)).sort()) {
      const r = path.join(rel, name);
      if (statSync(path.join(dir, r)).isDirectory()) walk(r);
      else h.update(`${r}\0`).update(readFileSync(path.join(dir, r)));
    }
  };
  walk('');
  return h.digest('hex');
}

/** sha256 of backend/.env, schema.prisma and the migrations folder, plus modes: what must survive a rollback byte for byte. */
export function appFingerprint(install: SampleInstall): Record<string, string> {
  const migrations = path.join(path.dirname(install.schemaPath), 'migrations');
  const fileHash = (f: string) =>
    existsSync(f)
      ? createHash('sha256').update(readFileSync(f)).digest('hex') + ':' + (statSync(f).mode & 0o777).toString(8)
      : 'missing';
  return { env: fileHash(install.envPath), schema: fileHash(install.schemaPath), migrations: hashTree(migrations) };
}

/**
 * Environment every task in these tests gets: never the host's real /etc/visionsuit/vs-backend.env (a developer
 * machine that has one must not see it rewritten by a test). Tests that want a system env file set their own.
 */
export const SAFE_ENV: Record<string, string> = { VS_SYSTEM_ENV_FILE: '/nonexistent/visionsuit-tests/vs-backend.env' };

export interface Spawned {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>;
}

/** A task as a real process whose PID we hold (runTask hides it). */
export function spawnTask(task: string, args: string[], env: Record<string, string | undefined> = {}): Spawned {
  const child = spawn(process.execPath, [...taskNodeArgs(task), ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...SAFE_ENV, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => setTimeout(() => resolve({ code, signal, stdout, stderr }), 50)),
  );
  return { child, done };
}

export function journalOf(runDir: string): any {
  const file = path.join(runDir, 'journal.json');
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined; // caught between write and rename is impossible (atomic), but a partial read is not worth a failure
  }
}

export function runDirs(appDir: string): string[] {
  const root = path.join(appDir, 'backups', 'pg-migration');
  return existsSync(root)
    ? readdirSync(root)
        .filter((n) => /^\d{8}T/.test(n))
        .map((n) => path.join(root, n))
        .sort()
    : [];
}

const ALL_BUCKETS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** The phase-1 writer, started before the upgrade; resolves with what it printed once it exits. */
export function startPhase1Writer(
  install: Install,
  mode: 'changes' | 'schema',
): Promise<{ code: number | null; out: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(REPO_ROOT, 'tests/e2e/phase1-writer.ts'), install.appDir, install.sqlitePath, mode],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
}

/** Every row of every table: PostgreSQL against the SQLite file, by key, canonical row hash. */
export async function assertRowsEqualOnPg(
  pg: TestPg,
  install: Install,
  database: string,
): Promise<{ table: string; rows: number }[]> {
  const model = loadSchemaModel(install.schemaPath);
  const client: Queryable = {
    query: ((sql: string, params?: unknown[]) => pg.query(database, sql, params)) as never,
  };
  const db = new Database(install.sqlitePath, { readonly: true });
  const seen: { table: string; rows: number }[] = [];
  try {
    for (const t of model.tables) {
      const canonical = canonicalRowOf(db, canonicalTable(t), model.enums);
      const select = db.prepare(`SELECT ${t.columns.map((c) => `"${c.name}"`).join(', ')} FROM "${t.name}"`);
      select.raw(true).safeIntegers(true);
      const sqlite = new Map<string, bigint>();
      for (const r of select.iterate() as IterableIterator<unknown[]>) {
        const row = canonical(r);
        sqlite.set(row.keyText, row.hash);
      }
      const onPg = await pgBucketRows(client, 'public', t, ALL_BUCKETS);
      // The app runs on PostgreSQL by now: its heartbeat rows (AuditLog inserts, one Setting upsert) are its own.
      const own = (key: string) =>
        (t.name === 'AuditLog' && !sqlite.has(key)) || (t.name === 'Setting' && key.endsWith('backend.heartbeat'));
      for (const [key, hash] of sqlite)
        if (!own(key)) assert.is(onPg.get(key)?.hash, hash, `${t.name} ${key}: equal on PostgreSQL`);
      for (const key of onPg.keys()) if (!own(key)) assert.ok(sqlite.has(key), `${t.name} ${key}: only on PostgreSQL`);
      seen.push({ table: t.name, rows: sqlite.size });
    }
  } finally {
    db.close();
  }
  return seen;
}
