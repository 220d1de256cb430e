import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../errors.ts';
import { type TargetConnection } from '../pg/target.ts';
import { RUN_FILES } from '../run/run-dir.ts';
import type { CallWorker } from '../threads/worker-call.ts';
import type { PrismaChecks, PrismaChecksArgs } from './prisma-thread.ts';
import { pgSchemaFile, secondsSince, type GateReport } from './gate-report.ts';

/** `thread`: a helper running lib/verify/prisma-thread.ts (startPrismaThread), where the WebAssembly work happens. */
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
