import pg from 'pg';
import { Outcome, DomainError, targetNotReady } from '../errors.ts';
import type { Logger } from '../cli/log.ts';
import { loadSql, sqlWithIdentifiers } from '../files/sql-files.ts';

/**
 * What load-pg does to the target's schema objects around the COPY: the emptiness check and --force cleanup,
 * capturing/dropping/rebuilding indexes (primary keys included) and foreign keys, resetting and proving sequences, ANALYZE.
 * Every statement comes from sql/load-pg-*.sql; identifiers only through escapeIdentifier.
 */
const id = (name: string) => pg.escapeIdentifier(name);

export type Queryable = Pick<pg.Client, 'query'>;

/**
 * The one-line cause when building a deferred unique index (primary key included) failed on a duplicate key
 * (23505), else undefined. Shared by the slots (after each table's COPY) and the final rebuild phase. PostgreSQL's
 * DETAIL names the key's value, which may hold a line break: shown escaped, so the cause stays one line.
 */
export function duplicateIndexCause(index: string, table: string, err: unknown): string | undefined {
  const e = err as { code?: string; message?: string; detail?: string };
  if (e?.code !== '23505') return undefined;
  const detail = (e.detail ?? e.message ?? '').replace(/\r?\n/g, '\\n');
  return `unique index "${index}" on "${table}" cannot be built: the snapshot holds duplicates (${detail})`;
}

/** The schema named by `?schema=` in a Prisma-style URL, else public. */
export function targetSchemaFromUrl(url: string | undefined): string {
  if (!url) return 'public';
  try {
    return new URL(url).searchParams.get('schema') || 'public';
  } catch {
    return 'public';
  }
}

export async function useSchema(client: Queryable, schema: string): Promise<void> {
  await client.query(sqlWithIdentifiers('load-pg-search-path', { schema: id(schema) }));
}

export interface SchemaRelation {
  name: string;
  kind: string;
  owner: string;
}

export async function listSchemaRelations(client: Queryable, schema: string): Promise<SchemaRelation[]> {
  const { rows } = await client.query<SchemaRelation>(loadSql('load-pg-schema-tables'), [schema]);
  return rows;
}

const RELATION_KEYWORD: Record<string, string> = {
  r: 'TABLE',
  p: 'TABLE',
  v: 'VIEW',
  m: 'MATERIALIZED VIEW',
  f: 'FOREIGN TABLE',
};
const TYPE_KEYWORD: Record<string, string> = { e: 'TYPE', c: 'TYPE', r: 'TYPE', m: 'TYPE', d: 'DOMAIN' };

/**
 * --force: empty the target schema of everything a previous (possibly half-finished) load or another tool left:
 * relations (with _prisma_migrations), then enum/domain/composite types, then stray sequences. Object by object
 * rather than DROP SCHEMA, so it works for a role that owns its objects but not the schema (managed PostgreSQL,
 * PG 15's public schema). An object owned by someone else → exit 3 naming it.
 */
export async function dropSchemaContents(
  client: Queryable,
  schema: string,
  log: Logger,
): Promise<{ relations: number; types: number; sequences: number }> {
  const relations = await listSchemaRelations(client, schema);
  const { rows: types } = await client.query<{ name: string; kind: string }>(loadSql('load-pg-schema-types'), [schema]);
  const counts = { relations: 0, types: 0, sequences: 0 };
  const run = async (sql: string, what: string) => {
    try {
      await client.query(sql);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      if (e.code === '42501')
        throw targetNotReady(
          `cannot drop ${what} in schema "${schema}": ${e.message} (it belongs to another role; drop it as its owner)`,
        );
      throw err;
    }
  };
  await client.query('BEGIN');
  try {
    for (const rel of relations) {
      const kind = RELATION_KEYWORD[rel.kind] ?? 'TABLE';
      await run(
        sqlWithIdentifiers('load-pg-drop-relation', { kind, schema: id(schema), name: id(rel.name) }),
        `${kind.toLowerCase()} "${rel.name}"`,
      );
      counts.relations++;
    }
    for (const type of types) {
      const kind = TYPE_KEYWORD[type.kind] ?? 'TYPE';
      await run(
        sqlWithIdentifiers('load-pg-drop-type', { kind, schema: id(schema), name: id(type.name) }),
        `type "${type.name}"`,
      );
      counts.types++;
    }
    const { rows: sequences } = await client.query<{ name: string }>(loadSql('load-pg-schema-sequences'), [schema]);
    for (const seq of sequences) {
      await run(
        sqlWithIdentifiers('load-pg-drop-sequence', { schema: id(schema), name: id(seq.name) }),
        `sequence "${seq.name}"`,
      );
      counts.sequences++;
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  log.info(
    `--force: dropped ${counts.relations} tables/views, ${counts.types} types and ${counts.sequences} sequences from schema "${schema}"`,
  );
  return counts;
}

// ---------------------------------------------------------------------------------------------------------------
// Deferred objects: indexes (primary keys included) and foreign keys, dropped before COPY and rebuilt after.

export interface DeferredIndex {
  table: string;
  name: string;
  /** pg_get_indexdef(): the complete CREATE [UNIQUE] INDEX statement. */
  definition: string;
  unique: boolean;
  /** The table's primary key (deferred like any other index: a sorted build after COPY is cheaper). */
  primary?: boolean;
  /** Set when the index backs a PRIMARY KEY/UNIQUE/EXCLUDE constraint: then it is re-added as that constraint. */
  constraint?: { name: string; definition: string };
}

export interface DeferredForeignKey {
  table: string;
  name: string;
  /** pg_get_constraintdef(): `FOREIGN KEY (...) REFERENCES ...(...) ON DELETE ...`. */
  definition: string;
  columns: string[];
  refSchema: string;
  refTable: string;
  refColumns: string[];
}

export interface DeferredObjects {
  version: 1;
  schema: string;
  capturedAt: string;
  indexes: DeferredIndex[];
  foreignKeys: DeferredForeignKey[];
}

export async function captureDeferredObjects(
  client: Queryable,
  schema: string,
  tables: string[],
): Promise<DeferredObjects> {
  const { rows: indexRows } = await client.query<{
    table_name: string;
    index_name: string;
    index_def: string;
    constraint_name: string | null;
    constraint_def: string | null;
    is_unique: boolean;
    is_primary: boolean;
  }>(loadSql('load-pg-deferred-indexes'), [schema, tables]);
  const { rows: fkRows } = await client.query<{
    table_name: string;
    constraint_name: string;
    constraint_def: string;
    ref_table: string;
    ref_schema: string;
    columns: string[];
    ref_columns: string[];
  }>(loadSql('load-pg-deferred-fks'), [schema, tables]);
  return {
    version: 1,
    schema,
    capturedAt: new Date().toISOString(),
    indexes: indexRows.map((r) => ({
      table: r.table_name,
      name: r.index_name,
      definition: r.index_def,
      unique: r.is_unique,
      ...(r.is_primary ? { primary: true } : {}),
      ...(r.constraint_name && r.constraint_def
        ? { constraint: { name: r.constraint_name, definition: r.constraint_def } }
        : {}),
    })),
    foreignKeys: fkRows.map((r) => ({
      table: r.table_name,
      name: r.constraint_name,
      definition: r.constraint_def,
      columns: r.columns,
      refSchema: r.ref_schema,
      refTable: r.ref_table,
      refColumns: r.ref_columns,
    })),
  };
}

/**
 * Drop FKs first (a primary key or unique index may be what an FK references), then the indexes: one multi-statement
 * query, which PostgreSQL runs as one transaction (all dropped or none) in one round trip.
 */
export async function dropDeferredObjects(client: Queryable, deferred: DeferredObjects): Promise<void> {
  const schema = id(deferred.schema);
  const statements = [
    ...deferred.foreignKeys.map((fk) =>
      sqlWithIdentifiers('load-pg-drop-constraint', { schema, table: id(fk.table), name: id(fk.name) }),
    ),
    ...deferred.indexes.map((index) =>
      index.constraint
        ? sqlWithIdentifiers('load-pg-drop-constraint', {
            schema,
            table: id(index.table),
            name: id(index.constraint.name),
          })
        : sqlWithIdentifiers('load-pg-drop-index', { schema, name: id(index.name) }),
    ),
  ];
  if (!statements.length) return;
  try {
    await client.query(statements.join('\n'));
  } catch (err) {
    // 2BP01: something load-pg did not capture depends on one of them (load-pg-deferred-indexes keeps what it can
    // see depending on an index or constraint). Nothing was dropped; say which object, on one line.
    const e = err as { code?: string; message?: string; detail?: string };
    if (e.code !== '2BP01') throw err;
    throw targetNotReady(
      `cannot drop the indexes and foreign keys for the load: ${e.message?.split('\n')[0]}${e.detail ? ` (${e.detail.split('\n')[0]})` : ''}`,
    );
  }
}

/**
 * The statement that rebuilds one deferred index: its constraint re-added (PRIMARY KEY, UNIQUE, EXCLUDE; the
 * index comes with it, under the same name), else PostgreSQL's own CREATE INDEX text captured before the drop.
 */
export function indexRebuildStatement(schema: string, index: DeferredIndex): string {
  if (!index.constraint) return index.definition;
  return sqlWithIdentifiers('load-pg-add-constraint', {
    schema: id(schema),
    table: id(index.table),
    name: id(index.constraint.name),
    definition: index.constraint.definition,
  });
}

/**
 * Rebuild the deferred indexes, spread over the given connections (index builds are CPU-bound in the backend,
 * so two connections use both cores). A unique index that fails to build means the snapshot holds duplicates:
 * a source problem (exit 4) naming the index.
 */
export async function rebuildIndexes(clients: Queryable[], deferred: DeferredObjects, log: Logger): Promise<number> {
  const queue = [...deferred.indexes];
  let built = 0;
  const worker = async (client: Queryable) => {
    for (let index = queue.shift(); index; index = queue.shift()) {
      try {
        await client.query(indexRebuildStatement(deferred.schema, index));
        built++;
        log.debug(`index ${index.name} rebuilt`);
      } catch (err) {
        const cause = duplicateIndexCause(index.name, index.table, err);
        if (!cause) throw err;
        queue.length = 0;
        throw new DomainError(Outcome.SourceProblem, cause, { table: index.table, index: index.name });
      }
    }
  };
  await Promise.all(clients.map((client) => worker(client)));
  return built;
}

// ---------------------------------------------------------------------------------------------------------------
// Sequences

export interface SequenceReset {
  table: string;
  column: string;
  sequence: string;
  /** Largest id loaded (null for an empty table). */
  maxId: string | null;
  /** The id the next insert will receive. */
  nextId: string;
}

/**
 * Reset every autoincrement sequence of the schema to max(id) and prove it.
 *
 * The proof: a literal test INSERT is not possible in general (a table with required columns has no row we could
 * invent), and `SELECT nextval()` alone proves nothing unless compared with the data. So, inside a transaction that
 * is rolled back: draw nextval() and check it is greater than max(id) and that no row holds that id. The column's
 * default must be nextval() of this very sequence (or the column an identity), so the value checked is exactly the
 * one the app's next INSERT would get, and the primary key makes "greater than max" sufficient. nextval() is not
 * undone by ROLLBACK, so the sequence is put back with the same setval afterwards (the app's first id is max+1,
 * no gap).
 */
export async function resetSequences(
  client: Queryable,
  schema: string,
  tables: Set<string>,
  log: Logger,
): Promise<SequenceReset[]> {
  const { rows } = await client.query<{
    table_name: string;
    column_name: string;
    sequence_schema: string;
    sequence_name: string;
    column_default: string | null;
    is_identity: boolean;
  }>(loadSql('load-pg-serial-sequences'), [schema]);
  const results: SequenceReset[] = [];
  for (const row of rows) {
    if (!tables.has(row.table_name)) continue;
    const seq = `${id(row.sequence_schema)}.${id(row.sequence_name)}`;
    const fragments = { schema: id(schema), table: id(row.table_name), column: id(row.column_name) };
    const usesSequence =
      row.is_identity ||
      (row.column_default !== null &&
        /nextval\(/.test(row.column_default) &&
        row.column_default.includes(row.sequence_name));
    if (!usesSequence) {
      log.warn(
        `sequence ${row.sequence_name} is owned by "${row.table_name}".${row.column_name} but is not its default; reset, not proven`,
      );
    }
    const reset = await client.query<{ value: string; max_id: string | null }>(
      sqlWithIdentifiers('load-pg-sequence-reset', fragments),
      [seq],
    );
    const maxId = reset.rows[0].max_id;
    if (usesSequence) {
      await client.query('BEGIN');
      let probe: { next_value: string; max_id: string | null; taken: boolean };
      try {
        probe = (await client.query(sqlWithIdentifiers('load-pg-sequence-probe', fragments), [seq])).rows[0];
      } finally {
        await client.query('ROLLBACK').catch(() => undefined);
      }
      await client.query(sqlWithIdentifiers('load-pg-sequence-reset', fragments), [seq]);
      if (probe.taken || (probe.max_id !== null && BigInt(probe.next_value) <= BigInt(probe.max_id))) {
        throw new DomainError(
          Outcome.Internal,
          `sequence ${row.sequence_name} of "${row.table_name}".${row.column_name} would hand out ${probe.next_value}, but max is ${probe.max_id}`,
        );
      }
      results.push({
        table: row.table_name,
        column: row.column_name,
        sequence: row.sequence_name,
        maxId,
        nextId: probe.next_value,
      });
    } else {
      results.push({
        table: row.table_name,
        column: row.column_name,
        sequence: row.sequence_name,
        maxId,
        nextId: maxId === null ? '1' : String(BigInt(maxId) + 1n),
      });
    }
  }
  return results;
}

export async function analyzeTables(clients: Queryable[], schema: string, tables: string[]): Promise<void> {
  const queue = [...tables];
  await Promise.all(
    clients.map(async (client) => {
      for (let table = queue.shift(); table; table = queue.shift()) {
        await client.query(sqlWithIdentifiers('load-pg-analyze', { schema: id(schema), table: id(table) }));
      }
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Target column types

export interface TargetColumn {
  table: string;
  name: string;
  position: number;
  /** format_type(): `timestamp(3) without time zone`, `integer`, `"Role"`, `text[]`, … */
  dataType: string;
  /** Element type for arrays, base type for domains, else the type itself (pg_type.typname). */
  baseType: string;
  /** pg_type.typtype of baseType: 'b' base, 'e' enum, … */
  typeKind: string;
  isArray: boolean;
  notNull: boolean;
  generated: boolean;
}

export async function readTargetColumns(client: Queryable, schema: string): Promise<Map<string, TargetColumn[]>> {
  const { rows } = await client.query<{
    table_name: string;
    column_name: string;
    position: number;
    data_type: string;
    base_type: string;
    type_kind: string;
    is_array: boolean;
    not_null: boolean;
    generated: boolean;
  }>(loadSql('load-pg-target-columns'), [schema]);
  const tables = new Map<string, TargetColumn[]>();
  for (const r of rows) {
    const list = tables.get(r.table_name) ?? [];
    list.push({
      table: r.table_name,
      name: r.column_name,
      position: r.position,
      dataType: r.data_type,
      baseType: r.base_type,
      typeKind: r.type_kind,
      isArray: r.is_array,
      notNull: r.not_null,
      generated: r.generated,
    });
    tables.set(r.table_name, list);
  }
  return tables;
}
