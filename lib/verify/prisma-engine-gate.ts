import { existsSync, readdirSync } from 'node:fs';
import { errorMessage } from '../errors.ts';
import type { TargetClientConfig } from '../pg/guarded-client.ts';
import { isEmptyMigrationScript, openSchemaEngine } from '../prisma/engine.ts';

/**
 * What verify asks Prisma's schema engine (wasm through @prisma/adapter-pg, lib/prisma/engine.ts): the PostgreSQL
 * DDL of the Prisma schema (the integrity gate's reference) and the migration history diagnosis with the drift
 * between the live database and the schema (the prisma gate). Turned into one-line problems here.
 */
export async function referenceDdl(
  schemaFile: string,
  clientConfig: TargetClientConfig,
  pgSchema: string,
): Promise<{ source: string; sql: string }> {
  const session = await openSchemaEngine({
    schemaPath: schemaFile,
    clientConfig,
    schema: pgSchema,
  });
  try {
    return { source: `${schemaFile} (Prisma schema engine: diff from empty)`, sql: await session.diffEmptyToSchema() };
  } finally {
    await session.close();
  }
}

export interface EngineHealth {
  problems: string[];
  migrations: {
    total: number;
    hasMigrationsTable: boolean;
    edited: string[];
    failed: string[];
    pending: string[];
    unknownInDatabase: string[];
  };
  /** The SQL the engine would run to remove the drift ('' = none, null = the check failed). */
  drift: string | null;
}

function migrationCount(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).length;
}

export async function prismaEngineHealth(opts: {
  schemaFile: string;
  schemaText: string;
  migrationsDir: string;
  clientConfig: TargetClientConfig;
  pgSchema: string;
}): Promise<EngineHealth> {
  const problems: string[] = [];
  const total = migrationCount(opts.migrationsDir);
  if (!total) problems.push(`no migrations in ${opts.migrationsDir}: the history cannot be checked`);
  const session = await openSchemaEngine({
    schemaPath: opts.schemaFile,
    schemaText: opts.schemaText,
    clientConfig: opts.clientConfig,
    schema: opts.pgSchema,
  });
  try {
    const d = await session.diagnose(opts.migrationsDir);
    if (!d.hasMigrationsTable) problems.push('the database has no _prisma_migrations table');
    if (d.failed.length) problems.push(`failed migration(s) in _prisma_migrations: ${d.failed.join(', ')}`);
    if (d.edited.length)
      problems.push(`migration(s) edited after they were applied (checksum differs): ${d.edited.join(', ')}`);
    if (d.pending.length) problems.push(`pending migration(s) not applied to the database: ${d.pending.join(', ')}`);
    if (d.unknownInDatabase.length)
      problems.push(
        `migration(s) applied to the database but missing from ${opts.migrationsDir}: ${d.unknownInDatabase.join(', ')}`,
      );
    let drift = d.drift;
    if (drift === null) {
      problems.push(`drift check failed: ${d.driftError ?? 'unknown error'}`);
    } else if (!isEmptyMigrationScript(drift)) {
      const first =
        drift
          .split('\n')
          .map((l) => l.trim())
          .find((l) => l && !l.startsWith('--')) ?? drift.trim().split('\n')[0];
      problems.push(`the database drifted from the Prisma schema; Prisma would run: ${first}`);
    } else {
      drift = '';
    }
    return {
      problems,
      migrations: {
        total,
        hasMigrationsTable: d.hasMigrationsTable,
        edited: d.edited,
        failed: d.failed,
        pending: d.pending,
        unknownInDatabase: d.unknownInDatabase,
      },
      drift,
    };
  } catch (err) {
    problems.push(`Prisma's schema engine could not diagnose the database: ${errorMessage(err).split('\n')[0]}`);
    return {
      problems,
      migrations: { total, hasMigrationsTable: false, edited: [], failed: [], pending: [], unknownInDatabase: [] },
      drift: null,
    };
  } finally {
    await session.close();
  }
}
