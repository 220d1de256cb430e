import { isConnectionLoss, targetSideError } from '../pg/target-errors.ts';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from '../sqlite/driver.ts';
import pg from 'pg';
import type { StepResult } from '../cli/run-cli.ts';
import { readManifest, type Manifest } from '../sqlite/manifest.ts';
import { orphanOutline, orphanRefusal, orphanSummary, type OrphanReport } from '../sqlite/orphans.ts';
import type { RowTreatment } from '../sqlite/table-scan.ts';
import type { Settings } from '../cli/config.ts';
import type { CopyTableResult } from '../copy/copy-table.ts';
import { loadAllTables } from '../copy/copy-phase.ts';
import { loadSessionStatements, planTables } from '../copy/load-plan.ts';
import type { CopyTablePlan } from '../copy/rows.ts';
import { Outcome, DomainError, errorMessage, sourceProblem, targetNotReady, usageError } from '../errors.ts';
import { writeJsonAtomic } from '../files/fs-atomic.ts';
import type { Logger } from '../cli/log.ts';
import {
  analyzeTables,
  indexRebuildStatement,
  captureDeferredObjects,
  dropDeferredObjects,
  dropSchemaContents,
  listSchemaRelations,
  readTargetColumns,
  rebuildIndexes,
  resetSequences,
  targetSchemaFromUrl,
  useSchema,
  type DeferredForeignKey,
  type SequenceReset,
} from '../pg/schema-objects.ts';
import { ForeignKeyReadiness, restoreForeignKeyNow, restoreForeignKeys } from '../pg/foreign-keys.ts';
import { openTarget, type TargetConnection } from '../pg/target.ts';
import type { AppliedSchema } from '../pg/schema-apply.ts';
import { RUN_FILES, existingRunDir, recordStep } from '../run/run-dir.ts';
import type { SchemaModel } from '../prisma/schema-model.ts';
import type { CallWorker } from '../threads/worker-call.ts';
import { startLoadPrepThread } from '../copy/load-prep-thread.ts';
import { verifySnapshot } from '../sqlite/snapshot-check.ts';
import { claimThisRunDir } from '../run/run-lock.ts';
import { installId, judgeTarget, markTarget, refuseUnlessOurs } from '../pg/target-marker.ts';
import { cacheSchemaModel, readCachedSchemaModel, schemaSha256 } from '../prisma/schema-model-cache.ts';
import { checkSnapshotAgainstModel, notMigratedLine } from './export-sqlite.ts';
import { startInlineLoader, startWorkerLoader, type TableLoader } from '../copy/table-loader.ts';
import { claimHeadStart, dropHeadStart, predictTargetColumns, startHeadStarts } from '../copy/head-start.ts';

/**
 * load-pg: build the PostgreSQL schema the Prisma way, then stream the snapshot's rows in with COPY.
 *
 *   run dir + snapshot checksum → target empty (or --force: drop our objects) → Prisma migrations applied through
 *   the schema engine (genuine _prisma_migrations) → indexes (primary keys included) and FKs captured (saved to
 *   the run dir) and dropped → every table COPYed in its own transaction, two at a time, then its indexes rebuilt
 *   and the table ANALYZEd in the same slot, then each FK whose two tables are now loaded re-added NOT VALID and validated
 *   (lib/pg/foreign-keys.ts) → what the slots left (FKs, indexes) after the copy phase → sequences reset and proven.
 *
 * A value that will not convert, or a row PostgreSQL rejects, fails the load with exit 4 and a one-line cause
 * naming table, column and key; the target keeps the schema and is re-loadable with --force.
 */
export interface LoadPgOptions {
  runDir?: string;
  /** Folder of PostgreSQL migrations the app ships (used instead of a generated baseline). */
  pgMigrations?: string;
  /** Tables loaded at once (default 2: one per core). */
  jobs?: number;
  /**
   * Convert the tables of the slots after the first in worker threads (false: one thread feeds every connection).
   * Default on, however load-pg is started: the main thread alone cannot keep two COPY streams fed (a COPY backend
   * waits for its next chunk while the client converts for the other slot).
   */
  workerThreads?: boolean;
  /** COPY format: 'binary' where every column's type allows it (default), or always 'text'. */
  copyFormat?: 'binary' | 'text';
  /**
   * The schema engine's helper thread (startLoadPrepThread), when the caller started it earlier: tasks/load-pg.ts
   * does so before loading its own modules, so the thread's start-up (TypeScript loader, module graph) overlaps the
   * process's instead of following it. load-pg hands it its logger and ends it once the schema is applied (or on
   * any failure after it started using it); a failure before that ends the process, and the thread with it.
   */
  engineThread?: CallWorker;
}

export interface TableLoadSummary {
  name: string;
  rows: number;
  seconds: number;
}

export interface LoadPgResult extends StepResult {
  runDir: string;
  target: string;
  schema: string;
  tables: TableLoadSummary[];
  totalRows: number;
  seconds: number;
  migrations: string[];
  indexesRebuilt: number;
  foreignKeysValidated: number;
  sequencesReset: number;
  sequences: SequenceReset[];
  /** Seconds per phase, to see where the time goes. */
  phases: Record<string, number>;
  forced: boolean;
  /** How the snapshot was checked against its sha256: hashed now, or sealed (unchanged since a full hash). */
  snapshotCheck: 'hashed' | 'sealed';
  /** The manifest's --orphans treatment that was applied (absent when the snapshot had no orphan rows). */
  orphans?: Omit<OrphanReport, 'tables'>;
}

export const DEFERRED_OBJECTS_FILE = 'deferred-objects.json';
/**
 * How much of each first table is converted ahead while the schema engine works (copy/head-start.ts): the bound
 * keeps a slow engine from turning the head start into a table held in memory (peak RSS).
 */
const HEAD_START_BYTES_PER_TABLE = 8 * 1024 * 1024;

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export async function loadPg(settings: Settings, log: Logger, options: LoadPgOptions = {}): Promise<LoadPgResult> {
  const clock = phaseClock(log);
  const runDir = openLoadRun(settings, options, log);
  const open = new LoadResources();
  try {
    const source = await readSource(settings, runDir, options, open, log);
    clock.lap('snapshot');
    const target = await prepareTarget(settings, runDir, open, log);
    clock.lap('prepareTarget');
    const slots = openSlotConnections(settings, options, source, target, open);
    const applied = await applySchema(settings, runDir, options, target, slots, open, log);
    clock.lap('migrations');
    const plans = await deferObjects(runDir, options, source, target, open, log);
    clock.lap('deferObjects');
    const copied = await copyTables(plans, source, target, slots, open, log);
    clock.lap('copy');
    checkCopiedCounts(copied.results, source.expected);
    const indexesRebuilt = await rebuildRemainingIndexes(copied, log);
    clock.lap('indexes');
    const foreignKeysValidated = copied.foreignKeysValidated + (await restoreRemainingForeignKeys(copied, target, log));
    clock.lap('foreignKeys');
    const sequences = await resetSequences(open.target!.client, target.schema, new Set(source.tableNames), log);
    clock.lap('sequences');
    await analyzeRemaining(copied, target);
    clock.lap('analyze');
    return await finishLoad(settings, runDir, source, target, copied, applied, clock, {
      indexesRebuilt,
      foreignKeysValidated,
      sequences,
    });
  } catch (caught) {
    throw recordLoadFailure(settings, runDir, caught);
  } finally {
    await open.close();
  }
}

/** Seconds per phase, to see where the time goes (LoadPgResult.phases). */
function phaseClock(log: Logger) {
  const started = performance.now();
  const phases: Record<string, number> = {};
  let phaseStart = started;
  return {
    phases,
    seconds: () => Math.round((performance.now() - started) / 10) / 100,
    lap(name: string) {
      const now = performance.now();
      phases[name] = Math.round((now - phaseStart) / 10) / 100;
      phaseStart = now;
      log.debug(`phase ${name} ${phases[name]}s, rss ${Math.round(process.memoryUsage().rss / 1048576)} MB`);
    },
  };
}

/**
 * Everything load-pg opens — helper threads, the target's connections, the slots' loaders, the snapshot, the head
 * starts — in one scope, closed once whatever happened, in an order where nothing outlives what it uses.
 */
class LoadResources {
  target?: TargetConnection;
  readonly extraClients: pg.Client[] = [];
  readonly loaders: TableLoader[] = [];
  db?: Database.Database;
  /** Prisma's schema parser, in a helper thread ended before the COPY phase: its WebAssembly memory never shrinks. */
  prep?: CallWorker;
  /** Prisma's schema engine, in a helper thread of its own for the same reason. */
  engine?: CallWorker;
  /** Settles once every slot and FK connection has been opened or has failed; awaited before closing them. */
  connectionsOpened?: Promise<void>;
  headStarts?: ReturnType<typeof startHeadStarts>;

  async close(): Promise<void> {
    await this.prep?.close();
    await this.engine?.close();
    await this.connectionsOpened?.catch(() => undefined); // a connection still being opened must not outlive the task
    await this.headStarts?.stop();
    for (const head of this.headStarts?.heads ?? []) dropHeadStart(head); // their SQLite statements, before db.close()
    await Promise.all(this.loaders.map((l) => l.close().catch(() => undefined)));
    for (const c of this.extraClients) await c.end().catch(() => undefined);
    await this.target?.close();
    this.db?.close();
  }
}

/** The run dir holding the snapshot, claimed for this task, its log attached and the step journaled as running. */
function openLoadRun(settings: Settings, options: LoadPgOptions, log: Logger): string {
  const runDir = existingRunDir(
    options.runDir ? { ...settings, runDir: options.runDir } : settings,
    RUN_FILES.snapshot,
  );
  claimThisRunDir(settings, runDir, 'load-pg');
  log.attachFile(path.join(runDir, RUN_FILES.log));
  if (options.pgMigrations && !existsSync(options.pgMigrations))
    throw usageError(`--pg-migrations ${options.pgMigrations} does not exist`);
  recordStep(runDir, settings.appDir, 'load-pg', { status: 'running' });
  return runDir;
}

interface LoadSource {
  snapshotPath: string;
  snapshotCheck: ReturnType<typeof verifySnapshot>;
  model: SchemaModel;
  tableNames: string[];
  /** Row counts of the manifest, checked against what each COPY loaded. */
  expected: Map<string, number>;
  /** The manifest's orphan treatment per table (--orphans=null|delete), applied as the rows are read. */
  treatments: Record<string, RowTreatment>;
  orphans?: OrphanReport;
}

/**
 * The snapshot as backup wrote it (checksum), the manifest made from it (no value that will not convert), and the
 * Prisma model, parsed in a helper thread while this thread hashes the snapshot. The schema engine's thread starts
 * compiling meanwhile; it touches neither the target nor the run dir until applySchema.
 */
async function readSource(
  settings: Settings,
  runDir: string,
  options: LoadPgOptions,
  open: LoadResources,
  log: Logger,
): Promise<LoadSource> {
  const snapshotPath = path.join(runDir, RUN_FILES.snapshot);
  // export-sqlite left the parsed model in the run dir (same schema.prisma): no parser thread then.
  const schemaSha = existsSync(settings.schemaPath) ? schemaSha256(settings.schemaPath) : undefined;
  const cachedModel = schemaSha ? readCachedSchemaModel(runDir, schemaSha) : undefined;
  if (!cachedModel) open.prep = startLoadPrepThread(log);
  const modelPromise = cachedModel
    ? Promise.resolve(cachedModel)
    : open.prep!.call<SchemaModel>('schemaModel', { schemaPath: settings.schemaPath });
  modelPromise.catch(() => undefined); // awaited below; a failure here must not be "unhandled" meanwhile
  open.engine = options.engineThread ?? startLoadPrepThread(log);
  open.engine.setLog(log);
  open.engine.call('warmEngine', {}).catch(() => undefined); // a real failure shows again in applySchema

  // The snapshot must be exactly the file backup wrote (a changed or truncated copy would load wrong data).
  const snapshotCheck = verifySnapshot(runDir);
  log.debug(
    `snapshot sha256 ${snapshotCheck.sha256} verified (${snapshotCheck.method === 'sealed' ? 'unchanged since an earlier full hash: same inode, size, mtime, ctime' : 'hashed'})`,
  );
  const manifest = existsSync(path.join(runDir, RUN_FILES.manifest)) ? readManifest(runDir) : undefined;
  if (manifest?.snapshot?.sha256 && manifest.snapshot.sha256 !== snapshotCheck.sha256) {
    throw sourceProblem(
      `manifest.json was made from another snapshot (sha256 ${manifest.snapshot.sha256.slice(0, 12)}…); run \`just export-sqlite\` again`,
    );
  }
  refuseManifestProblems(manifest);
  // Orphan rows export-sqlite refused: the same one line, before the target is touched.
  if (manifest?.orphans?.mode === 'refuse' && manifest.orphans.foreignKeys.length)
    throw sourceProblem(`${orphanRefusal(manifest.orphans.foreignKeys)}; then run export-sqlite again`, {
      orphans: manifest.orphans.foreignKeys,
    });
  if (manifest?.orphans) log.warn(`applying the manifest's orphan treatment: ${orphanSummary(manifest.orphans)}`);
  const expected = new Map<string, number>(
    (manifest?.tables ?? []).filter((t) => typeof t.rowCount === 'number').map((t) => [t.name, t.rowCount]),
  );
  const model = await modelPromise;
  // One helper thread per WebAssembly module: a thread that held both leaves more memory behind when it ends.
  if (open.prep) {
    await open.prep.close();
    open.prep = undefined;
    if (schemaSha) cacheSchemaModel(runDir, schemaSha, model);
  }
  open.db = new Database(snapshotPath, { readonly: true, fileMustExist: true });
  // The operator's --exclude-table given to export-sqlite is recorded in the manifest and holds here too.
  const excluded = [...new Set([...settings.excludeTables, ...(manifest?.extraTables ?? [])])];
  for (const n of checkSnapshotAgainstModel(open.db, model, excluded))
    if (n.kind !== 'prisma-migrations') log.warn(notMigratedLine(n));
  return {
    snapshotPath,
    snapshotCheck,
    model,
    tableNames: model.tables.map((t) => t.name),
    expected,
    treatments: manifest?.orphans?.tables ?? {},
    ...(manifest?.orphans ? { orphans: manifest.orphans } : {}),
  };
}

/** export-sqlite already found values that will not convert: fail before the target is touched, naming the first. */
function refuseManifestProblems(manifest: Manifest | undefined): void {
  const first = manifest?.problems?.[0];
  if (!first) return;
  const key = Object.entries(first.key)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  throw sourceProblem(
    `table "${first.table}", column "${first.column}", row ${key}: ${first.reason} (manifest.json lists ${manifest!.problemCount ?? manifest!.problems.length} values that will not convert; fix them in the app and run backup + export-sqlite again)`,
    { table: first.table, column: first.column, key },
  );
}

interface PreparedTarget {
  display: string;
  schema: string;
  install: string;
  /** The target held objects of an earlier load of this install, dropped under --force. */
  forced: boolean;
}

/**
 * Connect and make the target ours: refuse a non-empty schema unless it holds this install's own earlier load
 * (proved by our marker, never by the schema's shape) and --force; then mark it as loading and drop what was there.
 */
async function prepareTarget(
  settings: Settings,
  runDir: string,
  open: LoadResources,
  log: Logger,
): Promise<PreparedTarget> {
  const target = (open.target = await openTarget(settings, log));
  const schema = targetSchemaFromUrl(settings.targetUrl);
  const relations = await listSchemaRelations(target.client, schema);
  const install = installId(settings);
  const verdict = await judgeTarget(
    target.client,
    schema,
    relations.map((r) => r.name),
    install,
  );
  refuseUnlessOurs(verdict, settings.force, target.display);
  await markTarget(target.client, schema, {
    install,
    run: path.basename(runDir),
    state: 'loading',
    at: new Date().toISOString(),
  });
  if (relations.length > 0) await dropSchemaContents(target.client, schema, log);
  return { display: target.display, schema, install, forced: relations.length > 0 };
}

interface SlotPlan {
  slots: number;
  workerThreads: boolean;
  /** The table each slot will most likely start with, planned for the predicted column types (head starts). */
  predictedFirstTables: CopyTablePlan[];
}

/**
 * Open the slots' connections, and the ones that put foreign keys back, while the schema engine works: each is a
 * round trip and a SCRAM exchange on the way to the first COPY. Each slot has its own connection (one COPY each, so
 * PostgreSQL parses two tables on two cores); the first slot converts in the main thread, the others in worker
 * threads of their own (or, with --single-thread, in the main thread too, interleaved at every 64 KB chunk).
 */
function openSlotConnections(
  settings: Settings,
  options: LoadPgOptions,
  source: LoadSource,
  target: PreparedTarget,
  open: LoadResources,
): SlotPlan {
  const jobs = Math.max(1, Math.min(options.jobs ?? 2, 8));
  const workerThreads = options.workerThreads ?? true;
  const slots = Math.min(jobs, Math.max(1, source.model.tables.length));
  const connection = open.target!;
  const sessionStatements = loadSessionStatements(settings, slots);
  const connectForLoad = async () => {
    const client = await connection.connect();
    try {
      for (const statement of sessionStatements) await client.query(statement);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    return client;
  };
  // Slots take tables largest first (loadAllTables): the first `slots` of that order are each slot's first table.
  const predictedFirstTables =
    options.copyFormat === 'text'
      ? []
      : planTables(
          source.model,
          open.db!,
          predictTargetColumns(source.model),
          target.schema,
          source.expected,
          source.treatments,
        )
          .sort((a, b) => b.expectedRows - a.expectedRows)
          .slice(0, slots);
  open.connectionsOpened = Promise.allSettled([
    ...Array.from({ length: slots }, async (_, i) => {
      open.loaders[i] =
        workerThreads && i > 0
          ? await startWorkerLoader({
              snapshotPath: source.snapshotPath,
              clientConfig: connection.clientConfig,
              schema: target.schema,
              sessionStatements,
              ...(predictedFirstTables[i]
                ? { headStart: { plan: predictedFirstTables[i], budgetBytes: HEAD_START_BYTES_PER_TABLE } }
                : {}),
            })
          : await startInlineLoader(source.snapshotPath, connectForLoad, target.schema);
    }),
    // Each slot puts foreign keys back on a connection of its own between two tables (pg/foreign-keys.ts); the same
    // connections rebuild and validate whatever is left after the copy phase.
    ...Array.from({ length: Math.max(2, slots) - 1 }, async () => {
      const client = await connectForLoad();
      open.extraClients.push(client);
      await useSchema(client, target.schema);
    }),
  ]).then((outcomes) => {
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
  });
  open.connectionsOpened.catch(() => undefined); // awaited before the first COPY; a failure meanwhile is not "unhandled"
  return { slots, workerThreads, predictedFirstTables };
}

/**
 * The schema the Prisma way: migrations written to the run dir, applied by the schema engine in its thread. This
 * thread meanwhile converts the first chunks of the table its slot starts with (every slot's with --single-thread).
 */
async function applySchema(
  settings: Settings,
  runDir: string,
  options: LoadPgOptions,
  target: PreparedTarget,
  slots: SlotPlan,
  open: LoadResources,
  log: Logger,
): Promise<AppliedSchema> {
  const applying = open.engine!.call<AppliedSchema>('applySchema', {
    settings,
    runDir,
    clientConfig: open.target!.clientConfig,
    schema: target.schema,
    ...(options.pgMigrations ? { shippedMigrationsDir: options.pgMigrations } : {}),
  });
  applying.catch(() => undefined); // awaited just below; a failure meanwhile is not "unhandled"
  if (slots.predictedFirstTables.length) {
    open.headStarts = startHeadStarts(
      open.db!,
      slots.predictedFirstTables.slice(0, slots.workerThreads ? 1 : slots.slots),
      HEAD_START_BYTES_PER_TABLE,
    );
  }
  const applied = await applying;
  await open.headStarts?.stop();
  await open.engine!.close();
  open.engine = undefined;
  log.ok(`schema applied through Prisma's schema engine: ${applied.migrations.join(', ') || '(no migrations)'}`);
  return applied;
}

interface DeferredPlans {
  plans: CopyTablePlan[];
  deferred: Awaited<ReturnType<typeof captureDeferredObjects>>;
}

/**
 * Plan every table's COPY for the columns the migrations made, and take the indexes (primary keys included) and
 * foreign keys off until after the load, saved to the run dir before they are dropped so a crash mid-load still
 * leaves the recipe there.
 */
async function deferObjects(
  runDir: string,
  options: LoadPgOptions,
  source: LoadSource,
  target: PreparedTarget,
  open: LoadResources,
  log: Logger,
): Promise<DeferredPlans> {
  const client = open.target!.client;
  await useSchema(client, target.schema);
  const targetColumns = await readTargetColumns(client, target.schema);
  const plans = planTables(source.model, open.db!, targetColumns, target.schema, source.expected, source.treatments);
  if (options.copyFormat === 'text') for (const plan of plans) plan.textFormat = true;
  for (const head of open.headStarts?.heads ?? []) {
    const plan = plans.find((p) => p.table === head.table)!; // the same model's tables, planned twice
    plan.headStart = claimHeadStart(head, plan);
    log.debug(
      plan.headStart
        ? `${head.table}: ${head.counter.rows} rows (${Math.round(head.bytes / 1024)} KB) converted while the schema was built`
        : `${head.table}: its column types differ from the ones predicted; converted from its first row`,
    );
  }
  const deferred = await captureDeferredObjects(client, target.schema, source.tableNames);
  const pgDir = path.join(runDir, RUN_FILES.pgSchemaDir);
  mkdirSync(pgDir, { recursive: true, mode: 0o700 });
  writeJsonAtomic(path.join(pgDir, DEFERRED_OBJECTS_FILE), deferred);
  await dropDeferredObjects(client, deferred);
  for (const plan of plans) {
    plan.indexes = deferred.indexes
      .filter((i) => i.table === plan.table)
      .map((i) => ({ name: i.name, statement: indexRebuildStatement(target.schema, i) }));
  }
  log.info(
    `deferred ${deferred.indexes.length} indexes (${deferred.indexes.filter((i) => i.primary).length} primary keys) and ${deferred.foreignKeys.length} foreign keys until after the load`,
  );
  return { plans, deferred };
}

interface CopiedTables {
  results: CopyTableResult[];
  deferred: DeferredPlans['deferred'];
  loadSeconds: number;
  /** The two connections that rebuild and validate what the slots left (index builds are CPU-bound). */
  clients: pg.Client[];
  foreignKeysValidated: number;
  /** Foreign keys whose two tables were never both loaded in a slot, or that met a lock conflict there. */
  foreignKeysLeft: { toAdd: DeferredForeignKey[]; toValidate: DeferredForeignKey[] };
}

/**
 * Every table COPYed in its own transaction, `slots` at a time, largest first; in the same slot its indexes rebuilt,
 * the table ANALYZEd, and each foreign key whose two tables are now loaded put back and validated.
 */
async function copyTables(
  { plans, deferred }: DeferredPlans,
  source: LoadSource,
  target: PreparedTarget,
  slots: SlotPlan,
  open: LoadResources,
  log: Logger,
): Promise<CopiedTables> {
  const totalExpected = plans.reduce((n, p) => n + p.expectedRows, 0);
  log.info(`loading ${plans.length} tables (${fmtInt(totalExpected)} rows), ${slots.slots} at a time`);
  await open.connectionsOpened;
  const fkClients: pg.Client[] = [open.target!.client, ...open.extraClients];
  const readiness = new ForeignKeyReadiness(deferred, source.tableNames);
  const left = { toAdd: [] as DeferredForeignKey[], toValidate: [] as DeferredForeignKey[] };
  let foreignKeysValidated = 0;
  const restoreReadyForeignKeys = async (slot: number, table: string, loadStopped: () => boolean) => {
    for (const fk of readiness.tableLoaded(table)) {
      if (loadStopped()) return; // another slot failed meanwhile: no more full-table checks for a load that ends
      const outcome = await restoreForeignKeyNow(fkClients[slot], target.schema, fk);
      if (outcome === 'validated') {
        foreignKeysValidated++;
        log.debug(`foreign key ${fk.name} validated after "${table}" was loaded`);
      } else {
        (outcome === 'add-later' ? left.toAdd : left.toValidate).push(fk);
        log.debug(`foreign key ${fk.name}: lock conflict with another slot, left for after the copy phase`);
      }
    }
  };
  const started = performance.now();
  const peak = { rss: 0, heapTotal: 0, external: 0, arrayBuffers: 0 };
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peak.rss = Math.max(peak.rss, m.rss);
    peak.heapTotal = Math.max(peak.heapTotal, m.heapTotal);
    peak.external = Math.max(peak.external, m.external);
    peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers);
  }, 100);
  const results = await loadAllTables(plans, open.loaders, log, restoreReadyForeignKeys).finally(() =>
    clearInterval(sampler),
  );
  log.debug(
    `rss peak during copy: ${Object.entries(peak)
      .map(([k, v]) => `${k} ${Math.round(v / 1048576)} MB`)
      .join(', ')}`,
  );
  const loadSeconds = (performance.now() - started) / 1000;
  await Promise.all(open.loaders.splice(0).map((l) => l.close()));
  return {
    results,
    deferred,
    loadSeconds,
    clients: fkClients.slice(0, 2),
    foreignKeysValidated,
    foreignKeysLeft: { toAdd: [...readiness.unclaimed(), ...left.toAdd], toValidate: left.toValidate },
  };
}

/** Every table's count must equal the snapshot's (rows read) and the manifest's. */
function checkCopiedCounts(results: CopyTableResult[], expected: Map<string, number>): void {
  for (const result of results) {
    if (result.rowsCopied !== result.rowsRead) {
      throw sourceProblem(
        `table "${result.table}": read ${result.rowsRead} rows from the snapshot but PostgreSQL copied ${result.rowsCopied}`,
      );
    }
    if (expected.has(result.table) && expected.get(result.table) !== result.rowsCopied) {
      throw sourceProblem(
        `table "${result.table}": loaded ${result.rowsCopied} rows but manifest.json counts ${expected.get(result.table)}`,
      );
    }
  }
}

/** The indexes a slot did not rebuild after its table's COPY; returns how many were rebuilt in all. */
async function rebuildRemainingIndexes(copied: CopiedTables, log: Logger): Promise<number> {
  const builtInSlots = new Set(
    copied.results.flatMap((r) => (r.indexesBuilt ?? []).map((name) => `${r.table}\u0000${name}`)),
  );
  const remaining = {
    ...copied.deferred,
    indexes: copied.deferred.indexes.filter((i) => !builtInSlots.has(`${i.table}\u0000${i.name}`)),
  };
  return builtInSlots.size + (await rebuildIndexes(copied.clients, remaining, log));
}

/** The foreign keys the slots left: added NOT VALID where missing, then validated. */
async function restoreRemainingForeignKeys(copied: CopiedTables, target: PreparedTarget, log: Logger): Promise<number> {
  return await restoreForeignKeys(copied.clients, target.schema, copied.foreignKeysLeft, log);
}

/** Every table was analyzed in its slot right after its COPY and index rebuilds; any that was not is analyzed here. */
async function analyzeRemaining(copied: CopiedTables, target: PreparedTarget): Promise<void> {
  const notAnalyzed = copied.results.filter((r) => r.analyzeSeconds === undefined).map((r) => r.table);
  if (notAnalyzed.length) await analyzeTables(copied.clients, target.schema, notAnalyzed);
}

/** Mark the target loaded (with the counts), journal the step and return the result. */
async function finishLoad(
  settings: Settings,
  runDir: string,
  source: LoadSource,
  target: PreparedTarget,
  copied: CopiedTables,
  applied: AppliedSchema,
  clock: ReturnType<typeof phaseClock>,
  rebuilt: { indexesRebuilt: number; foreignKeysValidated: number; sequences: SequenceReset[] },
): Promise<LoadPgResult> {
  const { results } = copied;
  const tables = results
    .map((r) => ({ name: r.table, rows: r.rowsCopied, seconds: Math.round(r.seconds * 1000) / 1000 }))
    .sort((a, b) => source.tableNames.indexOf(a.name) - source.tableNames.indexOf(b.name));
  const totalRows = tables.reduce((n, t) => n + t.rows, 0);
  const seconds = clock.seconds();
  const { indexesRebuilt, foreignKeysValidated, sequences } = rebuilt;
  const summary = `loaded ${fmtInt(totalRows)} rows into ${tables.length} tables of ${target.display} in ${seconds.toFixed(1)}s (copy ${fmtInt(totalRows / Math.max(copied.loadSeconds, 0.001))} rows/s); ${indexesRebuilt} indexes rebuilt, ${foreignKeysValidated} foreign keys validated, ${sequences.length} sequences reset${source.orphans ? `; ${orphanSummary(source.orphans)}` : ''}`;
  await markTarget(copied.clients[0], target.schema, {
    install: target.install,
    run: path.basename(runDir),
    state: 'loaded',
    at: new Date().toISOString(),
    rows: Object.fromEntries(results.map((r) => [r.table, r.rowsCopied])),
  });
  const phases = clock.phases;
  recordStep(runDir, settings.appDir, 'load-pg', {
    status: 'done',
    message: summary,
    data: { target: target.display, schema: target.schema, totalRows, seconds, migrations: applied.migrations, phases },
  });
  return {
    ok: true,
    outcome: Outcome.Ok,
    summary,
    runDir,
    target: target.display,
    schema: target.schema,
    tables,
    totalRows,
    seconds,
    migrations: applied.migrations,
    indexesRebuilt,
    foreignKeysValidated,
    sequencesReset: sequences.length,
    sequences,
    phases,
    forced: target.forced,
    snapshotCheck: source.snapshotCheck.method,
    ...(source.orphans ? { orphans: orphanOutline(source.orphans) } : {}),
  };
}

/** A lost connection or a target-side error becomes the target's problem; the step is journaled as failed. */
function recordLoadFailure(settings: Settings, runDir: string, caught: unknown): unknown {
  const err = isConnectionLoss(caught)
    ? targetNotReady(
        `lost the connection to PostgreSQL during load-pg: ${errorMessage(caught).split('\n')[0]}; the target is re-loadable with --force`,
      )
    : (targetSideError(caught, 'load-pg') ?? caught);
  const message = err instanceof DomainError ? err.message : `internal error: ${errorMessage(err)}`;
  try {
    recordStep(runDir, settings.appDir, 'load-pg', { status: 'failed', message });
  } catch {
    // The journal is best effort when the disk is the problem; the error itself still reaches the operator.
  }
  return err;
}
