import pg from 'pg';
import { Outcome, DomainError } from '../errors.ts';
import type { Logger } from '../cli/log.ts';
import type { DeferredForeignKey, DeferredObjects, Queryable } from './schema-objects.ts';
import { sqlWithIdentifiers } from '../files/sql-files.ts';

/**
 * The foreign keys load-pg dropped before the COPY, put back: re-added NOT VALID (instant), then validated (a full
 * check of the existing rows). A violation is a source problem (exit 4) naming the constraint and one orphan key.
 *
 * Most of them are put back by the slots between two tables, as soon as both of a key's tables are loaded
 * (ForeignKeyReadiness); the rest after the copy phase (restoreForeignKeys). Validation is ≈ 1 CPU-s of
 * PostgreSQL work on a 1.5 M-row load: after the last COPY it ran with one core often idle, between tables it
 * runs while the other slot's COPY keeps the client busy.
 */
const id = (name: string) => pg.escapeIdentifier(name);

/**
 * Lock conflicts that only concurrency causes: with more than two slots, keys handed out at different moments can
 * lock their tables in a cycle (ADD FOREIGN KEY takes SHARE ROW EXCLUSIVE on the child, then on the parent), and
 * PostgreSQL breaks the cycle by failing one statement. Such a key is simply put back after the copy phase.
 */
const LOCK_CONFLICT_CODES = new Set(['40P01', '55P03']);
const isLockConflict = (err: unknown) => LOCK_CONFLICT_CODES.has((err as { code?: string }).code ?? '');

/** Hands each deferred foreign key out once, as soon as the tables it joins are loaded with their keys rebuilt. */
export class ForeignKeyReadiness {
  private readonly pending: DeferredForeignKey[];
  private readonly notLoaded: Set<string>;

  /** `loadedTables`: the tables of this load. A key's parent outside them (another schema, a kept table) is there already. */
  constructor(
    private readonly deferred: DeferredObjects,
    loadedTables: Iterable<string>,
  ) {
    this.pending = [...deferred.foreignKeys];
    this.notLoaded = new Set(loadedTables);
  }

  /** `table` is loaded (COPY committed, indexes and primary key rebuilt): the keys that can go back now. */
  tableLoaded(table: string): DeferredForeignKey[] {
    this.notLoaded.delete(table);
    const ready: DeferredForeignKey[] = [];
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const fk = this.pending[i];
      const parentWaiting = fk.refSchema === this.deferred.schema && this.notLoaded.has(fk.refTable);
      if (!this.notLoaded.has(fk.table) && !parentWaiting) ready.unshift(...this.pending.splice(i, 1));
    }
    return ready;
  }

  /** Keys never handed out (the load stopped early): left for the final phase. */
  unclaimed(): DeferredForeignKey[] {
    return [...this.pending];
  }
}

export type ForeignKeyOutcome = 'validated' | 'add-later' | 'validate-later';

/**
 * Put one key back between two tables, on the slot's own connection: re-add NOT VALID, then VALIDATE. A lock
 * conflict with another slot leaves the rest of the job to restoreForeignKeys ('add-later' / 'validate-later').
 */
export async function restoreForeignKeyNow(
  client: Queryable,
  schema: string,
  fk: DeferredForeignKey,
): Promise<ForeignKeyOutcome> {
  try {
    await client.query(addNotValidStatement(schema, fk));
  } catch (err) {
    if (isLockConflict(err)) return 'add-later';
    throw err;
  }
  try {
    await validateForeignKey(client, schema, fk);
  } catch (err) {
    if (isLockConflict(err)) return 'validate-later';
    throw err;
  }
  return 'validated';
}

/**
 * The keys still to be put back after the copy phase: `toAdd` are re-added NOT VALID first (one round trip and one
 * transaction for all of them: each ALTER TABLE is a catalog change, and a commit per statement costs a WAL flush
 * each on a real disk), then `toAdd` and `toValidate` are validated over the connections given.
 */
export async function restoreForeignKeys(
  clients: Queryable[],
  schema: string,
  keys: { toAdd: DeferredForeignKey[]; toValidate: DeferredForeignKey[] },
  log: Logger,
): Promise<number> {
  if (keys.toAdd.length) {
    await clients[0].query(keys.toAdd.map((fk) => addNotValidStatement(schema, fk)).join('\n'));
    log.debug(`${keys.toAdd.length} foreign keys added NOT VALID`);
  }
  const queue = [...keys.toAdd, ...keys.toValidate];
  let validated = 0;
  const worker = async (client: Queryable) => {
    for (let fk = queue.shift(); fk; fk = queue.shift()) {
      try {
        await validateForeignKey(client, schema, fk);
      } catch (err) {
        queue.length = 0;
        throw err;
      }
      validated++;
      log.debug(`foreign key ${fk.name} validated`);
    }
  };
  // VALIDATE takes SHARE UPDATE EXCLUSIVE on the child and ROW SHARE on the parent: two at once only wait for each
  // other when they check keys of the same child table.
  await Promise.all(clients.map((client) => worker(client)));
  return validated;
}

function addNotValidStatement(schema: string, fk: DeferredForeignKey): string {
  return sqlWithIdentifiers('load-pg-add-constraint', {
    schema: id(schema),
    table: id(fk.table),
    name: id(fk.name),
    definition: `${fk.definition} NOT VALID`,
  });
}

/**
 * VALIDATE one key added NOT VALID; a violation (23503) becomes the one-line source problem naming the orphan rows
 * (how many, up to three keys). The key stays NOT VALID on the target and load-pg's step is journalled as failed,
 * so verify's integrity gate fails on it and a new load needs --force: never a half-constrained schema that looks done.
 */
async function validateForeignKey(client: Queryable, schema: string, fk: DeferredForeignKey): Promise<void> {
  try {
    await client.query(
      sqlWithIdentifiers('load-pg-validate-constraint', { schema: id(schema), table: id(fk.table), name: id(fk.name) }),
    );
  } catch (err) {
    if ((err as { code?: string }).code !== '23503') throw err;
    const orphans = await findOrphans(client, schema, fk).catch(() => undefined);
    const rowsText = orphans
      ? `${orphans.count} row${orphans.count === 1 ? '' : 's'} of "${fk.table}" (${orphans.keys.join('; ')}${orphans.count > orphans.keys.length ? '; …' : ''})`
      : `rows of "${fk.table}"`;
    throw new DomainError(
      Outcome.SourceProblem,
      `foreign key "${fk.name}" is violated by the snapshot's data: ${rowsText} point${orphans?.count === 1 ? 's' : ''} at no "${fk.refTable}" row through ${fk.columns.join(', ')} (children whose parent was deleted while foreign_keys was OFF); fix them in the app's SQLite, then backup and load again with --force`,
      {
        table: fk.table,
        constraint: fk.name,
        orphan: orphans?.keys[0],
        orphanCount: orphans?.count,
        orphanKeys: orphans?.keys,
      },
    );
  }
}

function orphanFragments(schema: string, fk: DeferredForeignKey): Record<string, string> {
  return {
    schema: id(schema),
    table: id(fk.table),
    refSchema: id(fk.refSchema),
    refTable: id(fk.refTable),
    columns: fk.columns.map(id).join(', '),
    columnsAliased: fk.columns.map((c, i) => `c.${id(c)}::text AS ${id(`k${i}`)}`).join(', '),
    notNull: fk.columns.map((c) => `c.${id(c)} IS NOT NULL`).join(' AND '),
    join: fk.columns.map((c, i) => `p.${id(fk.refColumns[i])} = c.${id(c)}`).join(' AND '),
  };
}

/** `"userId"=abc` for one row of the child table whose key has no parent. */
export async function findOrphan(
  client: Queryable,
  schema: string,
  fk: DeferredForeignKey,
): Promise<string | undefined> {
  return (await findOrphans(client, schema, fk)).keys[0];
}

/** How many child rows have no parent, and the foreign-key values of up to three of them (`accountId=3`). */
export async function findOrphans(
  client: Queryable,
  schema: string,
  fk: DeferredForeignKey,
): Promise<{ count: number; keys: string[] }> {
  const fragments = orphanFragments(schema, fk);
  const { rows } = await client.query<Record<string, string>>(sqlWithIdentifiers('load-pg-fk-orphan', fragments));
  const counted = await client.query<{ orphan_count: string }>(
    sqlWithIdentifiers('load-pg-fk-orphan-count', fragments),
  );
  return {
    count: Number(counted.rows[0].orphan_count),
    keys: rows.map((row) => fk.columns.map((c, i) => `${c}=${row[`k${i}`]}`).join(', ')),
  };
}
