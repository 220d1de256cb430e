import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { writeJsonAtomic } from '../files/fs-atomic.ts';
import type { SchemaModel } from './schema-model.ts';

/**
 * The schema model (Prisma's parser, WebAssembly: ~0.5 s and ~50 MB in a helper thread) is the same for every task of
 * a run as long as schema.prisma is unchanged. export-sqlite parses it and leaves it in the run dir keyed by the
 * schema's sha256; load-pg takes it from there instead of starting the parser again. A changed schema (other sha256)
 * or an older cache format is simply parsed again.
 */
export const SCHEMA_MODEL_FILE = 'schema-model.json';
/** Bump when SchemaModel's shape changes: a cache of another format is ignored. */
const CACHE_FORMAT = 1;

interface CachedModel {
  format: number;
  schemaSha256: string;
  model: SchemaModel;
}

/** sha256 of the schema file; for a schema folder, of every .prisma file's relative name and content in name order. */
export function schemaSha256(schemaPath: string): string {
  const hash = createHash('sha256');
  if (!statSync(schemaPath).isDirectory()) return hash.update(readFileSync(schemaPath)).digest('hex');
  const names = readdirSync(schemaPath, { recursive: true, encoding: 'utf8' })
    .filter((n) => n.endsWith('.prisma'))
    .sort();
  for (const name of names)
    hash
      .update(`${name}\0`)
      .update(readFileSync(path.join(schemaPath, name)))
      .update('\0');
  return hash.digest('hex');
}

/** The cached model when it was made from a schema with this sha256 (schemaSha256), else undefined. */
export function readCachedSchemaModel(runDir: string, schemaSha: string): SchemaModel | undefined {
  const file = path.join(runDir, SCHEMA_MODEL_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const cached = JSON.parse(readFileSync(file, 'utf8')) as CachedModel;
    if (cached.format !== CACHE_FORMAT || cached.schemaSha256 !== schemaSha) return undefined;
    return Array.isArray(cached.model?.tables) ? cached.model : undefined;
  } catch {
    return undefined;
  }
}

/** Leave the model parsed from the schema whose sha256 is `schemaSha` for the run's later tasks. */
export function cacheSchemaModel(runDir: string, schemaSha: string, model: SchemaModel): void {
  try {
    writeJsonAtomic(path.join(runDir, SCHEMA_MODEL_FILE), {
      format: CACHE_FORMAT,
      schemaSha256: schemaSha,
      model,
    } satisfies CachedModel);
  } catch {
    // A cache only: the next task parses the schema itself.
  }
}
