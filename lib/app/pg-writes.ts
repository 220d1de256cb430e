import type { Settings } from '../cli/config.ts';
import type { Logger } from '../cli/log.ts';
import { openTarget } from '../pg/target.ts';
import { loadSql } from '../files/sql-files.ts';

/**
 * What the app wrote on PostgreSQL since the verified load, from pg_stat_user_tables' insert/update/delete
 * counters: a baseline is recorded right after the load is verified, the difference is counted before any way back
 * to SQLite. A backend flushes its counters when it ends, so counts taken after the app stopped are complete.
 */
export type WriteCounters = Record<string, { ins: number; upd: number; del: number }>;

export interface TableWrites {
  table: string;
  rows: number;
}

function schemaOf(url: string): string {
  try {
    return new URL(url).searchParams.get('schema') || 'public';
  } catch {
    return 'public';
  }
}

export async function readWriteCounters(settings: Settings, log: Logger, url: string): Promise<WriteCounters> {
  const target = await openTarget(settings, log, { url });
  try {
    const { rows } = await target.client.query<{ table_name: string; ins: string; upd: string; del: string }>(
      loadSql('app-write-counters'),
      [schemaOf(url)],
    );
    const out: WriteCounters = {};
    for (const r of rows) out[r.table_name] = { ins: Number(r.ins), upd: Number(r.upd), del: Number(r.del) };
    return out;
  } finally {
    await target.close();
  }
}

/** Rows changed per table since the baseline (a counter below its baseline was reset: all of it counts). */
export function writesSince(baseline: WriteCounters, now: WriteCounters): TableWrites[] {
  const out: TableWrites[] = [];
  for (const [table, c] of Object.entries(now)) {
    const b = baseline[table] ?? { ins: 0, upd: 0, del: 0 };
    const total = c.ins + c.upd + c.del;
    const base = b.ins + b.upd + b.del;
    const rows = total >= base ? total - base : total;
    if (rows > 0) out.push({ table, rows });
  }
  return out.sort((a, b) => b.rows - a.rows || a.table.localeCompare(b.table));
}

export function describeWrites(writes: TableWrites[]): string {
  const total = writes.reduce((n, w) => n + w.rows, 0);
  return `${total} row change(s) in ${writes.length} table(s) (${writes.map((w) => `${w.table} ${w.rows}`).join(', ')})`;
}

/** Per table and kind, what the counters moved since the baseline (a counter below its baseline was reset). */
/** Counters plus the writes a verified delta made: the baseline the next delta is checked against. */
export function addWrites(baseline: WriteCounters, writes: WriteCounters): WriteCounters {
  const out: WriteCounters = { ...baseline };
  for (const [table, w] of Object.entries(writes)) {
    const b = out[table] ?? { ins: 0, upd: 0, del: 0 };
    out[table] = { ins: b.ins + w.ins, upd: b.upd + w.upd, del: b.del + w.del };
  }
  return out;
}

export function countersSince(baseline: WriteCounters, now: WriteCounters): WriteCounters {
  const out: WriteCounters = {};
  const delta = (n: number, b: number) => (n >= b ? n - b : n);
  for (const [table, c] of Object.entries(now)) {
    const b = baseline[table] ?? { ins: 0, upd: 0, del: 0 };
    const d = { ins: delta(c.ins, b.ins), upd: delta(c.upd, b.upd), del: delta(c.del, b.del) };
    if (d.ins || d.upd || d.del) out[table] = d;
  }
  return out;
}
