import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { errorMessage } from './errors.ts';
import type { TargetConnection } from './pg-target.ts';
import * as engine from './prisma-engine.ts';
import { toEngineSchema } from './prisma-schema-file.ts';

/**
 * What verify asks Prisma's schema engine (wasm, through @prisma/adapter-pg): the PostgreSQL DDL of the Prisma
 * schema (the integrity gate's reference), the migration history diagnosis, and the drift between the live
 * database and the schema. lib/prisma-engine.ts owns the engine; this file only adapts its session to verify's
 * questions. Until prisma-engine's openSchemaEngine is available, a minimal session is built here from the same
 * pieces (loadSchemaEngineWasm + the wasm glue + the pg adapter).
 */
interface DiagnoseOutput {
  /** prisma-engine's diagnose() also diffs the database against the schema ('' = no drift). */
  drift?: string;
  editedMigrationNames: string[];
  failedMigrationNames: string[];
  hasMigrationsTable: boolean;
  history:
    | null
    | { diagnostic: 'databaseIsBehind'; unappliedMigrationNames: string[] }
    | { diagnostic: 'migrationsDirectoryIsBehind'; unpersistedMigrationNames: string[] }
    | { diagnostic: 'historiesDiverge'; lastCommonMigrationName: string | null; unpersistedMigrationNames: string[]; unappliedMigrationNames: string[] };
}

interface VerifySession {
  diagnose(migrationsDir: string): Promise<DiagnoseOutput>;
  /** SQL that would bring the database to the schema; '' when there is no drift. */
  diffDatabaseToSchema(): Promise<string>;
  /** SQL creating the schema from nothing. */
  diffEmptyToSchema(): Promise<string>;
  close(): Promise<void>;
}

/**
 * @prisma/adapter-pg 7.10 rejects result columns of PostgreSQL's internal one-byte "char" type (OID 18), which the
 * schema engine's own introspection queries return (pg_constraint.contype, …): introspection — and so the drift
 * check — fails with "Column type 'char' could not be deserialized". node-postgres reads such a value as a string,
 * so the client relabels the column as text (OID 25) for the adapter and remembers which columns it relabelled
 * (keyed by the rows array, which the adapter passes through untouched); the adapter wrapper below then reports
 * them with the driver-adapter column type `Character`, which is what the engine's describer reads.
 */
const charColumns = new WeakMap<object, number[]>();
const CHARACTER_COLUMN_TYPE = 6; // ColumnTypeEnum.Character in @prisma/driver-adapter-utils

class CharAsTextClient extends pg.Client {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override query(...args: any[]): any {
    const relabel = (result: pg.QueryResult | undefined) => {
      const indexes: number[] = [];
      (result?.fields ?? []).forEach((field, i) => {
        if (field.dataTypeID === 18) {
          field.dataTypeID = 25;
          indexes.push(i);
        }
      });
      if (indexes.length && result?.rows) charColumns.set(result.rows, indexes);
      return result;
    };
    const last = args.length - 1;
    // pg-pool's pool.query() passes a callback; a direct client.query() returns a promise.
    if (typeof args[last] === 'function') {
      const callback = args[last] as (err: Error | null, result?: pg.QueryResult) => void;
      args[last] = (err: Error | null, result?: pg.QueryResult) => callback(err, relabel(result));
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      return (super.query as any)(...args);
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const out = (super.query as any)(...args);
    return out && typeof out.then === 'function' ? (out as Promise<pg.QueryResult>).then(relabel) : out;
  }
}

type ResultSet = { columnTypes: number[]; rows: unknown[] };
/** Wrap an adapter (or transaction) so queryRaw reports relabelled "char" columns as Character. */
function charAware<T extends object>(target: T): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (prop === 'queryRaw') {
        return async (...args: unknown[]) => {
          const result = (await (value as (...a: unknown[]) => Promise<ResultSet>).apply(obj, args)) as ResultSet;
          for (const i of charColumns.get(result.rows) ?? []) result.columnTypes[i] = CHARACTER_COLUMN_TYPE;
          return result;
        };
      }
      if (prop === 'startTransaction') {
        return async (...args: unknown[]) => charAware((await (value as (...a: unknown[]) => Promise<object>).apply(obj, args)) as object);
      }
      return (value as (...a: unknown[]) => unknown).bind(obj);
    },
  });
}

function charAwareFactory<F extends { connect(): Promise<object>; connectToShadowDb(): Promise<object> }>(factory: F): F {
  return new Proxy(factory, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver) as unknown;
      if (prop === 'connect' || prop === 'connectToShadowDb') {
        return async () => charAware(await (value as () => Promise<object>).call(obj));
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(obj) : value;
    },
  });
}

let lastPanic: string | undefined;

const NO_FILTERS = { externalTables: [] as string[], externalEnums: [] as string[] };

/** The migrations folder as Prisma's CLI hands it to the engine: directory names as paths, lockfile by name. */
function migrationList(dir: string) {
  const lockName = 'migration_lock.toml';
  const lockPath = path.join(dir, lockName);
  const names = existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name)
        .sort((a, b) => a.localeCompare(b))
    : [];
  return {
    baseDir: dir,
    lockfile: { path: lockName, content: existsSync(lockPath) ? readFileSync(lockPath, 'utf8') : null },
    shadowDbInitScript: '',
    migrationDirectories: names.map((name) => {
      const file = path.join(dir, name, 'migration.sql');
      const content = existsSync(file) ? { tag: 'ok', value: readFileSync(file, 'utf8') } : { tag: 'error', value: `${file} is missing` };
      return { path: name, migrationFile: { path: 'migration.sql', content } };
    }),
  };
}

async function openSession(schemaFile: string, schemaText: string, clientConfig: pg.ClientConfig, pgSchema: string): Promise<VerifySession> {
  const shared = (engine as unknown as { openSchemaEngine?: (opts: unknown) => Promise<Partial<VerifySession> & { close(): Promise<void> }> }).openSchemaEngine;
  if (typeof shared === 'function') {
    const session = await shared({ schemaPath: schemaFile, schemaText, clientConfig, schema: pgSchema, log: () => undefined });
    if (typeof session.diagnose === 'function' && typeof session.diffDatabaseToSchema === 'function' && typeof session.diffEmptyToSchema === 'function') {
      return session as VerifySession;
    }
    await session.close();
  }
  // Fallback: the same engine, driven directly.
  await engine.loadSchemaEngineWasm();
  // The wasm build reports a Rust panic through this global; without it the panic itself crashes the process.
  const g = globalThis as { PRISMA_WASM_PANIC_REGISTRY?: { set_message(message: string): void } };
  g.PRISMA_WASM_PANIC_REGISTRY ??= { set_message: (message: string) => { lastPanic = message; } };
  const glue = (await import('@prisma/schema-engine-wasm/schema_engine_bg')) as unknown as {
    SchemaEngine: { new: (config: unknown, log: (l: string) => void, adapter: unknown) => Promise<Record<string, (input: unknown) => Promise<unknown>> & { free(): void }> };
  };
  const { PrismaPg } = await import('@prisma/adapter-pg');
  const { bindMigrationAwareSqlAdapterFactory } = await import('@prisma/driver-adapter-utils');
  const engineSchema = toEngineSchema(schemaText);
  const pool = new pg.Pool({ ...(clientConfig as pg.PoolConfig), max: 1, Client: CharAsTextClient as unknown as typeof pg.Client });
  pool.on('error', () => undefined);
  const adapter = new PrismaPg(pool, pgSchema === 'public' ? undefined : { schema: pgSchema });
  const eng = await glue.SchemaEngine.new({ datamodels: [[schemaFile, engineSchema]] }, () => undefined, bindMigrationAwareSqlAdapterFactory(charAwareFactory(adapter) as never));
  const files = [{ path: schemaFile, content: engineSchema }];
  const diff = async (from: unknown) =>
    ((await eng.diff({ from, to: { tag: 'schemaDatamodel', files }, script: true, exitCode: null, filters: NO_FILTERS })) as { stdout?: string }).stdout ?? '';
  return {
    diagnose: async (dir) => (await eng.diagnoseMigrationHistory({ migrationsList: migrationList(dir), optInToShadowDatabase: false, filters: NO_FILTERS })) as DiagnoseOutput,
    diffDatabaseToSchema: () => diff({ tag: 'schemaDatasource', files, configDir: path.dirname(schemaFile) }),
    diffEmptyToSchema: () => diff({ tag: 'empty' }),
    close: async () => {
      eng.free();
      await pool.end().catch(() => undefined);
    },
  };
}

/** Statements that do nothing: Prisma's "empty migration" comment output. */
export function isEmptyScript(sql: string): boolean {
  return sql
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('--'))
    .join('') === '';
}

export async function referenceDdl(schemaFile: string, target: TargetConnection, pgSchema: string): Promise<{ source: string; sql: string }> {
  const session = await openSession(schemaFile, readFileSync(schemaFile, 'utf8'), target.clientConfig, pgSchema);
  try {
    return { source: `${schemaFile} (Prisma schema engine: diff from empty)`, sql: await session.diffEmptyToSchema() };
  } finally {
    await session.close();
  }
}

export interface EngineHealth {
  problems: string[];
  migrations: { total: number; hasMigrationsTable: boolean; edited: string[]; failed: string[]; pending: string[]; unknownInDatabase: string[] };
  /** The SQL the engine would run to remove the drift ('' = none). */
  drift: string;
}

export async function prismaEngineHealth(opts: { schemaFile: string; schemaText: string; migrationsDir: string; target: TargetConnection; pgSchema: string }): Promise<EngineHealth> {
  const problems: string[] = [];
  const session = await openSession(opts.schemaFile, opts.schemaText, opts.target.clientConfig, opts.pgSchema);
  try {
    const total = migrationList(opts.migrationsDir).migrationDirectories.length;
    if (!total) problems.push(`no migrations in ${opts.migrationsDir}: the history cannot be checked`);
    const d = await session.diagnose(opts.migrationsDir);
    const pending = d.history && 'unappliedMigrationNames' in d.history ? d.history.unappliedMigrationNames : [];
    const unknown = d.history && 'unpersistedMigrationNames' in d.history ? d.history.unpersistedMigrationNames : [];
    if (!d.hasMigrationsTable) problems.push('the database has no _prisma_migrations table');
    if (d.failedMigrationNames.length) problems.push(`failed migration(s) in _prisma_migrations: ${d.failedMigrationNames.join(', ')}`);
    if (d.editedMigrationNames.length) problems.push(`migration(s) edited after they were applied (checksum differs): ${d.editedMigrationNames.join(', ')}`);
    if (pending.length) problems.push(`pending migration(s) not applied to the database: ${pending.join(', ')}`);
    if (unknown.length) problems.push(`migration(s) applied to the database but missing from ${opts.migrationsDir}: ${unknown.join(', ')}`);
    let drift = d.drift ?? '';
    try {
      if (d.drift === undefined) drift = await session.diffDatabaseToSchema();
    } catch (err) {
      problems.push(`drift check failed: ${lastPanic ? `schema engine panic: ${lastPanic.split('\n')[0]}` : errorMessage(err).split('\n')[0]}`);
    }
    if (drift && !isEmptyScript(drift)) {
      const first = drift.split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('--')) ?? drift.trim().split('\n')[0];
      problems.push(`the database drifted from the Prisma schema; Prisma would run: ${first}`);
    }
    return {
      problems,
      migrations: { total, hasMigrationsTable: d.hasMigrationsTable, edited: d.editedMigrationNames, failed: d.failedMigrationNames, pending, unknownInDatabase: unknown },
      drift: isEmptyScript(drift) ? '' : drift,
    };
  } finally {
    await session.close();
  }
}
