import type { ColumnKind, ColumnModel } from '../prisma/schema-model.ts';
import type { TargetColumn } from '../pg/schema-objects.ts';

/**
 * Which conversion each column gets on its way into COPY: chosen by the TARGET column's PostgreSQL type (what
 * PostgreSQL will parse), cross-checked against the Prisma schema's logical kind (a mismatch means the database
 * was not built from this schema). The per-value work is in sqlite-values; this module only picks and checks.
 */
export type TargetCategory =
  | 'text'
  | 'enum'
  | 'int2'
  | 'int4'
  | 'int8'
  | 'float'
  | 'numeric'
  | 'boolean'
  | 'timestamp'
  | 'timestamptz'
  | 'date'
  | 'time'
  | 'json'
  | 'bytes'
  | 'uuid';

/** Serializable plan of one column (it crosses into a worker thread, so no functions). */
export interface CopyColumnPlan {
  /** Column name in SQLite and in PostgreSQL (both come from the same Prisma schema). */
  name: string;
  kind: ColumnKind;
  target: TargetCategory;
  /** format_type() of the target column, for messages. */
  targetType: string;
  /** pg_type name of the column's (element/base) type: `timestamp`, `jsonb`, `float4`, … (picks the binary layout). */
  baseType?: string;
  /** The schema model's column (drives sqlite-values' per-kind conversion). */
  model: ColumnModel;
}

const BASE_TYPES: Record<string, TargetCategory> = {
  text: 'text',
  varchar: 'text',
  bpchar: 'text',
  citext: 'text',
  name: 'text',
  xml: 'text',
  inet: 'text',
  uuid: 'uuid',
  int2: 'int2',
  int4: 'int4',
  int8: 'int8',
  oid: 'int8',
  float4: 'float',
  float8: 'float',
  numeric: 'numeric',
  money: 'numeric',
  bool: 'boolean',
  timestamp: 'timestamp',
  timestamptz: 'timestamptz',
  date: 'date',
  time: 'time',
  timetz: 'time',
  json: 'json',
  jsonb: 'json',
  bytea: 'bytes',
};

/** Which target categories each Prisma kind may legitimately land in (native types like @db.Date, @db.Uuid included). */
const COMPATIBLE: Record<ColumnKind, TargetCategory[]> = {
  text: ['text', 'uuid', 'json'],
  enum: ['enum', 'text'],
  int: ['int4', 'int2', 'int8', 'numeric', 'float'],
  bigint: ['int8', 'numeric'],
  float: ['float', 'numeric'],
  decimal: ['numeric', 'float'],
  boolean: ['boolean'],
  datetime: ['timestamp', 'timestamptz', 'date', 'time'],
  json: ['json', 'text'],
  bytes: ['bytes'],
};

export function targetCategory(column: TargetColumn): TargetCategory | undefined {
  if (column.isArray) return undefined;
  if (column.typeKind === 'e') return 'enum';
  return BASE_TYPES[column.baseType];
}

/** A one-line reason why this column cannot be loaded, or undefined when the pairing is fine. */
export function incompatibility(kind: ColumnKind, column: TargetColumn): string | undefined {
  const category = targetCategory(column);
  if (!category) return `PostgreSQL type ${column.dataType} is not one load-pg can fill`;
  if (!COMPATIBLE[kind].includes(category))
    return `Prisma kind ${kind} does not fit PostgreSQL type ${column.dataType}`;
  return undefined;
}
