import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../cli/log.ts';
import { type TargetConnection } from '../pg/target.ts';
import { checkPrismaClient } from '../prisma/client-check.ts';
import { RUN_FILES } from '../run/run-dir.ts';
import { prismaEngineHealth } from './prisma-engine-gate.ts';
import { pgSchemaFile, secondsSince, type GateReport } from './gate-report.ts';

export async function prismaGate(
  target: TargetConnection,
  runDir: string,
  appSchemaPath: string,
  pgSchema: string,
  log: Logger,
): Promise<GateReport> {
  const started = Date.now();
  const { file: schemaFile, problem } = pgSchemaFile(runDir, appSchemaPath);
  if (!schemaFile) return { gate: 'prisma', ok: false, reason: problem!, seconds: secondsSince(started), details: {} };
  // The run's migration history (load-pg wrote it); after cutover without it, the app's own next to its schema.
  const runMigrations = path.join(runDir, RUN_FILES.pgSchemaDir, 'migrations');
  const migrationsDir = existsSync(runMigrations) ? runMigrations : path.join(path.dirname(schemaFile), 'migrations');
  const schemaText = readFileSync(schemaFile, 'utf8');
  const problems: string[] = [];
  // The engine's diagnosis and the client's generation are independent: run them side by side.
  let engineSeconds = 0;
  const [engine, client] = await Promise.all([
    prismaEngineHealth({ schemaFile, schemaText, migrationsDir, target, pgSchema })
      .catch((err: unknown) => ({
        problems: [`Prisma's schema engine could not check the database: ${errorMessage(err)}`],
      }))
      .finally(() => (engineSeconds = secondsSince(started))),
    checkPrismaClient({ runDir, schemaText, poolConfig: target.clientConfig as pg.PoolConfig, pgSchema, log }).catch(
      (err: unknown) => ({
        ok: false,
        reason: `Prisma Client check crashed: ${errorMessage(err)}`,
        models: [],
      }),
    ),
  ]);
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
