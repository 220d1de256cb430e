import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { usageError } from '../errors.ts';
import { findBlocks } from './schema-file.ts';
import { readSchemaSource } from './schema-source.ts';

/**
 * The app's Prisma schema as the data path sees it: database tables (with @@map / @map applied), their
 * columns in schema order with a logical kind (docs/design.md "Canonical row form"), the row key, and the
 * enums' database values. Parsed by Prisma's own maintained parser (@prisma/prisma-schema-wasm get_dmmf),
 * so every schema Prisma accepts is read the way Prisma reads it.
 */
export type ColumnKind =
  'text' | 'enum' | 'int' | 'bigint' | 'float' | 'decimal' | 'boolean' | 'datetime' | 'json' | 'bytes';

export interface ColumnModel {
  /** Database column name (@map applied). */
  name: string;
  /** Prisma field name. */
  field: string;
  kind: ColumnKind;
  /** Prisma scalar type (`DateTime`) or the enum's name. */
  prismaType: string;
  nullable: boolean;
  enumName?: string;
  autoincrement: boolean;
}

export interface TableModel {
  /** Database table name (@@map applied). */
  name: string;
  /** Prisma model name; for an implicit many-to-many table, the relation name. */
  model: string;
  /** Schema order. */
  columns: ColumnModel[];
  /** Database column names of the row key: @id, @@id, else the first @@unique/@unique, implicit m2m ['A','B'], else all columns. */
  key: string[];
  implicitManyToMany: boolean;
  /** An `@@ignore` model: absent from Prisma Client, but its table is created by migrations and holds data. */
  ignored?: boolean;
}

/** Some column of `key` may hold NULL (SQLite's non-INTEGER primary keys accept it unless declared NOT NULL). */
export function keyMayBeNull(table: TableModel, key: string[] = table.key): boolean {
  return key.some((k) => table.columns.find((c) => c.name === k)?.nullable !== false);
}

/** A `view` block (previewFeatures "views"): a SQLite view, not data; the operator recreates it on PostgreSQL. */
export interface ViewModel {
  /** Database name (@@map applied). */
  name: string;
  model: string;
}

export interface SchemaModel {
  provider: string;
  /** Sorted by table name (code-unit order), so every task walks tables in the same order. */
  tables: TableModel[];
  /** Enum name → database values (@map on values applied). */
  enums: Record<string, string[]>;
  /** View blocks (not tables: never loaded). Absent in models cached by older versions. */
  views?: ViewModel[];
}

const SCALAR_KINDS: Record<string, ColumnKind> = {
  String: 'text',
  Int: 'int',
  BigInt: 'bigint',
  Float: 'float',
  Decimal: 'decimal',
  Boolean: 'boolean',
  DateTime: 'datetime',
  Json: 'json',
  Bytes: 'bytes',
};

// The subset of Prisma's DMMF we read (the full type lives in @prisma/dmmf, which we do not depend on).
interface DmmfField {
  name: string;
  dbName?: string | null;
  kind: 'scalar' | 'enum' | 'object' | 'unsupported';
  isList: boolean;
  isRequired: boolean;
  isUnique: boolean;
  isId: boolean;
  type: string;
  default?: unknown;
  relationName?: string | null;
  relationFromFields?: string[];
}
interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
  primaryKey: { name: string | null; fields: string[] } | null;
  uniqueFields: string[][];
}
interface DmmfEnum {
  name: string;
  dbName?: string | null;
  values: { name: string; dbName: string | null }[];
}
interface Dmmf {
  datamodel: { models: DmmfModel[]; enums: DmmfEnum[] };
}

interface SchemaWasm {
  get_dmmf(params: string): string;
  get_config(params: string): string;
}

let wasm: SchemaWasm | undefined;
function schemaWasm(): SchemaWasm {
  // The package is CommonJS and loads its .wasm synchronously on require; load it only when a schema is parsed.
  wasm ??= createRequire(import.meta.url)('@prisma/prisma-schema-wasm') as SchemaWasm;
  return wasm;
}

/**
 * Prisma 7's parser rejects the connection properties Prisma 6 schemas carry in the datasource block
 * (`url = env("DATABASE_URL")`, directUrl, shadowDatabaseUrl). They do not affect the data model, so they are
 * blanked out (line count kept, so parser messages still point at the operator's line numbers).
 */
export function stripConnectionProperties(text: string): string {
  const lines = text.split('\n');
  let inDatasource = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (!inDatasource) {
      if (/^\s*datasource\s+\w+\s*\{/.test(line)) inDatasource = !/\}\s*(\/\/.*)?$/.test(line);
      continue;
    }
    if (/^\s*\}/.test(line)) {
      inDatasource = false;
      continue;
    }
    if (/^\s*(url|directUrl|shadowDatabaseUrl)\s*=/.test(line)) lines[i] = '';
  }
  return lines.join('\n');
}

/** First parser error as one line (the wasm returns coloured, multi-line diagnostics). */
function parserError(err: unknown): string {
  let raw = err instanceof Error ? err.message : String(err);
  try {
    const parsed = JSON.parse(raw) as { message?: string };
    if (parsed.message) raw = parsed.message;
  } catch {
    // not JSON: keep the raw text
  }
  // eslint-disable-next-line no-control-regex
  const plain = raw.replace(/\u001b\[[0-9;]*m/g, '');
  const lines = plain.split('\n').map((l) => l.trim());
  const first = lines.find((l) => l.startsWith('error:')) ?? lines.find((l) => l !== '') ?? 'unknown error';
  const where = lines.find((l) => l.startsWith('-->'));
  return `${first.replace(/^error:\s*/, '')}${where ? ` (${where.replace(/^-->\s*/, '')})` : ''}`;
}

export function schemaModelFromText(text: string): SchemaModel {
  return schemaModelFromFiles([['schema.prisma', text]]);
}

const FIELD_LINE = /^(\s*)([A-Za-z_][A-Za-z0-9_]*)(\s+)([A-Za-z_][A-Za-z0-9_]*)(\[\]|\?)?(.*)$/;
const NO_UNIQUE_VIEWS_FILE = '__migration_ignored_models.prisma';

interface IgnoreRewrite {
  files: [string, string][];
  ignoredModels: Set<string>;
  views: Set<string>;
}

/**
 * Prisma's data model (DMMF) leaves out `@@ignore` models and `@ignore` fields, yet their tables and columns exist
 * and hold rows. For the data path they are made visible: `@@ignore` / `@ignore` attributes removed, relation fields
 * that touch an ignored model or are ignored themselves dropped (they carry no column; their scalar foreign-key
 * fields stay), and an ignored model without any unique criterion parsed as a `view` block, which Prisma accepts
 * without one (its row key is then every column). Line numbers are kept, so parser errors still point at the
 * operator's lines.
 */
function revealIgnored(files: [string, string][]): IgnoreRewrite {
  const ignoredModels = new Set<string>();
  const views = new Set<string>();
  const typeNames = new Set<string>();
  for (const [, text] of files) {
    for (const block of findBlocks(text)) {
      if (block.kind === 'view') views.add(block.name);
      if (block.kind === 'model' || block.kind === 'view' || block.kind === 'type') typeNames.add(block.name);
      if (block.kind === 'model' && /^\s*@@ignore\b/m.test(text.slice(block.open, block.end)))
        ignoredModels.add(block.name);
    }
  }
  let needViewsFeature = false;
  const out = files.map(([name, text]): [string, string] => {
    const blocks = findBlocks(text).filter((b) => b.kind === 'model' || b.kind === 'view');
    let result = text;
    for (const block of [...blocks].reverse()) {
      const body = text.slice(block.open, block.end);
      const inIgnored = ignoredModels.has(block.name);
      const lines = body.split('\n').map((line) => {
        const code = line.replace(/\/\/.*$/, '');
        if (inIgnored && /^\s*@@ignore\b/.test(code)) return '';
        const field = FIELD_LINE.exec(code);
        if (!field || field[2].startsWith('@')) return line;
        const isRelation = typeNames.has(field[4]) && !/^\s*@@/.test(code);
        const fieldIgnored = /(^|\s)@ignore\b/.test(field[6]);
        if (isRelation && (fieldIgnored || inIgnored || ignoredModels.has(field[4]))) return '';
        return fieldIgnored ? line.replace(/(^|\s)@ignore\b/, '$1') : line;
      });
      let newBody = lines.join('\n');
      let header = text.slice(block.start, block.open);
      if (inIgnored && !/(^|\s)@id\b|@@id\b|(^|\s)@unique\b|@@unique\b/m.test(newBody)) {
        header = header.replace(/^model\b/, 'view');
        needViewsFeature = true;
      }
      result = result.slice(0, block.start) + header + newBody + result.slice(block.end);
    }
    return [name, result];
  });
  if (needViewsFeature)
    out.push([
      NO_UNIQUE_VIEWS_FILE,
      'generator migration_views {\n  provider        = "prisma-client-js"\n  previewFeatures = ["views"]\n}\n',
    ]);
  return { files: out, ignoredModels, views };
}

/**
 * Models parsed in this process, by their files' names and texts: an upgrade asks for the same schema's model in
 * most of its steps, and each parse costs ~85 ms (the first ~300 ms) and keeps the parser's memory. Handed out as
 * copies, so no caller can change another's.
 */
const parsedModels = new Map<string, SchemaModel>();

function filesKey(files: [string, string][]): string {
  const hash = createHash('sha256');
  for (const [name, text] of files) hash.update(`${name}\0${text}\0`);
  return hash.digest('hex');
}

/** A model parsed elsewhere (a helper thread) for these files: later parses of the same files in this process use it. */
export function rememberSchemaModel(files: [string, string][], model: SchemaModel): void {
  parsedModels.set(filesKey(files), structuredClone(model));
}

/** The model of these files when this process has parsed or been given it already. */
export function knownSchemaModel(files: [string, string][]): SchemaModel | undefined {
  const known = parsedModels.get(filesKey(files));
  return known && structuredClone(known);
}

/** The files loadSchemaModel parses for `file`: the schema file, or every .prisma file of a schema folder. */
export function schemaModelFiles(file: string): [string, string][] {
  return readSchemaSource(file).files.map((f) => [f.name, f.text]);
}

/** A multi-file schema (Prisma's prismaSchemaFolder): [file name, text] pairs, parsed together. */
export function schemaModelFromFiles(files: [string, string][]): SchemaModel {
  const known = knownSchemaModel(files);
  if (known) return known;
  const model = parseSchemaFiles(files);
  parsedModels.set(filesKey(files), structuredClone(model));
  return model;
}

function parseSchemaFiles(files: [string, string][]): SchemaModel {
  const revealed = revealIgnored(files);
  const prismaSchema = revealed.files.map(
    ([name, text]) => [name, stripConnectionProperties(text)] as [string, string],
  );
  let dmmf: Dmmf;
  let provider = 'unknown';
  try {
    dmmf = JSON.parse(schemaWasm().get_dmmf(JSON.stringify({ prismaSchema }))) as Dmmf;
    const config = JSON.parse(
      schemaWasm().get_config(
        JSON.stringify({ prismaSchema, datasourceOverrides: {}, ignoreEnvVarErrors: true, env: {} }),
      ),
    ) as { config?: { datasources?: { provider: string }[] } };
    provider = config.config?.datasources?.[0]?.provider ?? 'unknown';
  } catch (err) {
    throw usageError(`the Prisma schema does not parse: ${parserError(err)}`);
  }
  return buildModel(dmmf, provider, revealed);
}

/** The schema file, or a folder of .prisma files (prismaSchemaFolder) read together. */
export function loadSchemaModel(file: string): SchemaModel {
  const files = schemaModelFiles(file);
  try {
    return schemaModelFromFiles(files);
  } catch (err) {
    if (err instanceof Error && err.name === 'DomainError') throw usageError(`${file}: ${err.message}`);
    throw err;
  }
}

function buildModel(dmmf: Dmmf, provider: string, revealed: IgnoreRewrite): SchemaModel {
  const enums: Record<string, string[]> = {};
  for (const e of dmmf.datamodel.enums) enums[e.name] = e.values.map((v) => v.dbName ?? v.name);

  const models = dmmf.datamodel.models;
  const byName = new Map(models.map((m) => [m.name, m]));
  const tables: TableModel[] = [];
  const views: ViewModel[] = [];

  for (const model of models) {
    if (revealed.views.has(model.name)) {
      views.push({ name: model.dbName ?? model.name, model: model.name });
      continue;
    }
    const columns: ColumnModel[] = [];
    const dbNameOf = new Map<string, string>();
    for (const field of model.fields) {
      if (field.kind === 'object') continue;
      const column = columnOf(model.name, field);
      dbNameOf.set(field.name, column.name);
      columns.push(column);
    }
    const toDb = (fields: string[]) => fields.map((f) => dbNameOf.get(f) ?? f);
    let key: string[];
    const idField = model.fields.find((f) => f.isId);
    if (idField) key = toDb([idField.name]);
    else if (model.primaryKey) key = toDb(model.primaryKey.fields);
    else if (model.uniqueFields.length) key = toDb(model.uniqueFields[0]);
    else {
      const unique = model.fields.find((f) => f.isUnique && f.kind !== 'object');
      key = unique ? toDb([unique.name]) : columns.map((c) => c.name);
    }
    tables.push({
      name: model.dbName ?? model.name,
      model: model.name,
      columns,
      key,
      implicitManyToMany: false,
      ...(revealed.ignoredModels.has(model.name) ? { ignored: true } : {}),
    });
  }

  // Implicit many-to-many: a relation whose both sides are list fields without relation scalars. Prisma stores it
  // in `_<relationName>` with columns A and B; A points at the model whose name sorts first.
  const seen = new Set<string>();
  for (const model of models) {
    for (const field of model.fields) {
      if (field.kind !== 'object' || !field.isList || !field.relationName || seen.has(field.relationName)) continue;
      const other = byName.get(field.type);
      if (!other) continue;
      const back = other.fields.filter(
        (f) => f.kind === 'object' && f.relationName === field.relationName && f !== field,
      );
      if (back.length !== 1 || !back[0].isList) continue;
      if ((field.relationFromFields?.length ?? 0) > 0 || (back[0].relationFromFields?.length ?? 0) > 0) continue;
      seen.add(field.relationName);
      const [first, second] = [model, other].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const idColumn = (m: DmmfModel, name: 'A' | 'B'): ColumnModel => {
        const id = m.fields.find((f) => f.isId);
        if (!id)
          throw usageError(
            `implicit many-to-many relation ${field.relationName} needs a single-field @id on ${m.name}`,
          );
        const ref = columnOf(m.name, id);
        return {
          name,
          field: name,
          kind: ref.kind,
          prismaType: ref.prismaType,
          nullable: false,
          autoincrement: false,
          ...(ref.enumName ? { enumName: ref.enumName } : {}),
        };
      };
      tables.push({
        name: `_${field.relationName}`,
        model: field.relationName,
        columns: [idColumn(first, 'A'), idColumn(second, 'B')],
        key: ['A', 'B'],
        implicitManyToMany: true,
      });
    }
  }

  tables.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  views.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { provider, tables, enums, views };
}

function columnOf(modelName: string, field: DmmfField): ColumnModel {
  if (field.isList) throw usageError(`${modelName}.${field.name}: scalar lists are not supported by this migration`);
  let kind: ColumnKind;
  let enumName: string | undefined;
  if (field.kind === 'enum') {
    kind = 'enum';
    enumName = field.type;
  } else if (field.kind === 'scalar' && SCALAR_KINDS[field.type]) {
    kind = SCALAR_KINDS[field.type];
  } else {
    throw usageError(`${modelName}.${field.name}: unsupported field type ${field.type}`);
  }
  const def = field.default as { name?: string } | undefined;
  return {
    name: field.dbName ?? field.name,
    field: field.name,
    kind,
    prismaType: field.type,
    nullable: !field.isRequired,
    ...(enumName ? { enumName } : {}),
    autoincrement: typeof def === 'object' && def !== null && def.name === 'autoincrement',
  };
}
