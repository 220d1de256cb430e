/**
 * `npm run bench -- --window [--rows N]`: the app's downtime of `just upgrade`, offline (the full-stop run) against
 * online (copy while the app runs, then a delta window), at N and 3×N rows (default 1.5 M and 4.5 M).
 *
 * Each run: a sample install whose database is the bench's SQLite file, its fake backend started through
 * maintenance.sh, and bench/live-writer.ts writing ~60 times a second into three tables (inserts, updates,
 * deletes) from before phase 1 until the stop command ends it. The stop command (a script here) stops the writer,
 * then runs maintenance.sh stop. Reported: the window (stop command issued → app healthy on PostgreSQL, from the
 * upgrade's own --json) with its biggest parts, the rows the delta carried, the upgrade's wall time and peak RSS,
 * and whether every live write is in PostgreSQL: the three written tables' canonical content hashes on PostgreSQL
 * equal to the SQLite file's after the run (every row, every column). After each online run, `just fallback` of the
 * same install, the backend writing on PostgreSQL: its window (stop → started on SQLite) and the window's steps.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from '../lib/sqlite/driver.ts';
import pg from 'pg';
import { createSampleInstall } from '../fixtures/sample-install.ts';
import { waitForHealth } from '../lib/app/health-probe.ts';
import type { EmbeddedServer } from '../lib/pg/embedded-pg.ts';
import { pgTableHash } from '../lib/pg/content-hash.ts';
import { loadSchemaModel } from '../lib/prisma/schema-model.ts';
import { canonicalRowOf } from '../lib/sqlite/canonical-rows.ts';
import { canonicalTable } from '../lib/sqlite/snapshot-delta.ts';
import { ONE_PROCESS_TASK_FLAGS, oneProcessTaskEnv, taskNodeArgs } from '../lib/files/code-location.ts';
import { jsonOutput } from './json-output.ts';
import { FALLBACK_STEPS } from '../lib/steps/fallback.ts';

export interface WindowBenchContext {
  server: EmbeddedServer;
  benchSqlite: (rows: number) => { file: string; totalRows: number };
  runMeasured: (
    command: string,
    argv: string[],
    env: Record<string, string | undefined>,
  ) => Promise<{ code: number | null; seconds: number; peakRssMb?: number; stdout: string; stderr: string }>;
  freshDatabase: (server: EmbeddedServer, database: string) => Promise<void>;
  log: (m: string) => void;
  rows: number;
}

export interface WindowRun {
  rows: number;
  mode: 'offline' | 'online';
  exitCode: number | null;
  windowSeconds?: number;
  parts?: { step: string; seconds: number }[];
  deltaRows?: number;
  /** The catch-up rounds of phase 1 (online): rows each carried and its seconds. */
  rounds?: { round: number; rows: number; seconds: number }[];
  /** Every step of the upgrade (its --json), phase 1 included. */
  steps?: { name: string; seconds: number }[];
  upgradeSeconds: number;
  peakRssMb?: number;
  liveWrites?: { inserts: number; updates: number; deletes: number };
  /** Every live write in PostgreSQL: the written tables' content hashes equal on both sides. */
  allWritesArrived?: boolean;
  note?: string;
  /** After an online upgrade: `just fallback` with the backend writing on PostgreSQL. */
  fallback?: FallbackRun;
  /** The upgrade process's own peak RSS at the end of each step (its --json): where the memory grew. */
  rssSteps?: { step: string; peakRssMb: number }[];
}

export interface FallbackRun {
  exitCode: number | null;
  /** The fallback's own --json windowMs (stop command issued → app started on SQLite). */
  windowSeconds?: number;
  steps?: { name: string; seconds: number }[];
  seconds: number;
  peakRssMb?: number;
  note?: string;
}

/** The steps of `just fallback` from the stop on: its window. */
const FALLBACK_WINDOW_STEPS = new Set<string>(FALLBACK_STEPS.slice(FALLBACK_STEPS.indexOf('fallback:stop')));

/**
 * `just fallback` of the install the online upgrade moved: the backend started on PostgreSQL writes its heartbeats
 * there for a few seconds (the small change since the export the catch-up carries), then the fallback runs as the
 * justfile's recipe runs it.
 */
async function fallbackRun(
  ctx: WindowBenchContext,
  appDir: string,
  healthUrl: string,
  maintenance: string,
  env: Record<string, string | undefined>,
): Promise<FallbackRun> {
  spawnSync('bash', [maintenance, 'start'], { stdio: 'ignore', env });
  const up = await waitForHealth(healthUrl, { timeoutMs: 60_000 });
  if (!up.ok) return { exitCode: null, seconds: 0, note: `the backend did not come up on PostgreSQL: ${up.error}` };
  await new Promise((r) => setTimeout(r, 3000));
  ctx.log('window: fallback to SQLite with the backend writing on PostgreSQL…');
  const run = await ctx.runMeasured(
    process.execPath,
    [
      ...ONE_PROCESS_TASK_FLAGS,
      ...taskNodeArgs('fallback'),
      '--app-dir',
      appDir,
      '--stop-cmd',
      `${maintenance} stop`,
      '--start-cmd',
      `${maintenance} start`,
      '--yes',
      '--json',
    ],
    { VS_SYSTEM_ENV_FILE: '/nonexistent/visionsuit-bench/vs-backend.env', ...oneProcessTaskEnv() },
  );
  const json = jsonOutput(run.stdout);
  return {
    exitCode: run.code,
    windowSeconds: typeof json?.windowMs === 'number' ? json.windowMs / 1000 : undefined,
    steps: (json?.steps ?? [])
      .filter((st: { name: string }) => FALLBACK_WINDOW_STEPS.has(st.name))
      .map((st: { name: string; ms: number }) => ({ name: st.name.replace('fallback:', ''), seconds: st.ms / 1000 })),
    seconds: run.seconds,
    peakRssMb: run.peakRssMb,
    note: run.code === 0 ? undefined : (json?.summary ?? run.stderr.slice(-400)),
  };
}

const WRITTEN_TABLES = ['Notification', 'ImageAsset', 'ImageLike'];
const REPO = path.dirname(path.dirname(new URL(import.meta.url).pathname));

function sqliteTableHash(file: string, schemaPath: string, table: string): string {
  const model = loadSchemaModel(schemaPath);
  const t = model.tables.find((m) => m.name === table)!;
  const db = new Database(file, { readonly: true });
  try {
    const canonical = canonicalRowOf(db, canonicalTable(t), model.enums);
    const select = db.prepare(`SELECT ${t.columns.map((c) => `"${c.name}"`).join(', ')} FROM "${table}"`);
    select.raw(true).safeIntegers(true);
    let sum = 0n;
    for (const r of select.iterate() as IterableIterator<unknown[]>) sum += canonical(r).hash;
    return sum.toString();
  } finally {
    db.close();
  }
}

async function oneRun(ctx: WindowBenchContext, rows: number, mode: 'offline' | 'online'): Promise<WindowRun> {
  const { file } = ctx.benchSqlite(rows);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'vs-window-'));
  const install = await createSampleInstall({ dir: path.join(tmp, 'app'), rows: 20 });
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${install.sqlitePath}${suffix}`, { force: true });
  copyFileSync(file, install.sqlitePath);
  const maintenance = path.join(install.appDir, 'maintenance.sh');
  const writerPid = path.join(tmp, 'writer.pid');
  const counts = path.join(tmp, 'writer-counts.json');
  const stopScript = path.join(tmp, 'stop.sh');
  writeFileSync(
    stopScript,
    `#!/usr/bin/env bash\nw=$(cat '${writerPid}' 2>/dev/null)\nif [ -n "$w" ]; then kill -TERM "$w" 2>/dev/null; while kill -0 "$w" 2>/dev/null; do sleep 0.02; done; fi\nexec '${maintenance}' stop\n`,
  );
  chmodSync(stopScript, 0o700);
  const env = { PATH: process.env.PATH, HOME: process.env.HOME };
  const database = `bench_window_${mode}_${rows}`;
  try {
    spawnSync('bash', [maintenance, 'start'], { stdio: 'ignore', env });
    const up = await waitForHealth(install.healthUrl, { timeoutMs: 60_000 });
    if (!up.ok) throw new Error(`the fake backend did not come up: ${up.error}`);
    const writer = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(REPO, 'bench', 'live-writer.ts'), install.sqlitePath, counts],
      { cwd: REPO, stdio: 'ignore', env },
    );
    writeFileSync(writerPid, `${writer.pid}\n`);
    await new Promise((r) => setTimeout(r, 2000));
    await ctx.freshDatabase(ctx.server, database);
    ctx.log(`window: ${mode} upgrade of ${rows.toLocaleString('en-US')} rows with the live writer…`);
    // As the justfile's upgrade recipe runs it: its memory flags as node flags, not inherited by the app.
    const [node, nodeArgs] = [process.execPath, [...ONE_PROCESS_TASK_FLAGS, ...taskNodeArgs('upgrade')]];
    const run = await ctx.runMeasured(
      node,
      [
        ...nodeArgs,
        '--app-dir',
        install.appDir,
        '--stop-cmd',
        stopScript,
        '--start-cmd',
        `${maintenance} start`,
        '--yes',
        '--json',
        ...(mode === 'offline' ? ['--offline'] : []),
      ],
      {
        TARGET_DATABASE_URL: ctx.server.url(database),
        VS_SYSTEM_ENV_FILE: '/nonexistent/visionsuit-bench/vs-backend.env',
        ...oneProcessTaskEnv(),
      },
    );
    const json = jsonOutput(run.stdout);
    spawnSync('bash', [maintenance, 'stop'], { stdio: 'ignore', env });
    if (writer.exitCode === null) writer.kill('SIGTERM');
    const result: WindowRun = {
      rows,
      mode,
      exitCode: run.code,
      windowSeconds: json?.window?.seconds,
      parts: json?.window?.parts,
      deltaRows: json?.delta?.rows?.total,
      rounds: (json?.rounds ?? []).map((r: { round: number; rows: { total: number }; seconds: number }) => ({
        round: r.round,
        rows: r.rows.total,
        seconds: r.seconds,
      })),
      steps: (json?.steps ?? []).map((st: { name: string; ms: number }) => ({ name: st.name, seconds: st.ms / 1000 })),
      upgradeSeconds: run.seconds,
      peakRssMb: run.peakRssMb,
      rssSteps: (json?.steps ?? [])
        .filter((st: { peakRssMb?: number }) => st.peakRssMb !== undefined)
        .map((st: { name: string; peakRssMb: number }) => ({ step: st.name, peakRssMb: st.peakRssMb })),
      note: run.code === 0 ? undefined : (json?.summary ?? run.stderr.slice(-400)),
    };
    if (existsSync(counts)) result.liveWrites = JSON.parse(readFileSync(counts, 'utf8'));
    if (run.code === 0) {
      const client = new pg.Client({ connectionString: ctx.server.url(database) });
      await client.connect();
      try {
        const model = loadSchemaModel(install.schemaPath);
        let equal = true;
        for (const table of WRITTEN_TABLES) {
          const t = model.tables.find((m) => m.name === table)!;
          const onPg = await pgTableHash(client, 'public', t);
          if (onPg.contentHash !== sqliteTableHash(install.sqlitePath, install.schemaPath, table)) equal = false;
        }
        result.allWritesArrived = equal;
      } finally {
        await client.end();
      }
      if (mode === 'online')
        result.fallback = await fallbackRun(ctx, install.appDir, install.healthUrl, maintenance, env);
    }
    return result;
  } finally {
    spawnSync('bash', [maintenance, 'stop'], { stdio: 'ignore', env });
    rmSync(tmp, { recursive: true, force: true });
  }
}

export function windowTable(runs: WindowRun[]): string {
  const lines = [
    '| rows | mode | window (s) | biggest parts of the window (s) | rounds: rows (s) | delta rows | live writes (ins/upd/del) | all live writes in PostgreSQL | upgrade wall (s) | peak RSS (MB) | exit |',
    '|---:|---|---:|---|---|---:|---|---|---:|---:|---:|',
  ];
  for (const r of runs) {
    const parts = [...(r.parts ?? [])]
      .sort((a, b) => b.seconds - a.seconds)
      .slice(0, 4)
      .map((p) => `${p.step} ${p.seconds.toFixed(1)}`)
      .join(', ');
    const rounds = r.rounds?.length ? r.rounds.map((x) => `${x.rows} (${x.seconds.toFixed(1)})`).join(', ') : '–';
    const w = r.liveWrites ? `${r.liveWrites.inserts}/${r.liveWrites.updates}/${r.liveWrites.deletes}` : '';
    lines.push(
      `| ${r.rows.toLocaleString('en-US')} | ${r.mode} | ${r.windowSeconds?.toFixed(1) ?? '–'} | ${parts} | ${rounds} | ${r.deltaRows ?? '–'} | ${w} | ${r.allWritesArrived === undefined ? '–' : r.allWritesArrived ? 'yes' : 'NO'} | ${r.upgradeSeconds.toFixed(1)} | ${r.peakRssMb ?? '–'} | ${r.exitCode}${r.note ? ` (${r.note.replace(/\|/g, '/').slice(0, 120)})` : ''} |`,
    );
  }
  lines.push('', "Where the upgrade process's peak RSS grew (MB after the step, growth in it):", '');
  for (const r of runs) {
    const steps = r.rssSteps ?? [];
    const grew = steps
      .map((st, i) => ({ step: st.step, to: st.peakRssMb, by: st.peakRssMb - (i ? steps[i - 1].peakRssMb : 0) }))
      .sort((a, b) => b.by - a.by)
      .slice(0, 5)
      .map((g) => `${g.step} ${g.to} (+${g.by})`)
      .join(', ');
    if (grew) lines.push(`- ${r.rows.toLocaleString('en-US')} ${r.mode}: ${grew}`);
  }
  return lines.join('\n');
}

export async function runWindowBench(ctx: WindowBenchContext): Promise<{ runs: WindowRun[]; text: string }> {
  const runs: WindowRun[] = [];
  for (const rows of [ctx.rows, ctx.rows * 3])
    for (const mode of ['offline', 'online'] as const) {
      const r = await oneRun(ctx, rows, mode);
      ctx.log(
        `window: ${mode} ${rows}: exit ${r.exitCode}, window ${r.windowSeconds?.toFixed(1) ?? '?'} s, delta ${r.deltaRows ?? '–'} rows${r.fallback ? `; fallback exit ${r.fallback.exitCode}, window ${r.fallback.windowSeconds?.toFixed(1) ?? '?'} s` : ''}`,
      );
      runs.push(r);
    }
  const online = runs.filter((r) => r.mode === 'online');
  const out = ['### Window: full-stop (--offline) against online', '', windowTable(runs), ''];
  out.push(
    '### Fallback window after the online upgrade',
    '',
    '| rows | window (s) | its steps (s) | fallback wall (s) | peak RSS (MB) | exit |',
    '|---:|---:|---|---:|---:|---:|',
    ...online
      .filter((r) => r.fallback)
      .map((r) => {
        const f = r.fallback!;
        const steps = (f.steps ?? []).map((st) => `${st.name} ${st.seconds.toFixed(1)}`).join(', ');
        return `| ${r.rows.toLocaleString('en-US')} | ${f.windowSeconds?.toFixed(1) ?? '–'} | ${steps} | ${f.seconds.toFixed(1)} | ${f.peakRssMb ?? '–'} | ${f.exitCode}${f.note ? ` (${f.note.replace(/\|/g, '/').slice(0, 120)})` : ''} |`;
      }),
    '',
  );
  if (online.length === 2 && online[0].windowSeconds && online[1].windowSeconds)
    out.push(
      `- online window at ${(ctx.rows * 3).toLocaleString('en-US')} / at ${ctx.rows.toLocaleString('en-US')} rows: **${(online[1].windowSeconds / online[0].windowSeconds).toFixed(2)}×** (target ≤ 1.5×)`,
    );
  return { runs, text: out.join('\n') + '\n' };
}
