/**
 * Prisma's schema engine without the native binary: the WebAssembly build (`@prisma/schema-engine-wasm`)
 * driven through a driver adapter (`@prisma/adapter-pg`). This is Prisma-internal API, so every use of it
 * lives in this one module.
 *
 * Pinned versions (they must move together; the wasm package's version names the engine commit):
 *   prisma 7.10.0, @prisma/adapter-pg 7.10.0, @prisma/driver-adapter-utils 7.10.0,
 *   @prisma/schema-engine-wasm 7.10.0-4.0edf323efd1d98336f3f0a68684b56f689b900d3
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import * as glue from '@prisma/schema-engine-wasm/schema_engine_bg';
import type {
  DiagnoseMigrationHistoryOutput,
  HistoryDiagnostic,
  MigrationList,
  SchemaEngine,
} from '@prisma/schema-engine-wasm/schema_engine_bg';
import {
  bindMigrationAwareSqlAdapterFactory,
  ColumnTypeEnum,
  mockMigrationAwareAdapterFactory,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import pg from 'pg';
import { writeFileAtomic } from '../files/fs-atomic.ts';
import { GuardedClient } from '../pg/guarded-client.ts';
import { readDatasourceProvider, toEngineSchema, toPostgresAppSchema } from './schema-file.ts';

export const PINNED_SCHEMA_ENGINE_WASM = '7.10.0-4.0edf323efd1d98336f3f0a68684b56f689b900d3';

const NO_FILTERS = { externalTables: [] as string[], externalEnums: [] as string[] };

let wasmReady: Promise<void> | undefined;

/**
 * The wasm build reports a Rust panic through this global (the Prisma CLI installs the same registry); without it
 * a panic turns into a TypeError that hides the real message.
 */
interface PanicRegistry {
  message: string;
  set_message(message: string): void;
}
function panicRegistry(): PanicRegistry {
  const g = globalThis as { PRISMA_WASM_PANIC_REGISTRY?: PanicRegistry };
  g.PRISMA_WASM_PANIC_REGISTRY ??= {
    message: '',
    set_message(message: string) {
      this.message = message;
    },
  };
  return g.PRISMA_WASM_PANIC_REGISTRY;
}

/**
 * The package's main entry imports the .wasm file as an ES module, which Node 20 refuses; so load the JS glue
 * and compile the .wasm ourselves (once per process).
 */
export function loadSchemaEngineWasm(): Promise<void> {
  wasmReady ??= (async () => {
    panicRegistry();
    const require = createRequire(import.meta.url);
    // The package does not export package.json; resolve the glue and take its folder.
    const dir = path.dirname(require.resolve('@prisma/schema-engine-wasm/schema_engine_bg'));
    const module = await WebAssembly.compile(readFileSync(path.join(dir, 'schema_engine_bg.wasm')));
    const instance = await WebAssembly.instantiate(module, {
      './schema_engine_bg.js': glue as unknown as WebAssembly.ModuleImports,
    });
    (glue as unknown as { __wbg_set_wasm(exports: unknown): void }).__wbg_set_wasm(instance.exports);
    (instance.exports as { __wbindgen_start(): void }).__wbindgen_start();
  })();
  return wasmReady;
}

export type EngineLog = (message: string) => void;

async function newEngine(
  schemaPath: string,
  engineSchema: string,
  factory: SqlMigrationAwareDriverAdapterFactory,
  log?: EngineLog,
): Promise<SchemaEngine> {
  await loadSchemaEngineWasm();
  const onLog = (line: string) => log?.(line);
  return glue.SchemaEngine.new(
    { datamodels: [[schemaPath, engineSchema]] },
    onLog,
    bindMigrationAwareSqlAdapterFactory(factory),
  );
}

/**
 * A stand-in database for diffs between two schema sources (no database involved). The PostgreSQL connector
 * still probes the server once (schema exists? version?); answer that probe like a current PostgreSQL with the
 * schema present, and refuse anything else so a query that would need a real database cannot pass silently.
 * (adapter-utils' own mock rejects the probe, and the engine then prefixes the script with CREATE SCHEMA.)
 */
function offlineAdapterFactory(provider: 'sqlite' | 'postgres'): SqlMigrationAwareDriverAdapterFactory {
  if (provider === 'sqlite') return mockMigrationAwareAdapterFactory('sqlite');
  const refuse = (what: string) => async () => {
    throw new Error(`offline schema engine: ${what} needs a database`);
  };
  const adapter = {
    provider: 'postgres' as const,
    adapterName: 'visionsuit-offline',
    queryRaw: async (query: { sql: string }) => {
      if (/version\(\)/.test(query.sql) && /pg_namespace/.test(query.sql)) {
        return {
          columnNames: ['exists', 'version', 'numeric_version'],
          columnTypes: [ColumnTypeEnum.Boolean, ColumnTypeEnum.Text, ColumnTypeEnum.Int32],
          rows: [[true, 'PostgreSQL 16.0 (offline)', 160000]],
        };
      }
      throw new Error(`offline schema engine: unexpected query ${query.sql.slice(0, 80)}`);
    },
    executeRaw: refuse('executeRaw'),
    executeScript: refuse('executeScript'),
    startTransaction: refuse('a transaction'),
    dispose: async () => undefined,
    getConnectionInfo: () => ({ schemaName: 'public', supportsRelationJoins: true }),
  };
  return {
    provider: 'postgres',
    adapterName: 'visionsuit-offline',
    connect: async () => adapter,
    connectToShadowDb: async () => adapter,
  } as unknown as SqlMigrationAwareDriverAdapterFactory;
}

/**
 * DDL script from an empty database to `toSchema` for the schema's own provider, without any database.
 * `fromSchema` diffs from another datamodel instead of from empty (used to write the fixture's migrations).
 */
export async function diffSchemasOffline(opts: {
  provider: 'sqlite' | 'postgres';
  toSchema: string;
  fromSchema?: string;
  schemaPath?: string;
}): Promise<string> {
  const schemaPath = opts.schemaPath ?? 'schema.prisma';
  const engine = await newEngine(schemaPath, opts.toSchema, offlineAdapterFactory(opts.provider));
  try {
    const result = await engine.diff({
      from:
        opts.fromSchema === undefined
          ? { tag: 'empty' }
          : { tag: 'schemaDatamodel', files: [{ path: schemaPath, content: opts.fromSchema }] },
      to: { tag: 'schemaDatamodel', files: [{ path: schemaPath, content: opts.toSchema }] },
      script: true,
      exitCode: null,
      filters: NO_FILTERS,
    });
    return result.stdout ?? '';
  } finally {
    engine.free();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Sessions against a live PostgreSQL (through @prisma/adapter-pg)

/**
 * @prisma/adapter-pg 7.10 refuses result columns of PostgreSQL's one-byte `"char"` type (OID 18: pg_constraint.contype,
 * pg_class.relkind, …) — "Unsupported column type char" — and the engine's own introspection selects such columns,
 * so drift detection would fail. node-postgres already reads the value as a string; this client relabels those
 * columns as text for the adapter and remembers them (keyed by the rows array, which the adapter passes through),
 * so the adapter wrapper can report them as `Character`, the type the engine's describer expects.
 * (Found by the verify engineer; see lib/verify/prisma-engine-gate.ts.)
 */
const PG_CHAR_OID = 18;
const PG_TEXT_OID = 25;
const charColumns = new WeakMap<object, number[]>();

function relabelCharColumns(result: pg.QueryResult | undefined): pg.QueryResult | undefined {
  const indexes: number[] = [];
  (result?.fields ?? []).forEach((field, i) => {
    if (field.dataTypeID === PG_CHAR_OID) {
      field.dataTypeID = PG_TEXT_OID;
      indexes.push(i);
    }
  });
  if (indexes.length && result?.rows) charColumns.set(result.rows, indexes);
  return result;
}

class CharAsTextClient extends GuardedClient {
  // pg's query() has many overloads (promise, callback, submittable); wrap them all without changing behaviour.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override query(...args: any[]): any {
    const last = args.length - 1;
    if (typeof args[last] === 'function') {
      const callback = args[last] as (err: Error | null, result?: pg.QueryResult) => void;
      args[last] = (err: Error | null, result?: pg.QueryResult) => callback(err, relabelCharColumns(result));
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      return (super.query as any)(...args);
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const out = (super.query as any)(...args);
    return out && typeof out.then === 'function' ? (out as Promise<pg.QueryResult>).then(relabelCharColumns) : out;
  }
}

type AnyFn = (...args: unknown[]) => unknown;
type ResultSet = { columnTypes: number[]; rows: unknown[] };

/**
 * Adapter (or transaction) wrapper:
 * - queryRaw reports relabelled `"char"` columns as Character;
 * - executeScript sends the whole script in one simple-protocol query, as the native engine does (`raw_cmd`), instead
 *   of adapter-pg's split on every `;` — which breaks on a semicolon inside a comment, string or function body.
 */
/** The last error PostgreSQL itself returned to the engine: the wasm engine only passes on "external connector error". */
export interface PgErrorRecord {
  last?: { code?: string; message: string; position?: number; script?: string };
}

function recordPgError(errors: PgErrorRecord | undefined, err: unknown, script?: string): void {
  const e = err as {
    code?: string;
    message?: string;
    position?: string;
    cause?: { originalCode?: string; originalMessage?: string };
  };
  if (!errors || !e) return;
  const code = e.code && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : e.cause?.originalCode;
  const message = e.cause?.originalMessage ?? e.message;
  if (message)
    errors.last = {
      code,
      message,
      ...(e.position ? { position: Number(e.position) } : {}),
      ...(script ? { script } : {}),
    };
}

function wrapQueryable<T extends object>(
  target: T,
  pool: pg.Pool | pg.PoolClient | undefined,
  errors?: PgErrorRecord,
): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (prop === 'queryRaw') {
        return async (...args: unknown[]) => {
          let result: ResultSet;
          try {
            result = (await (value as AnyFn).apply(obj, args)) as ResultSet;
          } catch (err) {
            recordPgError(errors, err);
            throw err;
          }
          for (const i of charColumns.get(result.rows) ?? []) result.columnTypes[i] = ColumnTypeEnum.Character;
          return result;
        };
      }
      if (prop === 'executeScript' && pool) {
        return async (script: string) => {
          try {
            await pool.query(script);
          } catch (err) {
            recordPgError(errors, err, script);
            // Same path as the adapter's own errors, so the engine sees a DriverAdapterError with the PG code.
            return (obj as unknown as { onError(e: unknown): never }).onError(err);
          }
        };
      }
      if (prop === 'startTransaction') {
        return async (...args: unknown[]) =>
          wrapQueryable((await (value as AnyFn).apply(obj, args)) as object, undefined, errors);
      }
      return (value as AnyFn).bind(obj);
    },
  });
}

function wrapFactory(factory: PrismaPg, pool: pg.Pool, errors?: PgErrorRecord): SqlMigrationAwareDriverAdapterFactory {
  return new Proxy(factory as unknown as SqlMigrationAwareDriverAdapterFactory, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver) as unknown;
      if (prop === 'connect')
        return async () => wrapQueryable((await (value as AnyFn).call(obj)) as object, pool, errors);
      if (prop === 'connectToShadowDb')
        return async () => wrapQueryable((await (value as AnyFn).call(obj)) as object, undefined);
      return typeof value === 'function' ? (value as AnyFn).bind(obj) : value;
    },
  });
}

/** The migrations folder as the Prisma CLI hands it to the engine (`listMigrations` in prisma/build/cli.js). */
export function readMigrationsList(migrationsDir: string, shadowDbInitScript = ''): MigrationList {
  const lockfilePath = 'migration_lock.toml';
  const lockfile = path.join(migrationsDir, lockfilePath);
  const dirs = existsSync(migrationsDir)
    ? readdirSync(migrationsDir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
    : [];
  const migrationDirectories = dirs
    .map((name) => {
      const file = path.join(migrationsDir, name, 'migration.sql');
      let content: { tag: 'ok'; value: string } | { tag: 'error'; value: string };
      try {
        content = { tag: 'ok', value: readFileSync(file, 'utf8') };
      } catch (err) {
        content = { tag: 'error', value: (err as Error).message };
      }
      return { path: name, migrationFile: { path: 'migration.sql', content } };
    })
    .sort((a, b) => a.path.localeCompare(b.path));
  return {
    baseDir: migrationsDir,
    lockfile: { path: lockfilePath, content: existsSync(lockfile) ? readFileSync(lockfile, 'utf8') : null },
    migrationDirectories,
    shadowDbInitScript,
  };
}

export interface OpenSchemaEngineOptions {
  /** Path of the schema file (used in engine messages and as the datamodel's name). */
  schemaPath: string;
  /** The schema text (Prisma 6 or 7 form; connection properties are stripped for the engine). Default: read schemaPath. */
  schemaText?: string;
  /** Where PostgreSQL is: openTarget().clientConfig (already pointing at an SSH tunnel, TLS settings included). */
  clientConfig: pg.ClientConfig;
  /** PostgreSQL schema (namespace) the app uses; default `public`. */
  schema?: string;
  /** Engine log lines (JSON tracing records). */
  log?: EngineLog;
}

export interface MigrationDiagnosis {
  /** Migrations in the folder not applied to the database. */
  pending: string[];
  /** Migrations recorded as failed (started, not finished, not rolled back). */
  failed: string[];
  /** Applied migrations whose migration.sql changed since (checksum differs). */
  edited: string[];
  /** Migrations recorded in the database that the folder does not have. */
  unknownInDatabase: string[];
  hasMigrationsTable: boolean;
  /** SQL the engine would run to bring the database to the schema; '' when there is no drift; null when the drift
   * check itself failed (see driftError) — never read null as "no drift". */
  drift: string | null;
  driftError?: string;
  /** The engine's own answer. */
  raw: DiagnoseMigrationHistoryOutput;
  // The engine's field names too, for callers written against the raw shape.
  editedMigrationNames: string[];
  failedMigrationNames: string[];
  history: HistoryDiagnostic | null;
}

export interface SchemaEngineSession {
  /** PostgreSQL DDL creating the schema from nothing. */
  diffEmptyToSchema(): Promise<string>;
  /** `prisma migrate deploy`: applies pending migrations, writing the genuine `_prisma_migrations` rows. */
  applyMigrations(migrationsDir: string): Promise<{ applied: string[]; appliedMigrationNames: string[] }>;
  /** `prisma migrate status` plus drift: history state and the SQL that would remove any drift ('' = none). */
  diagnose(migrationsDir: string): Promise<MigrationDiagnosis>;
  /** SQL from the live database to the schema; '' when they match. */
  diffDatabaseToSchema(): Promise<string>;
  /** The server version string as the engine sees it. */
  version(): Promise<string>;
  close(): Promise<void>;
}

const NO_DIFF_MARKER = /^-- This is an empty migration\.\s*$/;

/** Prisma prints a comment instead of nothing when two schemas match. */
export function isEmptyMigrationScript(sql: string): boolean {
  const meaningful = sql
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !NO_DIFF_MARKER.test(l) && !l.startsWith('--'));
  return meaningful.length === 0;
}

/** An engine error that PostgreSQL caused: its SQLSTATE and own message, and the DDL line it failed on. */
export interface EnginePgError extends Error {
  code?: string;
  pgCode?: string;
  pgMessage?: string;
  /** The line of the migration script at PostgreSQL's error position, with the table it belongs to. */
  pgStatement?: { table?: string; line: string };
}

/**
 * Whether PostgreSQL refused the schema itself (the app's DDL cannot be built there: an unknown function in a
 * default, a type it lacks, a syntax error) rather than the target (privileges, connectivity, resources).
 * SQLSTATE classes: 42 syntax/undefined objects except 42501 insufficient_privilege, 22 data exception,
 * 0A feature not supported (https://www.postgresql.org/docs/current/errcodes-appendix.html).
 */
export function isSchemaFaultPgCode(code: string | undefined): boolean {
  if (!code) return false;
  if (code === '42501') return false;
  return code.startsWith('42') || code.startsWith('22') || code.startsWith('0A');
}

function statementAt(script: string, position: number): { table?: string; line: string } {
  const start = script.lastIndexOf('\n', position - 1) + 1;
  const end = script.indexOf('\n', position - 1);
  const line = script.slice(start, end === -1 ? undefined : end).trim();
  const before = script.slice(0, position);
  const table = [...before.matchAll(/(?:CREATE|ALTER) TABLE\s+(?:"[^"]+"\.)?"([^"]+)"/g)].pop()?.[1];
  return { ...(table ? { table } : {}), line };
}

/** Turn an engine error (or a Rust panic reported through the registry) into one readable line plus detail. */
function engineError(action: string, err: unknown, pgErrors?: PgErrorRecord): Error {
  const registry = panicRegistry();
  const panic = registry.message;
  registry.message = '';
  const e = err as { message?: string; code?: string };
  let message = panic ? `schema engine panic: ${panic}` : (e?.message ?? String(err));
  const pgError = pgErrors?.last;
  if (pgErrors) pgErrors.last = undefined;
  // The engine reports a database error as "external connector error" on the first line; PostgreSQL's own message
  // (e.g. "function randomblob(integer) does not exist") is what the operator needs on that line.
  if (!panic && pgError && /external connector error/.test(message.split('\n')[0]))
    message = `${pgError.message}${pgError.code ? ` (SQLSTATE ${pgError.code})` : ''}\n${message}`;
  const out = new Error(`${action} failed${e?.code ? ` (${e.code})` : ''}: ${message.trim()}`) as EnginePgError;
  out.code = e?.code;
  if (pgError) {
    out.pgCode = pgError.code;
    out.pgMessage = pgError.message;
    if (pgError.position && pgError.script) out.pgStatement = statementAt(pgError.script, pgError.position);
  }
  (out as Error & { cause?: unknown }).cause = err;
  return out;
}

export async function openSchemaEngine(opts: OpenSchemaEngineOptions): Promise<SchemaEngineSession> {
  const schemaText = opts.schemaText ?? readFileSync(opts.schemaPath, 'utf8');
  const provider = readDatasourceProvider(schemaText);
  if (provider !== 'postgresql' && provider !== 'postgres') {
    throw new Error(
      `the schema engine session needs a PostgreSQL schema; ${opts.schemaPath} has provider "${provider ?? 'none'}"`,
    );
  }
  const engineSchema = toEngineSchema(schemaText);
  const pgSchema = opts.schema ?? 'public';
  // One connection: the engine takes Prisma's advisory lock on it, and its queries must all see that session.
  const pool = new pg.Pool({
    ...(opts.clientConfig as pg.PoolConfig),
    max: 1,
    application_name: opts.clientConfig.application_name ?? 'visionsuit-pg-migrate',
    Client: CharAsTextClient as unknown as typeof pg.Client,
  });
  pool.on('error', (err) => opts.log?.(`PostgreSQL pool error: ${err.message}`));
  const factory = new PrismaPg(pool, pgSchema === 'public' ? undefined : { schema: pgSchema });
  const pgErrors: PgErrorRecord = {};
  await loadSchemaEngineWasm();
  let engine: SchemaEngine;
  try {
    engine = await glue.SchemaEngine.new(
      { datamodels: [[opts.schemaPath, engineSchema]] },
      (line: string) => opts.log?.(line),
      bindMigrationAwareSqlAdapterFactory(wrapFactory(factory, pool, pgErrors)),
    );
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw engineError('starting the schema engine', err, pgErrors);
  }
  const files = [{ path: opts.schemaPath, content: engineSchema }];
  const call = async <T>(action: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw engineError(action, err, pgErrors);
    }
  };
  const diffTo = async (from: Parameters<SchemaEngine['diff']>[0]['from']) => {
    const result = await engine.diff({
      from,
      to: { tag: 'schemaDatamodel', files },
      script: true,
      exitCode: null,
      filters: NO_FILTERS,
    });
    return result.stdout ?? '';
  };
  const diffDatabaseToSchema = () =>
    call('diffing the database against the schema', async () => {
      const sql = await diffTo({ tag: 'schemaDatasource', files, configDir: path.dirname(opts.schemaPath) });
      return isEmptyMigrationScript(sql) ? '' : sql;
    });
  let closed = false;
  return {
    diffEmptyToSchema: () => call('generating the schema DDL', () => diffTo({ tag: 'empty' })),
    applyMigrations: (migrationsDir) =>
      call('applying migrations', async () => {
        const out = await engine.applyMigrations({
          migrationsList: readMigrationsList(migrationsDir),
          filters: NO_FILTERS,
        });
        return { applied: out.appliedMigrationNames, appliedMigrationNames: out.appliedMigrationNames };
      }),
    diagnose: (migrationsDir) =>
      call('diagnosing the migration history', async () => {
        const raw = await engine.diagnoseMigrationHistory({
          migrationsList: readMigrationsList(migrationsDir),
          optInToShadowDatabase: false,
          filters: NO_FILTERS,
        });
        const history = raw.history;
        const pending = history && 'unappliedMigrationNames' in history ? history.unappliedMigrationNames : [];
        const unknownInDatabase =
          history && 'unpersistedMigrationNames' in history ? history.unpersistedMigrationNames : [];
        // The history answer stays useful even when introspection for the drift check fails.
        let drift: string | null = null;
        let driftError: string | undefined;
        try {
          drift = await diffDatabaseToSchema();
        } catch (err) {
          driftError = (err as Error).message.split('\n')[0];
        }
        return {
          driftError,
          pending,
          failed: raw.failedMigrationNames,
          edited: raw.editedMigrationNames,
          unknownInDatabase,
          hasMigrationsTable: raw.hasMigrationsTable,
          drift,
          raw,
          editedMigrationNames: raw.editedMigrationNames,
          failedMigrationNames: raw.failedMigrationNames,
          history,
        };
      }),
    diffDatabaseToSchema,
    version: () => call('asking the server version', () => engine.version()),
    close: async () => {
      if (closed) return;
      closed = true;
      engine.free();
      await pool.end().catch(() => undefined);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The PostgreSQL flavour of the app's schema and its migration history

export const POSTGRES_MIGRATION_LOCK =
  '# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "postgresql"\n';

export interface WrittenPostgresMigrations {
  /** outDir */
  dir: string;
  /** outDir/schema.prisma (the app's Prisma 6 form: provider postgresql, url = env("DATABASE_URL")). */
  schemaPath: string;
  /** outDir/migrations */
  migrationsDir: string;
  /** Migration folder names, in order. */
  migrations: string[];
  /** 'generated' (one baseline from the schema) or 'shipped' (copied from the app). */
  source: 'generated' | 'shipped';
}

function utcStamp(date = new Date()): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/**
 * Write the PostgreSQL schema and migration history for an app: `outDir/schema.prisma` and
 * `outDir/migrations/` — either the PostgreSQL migrations the app ships (copied), or one baseline migration
 * generated from the schema by the engine (no database needed) — plus a `migration_lock.toml` for postgresql.
 */
export async function writePostgresMigrations(opts: {
  sqliteSchemaText: string;
  outDir: string;
  shippedMigrationsDir?: string;
  /** Folder name of the generated baseline; default `<UTC yyyymmddHHMMSS>_baseline`. */
  baselineName?: string;
  /**
   * The baseline's DDL from an engine session already open on the target (`session.diffEmptyToSchema`), instead of
   * a second engine started offline for it. The same script, except that the target's schema is the one named in
   * its CREATE SCHEMA IF NOT EXISTS line (offline: "public").
   */
  baselineFromSession?: () => Promise<string>;
}): Promise<WrittenPostgresMigrations> {
  const appSchema = toPostgresAppSchema(opts.sqliteSchemaText);
  const migrationsDir = path.join(opts.outDir, 'migrations');
  mkdirSync(migrationsDir, { recursive: true });
  const schemaPath = path.join(opts.outDir, 'schema.prisma');
  writeFileAtomic(schemaPath, appSchema, 0o644);
  let migrations: string[];
  let source: WrittenPostgresMigrations['source'];
  if (opts.shippedMigrationsDir) {
    const shipped = readMigrationsList(opts.shippedMigrationsDir);
    const lockProvider = /provider\s*=\s*"([^"]+)"/.exec(shipped.lockfile.content ?? '')?.[1];
    if (lockProvider && lockProvider !== 'postgresql') {
      throw new Error(
        `the shipped migrations in ${opts.shippedMigrationsDir} are for "${lockProvider}", not postgresql`,
      );
    }
    if (shipped.migrationDirectories.length === 0)
      throw new Error(`no migrations (…/migration.sql) in ${opts.shippedMigrationsDir}`);
    for (const dir of shipped.migrationDirectories) {
      mkdirSync(path.join(migrationsDir, dir.path), { recursive: true });
      // Byte-for-byte copy: the checksum in _prisma_migrations is over the file's exact bytes.
      copyFileSync(
        path.join(opts.shippedMigrationsDir, dir.path, 'migration.sql'),
        path.join(migrationsDir, dir.path, 'migration.sql'),
      );
    }
    migrations = shipped.migrationDirectories.map((d) => d.path);
    source = 'shipped';
  } else {
    const ddl = opts.baselineFromSession
      ? await opts.baselineFromSession()
      : await diffSchemasOffline({ provider: 'postgres', toSchema: toEngineSchema(appSchema), schemaPath });
    const name = opts.baselineName ?? `${utcStamp()}_baseline`;
    mkdirSync(path.join(migrationsDir, name), { recursive: true });
    writeFileAtomic(path.join(migrationsDir, name, 'migration.sql'), ddl, 0o644);
    migrations = [name];
    source = 'generated';
  }
  writeFileAtomic(path.join(migrationsDir, 'migration_lock.toml'), POSTGRES_MIGRATION_LOCK, 0o644);
  return { dir: opts.outDir, schemaPath, migrationsDir, migrations, source };
}
