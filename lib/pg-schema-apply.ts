import { readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import type { Settings } from './config.ts';
import { ExitCode, TaskError, errorMessage } from './errors.ts';
import type { Logger } from './log.ts';
import * as engine from './prisma-engine.ts';
import { toEngineSchema, toPostgresAppSchema } from './prisma-schema-file.ts';
import { mkdirSync, writeFileSync } from 'node:fs';
import pgModule from 'pg';
import { RUN_FILES } from './run-dir.ts';

/**
 * load-pg's use of the Prisma schema engine: write the PostgreSQL schema and migration history into
 * <runDir>/postgres-schema (switch-env installs them into the app later), then apply them to the target so
 * `_prisma_migrations` holds the same rows `prisma migrate deploy` would write.
 */
export interface AppliedSchema {
  /** <runDir>/postgres-schema */
  dir: string;
  migrationsDir: string;
  schemaPath: string;
  /** Names of the migrations applied, in order. */
  migrations: string[];
}

export async function applyPostgresSchema(opts: {
  settings: Settings;
  runDir: string;
  clientConfig: pg.ClientConfig;
  schema: string;
  shippedMigrationsDir?: string;
  log: Logger;
}): Promise<AppliedSchema> {
  const dir = path.join(opts.runDir, RUN_FILES.pgSchemaDir);
  const anyEngine = engine as any;
  if (typeof anyEngine.openSchemaEngine !== 'function') {
    // TEMPORARY until prisma-engine's openSchemaEngine lands: plain DDL, no _prisma_migrations.
    const appSchema = toPostgresAppSchema(readFileSync(opts.settings.schemaPath, 'utf8'));
    const glue: any = await import('@prisma/schema-engine-wasm/schema_engine_bg');
    const { PrismaPg } = await import('@prisma/adapter-pg');
    const { bindMigrationAwareSqlAdapterFactory } = await import('@prisma/driver-adapter-utils');
    await engine.loadSchemaEngineWasm();
    const es = toEngineSchema(appSchema);
    const eng = await glue.SchemaEngine.new({ datamodels: [['schema.prisma', es]] }, () => undefined, bindMigrationAwareSqlAdapterFactory(new PrismaPg(opts.clientConfig as any) as any));
    const res = await eng.diff({ from: { tag: 'empty' }, to: { tag: 'schemaDatamodel', files: [{ path: 'schema.prisma', content: es }] }, script: true, exitCode: null, filters: { externalTables: [], externalEnums: [] } });
    const ddl: string = res.stdout ?? '';
    mkdirSync(path.join(dir, 'migrations', '0_init'), { recursive: true });
    writeFileSync(path.join(dir, 'schema.prisma'), appSchema);
    writeFileSync(path.join(dir, 'migrations', '0_init', 'migration.sql'), ddl);
    const c = new pgModule.Client(opts.clientConfig);
    await c.connect();
    await c.query(ddl);
    await c.end();
    return { dir, migrationsDir: path.join(dir, 'migrations'), schemaPath: path.join(dir, 'schema.prisma'), migrations: ['0_init'] };
  }
  const { openSchemaEngine, writePostgresMigrations } = anyEngine;
  const written = await writePostgresMigrations({
    sqliteSchemaText: readFileSync(opts.settings.schemaPath, 'utf8'),
    outDir: dir,
    ...(opts.shippedMigrationsDir ? { shippedMigrationsDir: opts.shippedMigrationsDir } : {}),
  });
  const session = await openSchemaEngine({
    schemaPath: written.schemaPath,
    schemaText: readFileSync(written.schemaPath, 'utf8'),
    clientConfig: opts.clientConfig,
    schema: opts.schema,
    log: (line: string) => opts.log.debug(`schema engine: ${line}`),
  });
  try {
    const applied = await session.applyMigrations(written.migrationsDir);
    return { dir, migrationsDir: written.migrationsDir, schemaPath: written.schemaPath, migrations: applied.appliedMigrationNames };
  } catch (err) {
    if (err instanceof TaskError) throw err;
    throw new TaskError(ExitCode.TargetNotReady, `applying the Prisma migrations to the target failed: ${errorMessage(err).split('\n')[0]}`);
  } finally {
    await session.close();
  }
}
