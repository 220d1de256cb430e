import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadSql, sqlWithIdentifiers } from '../files/sql-files.ts';

/**
 * The integrity gate's checks on PostgreSQL: the target schema compared with a reference built from the
 * Prisma schema's own DDL (tables, columns with type/nullability/default kind, primary keys, unique and plain
 * indexes, owned sequences, foreign keys), every foreign key validated and free of orphans, every sequence
 * ahead of its column's max. The reference lives in a scratch schema inside a transaction that is always rolled
 * back, so verify leaves nothing behind on the target (it needs CREATE on the database, which the app's role
 * has as the database owner).
 */
export type Queryable = Pick<pg.Client, 'query'>;

const id = (name: string) => pg.escapeIdentifier(name);

export interface CatalogEntry {
  kind: 'table' | 'column' | 'primary key' | 'unique' | 'index' | 'sequence';
  table: string;
  name: string;
  detail: string;
}

export interface ForeignKeyInfo {
  name: string;
  table: string;
  refTable: string;
  refSchema: string;
  columns: string[];
  refColumns: string[];
  onDelete: string;
  onUpdate: string;
  validated: boolean;
}

export interface SchemaSnapshot {
  catalog: CatalogEntry[];
  foreignKeys: ForeignKeyInfo[];
}

export async function readSchemaSnapshot(client: Queryable, schema: string): Promise<SchemaSnapshot> {
  const { rows: catalog } = await client.query<{
    kind: CatalogEntry['kind'];
    table_name: string;
    name: string;
    detail: string;
  }>(loadSql('verify-catalog'), [schema]);
  const { rows: fks } = await client.query<{
    name: string;
    table_name: string;
    ref_table: string;
    ref_schema: string;
    columns: string[];
    ref_columns: string[];
    on_delete: string;
    on_update: string;
    validated: boolean;
  }>(loadSql('verify-foreign-keys'), [schema]);
  return {
    catalog: catalog.map((r) => ({ kind: r.kind, table: r.table_name, name: r.name, detail: r.detail })),
    foreignKeys: fks.map((r) => ({
      name: r.name,
      table: r.table_name,
      refTable: r.ref_table,
      refSchema: r.ref_schema,
      columns: r.columns,
      refColumns: r.ref_columns,
      onDelete: r.on_delete,
      onUpdate: r.on_update,
      validated: r.validated,
    })),
  };
}

/**
 * Apply `ddl` (the PostgreSQL DDL of the Prisma schema, unqualified names as Prisma writes them) in a scratch
 * schema, read it back, roll everything back. A role without CREATE on the database gets the session's temporary
 * schema instead (same transaction, same rollback).
 */
export async function referenceSnapshot(
  client: Queryable,
  ddl: string,
): Promise<SchemaSnapshot & { scratch: 'schema' | 'temporary' }> {
  const scratch = `verify_reference_${randomBytes(6).toString('hex')}`;
  await client.query('BEGIN');
  try {
    let where: 'schema' | 'temporary' = 'schema';
    await client.query('SAVEPOINT reference');
    try {
      await client.query(sqlWithIdentifiers('verify-reference-schema', { schema: id(scratch) }));
    } catch (err) {
      if ((err as { code?: string }).code !== '42501') throw err;
      await client.query('ROLLBACK TO SAVEPOINT reference');
      await client.query(loadSql('verify-reference-temp'));
      where = 'temporary';
    }
    // Prisma's DDL starts with `CREATE SCHEMA IF NOT EXISTS "public"`: meaningless for the scratch copy, and it
    // needs CREATE on the database even when the schema exists.
    await client.query(ddl.replace(/^\s*CREATE SCHEMA IF NOT EXISTS [^;\n]+;\s*$/gim, ''));
    const schema =
      where === 'schema'
        ? scratch
        : (await client.query<{ name: string }>(loadSql('verify-temp-schema-name'))).rows[0]?.name;
    if (!schema) throw new Error('the reference DDL created nothing in the temporary schema');
    return { ...(await readSchemaSnapshot(client, schema)), scratch: where };
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

export interface Finding {
  /** `missing`: in the Prisma schema, not in PostgreSQL; `extra`: the other way; `changed`: both, different. */
  problem: 'missing' | 'extra' | 'changed' | 'not validated' | 'orphans' | 'sequence behind';
  kind: string;
  table: string;
  name?: string;
  expected?: string;
  actual?: string;
  message: string;
}

const ACTIONS: Record<string, string> = {
  a: 'NO ACTION',
  r: 'RESTRICT',
  c: 'CASCADE',
  n: 'SET NULL',
  d: 'SET DEFAULT',
};

export function describeForeignKey(fk: ForeignKeyInfo): string {
  return `(${fk.columns.join(', ')}) → ${fk.refTable}(${fk.refColumns.join(', ')})`;
}

function foreignKeyDetail(fk: ForeignKeyInfo): string {
  return `ON DELETE ${ACTIONS[fk.onDelete] ?? fk.onDelete} ON UPDATE ${ACTIONS[fk.onUpdate] ?? fk.onUpdate}`;
}

function entryLabel(e: { kind: string; table: string; name: string }): string {
  if (e.kind === 'table') return `table "${e.table}"`;
  if (e.kind === 'column') return `column "${e.table}"."${e.name}"`;
  if (e.kind === 'sequence') return `sequence of "${e.table}"."${e.name}"`;
  return `${e.kind} "${e.table}"${e.name}`;
}

/** Differences between the target and the reference, in a stable order (tables first, then per table). */
export function compareSnapshots(reference: SchemaSnapshot, target: SchemaSnapshot): Finding[] {
  const findings: Finding[] = [];
  const keyOf = (e: { kind: string; table: string; name: string }) => `${e.kind}\u0000${e.table}\u0000${e.name}`;
  const toMap = (s: SchemaSnapshot) => {
    const map = new Map<string, { kind: string; table: string; name: string; detail: string }>();
    for (const e of s.catalog) map.set(keyOf(e), e);
    for (const fk of s.foreignKeys) {
      const entry = {
        kind: 'foreign key',
        table: fk.table,
        name: ` ${describeForeignKey(fk)}`,
        detail: foreignKeyDetail(fk),
      };
      map.set(keyOf(entry), entry);
    }
    return map;
  };
  const ref = toMap(reference);
  const tgt = toMap(target);
  const refTables = new Set(reference.catalog.filter((e) => e.kind === 'table').map((e) => e.table));
  const tgtTables = new Set(target.catalog.filter((e) => e.kind === 'table').map((e) => e.table));

  for (const [key, e] of ref) {
    const other = tgt.get(key);
    // A missing table is one finding, not one per column and index of it.
    if (!other && e.kind !== 'table' && !tgtTables.has(e.table)) continue;
    if (!other) {
      findings.push({
        problem: 'missing',
        kind: e.kind,
        table: e.table,
        name: e.name || undefined,
        expected: e.detail || undefined,
        message: `${entryLabel(e)} is missing in PostgreSQL`,
      });
    } else if (other.detail !== e.detail) {
      findings.push({
        problem: 'changed',
        kind: e.kind,
        table: e.table,
        name: e.name || undefined,
        expected: e.detail,
        actual: other.detail,
        message: `${entryLabel(e)} is ${other.detail || '(plain)'}, the Prisma schema says ${e.detail || '(plain)'}`,
      });
    }
  }
  for (const [key, e] of tgt) {
    if (ref.has(key)) continue;
    if (e.kind !== 'table' && !refTables.has(e.table)) continue;
    findings.push({
      problem: 'extra',
      kind: e.kind,
      table: e.table,
      name: e.name || undefined,
      actual: e.detail || undefined,
      message: `${entryLabel(e)} is in PostgreSQL but not in the Prisma schema`,
    });
  }
  for (const fk of target.foreignKeys) {
    if (!fk.validated) {
      findings.push({
        problem: 'not validated',
        kind: 'foreign key',
        table: fk.table,
        name: fk.name,
        message: `foreign key "${fk.name}" of "${fk.table}" is NOT VALID (existing rows were never checked)`,
      });
    }
  }
  const order = (f: Finding) => (f.kind === 'table' ? 0 : 1);
  return findings.sort((a, b) => order(a) - order(b) || (a.table < b.table ? -1 : a.table > b.table ? 1 : 0));
}

export interface OrphanResult {
  fk: ForeignKeyInfo;
  /** Up to 5 orphan foreign-key values, `col=value` pairs. */
  orphans: string[];
}

/** Child rows whose foreign key (as the reference defines it) matches no parent row in the target schema. */
export async function findOrphans(client: Queryable, schema: string, fk: ForeignKeyInfo): Promise<OrphanResult> {
  const sql = sqlWithIdentifiers('verify-fk-orphans', {
    table: `${id(schema)}.${id(fk.table)}`,
    ref_table: `${id(schema)}.${id(fk.refTable)}`,
    columns: fk.columns.map((c, i) => `c.${id(c)}::text AS ${id(`k${i}`)}`).join(', '),
    not_null: fk.columns.map((c) => `c.${id(c)} IS NOT NULL`).join(' AND '),
    join: fk.columns.map((c, i) => `p.${id(fk.refColumns[i])} = c.${id(c)}`).join(' AND '),
  });
  const { rows } = await client.query<Record<string, string>>(sql);
  return { fk, orphans: rows.map((row) => fk.columns.map((c, i) => `${c}=${row[`k${i}`]}`).join(', ')) };
}

export interface SequenceCheck {
  sequence: string;
  table: string;
  column: string;
  lastValue: string;
  isCalled: boolean;
  maxValue: string | null;
  /** The value the next nextval() will return. */
  nextValue: string;
  ok: boolean;
}

export async function checkSequences(client: Queryable, schema: string): Promise<SequenceCheck[]> {
  const { rows } = await client.query<{
    sequence_name: string;
    sequence_schema: string;
    table_name: string;
    column_name: string;
    increment: string;
  }>(loadSql('verify-sequences'), [schema]);
  const results: SequenceCheck[] = [];
  for (const row of rows) {
    const sql = sqlWithIdentifiers('verify-sequence-state', {
      sequence: `${id(row.sequence_schema)}.${id(row.sequence_name)}`,
      table: `${id(schema)}.${id(row.table_name)}`,
      column: id(row.column_name),
    });
    const { rows: state } = await client.query<{ last_value: string; is_called: boolean; max_value: string | null }>(
      sql,
    );
    const s = state[0];
    const increment = BigInt(row.increment);
    const next = s.is_called ? BigInt(s.last_value) + increment : BigInt(s.last_value);
    // Ascending sequences (all Prisma makes) must hand out more than max; a descending one less than min is not Prisma's.
    const ok = s.max_value === null || increment < 0n || next > BigInt(s.max_value);
    results.push({
      sequence: row.sequence_name,
      table: row.table_name,
      column: row.column_name,
      lastValue: s.last_value,
      isCalled: s.is_called,
      maxValue: s.max_value,
      nextValue: next.toString(),
      ok,
    });
  }
  return results;
}
