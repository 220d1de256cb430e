import type { Logger } from '../cli/log.ts';
import { Outcome, DomainError } from '../errors.ts';
import { fmtShort, progressLine, WindowRate } from '../run/progress.ts';
import type { CopyTableResult } from './copy-table.ts';
import { RowLoadError, type CopyTablePlan } from './rows.ts';
import type { TableLoader } from './table-loader.ts';

/**
 * Progress of the load, one line redrawn in place on a TTY (lib/run/progress.ts): the whole load's bar and rate,
 * then each table being loaded with its own rate. Rates are over the last seconds, and a timer redraws the line
 * between updates, so a table that stops moving shows a falling rate rather than a frozen one.
 */
class LoadProgress {
  private readonly active = new Map<string, { rows: number; expected: number; rate: WindowRate }>();
  private doneRows = 0;
  private readonly rate = new WindowRate();
  private last = 0;
  private timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly log: Logger,
    private readonly totalExpected: number,
  ) {
    // Only ever shown on a TTY; formatting it (ICU number formats) costs CPU the load needs.
    if (log.isTty) {
      this.timer = setInterval(() => this.render(true), 1000);
      this.timer.unref();
    }
  }
  start(table: string, expected: number) {
    const rate = new WindowRate();
    rate.add(performance.now(), 0);
    this.active.set(table, { rows: 0, expected, rate });
    this.render(true);
  }
  update(table: string, rows: number) {
    const entry = this.active.get(table);
    if (entry) entry.rows = rows;
    this.render(false);
  }
  finish(table: string, rows: number) {
    this.active.delete(table);
    this.doneRows += rows;
    this.render(true);
  }
  stop() {
    clearInterval(this.timer);
    this.timer = undefined;
  }
  private render(force: boolean) {
    if (!this.log.isTty) return;
    const now = performance.now();
    if (!force && now - this.last < 250) return;
    this.last = now;
    let rowsNow = this.doneRows;
    const parts: string[] = [];
    for (const [table, e] of this.active) {
      rowsNow += e.rows;
      e.rate.add(now, e.rows);
      parts.push(`${table} ${fmtShort(e.rows)}/${fmtShort(e.expected)} ${fmtShort(e.rate.perSecond(now))}/s`);
    }
    this.rate.add(now, rowsNow);
    const columns = process.stderr.columns || 80;
    this.log.progress(
      progressLine({
        label: 'load',
        done: rowsNow,
        total: this.totalExpected,
        ratePerSecond: this.rate.perSecond(now),
        parts,
        columns,
      }),
    );
  }
}

export async function loadAllTables(
  plans: CopyTablePlan[],
  loaders: TableLoader[],
  log: Logger,
  /** Runs in the slot after each table it loaded; `loadStopped()` turns true as soon as any slot has failed. */
  afterTable?: (slot: number, table: string, loadStopped: () => boolean) => Promise<void>,
): Promise<CopyTableResult[]> {
  // Largest first, so the two slots finish close together.
  const queue = [...plans].sort((a, b) => b.expectedRows - a.expectedRows);
  const totalExpected = plans.reduce((n, p) => n + p.expectedRows, 0);
  const progress = new LoadProgress(log, totalExpected);
  const results: CopyTableResult[] = [];
  let failure: unknown;
  const stop = (err: unknown) => {
    // Stop handing out tables; the other slot finishes the one it has (its own transaction either way).
    failure ??= err;
    queue.length = 0;
  };
  await Promise.all(
    loaders.map(async (loader, slot) => {
      for (let plan = queue.shift(); plan && failure === undefined; plan = queue.shift()) {
        progress.start(plan.table, plan.expectedRows);
        try {
          const result = await loader.load(plan, (rows) => progress.update(plan!.table, rows));
          progress.finish(plan.table, result.rowsCopied);
          log.debug(
            `${plan.table}: ${result.rowsCopied} rows in ${result.seconds.toFixed(2)}s${result.analyzeSeconds !== undefined ? `, analyze ${result.analyzeSeconds.toFixed(2)}s` : ''}${result.indexSeconds !== undefined ? `, indexes ${result.indexSeconds.toFixed(2)}s` : ''}`,
          );
          results.push(result);
        } catch (err) {
          progress.finish(plan.table, 0);
          stop(err);
          continue;
        }
        if (failure !== undefined) continue; // the other slot failed: the load ends, nothing more to put back
        try {
          await afterTable?.(slot, plan.table, () => failure !== undefined);
        } catch (err) {
          stop(err);
        }
      }
    }),
  ).finally(() => progress.stop());
  if (failure !== undefined) {
    if (failure instanceof RowLoadError)
      throw new DomainError(Outcome.SourceProblem, failure.message, { ...failure.details });
    throw failure;
  }
  return results;
}
