import pg from 'pg';
import { DomainError, Outcome } from '../errors.ts';
import type { Logger } from '../cli/log.ts';
import { loadSql, sqlWithIdentifiers } from '../files/sql-files.ts';
import { copyTextOf, type CopyTablePlan } from '../copy/rows.ts';
import { keyMatch, stageKeys, stageRows } from './delta-stage.ts';
import { countersSince, type WriteCounters } from '../app/pg-writes.ts';
import type { SnapshotDelta, TableDelta } from '../sqlite/snapshot-delta.ts';
import {
  captureDeferredObjects,
  resetSequences,
  type DeferredForeignKey,
  type SequenceReset,
} from './schema-objects.ts';

/**
 * The online cutover's delta applied to PostgreSQL in ONE transaction: deletes (children first), updates, inserts
 * (parents first), each staged by COPY with load-pg's encoders into a temporary table and applied with one
 * statement per table and kind. Inside the transaction, pg_stat_xact_user_tables must have moved by exactly the
 * delta's rows per table before COMMIT (a referential action or trigger that touched other rows rolls it back).
 */
export interface AppliedDelta {
  /** Rows written per table, as PostgreSQL counted them inside the transaction (equal to `expected`). */
  written: WriteCounters;
  /** Foreign keys dropped and re-added inside the transaction (0: the ordered apply was exact on its own). */
  foreignKeysReAdded: number;
  sequences: SequenceReset[];
  seconds: number;
}

const id = (name: string) => pg.escapeIdentifier(name);
const STAGE = 'online_delta_rows';

/** Rows the delta writes per table: what pg_stat must count, here and later against the baseline. */
export function expectedWrites(delta: SnapshotDelta): WriteCounters {
  const out: WriteCounters = {};
  for (const t of delta.tables) out[t.table] = { ins: t.inserts.length, upd: t.updates.length, del: t.deletes.length };
  return out;
}

/** Tables in an order where every referenced table comes before the tables referencing it (cycles: as listed). */
function parentsFirst(tables: string[], fks: DeferredForeignKey[]): string[] {
  const inSet = new Set(tables);
  const done = new Set<string>();
  const out: string[] = [];
  const visiting = new Set<string>();
  const visit = (t: string) => {
    if (done.has(t) || visiting.has(t)) return;
    visiting.add(t);
    for (const fk of fks) if (fk.table === t && fk.refTable !== t && inSet.has(fk.refTable)) visit(fk.refTable);
    visiting.delete(t);
    done.add(t);
    out.push(t);
  };
  for (const t of tables) visit(t);
  return out;
}

async function applyKind(
  client: pg.Client,
  plan: CopyTablePlan,
  kind: 'delete' | 'update' | 'insert',
  rows: TableDelta['inserts'],
): Promise<void> {
  if (rows.length === 0) return;
  const names = plan.columns.map((c) => c.name);
  const match = keyMatch(plan, 't', 's');
  if (kind === 'delete') await stageKeys(client, STAGE, plan, rows);
  else await stageRows(client, STAGE, plan, names, copyTextOf(plan, rows));
  const assignments = names.filter((n) => !plan.key.includes(n)).map((n) => `${id(n)} = s.${id(n)}`);
  await client.query(
    sqlWithIdentifiers(`online-delta-${kind}`, {
      stage: id(STAGE),
      table: `${id(plan.schema)}.${id(plan.table)}`,
      columns: names.map(id).join(', '),
      assignments: assignments.join(', '),
      match,
    }),
  );
  await client.query(sqlWithIdentifiers('online-delta-unstage', { stage: id(STAGE) }));
}

async function xactCounters(client: pg.Client, schema: string): Promise<WriteCounters> {
  const { rows } = await client.query<{ table_name: string; ins: string; upd: string; del: string }>(
    loadSql('online-delta-xact-counters'),
    [schema],
  );
  const out: WriteCounters = {};
  for (const r of rows) {
    const c = { ins: Number(r.ins), upd: Number(r.upd), del: Number(r.del) };
    if (c.ins || c.upd || c.del) out[r.table_name] = c;
  }
  return out;
}

/** The first table whose counts differ from the expected ones, as a line; undefined when all agree. */
export function countersDiffer(expected: WriteCounters, actual: WriteCounters): string | undefined {
  for (const table of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
    const e = expected[table] ?? { ins: 0, upd: 0, del: 0 };
    const a = actual[table] ?? { ins: 0, upd: 0, del: 0 };
    if (e.ins !== a.ins || e.upd !== a.upd || e.del !== a.del)
      return `"${table}": ${a.ins}/${a.upd}/${a.del} rows inserted/updated/deleted, the delta has ${e.ins}/${e.upd}/${e.del}`;
  }
  return undefined;
}

class ApplyMismatch extends Error {}

async function applyOnce(
  client: pg.Client,
  schema: string,
  plans: Map<string, CopyTablePlan>,
  delta: SnapshotDelta,
  order: string[],
  dropForeignKeys: DeferredForeignKey[],
): Promise<void> {
  const byTable = new Map(delta.tables.map((t) => [t.table, t]));
  await client.query('BEGIN');
  try {
    // The backend's counts not flushed yet (an earlier attempt's included) stay put inside a transaction block.
    const before = await xactCounters(client, schema);
    for (const fk of dropForeignKeys)
      await client.query(
        sqlWithIdentifiers('load-pg-drop-constraint', { schema: id(schema), table: id(fk.table), name: id(fk.name) }),
      );
    for (const t of [...order].reverse()) await applyKind(client, plans.get(t)!, 'delete', byTable.get(t)!.deletes);
    for (const t of order) await applyKind(client, plans.get(t)!, 'update', byTable.get(t)!.updates);
    for (const t of order) await applyKind(client, plans.get(t)!, 'insert', byTable.get(t)!.inserts);
    // Re-added as PostgreSQL printed them: ADD CONSTRAINT without NOT VALID checks every row before COMMIT.
    for (const fk of dropForeignKeys)
      await client.query(
        sqlWithIdentifiers('load-pg-add-constraint', {
          schema: id(schema),
          table: id(fk.table),
          name: id(fk.name),
          definition: fk.definition,
        }),
      );
    const differ = countersDiffer(expectedWrites(delta), countersSince(before, await xactCounters(client, schema)));
    if (differ) throw new ApplyMismatch(differ);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * Foreign keys the ordered apply cannot be trusted with, or none. Deletes run first (children first), then
 * updates, then inserts (parents first). That order alone is exact unless (a) a row is deleted from a table other
 * rows reference (a referential action or a RESTRICT would act on rows the delta still moves), or (b) an update in
 * a referencing table may point at a row the delta only inserts later. Then every foreign key touching the delta's
 * tables is dropped for the transaction and re-added, validated, before COMMIT. Decided up front: an attempt that
 * fails leaves its counts in pg_stat (aborted rows count), and those must stay exactly the delta's.
 */
export function foreignKeysToDrop(delta: SnapshotDelta, touching: DeferredForeignKey[]): DeferredForeignKey[] {
  const referenced = new Set(touching.map((fk) => fk.refTable));
  const inserting = new Set(delta.tables.filter((t) => t.inserts.length).map((t) => t.table));
  const unsafe = delta.tables.some(
    (t) =>
      (t.deletes.length > 0 && referenced.has(t.table)) ||
      (t.updates.length > 0 && touching.some((fk) => fk.table === t.table && inserting.has(fk.refTable))),
  );
  return unsafe ? touching : [];
}

export async function applyDelta(
  client: pg.Client,
  schema: string,
  plans: Map<string, CopyTablePlan>,
  delta: SnapshotDelta,
  log: Logger,
): Promise<AppliedDelta> {
  const started = performance.now();
  const tables = delta.tables.map((t) => t.table);
  if (tables.length === 0) return { written: {}, foreignKeysReAdded: 0, sequences: [], seconds: 0 };
  const fks = (await captureDeferredObjects(client, schema, [...plans.keys()])).foreignKeys;
  const involved = new Set(tables);
  const touching = fks.filter((fk) => involved.has(fk.table) || involved.has(fk.refTable));
  const drop = foreignKeysToDrop(delta, touching);
  if (drop.length)
    log.info(
      `the delta deletes referenced rows or re-points references: ${drop.length} foreign key(s) dropped and re-added in its transaction`,
    );
  try {
    await applyOnce(client, schema, plans, delta, parentsFirst(tables, touching), drop);
  } catch (err) {
    if (err instanceof ApplyMismatch)
      throw new DomainError(Outcome.RolledBack, `the delta did not apply exactly: ${err.message}`);
    throw err;
  }
  const reAdded = drop.length;
  const inserted = new Set(delta.tables.filter((t) => t.inserts.length).map((t) => t.table));
  const sequences = inserted.size ? await resetSequences(client, schema, inserted, log) : [];
  return {
    written: expectedWrites(delta),
    foreignKeysReAdded: reAdded,
    sequences,
    seconds: (performance.now() - started) / 1000,
  };
}
