/**
 * A one-line progress display for a terminal: a bar for the whole job, the rows done, a rate over the last few
 * seconds (not since the start, so a stall shows as a falling rate), an ETA, then as many per-item parts as fit.
 * The line is cut to the terminal's width, so `\r` redraws it in place instead of leaving wrapped remnants.
 */

/** Rows per second over a sliding window of (time, count) samples. */
export class WindowRate {
  private readonly samples: { t: number; n: number }[] = [];
  constructor(private readonly windowMs = 5000) {}
  add(t: number, n: number): void {
    this.samples.push({ t, n });
    while (this.samples.length > 2 && t - this.samples[1].t >= this.windowMs) this.samples.shift();
  }
  /** Per second over the window ending at `now` (a count unchanged since the last sample lowers it). */
  perSecond(now: number): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || now - first.t <= 0) return 0;
    return (last.n - first.n) / ((now - first.t) / 1000);
  }
}

export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** 1234 → "1.2k", 2_500_000 → "2.5M": rates and counts in the per-item parts, which have little room. */
export function fmtShort(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e4 ? 0 : 1)}k`;
  return String(Math.round(n));
}

export function fmtEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.ceil(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** `[#####-----]` of `width` cells for a fraction 0..1. */
export function bar(fraction: number, width: number): string {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

/**
 * The whole line: `label [bar] pct done/total  rate/s  ETA m:ss | part | part`, cut to `columns - 1` characters
 * (the last column stays free: a terminal wraps a line that fills it).
 */
export function progressLine(options: {
  label: string;
  done: number;
  total: number;
  ratePerSecond: number;
  parts: string[];
  columns: number;
}): string {
  const { label, done, total, ratePerSecond, parts } = options;
  const width = Math.max(20, options.columns - 1);
  const fraction = total > 0 ? done / total : 0;
  const eta = ratePerSecond > 0 ? (total - done) / ratePerSecond : Infinity;
  const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
  let line = `${label} ${bar(fraction, 20)} ${pct} ${fmtShort(done)}/${fmtShort(total)} ${fmtShort(ratePerSecond)}/s ETA ${fmtEta(eta)}`;
  for (const part of parts) {
    if (line.length + 3 + part.length > width) break;
    line += ` | ${part}`;
  }
  return line.length > width ? line.slice(0, width) : line;
}
