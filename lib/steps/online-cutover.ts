import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import Database from '../sqlite/driver.ts';
import type { Settings } from '../cli/config.ts';
import type { Logger } from '../cli/log.ts';
import { DomainError, Outcome, sourceProblem } from '../errors.ts';
import { countersSince, readWriteCounters, type WriteCounters } from '../app/pg-writes.ts';
import { applyDelta, countersDiffer, expectedWrites, type AppliedDelta } from '../pg/apply-delta.ts';
import { pgRowCount } from '../pg/content-hash.ts';
import { pgHashAtKeys } from '../pg/delta-hash.ts';
import { readTargetColumns, targetSchemaFromUrl } from '../pg/schema-objects.ts';
import { openTarget } from '../pg/target.ts';
import { markTarget, OUR_APPLICATION_NAME, readMarker } from '../pg/target-marker.ts';
import { loadSql } from '../files/sql-files.ts';
import { identityDifference, identityIsTelling, readFileIdentity, type FileIdentity } from '../files/file-identity.ts';
import { loadSchemaModel, type SchemaModel } from '../prisma/schema-model.ts';
import {
  loadOrCreateJournal,
  readJournal,
  readRunJson,
  RUN_FILES,
  writeJournal,
  writeRunJson,
} from '../run/run-dir.ts';
import { prismaReadsGate } from '../verify/prisma-gate.ts';
import { pgSchemaFile, type GateReport } from '../verify/gate-report.ts';
import { helperThreadModule } from '../files/code-location.ts';
import { startCallWorker } from '../threads/worker-call.ts';
import { snapshotDelta, type SnapshotDelta, type TableDelta } from '../sqlite/snapshot-delta.ts';
import type { CopyTablePlan } from '../copy/rows.ts';
import {
  backupFingerprint,
  backupInto,
  fileIsWholeDatabase,
  recordedContentHash,
  type SourceFileState,
} from './backup.ts';
import { readManifest, type Manifest } from '../sqlite/manifest.ts';
import { planTables } from '../copy/load-plan.ts';
import { requireSqlitePath } from './maintenance.ts';

/**
 * The steps of the online cutover that the offline run does not have (docs/online-cutover.md):
 *
 *   baseline (phase 1, app running): the target's write counters once the load is verified, and the phase-1
 *     manifest kept aside;
 *   final-snapshot (window): the live file, writers proven stopped: read in place when it is the whole database in
 *     rollback-journal mode and its identity can tell a later write (lib/files/file-identity.ts), else copied;
 *   delta: phase-1 snapshot → final state, exact (lib/sqlite/snapshot-delta.ts); in place, the live file's identity
 *     must be the same after the read;
 *   apply-delta: nobody else wrote the target since the baseline, then the delta in one transaction;
 *   verify-delta: counts of every table, content hashes of changed tables brought forward from the phase-1
 *     manifest by the delta (on PostgreSQL reading only the delta's rows), and the target's counters moved by
 *     exactly the delta since the baseline.
 */
export const ONLINE_STATE = 'online';
export const FINAL_SNAPSHOT = 'snapshot-final.sqlite';
export const PHASE1_MANIFEST = 'manifest.phase1.json';

export interface OnlineState {
  baseline: WriteCounters;
  recordedAt: string;
  /** The live file as the final snapshot found it: the pre-switch check compares against this. */
  finalSource?: SourceFileState;
  /** The file the delta reads the final state from: the live file itself (read in place) or the final snapshot. */
  finalFile?: string;
  /**
   * The last catch-up round applied to the target and verified (lib/steps/catch-up-round.ts): the window's delta
   * starts from its snapshot and manifest. Absent: the target holds phase 1's snapshot.
   */
  applied?: AppliedRound;
  /**
   * The writes of the delta being applied (a round's or the window's), recorded before its transaction: a resumed
   * run that finds the target's counters moved by anything else refuses to load it again over those writes.
   */
  inFlight?: { writes: WriteCounters };
}

export interface AppliedRound {
  round: number;
  /** File names in the run dir. */
  snapshot: string;
  manifest: string;
  at: string;
}

/** What the target holds now, verified: phase 1's snapshot and manifest, or the last catch-up round's. */
export interface DeltaBase {
  snapshot: string;
  manifest: string;
  round: number;
}

export interface DeltaSummary {
  rows: SnapshotDelta['rows'];
  tables: { table: string; inserts: number; updates: number; deletes: number }[];
  unchangedTables: number;
  diffedTables: number;
  /** Of those, diffed on their changed leaves only (the rest were joined whole). */
  leafDiffedTables: number;
  pages: SnapshotDelta['pages'];
  seconds: number;
}

export interface DeltaCheck {
  tablesCounted: number;
  tablesHashed: number;
  rows: number;
}

export function readOnlineState(runDir: string): OnlineState | undefined {
  return readJournal(runDir)?.state?.[ONLINE_STATE] as OnlineState | undefined;
}

export function deltaBase(runDir: string): DeltaBase {
  const applied = readOnlineState(runDir)?.applied;
  return applied
    ? { snapshot: path.join(runDir, applied.snapshot), manifest: applied.manifest, round: applied.round }
    : { snapshot: path.join(runDir, RUN_FILES.snapshot), manifest: PHASE1_MANIFEST, round: 0 };
}

export function patchOnlineState(runDir: string, appDir: string, patch: Partial<OnlineState>): void {
  const j = loadOrCreateJournal(runDir, appDir);
  j.state[ONLINE_STATE] = { ...(j.state[ONLINE_STATE] as OnlineState | undefined), ...patch };
  writeJournal(runDir, j);
}

/** The live file's state the final snapshot recorded (for the pre-switch check). */
export function finalSourceFingerprint(runDir: string): SourceFileState | undefined {
  return readOnlineState(runDir)?.finalSource;
}

/**
 * The live SQLite file as it was when the run cut over: the final snapshot's source for an online run (the app
 * wrote during phase 1, after the backup), the backup's for an offline one.
 */
export function cutoverSourceFingerprint(runDir: string): SourceFileState | undefined {
  const journal = readJournal(runDir);
  return finalSourceFingerprint(runDir) ?? (journal ? backupFingerprint(journal) : undefined);
}

/** Phase 1's last step: what PostgreSQL's counters say now, and the verified manifest kept aside. */
export async function recordBaseline(settings: Settings, log: Logger, runDir: string): Promise<void> {
  copyFileSync(path.join(runDir, RUN_FILES.manifest), path.join(runDir, PHASE1_MANIFEST));
  const baseline = await readWriteCounters(settings, log, settings.targetUrl!);
  patchOnlineState(runDir, settings.appDir, {
    baseline,
    recordedAt: new Date().toISOString(),
    finalSource: undefined,
    applied: undefined,
    inFlight: undefined,
  });
  log.ok(`baseline: the target's write counters of ${Object.keys(baseline).length} tables recorded`);
}

/** A resumed run that redoes the load needs the phase-1 manifest back (the forwarded one describes the old delta). */
export function restorePhase1Manifest(runDir: string): void {
  const kept = path.join(runDir, PHASE1_MANIFEST);
  if (existsSync(kept)) copyFileSync(kept, path.join(runDir, RUN_FILES.manifest));
}

/** The SQLite header's read and write versions (offsets 18, 19): 1 is rollback-journal mode, 2 is WAL. */
function inRollbackJournalMode(head: string): boolean {
  const header = Buffer.from(head, 'hex');
  return header.length >= 20 && header[18] === 1 && header[19] === 1;
}

/**
 * The live file can be read in place: it is the whole database (no journal, no -wal content), in rollback-journal
 * mode (a read-only connection then takes only a shared lock and writes nothing beside it), and its timestamps can
 * tell a later write.
 */
function inPlaceIdentity(live: string): FileIdentity | undefined {
  if (!fileIsWholeDatabase(live)) return undefined;
  const identity = readFileIdentity(live);
  return identityIsTelling(identity) && inRollbackJournalMode(identity.head) ? identity : undefined;
}

/**
 * The window's final state, writers stopped and proven gone: the live file itself when it can be read in place (its
 * identity recorded, its sha256 taken after the window), else a copy (byte copy or backup API; never written).
 */
export async function takeFinalSnapshot(settings: Settings, log: Logger, runDir: string): Promise<void> {
  const live = requireSqlitePath(settings);
  const identity = inPlaceIdentity(live);
  if (identity) {
    const mtime = new Date(Number(BigInt(identity.mtimeNs) / 1_000_000n)).toISOString();
    const finalSource = { path: live, sha256: '', size: Number(identity.size), mtime, wal: null, identity };
    patchOnlineState(runDir, settings.appDir, { finalSource, finalFile: live });
    log.ok(
      `final state: ${live} read in place (${(Number(identity.size) / 1048576).toFixed(1)} MB, rollback-journal mode, nothing beside it; inode ${identity.ino}, size, mtime, ctime and header recorded)`,
    );
    return;
  }
  const result = await backupInto(live, runDir, log, {
    file: FINAL_SNAPSHOT,
    checked: false,
    online: true,
    writersStopped: true,
  });
  patchOnlineState(runDir, settings.appDir, { finalSource: result.source, finalFile: result.snapshot });
  log.ok(`final snapshot ${result.snapshot} (${(result.bytes / 1048576).toFixed(1)} MB, ${result.copiedBy})`);
}

function finalFileOf(runDir: string): string {
  return readOnlineState(runDir)?.finalFile ?? path.join(runDir, FINAL_SNAPSHOT);
}

/**
 * After the window, the live file read in place gets its sha256 (the fingerprint a later fallback or rollback
 * compares with), hashed only while it still shows the identity the delta read it under.
 */
export function hashFinalSource(runDir: string, appDir: string, log: Logger): void {
  const source = readOnlineState(runDir)?.finalSource;
  if (!source?.identity || source.sha256) return;
  const sha256 = recordedContentHash(source);
  if (sha256) patchOnlineState(runDir, appDir, { finalSource: { ...source, sha256 } });
  else
    log.warn(
      `${source.path} changed after the cutover (its inode, size, timestamps or header): something wrote to it; a later fallback refuses until that is sorted out`,
    );
}

export function summarizeDelta(delta: SnapshotDelta): DeltaSummary {
  return {
    rows: delta.rows,
    tables: delta.tables.map((t) => ({
      table: t.table,
      inserts: t.inserts.length,
      updates: t.updates.length,
      deletes: t.deletes.length,
    })),
    unchangedTables: delta.unchangedTables,
    diffedTables: delta.diffedTables.length,
    leafDiffedTables: delta.leafDiffedTables.length,
    pages: delta.pages,
    seconds: delta.seconds,
  };
}

/** The delta from what the target holds (deltaBase) to `newerFile`: the window's final state unless a round's. */
export function computeDelta(
  settings: Settings,
  log: Logger,
  runDir: string,
  newerFile = finalFileOf(runDir),
): SnapshotDelta {
  const model = loadSchemaModel(settings.schemaPath);
  const state = readOnlineState(runDir);
  const delta = snapshotDelta(deltaBase(runDir).snapshot, newerFile, model);
  const identity = state?.finalSource?.path === newerFile ? state.finalSource.identity : undefined;
  const moved = identity && identityDifference(identity, readFileIdentity(newerFile));
  if (moved)
    throw sourceProblem(
      `the live SQLite file changed while the delta read it (${moved}): something still writes to it; nothing was switched`,
    );
  refuseTreatedTables(runDir, delta);
  log.ok(
    `delta: ${delta.rows.inserts} insert(s), ${delta.rows.updates} update(s), ${delta.rows.deletes} delete(s) in ${delta.tables.length} table(s); ${delta.unchangedTables} of ${model.tables.length} tables page-identical (${delta.pages.changed} of ${delta.pages.total} pages changed; ${delta.leafDiffedTables.length} of ${delta.diffedTables.length} diffed tables read on their changed leaves only)`,
  );
  return delta;
}

/**
 * The delta is diffed on the snapshots as they are, while the load applied --orphans=null|delete to some tables: a
 * change to such a table cannot be carried exactly, so the window refuses it (nothing switched) and names the way.
 */
function refuseTreatedTables(runDir: string, delta: SnapshotDelta): void {
  const treated = readManifest(runDir).orphans?.tables ?? {};
  const touched = delta.tables.filter(
    (t) => treated[t.table] && t.inserts.length + t.updates.length + t.deletes.length,
  );
  if (!touched.length) return;
  throw sourceProblem(
    `the app changed ${touched.map((t) => `"${t.table}"`).join(', ')} during phase 1, whose orphan rows the load treated (--orphans); the delta cannot carry that exactly: run \`just upgrade --offline\``,
  );
}

function plansFor(
  model: SchemaModel,
  newerFile: string,
  columns: Awaited<ReturnType<typeof readTargetColumns>>,
  schema: string,
) {
  // planTables only opens the snapshot for row counts it is not given: every table gets one.
  const db = new Database(newerFile, { readonly: true, fileMustExist: true });
  try {
    const plans = planTables(model, db, columns, schema, new Map(model.tables.map((t) => [t.name, 0])));
    return new Map<string, CopyTablePlan>(plans.map((p) => [p.table, p]));
  } finally {
    db.close();
  }
}

/** Nobody but us wrote the target since the baseline; then the delta, in one transaction. */
export async function applyDeltaToTarget(
  settings: Settings,
  log: Logger,
  runDir: string,
  delta: SnapshotDelta,
  newerFile = finalFileOf(runDir),
): Promise<AppliedDelta> {
  const state = readOnlineState(runDir);
  if (!state?.baseline) throw new DomainError(Outcome.Internal, 'no baseline of the target recorded in phase 1');
  await assertUntouched(settings, log, state.baseline, {});
  patchOnlineState(runDir, settings.appDir, {
    inFlight: { writes: expectedWrites(delta) },
  });
  const model = loadSchemaModel(settings.schemaPath);
  const schema = targetSchemaFromUrl(settings.targetUrl);
  const target = await openTarget(settings, log);
  try {
    // A session still connected may hold writes its counters do not show yet: with the app stopped, none is ours.
    const { rows: sessions } = await target.client.query<{ pid: number; user: string; application: string }>(
      loadSql('target-other-sessions'),
      [OUR_APPLICATION_NAME],
    );
    if (sessions.length)
      throw new DomainError(
        Outcome.RolledBack,
        `${sessions.length} other client session(s) are connected to the target with the app stopped (pid ${sessions[0].pid}, user ${sessions[0].user}${sessions[0].application ? `, ${sessions[0].application}` : ''}): someone else uses it; refusing the cutover`,
      );
    const plans = plansFor(model, newerFile, await readTargetColumns(target.client, schema), schema);
    await assertReplacedRowsVerified(target.client, runDir, plans, delta);
    // Our own writes: 'loading' while the delta goes in (a killed run reloads with --force), then the new counts.
    const marker = await readMarker(target.client, schema);
    if (marker) await markTarget(target.client, schema, { ...marker, state: 'loading', at: new Date().toISOString() });
    const applied = await applyDelta(target.client, schema, plans, delta, log);
    if (marker) {
      const rows = { ...marker.rows };
      for (const t of delta.tables) rows[t.table] = (rows[t.table] ?? 0) + t.inserts.length - t.deletes.length;
      await markTarget(target.client, schema, { ...marker, state: 'loaded', at: new Date().toISOString(), rows });
    }
    log.ok(
      `delta applied in one transaction (${delta.rows.total} rows${applied.foreignKeysReAdded ? `, ${applied.foreignKeysReAdded} foreign key(s) re-added` : ''}; ${applied.sequences.length} sequence(s) moved past the new ids)`,
    );
    return applied;
  } finally {
    await target.close();
  }
}

/** The base manifest's entry of each table the delta changes: its columns' kinds and its verified hash. */
function changedManifestTables(runDir: string, delta: SnapshotDelta): Map<string, Manifest['tables'][number]> {
  const phase1 = readRunJson<Manifest>(runDir, deltaBase(runDir).manifest);
  const changed = new Set(delta.tables.map((t) => t.table));
  return new Map(phase1.tables.filter((t) => changed.has(t.name)).map((t) => [t.name, t]));
}

/**
 * Before the delta goes in: the target's rows at the keys it updates or deletes are the old versions the delta
 * takes out (their canonical hashes sum to its hashOut), so the hash phase 1 verified is brought forward from
 * rows that really are there.
 */
async function assertReplacedRowsVerified(
  client: pg.Client,
  runDir: string,
  plans: Map<string, CopyTablePlan>,
  delta: SnapshotDelta,
): Promise<void> {
  const tables = changedManifestTables(runDir, delta);
  for (const d of delta.tables) {
    const replaced = [...d.updates, ...d.deletes];
    const found = await pgHashAtKeys(client, tables.get(d.table)!, plans.get(d.table)!, replaced);
    if (found.rowCount !== replaced.length || BigInt(found.contentHash) !== d.hashOut)
      throw new DomainError(
        Outcome.RolledBack,
        `"${d.table}": the ${replaced.length} row(s) the delta updates or deletes are not on PostgreSQL as phase 1 verified them (${found.rowCount} found, content hash ${found.contentHash} ≠ ${d.hashOut}); refusing the cutover`,
      );
  }
}

/**
 * After the delta: the rows at the keys it inserted or updated hash to its hashIn, and no row is left at a key it
 * deleted. With the counters moved by exactly the delta, no other row changed: each table's hash is the one phase 1
 * verified, brought forward.
 */
async function assertDeltaRowsArrived(
  client: pg.Client,
  table: Manifest['tables'][number],
  plan: CopyTablePlan,
  d: TableDelta,
): Promise<void> {
  const written = [...d.updates, ...d.inserts];
  const found = await pgHashAtKeys(client, table, plan, written);
  if (found.rowCount !== written.length || BigInt(found.contentHash) !== d.hashIn)
    throw new DomainError(
      Outcome.RolledBack,
      `"${d.table}": the ${written.length} row(s) the delta inserted or updated are not on PostgreSQL as in the final snapshot (${found.rowCount} found, content hash ${found.contentHash} ≠ ${d.hashIn})`,
    );
  const left = await pgHashAtKeys(client, table, plan, d.deletes);
  if (left.rowCount !== 0)
    throw new DomainError(
      Outcome.RolledBack,
      `"${d.table}": ${left.rowCount} of the ${d.deletes.length} row(s) the delta deleted are still on PostgreSQL`,
    );
}

/**
 * The target's counters moved by exactly `expected` since the baseline. Our own sessions flush their counters when
 * they end, which is not instantly: a count below the expected one is read again for a while; above is refused.
 */
async function assertUntouched(
  settings: Settings,
  log: Logger,
  baseline: WriteCounters,
  expected: WriteCounters,
): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const since = countersSince(baseline, await readWriteCounters(settings, log, settings.targetUrl!));
    const differ = countersDiffer(expected, since);
    if (!differ) return;
    const below = Object.entries(since).every(([t, c]) => {
      const e = expected[t] ?? { ins: 0, upd: 0, del: 0 };
      return c.ins <= e.ins && c.upd <= e.upd && c.del <= e.del;
    });
    if (!below || Date.now() > deadline)
      throw new DomainError(
        Outcome.RolledBack,
        `the target was written by someone else since phase 1 was verified (${differ}); refusing the cutover`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Before a resumed run loads the target again: since the baseline, the target's counters moved by nothing or by
 * exactly the delta that was in flight (committed or not when the run died). Anything else is someone else's
 * writes (an UPDATE leaves the row counts as they were), which a reload would drop: refused, the database kept.
 */
export async function assertReloadLosesNothing(settings: Settings, log: Logger, runDir: string): Promise<void> {
  const state = readOnlineState(runDir);
  if (!state?.baseline) return; // phase 1 never finished: the load itself was unfinished
  const since = countersSince(state.baseline, await readWriteCounters(settings, log, settings.targetUrl!));
  const anyWrite = countersDiffer({}, since);
  if (!anyWrite) return;
  const beyondDelta = state.inFlight ? countersDiffer(state.inFlight.writes, since) : anyWrite;
  if (!beyondDelta) return;
  throw new DomainError(
    Outcome.TargetNotReady,
    `rows were written to the target since phase 1 was verified, beyond this run's own delta (${beyondDelta}): loading it again would lose them; nothing was changed, keep this database`,
  );
}

export interface QuickPrismaGate {
  /** The gate itself (the prisma-reads step): throws when the client cannot read every model. */
  run(): Promise<GateReport>;
  /** Ends the thread (and its WebAssembly memory); the caller's scope does this on every way out. */
  close(): Promise<void>;
}

/**
 * The window's quick Prisma gate (lib/verify/prisma-gate.ts prismaReadsGate) in a helper thread that starts at once
 * and imports the run's Prisma Client (generated in phase 1) while the window's first steps run, so the gate itself
 * only connects and reads. Nothing connects to the target before run().
 */
export function startQuickPrismaGate(settings: Settings, log: Logger, runDir: string): QuickPrismaGate {
  const thread = startCallWorker(helperThreadModule('verify/prisma-thread'), log);
  const { file } = pgSchemaFile(runDir, settings.schemaPath);
  const warm = file
    ? thread.call('prismaWarm', { runDir, schemaText: readFileSync(file, 'utf8') }).catch(() => undefined)
    : Promise.resolve();
  return {
    async run() {
      await warm;
      const target = await openTarget(settings, log);
      try {
        const report = await prismaReadsGate(
          target,
          runDir,
          settings.schemaPath,
          targetSchemaFromUrl(settings.targetUrl),
          thread,
        );
        if (!report.ok) throw new DomainError(Outcome.RolledBack, `quick Prisma gate: ${report.reason}`);
        log.ok(`quick Prisma gate: ${report.reason} (${report.seconds.toFixed(1)} s)`);
        return report;
      } finally {
        await target.close();
      }
    },
    close: () => thread.close(),
  };
}

/** The phase-1 manifest brought forward by the delta: what PostgreSQL must hold now. */
export function forwardManifest(phase1: Manifest, delta: SnapshotDelta, file: string, bytes: number): Manifest {
  const byTable = new Map(delta.tables.map((t) => [t.table, t]));
  return {
    ...phase1,
    createdAt: new Date().toISOString(),
    // Not checksummed: read once, inside the window, for its delta (the final snapshot, or the live file in place).
    snapshot: { file, sha256: '', bytes },
    tables: phase1.tables.map((t) => {
      const d = byTable.get(t.name);
      if (!d) return t;
      return {
        ...t,
        rowCount: t.rowCount + d.inserts.length - d.deletes.length,
        contentHash: (BigInt(t.contentHash) - d.hashOut + d.hashIn).toString(),
      };
    }),
  };
}

/**
 * The delta on the target checked (counts, the changed tables' hashes brought forward, the counters); the manifest
 * brought forward is written to `manifestOut` (by default the run's manifest, which the cutover's counts then use).
 */
export async function verifyDelta(
  settings: Settings,
  log: Logger,
  runDir: string,
  delta: SnapshotDelta,
  options: { newerFile?: string; manifestOut?: string } = {},
): Promise<DeltaCheck> {
  const state = readOnlineState(runDir)!;
  const phase1 = readRunJson<Manifest>(runDir, deltaBase(runDir).manifest);
  const final = options.newerFile ?? finalFileOf(runDir);
  const inRunDir = path.dirname(final) === runDir;
  const forwarded = forwardManifest(phase1, delta, inRunDir ? path.basename(final) : final, 0);
  const schema = targetSchemaFromUrl(settings.targetUrl);
  const byTable = new Map(delta.tables.map((t) => [t.table, t]));
  const model = loadSchemaModel(settings.schemaPath);
  const check = async (client: pg.Client, plans: Map<string, CopyTablePlan>, t: Manifest['tables'][number]) => {
    const rows = await pgRowCount(client, schema, t.name);
    if (rows !== t.rowCount)
      throw new DomainError(
        Outcome.RolledBack,
        `"${t.name}" has ${rows} rows in PostgreSQL after the delta, the snapshot has ${t.rowCount}`,
      );
    const d = byTable.get(t.name);
    if (d) await assertDeltaRowsArrived(client, t, plans.get(t.name)!, d);
  };
  // Two connections, biggest tables first: the window waits for the slowest one.
  const targets = [await openTarget(settings, log), await openTarget(settings, log)];
  try {
    const plans = plansFor(model, final, await readTargetColumns(targets[0].client, schema), schema);
    const queue = [...forwarded.tables].sort((a, b) => b.rowCount - a.rowCount);
    await Promise.all(
      targets.map(async (target) => {
        for (let t = queue.shift(); t; t = queue.shift()) await check(target.client, plans, t);
      }),
    );
  } finally {
    await Promise.all(targets.map((t) => t.close()));
  }
  await assertUntouched(settings, log, state.baseline, expectedWrites(delta));
  writeRunJson(runDir, options.manifestOut ?? RUN_FILES.manifest, forwarded);
  log.ok(
    `delta verified: ${forwarded.tables.length} tables counted, ${byTable.size} content hash(es) brought forward by the delta's rows on both sides, the target's counters moved by exactly the delta`,
  );
  return { tablesCounted: forwarded.tables.length, tablesHashed: byTable.size, rows: delta.rows.total };
}
