import path from 'node:path';
import type pg from 'pg';
import type { StepContext, StepResult } from '../cli/run-cli.ts';
import { readManifest } from '../sqlite/manifest.ts';
import { Outcome, errorMessage, usageError, type OutcomeKind } from '../errors.ts';
import { targetSchemaFromUrl } from '../pg/schema-objects.ts';
import { openTarget } from '../pg/target.ts';
import { RUN_FILES, existingRunDir, recordStep, writeRunJson } from '../run/run-dir.ts';
import { claimThisRunDir } from '../run/run-lock.ts';
import { GATES, secondsSince, type GateName, type GateReport } from '../verify/gate-report.ts';
import { tableGates } from '../verify/table-gates.ts';
import { helperThreadModule } from '../files/code-location.ts';
import { startCallWorker } from '../threads/worker-call.ts';
import { integrityGate } from '../verify/integrity-gate.ts';
import { prismaGate } from '../verify/prisma-gate.ts';

export interface VerifyResult extends StepResult {
  runDir: string;
  target: string;
  schema: string;
  gates: GateReport[];
  report: string;
  seconds: number;
}

export interface VerifyExtra extends Record<string, unknown> {
  only?: string;
}

export function parseGates(only: string | undefined): GateName[] {
  if (only === undefined || only.trim() === '') return [...GATES];
  const names = only
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(GATES as readonly string[]).includes(n));
  if (unknown.length)
    throw usageError(`--only: unknown gate ${unknown.map((n) => `"${n}"`).join(', ')} (gates: ${GATES.join(', ')})`);
  if (!names.length) throw usageError(`--only needs at least one gate (${GATES.join(', ')})`);
  return GATES.filter((g) => names.includes(g));
}

/**
 * verify: prove the PostgreSQL copy equals the SQLite snapshot, and that Prisma is healthy on it.
 *
 * Gates (each pass/fail with a one-line reason and details, all written to <runDir>/report.json):
 * - counts: rows per table vs manifest.json.
 * - content: per-table hash of the canonical row form (docs/design.md) computed ON PostgreSQL (sql/content-*.sql)
 *   vs the manifest; on a mismatch, narrowed by 256 key buckets and then per row, against the same computed in JS
 *   from the run's snapshot.sqlite, to name differing keys with both sides' values.
 * - integrity: the schema compared with a reference built from the Prisma schema's DDL (tables, columns,
 *   primary keys, unique constraints, indexes, sequences, foreign keys), every foreign key validated and free of
 *   orphans, every sequence ahead of max(id).
 * - prisma: migration history clean and zero drift through Prisma's schema engine (wasm), then Prisma Client reads
 *   every model and writes once in a rolled-back transaction through @prisma/adapter-pg.
 *
 * Table-level work runs on two connections (both cores of the server), biggest tables first; the prisma gate
 * runs alongside on its own connections.
 */
export async function verify(ctx: StepContext<VerifyExtra>): Promise<VerifyResult> {
  const { settings, log } = ctx;
  const started = Date.now();
  const gates = parseGates(typeof ctx.extra.only === 'string' ? ctx.extra.only : undefined);
  const runDir = existingRunDir(settings, RUN_FILES.manifest);
  log.attachFile(path.join(runDir, RUN_FILES.log));
  // A run of every gate is the run's verify step in journal.json (what the runbook's manual steps and a resumed
  // upgrade read); a partial one (--only, e.g. the counts re-check after the switch) is not, so it can never stand
  // in for the full verification.
  const journaled = gates.length === GATES.length;
  const journal = (status: 'running' | 'done' | 'failed', message?: string) => {
    if (!journaled) return;
    try {
      recordStep(runDir, settings.appDir, 'verify', { status, ...(message ? { message } : {}) });
    } catch (err) {
      log.warn(`could not record verify in ${path.join(runDir, RUN_FILES.journal)}: ${errorMessage(err)}`);
    }
  };
  // The run dir's lock: a load-pg still writing it, or another verify sharing its report files and generated Prisma
  // Client folder (one deleting what the other imports), makes this one refuse with exit 2 naming the holder.
  const lock = claimThisRunDir(settings, runDir, 'verify');
  try {
    journal('running');
    const result = await verifyRun(ctx, runDir, gates, started);
    journal(result.ok ? 'done' : 'failed', result.summary);
    return result;
  } catch (err) {
    journal('failed', errorMessage(err));
    throw err;
  } finally {
    lock.release();
  }
}

export const VERIFY_LOCK = RUN_FILES.lock;

async function verifyRun(
  ctx: StepContext<VerifyExtra>,
  runDir: string,
  gates: GateName[],
  started: number,
): Promise<VerifyResult> {
  const { settings, log } = ctx;
  const manifest = readManifest(runDir);
  const pgSchema = targetSchemaFromUrl(settings.targetUrl);
  const target = await openTarget(settings, log);
  log.info(`verify ${target.display} (schema ${pgSchema}) against ${runDir}: ${gates.join(', ')}`);
  const reports: GateReport[] = [];
  const extra: pg.Client[] = [];
  // Prisma's WebAssembly (schema engine, parser, generated client) runs in a thread ended with the verify.
  const prismaThread =
    gates.includes('integrity') || gates.includes('prisma')
      ? startCallWorker(helperThreadModule('verify/prisma-thread'), log)
      : undefined;
  try {
    const second = await target.connect();
    extra.push(second);
    const clients = [target.client, second];
    // The integrity gate's reference schema lives in a transaction; it gets its own connection so the table work
    // (queued on the two main connections) can never run inside it.
    const side = gates.includes('integrity') ? await target.connect() : undefined;
    if (side) extra.push(side);
    const work: Promise<GateReport | GateReport[]>[] = [];
    if (gates.includes('counts') || gates.includes('content'))
      work.push(tableGates(clients, manifest, runDir, pgSchema, gates, settings.schemaPath, log));
    if (side) {
      work.push(
        integrityGate(clients, side, runDir, settings.schemaPath, pgSchema, target, log, prismaThread!).catch(
          (err: unknown): GateReport => ({
            gate: 'integrity',
            ok: false,
            reason: `the integrity checks could not run: ${errorMessage(err).split('\n')[0]}`,
            seconds: 0,
            details: {},
          }),
        ),
      );
    }
    // The prisma gate works on its own connections; client generation overlaps with the hashing.
    if (gates.includes('prisma')) work.push(prismaGate(target, runDir, settings.schemaPath, pgSchema, prismaThread!));
    for (const result of await Promise.all(work)) reports.push(...(Array.isArray(result) ? result : [result]));
  } finally {
    await prismaThread?.close();
    for (const client of extra) await client.end().catch(() => undefined);
    await target.close();
  }
  reports.sort((a, b) => GATES.indexOf(a.gate) - GATES.indexOf(b.gate));
  const failed = reports.filter((r) => !r.ok);
  const seconds = secondsSince(started);
  const ok = failed.length === 0;
  const summary = ok
    ? `verify passed: ${reports.map((r) => r.gate).join(', ')} (${seconds.toFixed(1)} s)`
    : `verify FAILED: ${failed.map((r) => `${r.gate}: ${r.reason}`).join(' | ')}`;
  const reportFile = path.join(runDir, RUN_FILES.report);
  writeRunJson(runDir, RUN_FILES.report, {
    version: 1,
    createdAt: new Date().toISOString(),
    target: target.display,
    schema: pgSchema,
    runDir,
    ok,
    summary,
    seconds,
    gates: reports,
  });
  return {
    ok,
    outcome: (ok ? Outcome.Ok : Outcome.VerificationFailed) as OutcomeKind,
    summary,
    runDir,
    target: target.display,
    schema: pgSchema,
    gates: reports,
    report: reportFile,
    seconds,
  };
}
