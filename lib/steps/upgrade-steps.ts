import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Settings } from '../cli/config.ts';
import { Outcome, type OutcomeKind } from '../errors.ts';
import type { Logger } from '../cli/log.ts';
import { RUN_FILES } from '../run/run-dir.ts';
import { backup } from './backup.ts';
import { checkTarget } from './check-target.ts';
import { exportSqlite } from './export-sqlite.ts';
import { loadPg } from './load-pg.ts';
import { verify } from './verify.ts';
import type { OrphanMode } from '../sqlite/orphans.ts';

/**
 * The other tasks' step functions as the upgrade calls them: one adapter per step, each returning the gate outcome
 * (ok, outcome, one-line summary). Kept apart so a change in one step's signature touches one place.
 */
export interface GateOutcome {
  ok: boolean;
  outcome: OutcomeKind;
  summary: string;
}

export async function runCheckTarget(settings: Settings, log: Logger): Promise<GateOutcome> {
  const r = await checkTarget(settings, log);
  for (const c of r.checks)
    if (c.status !== 'pass' && c.status !== 'skip')
      (c.status === 'fail' ? log.error : log.warn)(`${c.name}: ${c.reason}`);
  return { ok: r.ok, outcome: r.ok ? Outcome.Ok : r.outcome, summary: r.summary };
}

export async function runBackup(settings: Settings, log: Logger, runDir: string, online = false): Promise<GateOutcome> {
  const r = await backup({ ...settings, runDir }, log, { online });
  return { ok: r.ok, outcome: r.outcome, summary: r.summary };
}

export async function runExportSqlite(
  settings: Settings,
  log: Logger,
  runDir: string,
  orphans?: OrphanMode,
): Promise<GateOutcome> {
  const r = await exportSqlite({ ...settings, runDir }, log, orphans ? { orphans } : {});
  return { ok: r.ok, outcome: r.outcome, summary: r.summary };
}

export async function runLoadPg(settings: Settings, log: Logger, runDir: string): Promise<GateOutcome> {
  const r = await loadPg({ ...settings, runDir }, log, { runDir });
  return { ok: r.ok, outcome: r.outcome, summary: r.summary };
}

export interface VerifyGateLine {
  gate: string;
  ok: boolean;
  reason: string;
  seconds: number;
}

export interface VerifySummary {
  reportFile: string;
  gates: VerifyGateLine[];
}

/** The verify report as lines for the operator (the full report is report.json in the run dir). */
export function renderVerify(v: VerifySummary): string {
  return [
    `verify report (${v.reportFile}):`,
    ...v.gates.map((g) => `  ${g.ok ? 'PASS' : 'FAIL'} ${g.gate.padEnd(10)} ${g.reason} (${g.seconds.toFixed(1)} s)`),
  ].join('\n');
}

export async function runVerify(
  settings: Settings,
  log: Logger,
  runDir: string,
  only?: string[],
): Promise<GateOutcome & { report?: VerifySummary }> {
  const reportFile = path.join(runDir, RUN_FILES.report);
  const full = path.join(runDir, 'report.full.json');
  // A quick re-check (--only counts after the switch) must not replace the full report the operator archives.
  if (only && existsSync(reportFile)) copyFileSync(reportFile, full);
  const r = await verify({
    settings: { ...settings, runDir },
    log,
    extra: only ? { only: only.join(',') } : {},
    positionals: [],
  });
  if (only && existsSync(full)) {
    copyFileSync(reportFile, path.join(runDir, 'report.after-switch.json'));
    copyFileSync(full, reportFile);
  }
  const report: VerifySummary = {
    reportFile,
    gates: r.gates.map((g) => ({ gate: g.gate, ok: g.ok, reason: g.reason, seconds: g.seconds })),
  };
  return { ok: r.ok, outcome: r.ok ? Outcome.Ok : r.outcome, summary: r.summary, report };
}

/** The gates of the run's report.json (verify wrote it), for a resumed run that skipped verify. */
export function readVerifyReport(runDir: string): VerifySummary | undefined {
  const reportFile = path.join(runDir, RUN_FILES.report);
  try {
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as { gates?: VerifyGateLine[] };
    if (!Array.isArray(report.gates)) return undefined;
    return {
      reportFile,
      gates: report.gates.map((g) => ({ gate: g.gate, ok: g.ok, reason: g.reason, seconds: g.seconds })),
    };
  } catch {
    return undefined;
  }
}
