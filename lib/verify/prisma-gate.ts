import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../errors.ts';
import { type TargetConnection } from '../pg/target.ts';
import { RUN_FILES } from '../run/run-dir.ts';
import type { CallWorker } from '../threads/worker-call.ts';
import type { PrismaChecks, PrismaChecksArgs } from './prisma-thread.ts';
import { pgSchemaFile, secondsSince, type GateReport } from './gate-report.ts';

/** `thread`: a helper running lib/verify/prisma-thread.ts (verify starts it), where the WebAssembly work happens. */
export async function prismaGate(
  target: TargetConnection,
  runDir: string,
  appSchemaPath: string,
  pgSchema: string,
  thread: CallWorker,
): Promise<GateReport> {
  const started = Date.now();
  const { file: schemaFile, problem } = pgSchemaFile(runDir, appSchemaPath);
  if (!schemaFile) return { gate: 'prisma', ok: false, reason: problem!, seconds: secondsSince(started), details: {} };
  // The run's migration history (load-pg wrote it); after cutover without it, the app's own next to its schema.
  const runMigrations = path.join(runDir, RUN_FILES.pgSchemaDir, 'migrations');
  const migrationsDir = existsSync(runMigrations) ? runMigrations : path.join(path.dirname(schemaFile), 'migrations');
  const schemaText = readFileSync(schemaFile, 'utf8');
  const problems: string[] = [];
  let checks: PrismaChecks;
  try {
    checks = await thread.call<PrismaChecks>('prismaChecks', {
      schemaFile,
      schemaText,
      migrationsDir,
      clientConfig: target.clientConfig,
      pgSchema,
      runDir,
    } satisfies PrismaChecksArgs);
  } catch (err) {
    checks = {
      engine: { problems: [] },
      client: { ok: false, reason: `the Prisma checks' thread failed: ${errorMessage(err)}` },
      engineSeconds: 0,
    };
  }
  const { engine, client, engineSeconds } = checks;
  problems.push(...engine.problems);
  if (!client.ok) problems.push(client.reason);
  return {
    gate: 'prisma',
    ok: problems.length === 0,
    reason: problems.length
      ? `${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`
      : `migration history clean, no drift; ${client.reason}`,
    seconds: secondsSince(started),
    details: { schemaFile, migrationsDir, problems, engineSeconds, engine, client },
  };
}

/**
 * The online window's quick Prisma gate (after the delta, before switch-env): the run's Prisma Client, generated in
 * phase 1, reads every model of the target as it is now. Reads only: the full gate (history, drift, the rolled-back
 * write) ran in phase 1, and nothing since changed the schema.
 */
export async function prismaReadsGate(
  target: TargetConnection,
  runDir: string,
  appSchemaPath: string,
  pgSchema: string,
  thread: CallWorker,
): Promise<GateReport> {
  const started = Date.now();
  const { file: schemaFile, problem } = pgSchemaFile(runDir, appSchemaPath);
  if (!schemaFile) return { gate: 'prisma', ok: false, reason: problem!, seconds: secondsSince(started), details: {} };
  let client: PrismaChecks['client'];
  try {
    client = await thread.call<PrismaChecks['client']>('prismaReads', {
      schemaText: readFileSync(schemaFile, 'utf8'),
      clientConfig: target.clientConfig,
      pgSchema,
      runDir,
    });
  } catch (err) {
    client = { ok: false, reason: `the Prisma checks' thread failed: ${errorMessage(err)}` };
  }
  return { gate: 'prisma', ok: client.ok, reason: client.reason, seconds: secondsSince(started), details: { client } };
}
