import type pg from 'pg';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../cli/log.ts';
import type { TargetClientConfig } from '../pg/guarded-client.ts';
import { checkPrismaClient, warmPrismaClient, type ClientCheck } from '../prisma/client-check.ts';
import { prismaEngineHealth, referenceDdl, type EngineHealth } from './prisma-engine-gate.ts';

/**
 * Verify's work with Prisma's WebAssembly (the schema engine, the schema parser and a generated Prisma Client's
 * query compiler), run in a helper thread (lib/threads/worker-call.ts) that verify ends when it is done: their
 * memory never shrinks, and in one process with the whole upgrade it would stay to the end. Each function here is
 * called by name from the main thread with plain data; the thread opens its own connections from the config.
 */
export interface PrismaChecksArgs {
  schemaFile: string;
  schemaText: string;
  migrationsDir: string;
  clientConfig: TargetClientConfig;
  pgSchema: string;
  runDir: string;
}

export interface PrismaChecks {
  engine: Pick<EngineHealth, 'problems'> & Partial<EngineHealth>;
  client: Pick<ClientCheck, 'ok' | 'reason'> & Partial<ClientCheck>;
  engineSeconds: number;
}

/** The engine's diagnosis and the client's generation are independent: run side by side. */
export async function prismaChecks(args: PrismaChecksArgs, log: Logger): Promise<PrismaChecks> {
  const started = performance.now();
  let engineSeconds = 0;
  const [engine, client] = await Promise.all([
    prismaEngineHealth(args)
      .catch((err: unknown) => ({
        problems: [`Prisma's schema engine could not check the database: ${errorMessage(err)}`],
      }))
      .finally(() => (engineSeconds = (performance.now() - started) / 1000)),
    checkPrismaClient({
      runDir: args.runDir,
      schemaText: args.schemaText,
      poolConfig: args.clientConfig as pg.PoolConfig,
      pgSchema: args.pgSchema,
      log,
    }).catch((err: unknown) => ({
      ok: false,
      reason: `Prisma Client check crashed: ${errorMessage(err)}`,
      models: [],
    })),
  ]);
  return { engine, client, engineSeconds };
}

/** Ahead of the window's quick gate: the client generated (cached since phase 1) and imported, nothing connected. */
export function prismaWarm(args: { runDir: string; schemaText: string }, log: Logger): Promise<void> {
  return warmPrismaClient({ ...args, log });
}

/** The window's quick gate: the run's Prisma Client (cached since phase 1) reads every model; nothing is written. */
export function prismaReads(
  args: Omit<PrismaChecksArgs, 'migrationsDir' | 'schemaFile'>,
  log: Logger,
): Promise<ClientCheck> {
  return checkPrismaClient({
    runDir: args.runDir,
    schemaText: args.schemaText,
    poolConfig: args.clientConfig as pg.PoolConfig,
    pgSchema: args.pgSchema,
    log,
    readsOnly: true,
  });
}

/** The integrity gate's reference: the PostgreSQL DDL of the Prisma schema, from the schema engine. */
export function referenceDdlOf(args: {
  schemaFile: string;
  clientConfig: TargetClientConfig;
  pgSchema: string;
}): Promise<{ source: string; sql: string }> {
  return referenceDdl(args.schemaFile, args.clientConfig, args.pgSchema);
}
