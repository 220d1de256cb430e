import type pg from 'pg';
import type { Settings } from '../cli/config.ts';
import type { Logger } from '../cli/log.ts';
import { applyPostgresSchema, type AppliedSchema } from '../pg/schema-apply.ts';
import { loadSchemaEngineWasm } from '../prisma/engine.ts';
import { loadSchemaModel, type SchemaModel } from '../prisma/schema-model.ts';

/**
 * The functions load-pg runs in a short-lived helper thread (worker-call.ts): both load a WebAssembly module
 * (Prisma's schema parser, Prisma's schema engine) whose memory is never given back while its thread lives.
 * Arguments and results are plain data.
 */
export async function schemaModel(args: { schemaPath: string }): Promise<SchemaModel> {
  return loadSchemaModel(args.schemaPath);
}

/** Load and compile the schema engine's WebAssembly ahead of time (it does not touch the target or the run dir). */
export async function warmEngine(): Promise<true> {
  await loadSchemaEngineWasm();
  return true;
}

export async function applySchema(
  args: {
    settings: Settings;
    runDir: string;
    clientConfig: pg.ClientConfig;
    schema: string;
    shippedMigrationsDir?: string;
  },
  log: Logger,
): Promise<AppliedSchema> {
  return await applyPostgresSchema({ ...args, log });
}
