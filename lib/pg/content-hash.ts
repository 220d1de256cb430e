import pg from 'pg';
import type { ColumnKind } from '../prisma/schema-model.ts';
import { sqlWithIdentifiers } from '../files/sql-files.ts';

/**
 * The canonical row form of docs/design.md computed ON PostgreSQL, so verify never has to pull a table over the
 * wire to prove it equals the snapshot: per-table content hash, per-bucket sums and per-row hashes (for narrowing
 * a mismatch down to keys). export-sqlite computes the same thing in JS (lib/sqlite/values.ts); the cross-check
 * test in tests/verify proves both agree on every table of the sample install.
 *
 * SQL text comes from sql/content-*.sql; the only fragments spliced in are the fixed per-kind expression
 * templates below with an escapeIdentifier'd column name, and the aliases f0…fn we make up ourselves.
 */
export interface HashColumn {
  name: string;
  kind: ColumnKind;
}

export interface HashTable {
  name: string;
  columns: HashColumn[];
  key: string[];
}

export type Queryable = Pick<pg.Client, 'query'>;

const id = (name: string) => pg.escapeIdentifier(name);

/**
 * Field text of a non-NULL value per logical kind (docs/design.md), `{{col}}` being the quoted column. Each
 * template yields NULL for NULL, so `coalesce('V' || expr, 'N')` gives the field text of every value.
 * - boolean uses CASE … WHEN true/false (not ELSE), because an ELSE would turn NULL into 'f'.
 * - datetime: Prisma writes timestamp(3) without time zone as UTC. date_part('epoch') is a double (3× faster than
 *   extract(), which is numeric since PG 14); a whole number of milliseconds in years 1–9999 is below 2^53, so
 *   the product's rounding error is far below 0.5 and ::bigint lands on the exact millisecond — the same value
 *   docs/design.md's `(extract(epoch from col) * 1000)::bigint` gives.
 * - float: the IEEE-754 bits, so 0.1+0.2 and 0.30000000000000004 are told apart and nothing depends on
 *   float-to-text formatting.
 */
export const FIELD_TEMPLATES: Readonly<Record<ColumnKind, string>> = Object.freeze({
  text: '{{col}}::text',
  enum: '{{col}}::text',
  int: '{{col}}::text',
  bigint: '{{col}}::text',
  float: "encode(float8send({{col}}::float8), 'hex')",
  decimal: 'trim_scale({{col}}::numeric)::text',
  boolean: "CASE {{col}} WHEN true THEN 't' WHEN false THEN 'f' END",
  datetime: "((date_part('epoch', {{col}}) * 1000)::bigint)::text",
  json: '{{col}}::text',
  bytes: "encode({{col}}, 'hex')",
});

/** The SQL fragments one table's content queries are built from. */
export type ContentFragments = {
  table: string;
  fields: string;
  row_text: string;
  key_text: string;
  field_array: string;
};

function fieldAlias(index: number): string {
  return `f${index}`;
}

/** `<byte length>:<field>` for each alias, concatenated: the row text (or key text) of docs/design.md. */
function lengthPrefixed(aliases: string[]): string {
  if (aliases.length === 0) return "''";
  return aliases.map((a) => `octet_length(${a})::text || ':' || ${a}`).join(' || ');
}

export function fieldExpression(kind: ColumnKind, column: string): string {
  const template = FIELD_TEMPLATES[kind];
  if (!template) throw new Error(`no canonical field template for column kind "${kind}"`);
  return `coalesce('V' || ${template.replaceAll('{{col}}', `c.${id(column)}`)}, 'N')`;
}

export function contentFragments(schema: string, table: HashTable): ContentFragments {
  const aliases = table.columns.map((_c, i) => fieldAlias(i));
  const keyAliases = table.key.map((k) => {
    const index = table.columns.findIndex((c) => c.name === k);
    if (index < 0) throw new Error(`key column ${k} is not a column of ${table.name}`);
    return aliases[index];
  });
  return {
    table: `${id(schema)}.${id(table.name)}`,
    fields:
      table.columns.map((c, i) => `${fieldExpression(c.kind, c.name)} AS ${aliases[i]}`).join(', ') || 'NULL AS f_none',
    row_text: lengthPrefixed(aliases),
    key_text: lengthPrefixed(keyAliases.length ? keyAliases : aliases),
    field_array: aliases.length ? `ARRAY[${aliases.join(', ')}]::text[]` : 'ARRAY[]::text[]',
  };
}

export interface TableHash {
  rowCount: number;
  contentHash: string;
}

export async function pgTableHash(client: Queryable, schema: string, table: HashTable): Promise<TableHash> {
  const sql = sqlWithIdentifiers('content-hash', { ...contentFragments(schema, table) });
  const { rows } = await client.query<{ row_count: string; content_hash: string }>(sql);
  return { rowCount: Number(rows[0].row_count), contentHash: rows[0].content_hash };
}

export async function pgRowCount(client: Queryable, schema: string, table: string): Promise<number> {
  const { rows } = await client.query<{ row_count: string }>(
    sqlWithIdentifiers('verify-count', { table: `${id(schema)}.${id(table)}` }),
  );
  return Number(rows[0].row_count);
}

export interface BucketSum {
  rowCount: number;
  sum: bigint;
}

/** Bucket (two hex digits) → row count and exact hash sum; buckets without rows are absent. */
export async function pgBucketSums(
  client: Queryable,
  schema: string,
  table: HashTable,
): Promise<Map<string, BucketSum>> {
  const sql = sqlWithIdentifiers('content-bucket-sums', { ...contentFragments(schema, table) });
  const { rows } = await client.query<{ bucket: string; row_count: number; bucket_sum: string }>(sql);
  return new Map(rows.map((r) => [r.bucket, { rowCount: r.row_count, sum: BigInt(r.bucket_sum) }]));
}

export interface RowFields {
  keyText: string;
  hash: bigint;
  /** Canonical field text per column, schema order (`N` or `V…`). */
  fields: string[];
}

/** Every row in the given buckets, keyed by key text. */
export async function pgBucketRows(
  client: Queryable,
  schema: string,
  table: HashTable,
  buckets: string[],
): Promise<Map<string, RowFields>> {
  const sql = sqlWithIdentifiers('content-bucket-rows', { ...contentFragments(schema, table) });
  const { rows } = await client.query<{ key_text: string; row_hash: string; fields: string[] }>(sql, [buckets]);
  return new Map(rows.map((r) => [r.key_text, { keyText: r.key_text, hash: BigInt(r.row_hash), fields: r.fields }]));
}
