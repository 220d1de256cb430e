import { rmSync } from 'node:fs';
import path from 'node:path';
import pgModule from 'pg';
import type pg from 'pg';
import type { Settings } from '../cli/config.ts';
import { Outcome, DomainError, diskFullError, errorMessage, usageError } from '../errors.ts';
import type { Logger } from '../cli/log.ts';
import {
  isSchemaFaultPgCode,
  openSchemaEngine,
  writePostgresMigrations,
  type EnginePgError,
} from '../prisma/engine.ts';
import { findBlocks, toPostgresAppSchema } from '../prisma/schema-file.ts';
import { mergedSchemaText, readSchemaSource } from '../prisma/schema-source.ts';
import { restrictTree } from '../files/file-tree.ts';
import { GuardedClient } from './guarded-client.ts';
import { RUN_FILES } from '../run/run-dir.ts';
import { sqlWithIdentifiers } from '../files/sql-files.ts';

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
  source: 'generated' | 'shipped';
  /** Names of the migrations applied, in order. */
  migrations: string[];
}

/**
 * Where in the app's schema PostgreSQL's refusal comes from: the field whose `@default(dbgenerated("…"))` calls the
 * function PostgreSQL lacks (model, field, default), else the table and DDL line PostgreSQL pointed at.
 */
export function schemaFaultWhere(schemaText: string, err: EnginePgError): string {
  const fn = /function ([\w.]+)\(/.exec(err.pgMessage ?? '')?.[1];
  if (fn) {
    for (const block of findBlocks(schemaText).filter((b) => b.kind === 'model')) {
      for (const line of schemaText.slice(block.open + 1, block.end - 1).split('\n')) {
        const def = /@default\((dbgenerated\((?:[^()]|\([^()]*\))*\))\)/.exec(line);
        if (def && def[1].includes(fn))
          return `model ${block.name}, field ${line.trim().split(/\s+/)[0]}, @default(${def[1]}): `;
      }
    }
  }
  const at = err.pgStatement;
  return at ? `${at.table ? `table "${at.table}", ` : ''}\`${at.line}\`: ` : '';
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
  if (opts.shippedMigrationsDir) {
    const shipped = path.resolve(opts.shippedMigrationsDir);
    const rel = path.relative(path.join(dir, 'migrations'), shipped);
    if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) {
      throw usageError(
        `--pg-migrations must not point into ${path.join(dir, 'migrations')}: load-pg rewrites that folder; copy the migrations elsewhere first`,
      );
    }
  }
  // The engine's connection resolves unqualified names in the target schema (what `?schema=` does for the Prisma
  // CLI): the migration SQL creates its tables and enums without a schema prefix.
  const clientConfig: pg.ClientConfig =
    opts.schema === 'public'
      ? opts.clientConfig
      : {
          ...opts.clientConfig,
          options:
            `${opts.clientConfig.options ?? ''} -c search_path=${pgModule.escapeIdentifier(opts.schema).replace(/[\\ ]/g, '\\$&')}`.trim(),
        };
  if (opts.schema !== 'public') {
    const client = new GuardedClient(opts.clientConfig);
    await client.connect();
    try {
      await client.query(
        sqlWithIdentifiers('load-pg-create-schema', { schema: pgModule.escapeIdentifier(opts.schema) }),
      );
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  // One engine session on the target both generates the baseline and applies the history: a second engine started
  // offline for the baseline cost ≈ 50 ms more on the way to load-pg's first COPY. It is opened before anything is
  // written: starting it connects, so an unreachable target fails here (exit 3) with the run dir untouched; a schema
  // the engine rejects fails when the baseline is generated (exit 2, below), as before.
  // Shipped migrations for another provider, an empty folder, a schema without datasource or provider, a schema the
  // engine rejects: the operator's input.
  const badMigrationInput = (err: unknown) =>
    usageError(`cannot write the PostgreSQL migrations: ${errorMessage(err).split('\n')[0]}`);
  let sqliteSchemaText: string;
  let postgresSchemaText: string;
  try {
    sqliteSchemaText = mergedSchemaText(readSchemaSource(opts.settings.schemaPath));
    postgresSchemaText = toPostgresAppSchema(sqliteSchemaText);
  } catch (err) {
    throw badMigrationInput(err);
  }
  const session = await openSchemaEngine({
    schemaPath: path.join(dir, 'schema.prisma'),
    schemaText: postgresSchemaText,
    clientConfig,
    schema: opts.schema,
    log: (line: string) => opts.log.debug(`schema engine: ${line}`),
  }).catch((err) => {
    throw new DomainError(
      Outcome.TargetNotReady,
      `cannot start Prisma's schema engine on the target: ${errorMessage(err).split('\n')[0]}`,
    );
  });
  try {
    // A re-run (--force) writes the history afresh: a baseline left by the previous run has another timestamp in its
    // name and would be applied a second time.
    rmSync(path.join(dir, 'migrations'), { recursive: true, force: true });
    let written: Awaited<ReturnType<typeof writePostgresMigrations>>;
    try {
      written = await writePostgresMigrations({
        sqliteSchemaText,
        outDir: dir,
        ...(opts.shippedMigrationsDir
          ? { shippedMigrationsDir: opts.shippedMigrationsDir }
          : { baselineFromSession: () => session.diffEmptyToSchema() }),
      });
    } catch (err) {
      if (err instanceof DomainError) throw err;
      // A full run-dir disk is not bad input: exit 4 with the disk named, like every other task's ENOSPC.
      throw diskFullError(err) ?? badMigrationInput(err);
    }
    // The run dir is the operator's alone (0700); its files are too, whatever the engine's writer chose.
    restrictTree(dir);
    try {
      const applied = await session.applyMigrations(written.migrationsDir);
      return {
        dir,
        migrationsDir: written.migrationsDir,
        schemaPath: written.schemaPath,
        source: written.source,
        migrations: applied.appliedMigrationNames,
      };
    } catch (err) {
      if (err instanceof DomainError) throw err;
      const pgErr = err as EnginePgError;
      if (isSchemaFaultPgCode(pgErr.pgCode)) {
        throw usageError(
          `the schema cannot be built on PostgreSQL: ${schemaFaultWhere(sqliteSchemaText, pgErr)}PostgreSQL says "${pgErr.pgMessage}" (SQLSTATE ${pgErr.pgCode}); change it in the app's schema for PostgreSQL, e.g. a @default PostgreSQL has`,
        );
      }
      throw new DomainError(
        Outcome.TargetNotReady,
        `applying the Prisma migrations to the target failed: ${errorMessage(err).split('\n')[0]}`,
      );
    }
  } finally {
    await session.close();
  }
}
