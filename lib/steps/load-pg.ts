import { targetSideError } from '../pg/target-errors.ts';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { parse as parseConnectionString } from 'pg-connection-string';
import type { StepResult } from '../cli/run-cli.ts';
import type { Settings } from '../cli/config.ts';
import { incompatibility, targetCategory, type CopyColumnPlan } from '../copy/converters.ts';
import { fmtShort, progressLine, WindowRate } from '../run/progress.ts';
import { sqliteRowCount, type CopyTableResult } from '../copy/copy-table.ts';
import { RowLoadError, type CopyTablePlan } from '../copy/rows.ts';
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
import { RUN_FILES, existingRunDir, readRunJson, recordStep } from '../run/run-dir.ts';
import type { SchemaModel, TableModel } from '../prisma/schema-model.ts';
import type { CallWorker } from '../threads/worker-call.ts';
import { startLoadPrepThread } from '../copy/load-prep-thread.ts';
import { verifySnapshot } from '../sqlite/snapshot-check.ts';
import { claimThisRunDir } from '../run/run-lock.ts';
import { installId, judgeTarget, markTarget, refuseUnlessOurs } from '../pg/target-marker.ts';
import { cacheSchemaModel, readCachedSchemaModel, schemaSha256 } from '../prisma/schema-model-cache.ts';
import { loadSql } from '../files/sql-files.ts';
import { checkSnapshotAgainstModel, notMigratedLine } from './export-sqlite.ts';
import type { Manifest } from '../sqlite/manifest.ts';
import { orphanOutline, orphanRefusal, orphanSummary, type OrphanReport } from '../sqlite/orphans.ts';
import type { RowTreatment } from '../sqlite/table-scan.ts';
import { startInlineLoader, startWorkerLoader, type TableLoader } from '../copy/table-loader.ts';
import { claimHeadStart, dropHeadStart, predictTargetColumns, startHeadStarts } from '../copy/head-start.ts';

/**
 * load-pg (issue 3): build the PostgreSQL schema the Prisma way, then stream the snapshot's rows in with COPY.
 *
 *   run dir + snapshot checksum → target empty (or --force: drop our objects) → Prisma migrations applied through
 *   the schema engine (genuine _prisma_migrations) → indexes (primary keys included) and FKs captured (saved to
 *   the run dir) and dropped → every table COPYed in its own transaction, two at a time, then its indexes rebuilt
 *   and the table ANALYZEd in the same slot, then each FK whose two tables are now loaded re-added NOT VALID and validated
 *   (pg-foreign-keys.ts) → what the slots left (FKs, indexes) after the copy phase → sequences reset and proven.
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
 * How much of each first table is converted ahead while the schema engine works (copy-head-start.ts): in the
 * engine's ≈ 0.3-0.4 s the conversion gets through ≈ 3-7 MB on the bench; the bound keeps a slow engine from turning
 * the head start into a table held in memory (peak RSS).
 */
const HEAD_START_BYTES_PER_TABLE = 8 * 1024 * 1024;

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Plan each table: SQLite and PostgreSQL column names from the schema model, conversion from the target type. */
export function planTables(
  model: SchemaModel,
  db: Database.Database,
  targetColumns: Map<string, import('../pg/schema-objects.ts').TargetColumn[]>,
  schema: string,
  expected: Map<string, number>,
  treatments: Record<string, RowTreatment> = {},
): CopyTablePlan[] {
  const plans: CopyTablePlan[] = [];
  for (const table of model.tables) {
    const pgColumns = targetColumns.get(table.name);
    if (!pgColumns)
      throw new DomainError(
        Outcome.Internal,
        `table "${table.name}" is missing in PostgreSQL after the migrations were applied`,
      );
    const byName = new Map(pgColumns.map((c) => [c.name, c]));
    const columns: CopyColumnPlan[] = table.columns.map((column) => {
      const target = byName.get(column.name);
      if (!target)
        throw new DomainError(
          Outcome.Internal,
          `column "${table.name}"."${column.name}" is missing in PostgreSQL after the migrations were applied`,
        );
      const bad = incompatibility(column.kind, target);
      if (bad) throw sourceProblem(`column "${table.name}"."${column.name}": ${bad}`);
      return {
        name: column.name,
        kind: column.kind,
        target: targetCategory(target)!,
        targetType: target.dataType,
        baseType: target.baseType,
        model: column,
      };
    });
    // A PostgreSQL column the schema does not know would be left NULL/default: refuse rather than guess.
    const extra = pgColumns.find((c) => !c.generated && !table.columns.some((m) => m.name === c.name));
    if (extra && extra.notNull)
      throw new DomainError(
        Outcome.Internal,
        `PostgreSQL column "${table.name}"."${extra.name}" is not in schema.prisma`,
      );
    plans.push({
      schema,
      table: table.name,
      columns,
      key: table.key,
      ...(treatments[table.name] ? { treatment: treatments[table.name] } : {}),
      enums: model.enums,
      expectedRows: expected.get(table.name) ?? sqliteRowCount(db, table.name),
      analyzeAfter: true,
    });
  }
  return plans;
}

/**
 * Statements every load connection runs once it is open. PostgreSQL on this host (a loopback address or a Unix
 * socket, no SSH hop) shares its cores with load-pg's conversion, and with two or more slots each one already keeps a
 * core busy: parallel workers for an index build or a foreign key's validation then only add start-up and
 * coordination (measured on the 1.5 M-row bench, 2 cores: PostgreSQL 0.2-0.8 CPU-s less per load for the index
 * builds, 0.1-0.2 for the validations). A server of its own, or a single slot, keeps the server's defaults.
 */
export function loadSessionStatements(settings: Pick<Settings, 'targetUrl' | 'ssh'>, slots: number): string[] {
  if (slots < 2 || settings.ssh || !settings.targetUrl) return [];
  let host: string | null | undefined;
  try {
    host = parseConnectionString(settings.targetUrl).host;
  } catch {
    return [];
  }
  const local =
    !host || host.startsWith('/') || host === 'localhost' || /^127\./.test(host) || host === '::1' || host === '[::1]';
  return local ? [loadSql('load-pg-parallel-workers-off')] : [];
}

/**
 * Progress of the load, one line redrawn in place on a TTY (lib/run/progress.ts): the whole load's bar and rate,
 * then each table being loaded with its own rate. Rates are over the last seconds, and a timer redraws the line
 * between updates, so a table that stops moving shows a falling rate rather than a frozen one.
 */
class LoadProgress {
  private readonly active = new Map<string, { rows: number; expected: number; rate: WindowRate }>();
  private doneRows = 0;
  private readonly rate = new WindowRate();
  private last = 0;
  private timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly log: Logger,
    private readonly totalExpected: number,
  ) {
    // Only ever shown on a TTY; formatting it (ICU number formats) costs CPU the load needs.
    if (log.isTty) {
      this.timer = setInterval(() => this.render(true), 1000);
      this.timer.unref();
    }
  }
  start(table: string, expected: number) {
    const rate = new WindowRate();
    rate.add(performance.now(), 0);
    this.active.set(table, { rows: 0, expected, rate });
    this.render(true);
  }
  update(table: string, rows: number) {
    const entry = this.active.get(table);
    if (entry) entry.rows = rows;
    this.render(false);
  }
  finish(table: string, rows: number) {
    this.active.delete(table);
    this.doneRows += rows;
    this.render(true);
  }
  stop() {
    clearInterval(this.timer);
    this.timer = undefined;
  }
  private render(force: boolean) {
    if (!this.log.isTty) return;
    const now = performance.now();
    if (!force && now - this.last < 250) return;
    this.last = now;
    let rowsNow = this.doneRows;
    const parts: string[] = [];
    for (const [table, e] of this.active) {
      rowsNow += e.rows;
      e.rate.add(now, e.rows);
      parts.push(`${table} ${fmtShort(e.rows)}/${fmtShort(e.expected)} ${fmtShort(e.rate.perSecond(now))}/s`);
    }
    this.rate.add(now, rowsNow);
    const columns = process.stderr.columns || 80;
    this.log.progress(
      progressLine({
        label: 'load',
        done: rowsNow,
        total: this.totalExpected,
        ratePerSecond: this.rate.perSecond(now),
        parts,
        columns,
      }),
    );
  }
}

async function loadAllTables(
  plans: CopyTablePlan[],
  loaders: TableLoader[],
  log: Logger,
  /** Runs in the slot after each table it loaded; `loadStopped()` turns true as soon as any slot has failed. */
  afterTable?: (slot: number, table: string, loadStopped: () => boolean) => Promise<void>,
): Promise<CopyTableResult[]> {
  // Largest first, so the two slots finish close together.
  const queue = [...plans].sort((a, b) => b.expectedRows - a.expectedRows);
  const totalExpected = plans.reduce((n, p) => n + p.expectedRows, 0);
  const progress = new LoadProgress(log, totalExpected);
  const results: CopyTableResult[] = [];
  let failure: unknown;
  const stop = (err: unknown) => {
    // Stop handing out tables; the other slot finishes the one it has (its own transaction either way).
    failure ??= err;
    queue.length = 0;
  };
  await Promise.all(
    loaders.map(async (loader, slot) => {
      for (let plan = queue.shift(); plan && failure === undefined; plan = queue.shift()) {
        progress.start(plan.table, plan.expectedRows);
        try {
          const result = await loader.load(plan, (rows) => progress.update(plan!.table, rows));
          progress.finish(plan.table, result.rowsCopied);
          log.debug(
            `${plan.table}: ${result.rowsCopied} rows in ${result.seconds.toFixed(2)}s${result.analyzeSeconds !== undefined ? `, analyze ${result.analyzeSeconds.toFixed(2)}s` : ''}${result.indexSeconds !== undefined ? `, indexes ${result.indexSeconds.toFixed(2)}s` : ''}`,
          );
          results.push(result);
        } catch (err) {
          progress.finish(plan.table, 0);
          stop(err);
          continue;
        }
        if (failure !== undefined) continue; // the other slot failed: the load ends, nothing more to put back
        try {
          await afterTable?.(slot, plan.table, () => failure !== undefined);
        } catch (err) {
          stop(err);
        }
      }
    }),
  ).finally(() => progress.stop());
  if (failure !== undefined) {
    if (failure instanceof RowLoadError)
      throw new DomainError(Outcome.SourceProblem, failure.message, { ...failure.details });
    throw failure;
  }
  return results;
}

export async function loadPg(settings: Settings, log: Logger, options: LoadPgOptions = {}): Promise<LoadPgResult> {
  const started = performance.now();
  const phases: Record<string, number> = {};
  let phaseStart = performance.now();
  const phase = (name: string) => {
    const now = performance.now();
    phases[name] = Math.round((now - phaseStart) / 10) / 100;
    phaseStart = now;
    log.debug(`phase ${name} ${phases[name]}s, rss ${Math.round(process.memoryUsage().rss / 1048576)} MB`);
  };

  const runDir = existingRunDir(
    options.runDir ? { ...settings, runDir: options.runDir } : settings,
    RUN_FILES.snapshot,
  );
  claimThisRunDir(settings, runDir, 'load-pg');
  log.attachFile(path.join(runDir, RUN_FILES.log));
  const jobs = Math.max(1, Math.min(options.jobs ?? 2, 8));
  if (options.pgMigrations && !existsSync(options.pgMigrations))
    throw usageError(`--pg-migrations ${options.pgMigrations} does not exist`);
  recordStep(runDir, settings.appDir, 'load-pg', { status: 'running' });

  let target: TargetConnection | undefined;
  const extraClients: pg.Client[] = [];
  const loaders: TableLoader[] = [];
  let db: Database.Database | undefined;
  // Prisma's schema parser and schema engine each run in a helper thread that is ended before the COPY phase: their
  // WebAssembly memory (~75 MB together) never shrinks, and peak RSS must stay bounded (issue 3: ≤ 256 MB).
  let prep: CallWorker | undefined;
  let engine: CallWorker | undefined;
  // Settles once every slot and FK connection has been opened or has failed (see below); awaited before closing them.
  let connectionsOpened: Promise<void> | undefined;
  let headStarts: ReturnType<typeof startHeadStarts> | undefined;
  try {
    const snapshotPath = path.join(runDir, RUN_FILES.snapshot);
    log.debug(`rss at start ${Math.round(process.memoryUsage().rss / 1048576)} MB`);
    // The schema parser parses and the schema engine compiles, each in its helper thread, while this thread hashes
    // the snapshot (the engine touches neither the target nor the run dir until applySchema below).
    // export-sqlite left the parsed model in the run dir (same schema.prisma): no parser thread then.
    const schemaSha = existsSync(settings.schemaPath) ? schemaSha256(settings.schemaPath) : undefined;
    const cachedModel = schemaSha ? readCachedSchemaModel(runDir, schemaSha) : undefined;
    if (!cachedModel) prep = startLoadPrepThread(log);
    const modelPromise = cachedModel
      ? Promise.resolve(cachedModel)
      : prep!.call<SchemaModel>('schemaModel', { schemaPath: settings.schemaPath });
    modelPromise.catch(() => undefined); // awaited below; a failure here must not be "unhandled" meanwhile
    engine = options.engineThread ?? startLoadPrepThread(log);
    engine.setLog(log);
    engine.call('warmEngine', {}).catch(() => undefined); // a real failure shows again in applySchema
    // The snapshot must be exactly the file backup wrote (a changed or truncated copy would load wrong data).
    const snapshotCheck = verifySnapshot(runDir);
    const snapshotSha = snapshotCheck.sha256;
    log.debug(`rss after sha ${Math.round(process.memoryUsage().rss / 1048576)} MB`);
    log.debug(
      `snapshot sha256 ${snapshotSha} verified (${snapshotCheck.method === 'sealed' ? 'unchanged since an earlier full hash: same inode, size, mtime, ctime' : 'hashed'})`,
    );
    const manifestPath = path.join(runDir, RUN_FILES.manifest);
    const manifest = existsSync(manifestPath) ? readRunJson<Partial<Manifest>>(runDir, RUN_FILES.manifest) : undefined;
    if (manifest?.snapshot?.sha256 && manifest.snapshot.sha256 !== snapshotSha) {
      throw sourceProblem(
        `manifest.json was made from another snapshot (sha256 ${manifest.snapshot.sha256.slice(0, 12)}…); run \`just export-sqlite\` again`,
      );
    }
    // export-sqlite already found values that will not convert: fail before the target is touched, naming the first.
    const firstProblem = manifest?.problems?.[0];
    if (firstProblem) {
      const key = Object.entries(firstProblem.key)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ');
      throw sourceProblem(
        `table "${firstProblem.table}", column "${firstProblem.column}", row ${key}: ${firstProblem.reason} (manifest.json lists ${manifest!.problemCount ?? manifest!.problems!.length} values that will not convert; fix them in the app and run backup + export-sqlite again)`,
        { table: firstProblem.table, column: firstProblem.column, key },
      );
    }
    // Orphan rows export-sqlite refused: the same one line, before the target is touched.
    if (manifest?.orphans?.mode === 'refuse' && manifest.orphans.foreignKeys.length)
      throw sourceProblem(`${orphanRefusal(manifest.orphans.foreignKeys)}; then run export-sqlite again`, {
        orphans: manifest.orphans.foreignKeys,
      });
    const treatments = manifest?.orphans?.tables ?? {};
    if (manifest?.orphans) log.warn(`applying the manifest's orphan treatment: ${orphanSummary(manifest.orphans)}`);
    const expected = new Map<string, number>(
      (manifest?.tables ?? []).filter((t) => typeof t.rowCount === 'number').map((t) => [t.name, t.rowCount!]),
    );
    const model = await modelPromise;
    // One helper thread per WebAssembly module: a thread that held both leaves more memory behind when it ends.
    if (prep) {
      await prep.close();
      prep = undefined;
      if (schemaSha) cacheSchemaModel(runDir, schemaSha, model);
    }
    log.debug(`rss after model ${Math.round(process.memoryUsage().rss / 1048576)} MB`);
    db = new Database(snapshotPath, { readonly: true, fileMustExist: true });
    // The operator's --exclude-table given to export-sqlite is recorded in the manifest and holds here too.
    const excluded = [...new Set([...settings.excludeTables, ...(manifest?.extraTables ?? [])])];
    for (const n of checkSnapshotAgainstModel(db, model, excluded))
      if (n.kind !== 'prisma-migrations') log.warn(notMigratedLine(n));
    phase('snapshot');

    // Target: connect, refuse a non-empty schema unless --force.
    target = await openTarget(settings, log);
    const schema = targetSchemaFromUrl(settings.targetUrl);
    const relations = await listSchemaRelations(target.client, schema);
    // Ours only by proof (the marker), never by the schema's shape: --force replaces only this install's own load.
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
    phase('prepareTarget');

    // The slots' connections, and the ones that put foreign keys back, are opened while the schema engine works:
    // each is a round trip and a SCRAM exchange on the way to the first COPY, and this thread only waits meanwhile.
    // Each slot has its own connection (one COPY each, so PostgreSQL parses two tables on two cores). The first slot
    // converts in the main thread; the others in worker threads of their own (see LoadPgOptions.workerThreads), or
    // with --single-thread in the main thread too, interleaved at every 64 KB chunk.
    const workerThreads = options.workerThreads ?? true;
    const slots = Math.min(jobs, Math.max(1, model.tables.length));
    const openedTarget = target; // (the closures below need it narrowed)
    const sessionStatements = loadSessionStatements(settings, slots);
    const connectForLoad = async () => {
      const client = await openedTarget.connect();
      try {
        for (const statement of sessionStatements) await client.query(statement);
      } catch (err) {
        await client.end().catch(() => undefined);
        throw err;
      }
      return client;
    };
    // The table each slot starts with (slots take tables in slot order, largest first: loadAllTables), planned for the
    // column types the migration will most likely create, for the head starts below (copy-head-start.ts).
    const predictedFirstTables =
      options.copyFormat === 'text'
        ? []
        : planTables(model, db, predictTargetColumns(model), schema, expected, treatments)
            .sort((a, b) => b.expectedRows - a.expectedRows)
            .slice(0, slots);
    connectionsOpened = Promise.allSettled([
      ...Array.from({ length: slots }, async (_, i) => {
        loaders[i] =
          workerThreads && i > 0
            ? await startWorkerLoader({
                snapshotPath,
                clientConfig: openedTarget.clientConfig,
                schema,
                sessionStatements,
                ...(predictedFirstTables[i]
                  ? { headStart: { plan: predictedFirstTables[i], budgetBytes: HEAD_START_BYTES_PER_TABLE } }
                  : {}),
              })
            : await startInlineLoader(snapshotPath, connectForLoad, schema);
      }),
      // Each slot puts foreign keys back on a connection of its own between two tables (see pg-foreign-keys.ts); the
      // same connections rebuild and validate whatever is left after the copy phase.
      ...Array.from({ length: Math.max(2, slots) - 1 }, async () => {
        const client = await connectForLoad();
        extraClients.push(client);
        await useSchema(client, schema);
      }),
    ]).then((outcomes) => {
      const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
      if (failed) throw failed.reason;
    });
    connectionsOpened.catch(() => undefined); // awaited before the first COPY; a failure meanwhile is not "unhandled"

    // Schema the Prisma way: migrations written to the run dir, applied by the schema engine.
    const applying = engine.call<AppliedSchema>('applySchema', {
      settings,
      runDir,
      clientConfig: target.clientConfig,
      schema,
      ...(options.pgMigrations ? { shippedMigrationsDir: options.pgMigrations } : {}),
    });
    applying.catch(() => undefined); // awaited just below; a failure meanwhile is not "unhandled"
    // Meanwhile this thread converts the first chunks of the table each of its slots starts with (copy-head-start.ts):
    // the first slot's, or every slot's with --single-thread; a worker thread does the same for its slot.
    if (predictedFirstTables.length) {
      headStarts = startHeadStarts(
        db,
        predictedFirstTables.slice(0, workerThreads ? 1 : slots),
        HEAD_START_BYTES_PER_TABLE,
      );
    }
    const applied = await applying;
    await headStarts?.stop();
    await engine.close();
    engine = undefined;
    log.ok(`schema applied through Prisma's schema engine: ${applied.migrations.join(', ') || '(no migrations)'}`);
    phase('migrations');

    await useSchema(target.client, schema);
    const tableNames = model.tables.map((t) => t.name);
    const targetColumns = await readTargetColumns(target.client, schema);
    const plans = planTables(model, db, targetColumns, schema, expected, treatments);
    if (options.copyFormat === 'text') for (const plan of plans) plan.textFormat = true;
    for (const head of headStarts?.heads ?? []) {
      const plan = plans.find((p) => p.table === head.table)!; // the same model's tables, planned twice
      plan.headStart = claimHeadStart(head, plan);
      log.debug(
        plan.headStart
          ? `${head.table}: ${head.counter.rows} rows (${Math.round(head.bytes / 1024)} KB) converted while the schema was built`
          : `${head.table}: its column types differ from the ones predicted; converted from its first row`,
      );
    }

    // Deferred objects: saved before they are dropped, so a crash mid-load still leaves the recipe in the run dir.
    const deferred = await captureDeferredObjects(target.client, schema, tableNames);
    const pgDir = path.join(runDir, RUN_FILES.pgSchemaDir);
    mkdirSync(pgDir, { recursive: true, mode: 0o700 });
    writeJsonAtomic(path.join(pgDir, DEFERRED_OBJECTS_FILE), deferred);
    await dropDeferredObjects(target.client, deferred);
    for (const plan of plans) {
      plan.indexes = deferred.indexes
        .filter((i) => i.table === plan.table)
        .map((i) => ({ name: i.name, statement: indexRebuildStatement(schema, i) }));
    }
    log.info(
      `deferred ${deferred.indexes.length} indexes (${deferred.indexes.filter((i) => i.primary).length} primary keys) and ${deferred.foreignKeys.length} foreign keys until after the load`,
    );
    phase('deferObjects');

    const totalExpected = plans.reduce((n, p) => n + p.expectedRows, 0);
    log.info(`loading ${plans.length} tables (${fmtInt(totalExpected)} rows), ${slots} at a time`);
    await connectionsOpened;
    const fkClients: pg.Client[] = [target.client, ...extraClients];
    const readiness = new ForeignKeyReadiness(deferred, tableNames);
    const fkLater = { toAdd: [] as DeferredForeignKey[], toValidate: [] as DeferredForeignKey[] };
    let foreignKeysValidated = 0;
    const restoreReadyForeignKeys = async (slot: number, table: string, loadStopped: () => boolean) => {
      for (const fk of readiness.tableLoaded(table)) {
        if (loadStopped()) return; // another slot failed meanwhile: no more full-table checks for a load that ends
        const outcome = await restoreForeignKeyNow(fkClients[slot], schema, fk);
        if (outcome === 'validated') {
          foreignKeysValidated++;
          log.debug(`foreign key ${fk.name} validated after "${table}" was loaded`);
        } else {
          (outcome === 'add-later' ? fkLater.toAdd : fkLater.toValidate).push(fk);
          log.debug(`foreign key ${fk.name}: lock conflict with another slot, left for after the copy phase`);
        }
      }
    };
    const loadStarted = performance.now();
    const peak = { rss: 0, heapTotal: 0, external: 0, arrayBuffers: 0 };
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peak.rss = Math.max(peak.rss, m.rss);
      peak.heapTotal = Math.max(peak.heapTotal, m.heapTotal);
      peak.external = Math.max(peak.external, m.external);
      peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers);
    }, 100);
    const results = await loadAllTables(plans, loaders, log, restoreReadyForeignKeys).finally(() =>
      clearInterval(sampler),
    );
    log.debug(
      `rss peak during copy: ${Object.entries(peak)
        .map(([k, v]) => `${k} ${Math.round(v / 1048576)} MB`)
        .join(', ')}`,
    );
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    await Promise.all(loaders.splice(0).map((l) => l.close()));
    phase('copy');

    // Every table's count must equal the snapshot's (rows read) and the manifest's.
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

    // Each table's slot rebuilt its indexes right after its COPY, and put back the foreign keys whose tables were
    // both loaded; only what a slot did not get to is left here (two connections: index builds are CPU-bound).
    const clients = fkClients.slice(0, 2);
    const builtInSlots = new Set(
      results.flatMap((r) => (r.indexesBuilt ?? []).map((name) => `${r.table}\u0000${name}`)),
    );
    const remaining = {
      ...deferred,
      indexes: deferred.indexes.filter((i) => !builtInSlots.has(`${i.table}\u0000${i.name}`)),
    };
    const indexesRebuilt = builtInSlots.size + (await rebuildIndexes(clients, remaining, log));
    phase('indexes');
    foreignKeysValidated += await restoreForeignKeys(
      clients,
      schema,
      { toAdd: [...readiness.unclaimed(), ...fkLater.toAdd], toValidate: fkLater.toValidate },
      log,
    );
    phase('foreignKeys');
    const sequences = await resetSequences(target.client, schema, new Set(tableNames), log);
    phase('sequences');
    // Statistics: every table was analyzed right after its COPY and index rebuilds (CopyTablePlan.analyzeAfter); only
    // a table whose load did not (none today) would be analyzed here, after the indexes rebuilt above.
    const notAnalyzed = results.filter((r) => r.analyzeSeconds === undefined).map((r) => r.table);
    if (notAnalyzed.length) await analyzeTables(clients, schema, notAnalyzed);
    phase('analyze');

    const tables = results
      .map((r) => ({ name: r.table, rows: r.rowsCopied, seconds: Math.round(r.seconds * 1000) / 1000 }))
      .sort((a, b) => tableNames.indexOf(a.name) - tableNames.indexOf(b.name));
    const totalRows = tables.reduce((n, t) => n + t.rows, 0);
    const seconds = Math.round((performance.now() - started) / 10) / 100;
    const summary = `loaded ${fmtInt(totalRows)} rows into ${tables.length} tables of ${target.display} in ${seconds.toFixed(1)}s (copy ${fmtInt(totalRows / Math.max(loadSeconds, 0.001))} rows/s); ${indexesRebuilt} indexes rebuilt, ${foreignKeysValidated} foreign keys validated, ${sequences.length} sequences reset${manifest?.orphans ? `; ${orphanSummary(manifest.orphans)}` : ''}`;
    const loadedRows = Object.fromEntries(results.map((r) => [r.table, r.rowsCopied]));
    await markTarget(target.client, schema, {
      install,
      run: path.basename(runDir),
      state: 'loaded',
      at: new Date().toISOString(),
      rows: loadedRows,
    });
    const result: LoadPgResult = {
      ok: true,
      outcome: Outcome.Ok,
      summary,
      runDir,
      target: target.display,
      schema,
      tables,
      totalRows,
      seconds,
      migrations: applied.migrations,
      indexesRebuilt,
      foreignKeysValidated,
      sequencesReset: sequences.length,
      sequences,
      phases,
      forced: relations.length > 0,
      snapshotCheck: snapshotCheck.method,
      ...(manifest?.orphans ? { orphans: orphanOutline(manifest.orphans) } : {}),
    };
    recordStep(runDir, settings.appDir, 'load-pg', {
      status: 'done',
      message: summary,
      data: { target: target.display, schema, totalRows, seconds, migrations: applied.migrations, phases },
    });
    return result;
  } catch (caught) {
    const err = connectionLost(caught)
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
    throw err;
  } finally {
    await prep?.close();
    await engine?.close();
    await connectionsOpened?.catch(() => undefined); // a connection still being opened must not outlive the task
    await headStarts?.stop();
    for (const head of headStarts?.heads ?? []) dropHeadStart(head); // their SQLite statements, before db.close()
    await Promise.all(loaders.map((l) => l.close().catch(() => undefined)));
    for (const c of extraClients) await c.end().catch(() => undefined);
    await target?.close();
    db?.close();
  }
}

/** A server restart, a killed backend or a cut network: the target, not our data, is the problem (exit 3). */
function connectionLost(err: unknown): boolean {
  if (err instanceof DomainError) return false;
  const e = err as { code?: string; message?: string };
  if (e?.code && /^(08|57P)/.test(e.code)) return true;
  if (e?.code && ['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED', 'EHOSTUNREACH'].includes(e.code)) return true;
  return /Connection terminated|connection (was )?(closed|terminated)|Client has encountered a connection error/i.test(
    e?.message ?? '',
  );
}
