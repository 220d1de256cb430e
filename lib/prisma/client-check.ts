import { createHash, randomBytes } from 'node:crypto';
import { $ } from 'zx';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type pg from 'pg';
import { errorMessage } from '../errors.ts';
import { restrictTree } from '../files/file-tree.ts';
import { writeFileAtomic } from '../files/fs-atomic.ts';
import type { Logger } from '../cli/log.ts';
import { findBlocks, readDatasourceProvider } from './schema-file.ts';
import { guardedPoolClient } from '../pg/guarded-client.ts';
import { stripConnectionProperties } from './schema-model.ts';

/**
 * The last word on "Prisma is healthy on this database": the ORM itself reads every model and writes once.
 *
 * A Prisma 7 client (`prisma-client` generator, query compiler in wasm, no native engine) is generated for the
 * run's PostgreSQL schema into <runDir>/prisma-client/, imported in this process and pointed at the target through
 * @prisma/adapter-pg. `prisma generate` only needs PRISMA_SCHEMA_ENGINE_BINARY set to an existing path to skip its
 * binary download. The client's runtime is resolved through a
 * node_modules link to this suite's own dependencies, so it is exactly the pinned @prisma/client.
 *
 * Reads: findMany({ take: 50 }) on every model, so every column type of every model is decoded by the ORM.
 * Write: one create (preferring a model with an autoincrement id, which also exercises its sequence) inside an
 * interactive transaction that is then aborted with a sentinel error; afterwards the row must be gone. When no
 * model can be created without inventing related rows, an existing row is updated to its own values instead.
 */
export interface ModelRead {
  model: string;
  ok: boolean;
  rows?: number;
  error?: string;
}

export interface RollbackWrite {
  model: string;
  operation: 'create' | 'update';
  ok: boolean;
  detail: string;
}

export interface ClientCheck {
  ok: boolean;
  reason: string;
  clientDir: string;
  generated: 'generated' | 'cached' | 'failed';
  generateSeconds: number;
  /** Where the time went: import of the generated client, the reads, the rolled-back write. */
  timings?: { importSeconds: number; readSeconds: number; writeSeconds: number };
  models: ModelRead[];
  write?: RollbackWrite;
}

const require = createRequire(import.meta.url);
const SENTINEL = 'visionsuit-verify-rollback-sentinel';

function suiteNodeModules(): string {
  // <node_modules>/@prisma/client/package.json → <node_modules>
  return path.resolve(path.dirname(require.resolve('@prisma/client/package.json')), '..', '..');
}

function prismaCli(): string {
  return path.join(path.dirname(require.resolve('prisma/package.json')), 'build', 'index.js');
}

function prismaVersion(): string {
  return (JSON.parse(readFileSync(require.resolve('prisma/package.json'), 'utf8')) as { version: string }).version;
}

/** The schema copy the client is generated from: app's generators replaced by ours, connection properties removed. */
export function clientSchema(appSchemaText: string, output: string): string {
  const blocks = findBlocks(appSchemaText).filter((b) => b.kind === 'generator');
  // The app's preview features (e.g. "views") shape what its schema may contain: our generator keeps them.
  const features = new Set<string>();
  for (const block of blocks) {
    const list = /previewFeatures\s*=\s*\[([^\]]*)\]/.exec(appSchemaText.slice(block.open, block.end))?.[1] ?? '';
    for (const m of list.matchAll(/"([^"]+)"/g)) features.add(m[1]);
  }
  let text = appSchemaText;
  for (const block of [...blocks].sort((a, b) => b.start - a.start))
    text = text.slice(0, block.start) + text.slice(block.end);
  text = stripConnectionProperties(text);
  const preview = features.size
    ? `  previewFeatures = ${JSON.stringify([...features].sort()).replace(/,/g, ', ')}\n`
    : '';
  return `${text.trimEnd()}\n\ngenerator verifyClient {\n  provider = "prisma-client"\n  output   = ${JSON.stringify(output)}\n${preview}}\n`;
}

/** Generate (or reuse) the client; returns the path of its entry module. */
export async function generateClient(
  runDir: string,
  appSchemaText: string,
  log: Logger,
): Promise<{ entry: string; dir: string; cached: boolean; seconds: number }> {
  const started = Date.now();
  const dir = path.join(runDir, 'prisma-client');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const schemaText = clientSchema(appSchemaText, './client');
  const stamp = createHash('sha256').update(prismaVersion()).update('\0').update(schemaText).digest('hex');
  const entry = path.join(dir, 'client', 'client.ts');
  const stampFile = path.join(dir, 'schema.sha256');
  const link = path.join(dir, 'node_modules');
  // The generated client is ESM TypeScript importing @prisma/client/runtime: it needs "type": "module" next to it
  // and a node_modules the resolver can find from the run directory.
  writeFileAtomic(path.join(dir, 'package.json'), '{ "private": true, "type": "module" }\n', 0o600);
  let linkOk = false;
  try {
    linkOk = lstatSync(link).isSymbolicLink() && existsSync(path.join(link, '@prisma', 'client'));
  } catch {
    linkOk = false;
  }
  if (!linkOk) {
    rmSync(link, { force: true, recursive: false });
    symlinkSync(suiteNodeModules(), link, 'dir');
  }
  if (existsSync(entry) && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === stamp) {
    return { entry, dir, cached: true, seconds: (Date.now() - started) / 1000 };
  }
  const schemaFile = path.join(dir, 'schema.prisma');
  writeFileAtomic(schemaFile, schemaText, 0o600);
  rmSync(path.join(dir, 'client'), { recursive: true, force: true });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    // Any existing file stops generate from downloading the native schema engine it does not use.
    PRISMA_SCHEMA_ENGINE_BINARY: process.execPath,
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    CHECKPOINT_DISABLE: '1',
    NO_COLOR: '1',
  };
  log.debug(`prisma generate --schema ${schemaFile}`);
  const result = await $({ cwd: dir, env, nothrow: true, quiet: true, timeout: '180s' })`${process.execPath} ${[
    prismaCli(),
    'generate',
    '--schema',
    schemaFile,
  ]}`;
  if (result.exitCode !== 0 || !existsSync(entry)) {
    const line = `${result.stdout}${result.stderr}`
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/^Prisma schema loaded/.test(l))
      .slice(-3)
      .join(' ');
    throw new Error(`prisma generate failed (exit ${result.exitCode ?? result.signal}): ${line || 'no output'}`);
  }
  // prisma generate writes 0644/0755; the run dir's files are the operator's alone.
  restrictTree(dir);
  writeFileAtomic(stampFile, stamp + '\n', 0o600);
  return { entry, dir, cached: false, seconds: (Date.now() - started) / 1000 };
}

// The part of Prisma's DMMF used to invent a row (the generated client's own data model omits required/default).
interface DmmfField {
  name: string;
  kind: 'scalar' | 'enum' | 'object' | 'unsupported';
  type: string;
  isRequired: boolean;
  isList: boolean;
  isId: boolean;
  isUnique: boolean;
  hasDefaultValue: boolean;
  isUpdatedAt?: boolean;
  default?: { name?: string } | unknown;
  relationFromFields?: string[];
}
interface DmmfModel {
  name: string;
  fields: DmmfField[];
  primaryKey: { fields: string[] } | null;
}
interface Dmmf {
  datamodel: { models: DmmfModel[]; enums: { name: string; values: { name: string }[] }[] };
}

function readDmmf(schemaText: string): Dmmf {
  const wasm = require('@prisma/prisma-schema-wasm') as { get_dmmf(params: string): string };
  return JSON.parse(wasm.get_dmmf(JSON.stringify({ prismaSchema: stripConnectionProperties(schemaText) }))) as Dmmf;
}

const delegateName = (model: string) => model.charAt(0).toLowerCase() + model.slice(1);

function inventValue(field: DmmfField, enums: Map<string, string[]>, tag: string): unknown {
  const n = 1_000_000_000 + Math.floor(Math.random() * 1_000_000_000);
  if (field.kind === 'enum') return enums.get(field.type)?.[0];
  switch (field.type) {
    case 'String':
      return `verify-${tag}`;
    case 'Int':
      return n;
    case 'BigInt':
      return BigInt(n);
    case 'Float':
      return 0.5;
    case 'Decimal':
      return '1.5';
    case 'Boolean':
      return false;
    case 'DateTime':
      return new Date();
    case 'Json':
      return { verify: tag };
    case 'Bytes':
      return Uint8Array.from([1, 2, 3]);
    default:
      return undefined;
  }
}

/** Data for a create that needs no related row, or undefined when the model has a required relation. */
function createData(model: DmmfModel, enums: Map<string, string[]>, tag: string): Record<string, unknown> | undefined {
  const data: Record<string, unknown> = {};
  const relationScalars = new Set(
    model.fields.flatMap((f) => (f.kind === 'object' ? (f.relationFromFields ?? []) : [])),
  );
  for (const field of model.fields) {
    if (field.kind === 'object') {
      if (field.isRequired && !field.isList && (field.relationFromFields?.length ?? 0) > 0) return undefined;
      continue;
    }
    if (relationScalars.has(field.name)) continue;
    if (field.isList || field.kind === 'unsupported') return undefined;
    if (!field.isRequired || field.hasDefaultValue || field.isUpdatedAt) continue;
    const value = inventValue(field, enums, tag);
    if (value === undefined) return undefined;
    data[field.name] = value;
  }
  return data;
}

const isAutoincrement = (m: DmmfModel) =>
  m.fields.some(
    (f) =>
      f.isId &&
      typeof f.default === 'object' &&
      f.default !== null &&
      (f.default as { name?: string }).name === 'autoincrement',
  );

type Delegate = {
  findMany(args: unknown): Promise<Record<string, unknown>[]>;
  create(args: unknown): Promise<Record<string, unknown>>;
  updateMany(args: unknown): Promise<{ count: number }>;
  count(args: unknown): Promise<number>;
};
type GeneratedClientModule = { PrismaClient: new (options: unknown) => Client };

/** Imported once per thread: a warm-up (lib/verify/prisma-thread.ts prismaWarm) and the check then share it. */
const importedClients = new Map<string, Promise<GeneratedClientModule>>();

function importGeneratedClient(entry: string): Promise<GeneratedClientModule> {
  let imported = importedClients.get(entry);
  if (!imported) {
    imported = import(pathToFileURL(entry).href) as Promise<GeneratedClientModule>;
    importedClients.set(entry, imported);
    imported.catch(() => importedClients.delete(entry));
  }
  return imported;
}

/**
 * Generate (or find cached) and import the run's Prisma Client ahead of a check, so the check itself only
 * connects and reads. Errors are left to the check, which reports them in its own words.
 */
export async function warmPrismaClient(opts: { runDir: string; schemaText: string; log: Logger }): Promise<void> {
  try {
    const generated = await generateClient(opts.runDir, opts.schemaText, opts.log);
    await importGeneratedClient(generated.entry);
    await import('@prisma/adapter-pg');
  } catch {
    // the check that follows meets the same problem and names it
  }
}

type Client = Record<string, unknown> & {
  $transaction<T>(fn: (tx: Record<string, Delegate>) => Promise<T>): Promise<T>;
  $disconnect(): Promise<void>;
};

export async function checkPrismaClient(opts: {
  runDir: string;
  /** The app's PostgreSQL schema (Prisma 6 form is fine: connection properties are dropped). */
  schemaText: string;
  poolConfig: pg.PoolConfig;
  /** PostgreSQL schema the tables live in. */
  pgSchema: string;
  log: Logger;
  /**
   * Reads only (the window's quick gate): no write, since even a rolled-back insert moves the target's write
   * counters that prove nobody but the delta wrote it.
   */
  readsOnly?: boolean;
}): Promise<ClientCheck> {
  const { log } = opts;
  const clientDir = path.join(opts.runDir, 'prisma-client');
  const base = { clientDir, generateSeconds: 0, models: [] as ModelRead[] };
  const provider = readDatasourceProvider(opts.schemaText);
  if (provider !== 'postgresql' && provider !== 'postgres') {
    return {
      ...base,
      ok: false,
      generated: 'failed',
      reason: `the run's schema.prisma has provider "${provider ?? '(none)'}", not postgresql`,
    };
  }
  let generated;
  try {
    generated = await generateClient(opts.runDir, opts.schemaText, log);
  } catch (err) {
    return {
      ...base,
      ok: false,
      generated: 'failed',
      reason: `cannot generate Prisma Client offline: ${errorMessage(err)}`,
    };
  }
  const common = {
    clientDir,
    generated: generated.cached ? ('cached' as const) : ('generated' as const),
    generateSeconds: generated.seconds,
  };

  let mod: GeneratedClientModule;
  const importStarted = Date.now();
  try {
    mod = await importGeneratedClient(generated.entry);
  } catch (err) {
    return {
      ...common,
      ok: false,
      models: [],
      reason: `cannot load the generated Prisma Client: ${errorMessage(err)}`,
    };
  }
  const { PrismaPg } = await import('@prisma/adapter-pg');
  const adapter = new PrismaPg(
    { ...opts.poolConfig, max: 4, ...guardedPoolClient },
    opts.pgSchema === 'public' ? undefined : { schema: opts.pgSchema },
  );
  const prisma = new mod.PrismaClient({ adapter });
  const importSeconds = (Date.now() - importStarted) / 1000;
  const readStarted = Date.now();
  let writeStarted = readStarted;
  const dmmf = readDmmf(opts.schemaText);
  // A view block is a database view the operator recreates on PostgreSQL (its SQL is SQLite's): not read here.
  const views = new Set(
    findBlocks(opts.schemaText)
      .filter((b) => b.kind === 'view')
      .map((b) => b.name),
  );
  dmmf.datamodel.models = dmmf.datamodel.models.filter((m) => !views.has(m.name));
  const enums = new Map(dmmf.datamodel.enums.map((e) => [e.name, e.values.map((v) => v.name)]));
  const models: ModelRead[] = [];
  const firstRows = new Map<string, Record<string, unknown>>();
  let write: RollbackWrite | undefined;
  try {
    // All models at once: the queries are independent and the pool keeps a few connections busy.
    const reads = await Promise.all(
      dmmf.datamodel.models.map(async (model): Promise<ModelRead> => {
        const delegate = prisma[delegateName(model.name)] as Delegate | undefined;
        if (!delegate) return { model: model.name, ok: false, error: 'no delegate on the generated client' };
        try {
          const rows = await delegate.findMany({ take: 50 });
          if (rows[0]) firstRows.set(model.name, rows[0]);
          return { model: model.name, ok: true, rows: rows.length };
        } catch (err) {
          return { model: model.name, ok: false, error: oneLine(err) };
        }
      }),
    );
    models.push(...reads);
    writeStarted = Date.now();
    if (!opts.readsOnly) write = await rollbackWrite(prisma, dmmf, enums, firstRows);
  } finally {
    await prisma.$disconnect().catch(() => undefined);
  }
  const timings = {
    importSeconds,
    readSeconds: (writeStarted - readStarted) / 1000,
    writeSeconds: (Date.now() - writeStarted) / 1000,
  };
  const failedReads = models.filter((m) => !m.ok);
  const ok = failedReads.length === 0 && (opts.readsOnly || (write?.ok ?? false));
  let reason: string;
  if (failedReads.length) reason = `Prisma Client cannot read model ${failedReads[0].model}: ${failedReads[0].error}`;
  else if (opts.readsOnly)
    reason = `Prisma Client (${generated.cached ? 'generated in phase 1' : 'generated now'}) read all ${models.length} models`;
  else if (!write) reason = 'no model could be written in a rolled-back transaction';
  else if (!write.ok) reason = `Prisma Client ${write.operation} on ${write.model} failed: ${write.detail}`;
  else
    reason = `Prisma Client read all ${models.length} models and ${write.operation === 'create' ? 'created' : 'updated'} one ${write.model} row in a rolled-back transaction`;
  return { ...common, ok, reason, timings, models, write };
}

async function rollbackWrite(
  prisma: Client,
  dmmf: Dmmf,
  enums: Map<string, string[]>,
  firstRows: Map<string, Record<string, unknown>>,
): Promise<RollbackWrite | undefined> {
  const tag = randomBytes(6).toString('hex');
  const candidates = dmmf.datamodel.models
    .map((model) => ({ model, data: createData(model, enums, tag) }))
    .filter((c): c is { model: DmmfModel; data: Record<string, unknown> } => c.data !== undefined)
    .sort((a, b) => Number(isAutoincrement(b.model)) - Number(isAutoincrement(a.model)));
  let lastFailure: RollbackWrite | undefined;
  for (const { model, data } of candidates.slice(0, 3)) {
    const name = delegateName(model.name);
    let created: Record<string, unknown> | undefined;
    try {
      await prisma.$transaction(async (tx) => {
        created = await tx[name].create({ data });
        throw new Error(SENTINEL);
      });
      return {
        model: model.name,
        operation: 'create',
        ok: false,
        detail: 'the transaction committed although it threw',
      };
    } catch (err) {
      if (errorMessage(err) !== SENTINEL) {
        // A clash with an invented unique value or similar: try the next model before calling it a failure.
        lastFailure = { model: model.name, operation: 'create', ok: false, detail: oneLine(err) };
        continue;
      }
    }
    const idFields = model.primaryKey?.fields ?? model.fields.filter((f) => f.isId).map((f) => f.name);
    const where = Object.fromEntries(idFields.map((f) => [f, created?.[f]]));
    const remaining = idFields.length && created ? await (prisma[name] as Delegate).count({ where }) : 0;
    if (remaining !== 0)
      return {
        model: model.name,
        operation: 'create',
        ok: false,
        detail: 'the created row is still there after the rollback',
      };
    const idText = idFields.map((f) => `${f}=${String(created?.[f])}`).join(', ');
    return { model: model.name, operation: 'create', ok: true, detail: `created ${idText} and rolled it back` };
  }
  if (lastFailure) return lastFailure;
  // Fallback: rewrite one existing row with its own values (a real UPDATE round trip through the ORM).
  for (const model of dmmf.datamodel.models) {
    const row = firstRows.get(model.name);
    if (!row) continue;
    const idFields = model.primaryKey?.fields ?? model.fields.filter((f) => f.isId).map((f) => f.name);
    const target = model.fields.find(
      (f) => (f.kind === 'scalar' || f.kind === 'enum') && !idFields.includes(f.name) && !f.isList,
    );
    if (!idFields.length || !target) continue;
    const name = delegateName(model.name);
    try {
      await prisma.$transaction(async (tx) => {
        const result = await tx[name].updateMany({
          where: Object.fromEntries(idFields.map((f) => [f, row[f]])),
          data: { [target.name]: row[target.name] },
        });
        if (result.count !== 1) throw new Error(`update matched ${result.count} rows, expected 1`);
        throw new Error(SENTINEL);
      });
    } catch (err) {
      if (errorMessage(err) !== SENTINEL)
        return { model: model.name, operation: 'update', ok: false, detail: oneLine(err) };
      return {
        model: model.name,
        operation: 'update',
        ok: true,
        detail: `updated ${target.name} of one row and rolled it back`,
      };
    }
  }
  return undefined;
}

function oneLine(err: unknown): string {
  return (
    errorMessage(err)
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .slice(-1)[0] ?? 'unknown error'
  );
}
