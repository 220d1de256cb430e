/**
 * Prisma's schema engine without the native binary: the WebAssembly build (`@prisma/schema-engine-wasm`)
 * driven through a driver adapter (`@prisma/adapter-pg`). This is Prisma-internal API, so every use of it
 * lives in this one module.
 *
 * Pinned versions (they must move together; the wasm package's version names the engine commit):
 *   prisma 7.10.0, @prisma/adapter-pg 7.10.0, @prisma/driver-adapter-utils 7.10.0,
 *   @prisma/schema-engine-wasm 7.10.0-4.0edf323efd1d98336f3f0a68684b56f689b900d3
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as glue from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { SchemaEngine } from '@prisma/schema-engine-wasm/schema_engine_bg';
import {
  bindMigrationAwareSqlAdapterFactory,
  mockMigrationAwareAdapterFactory,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';

export const PINNED_SCHEMA_ENGINE_WASM = '7.10.0-4.0edf323efd1d98336f3f0a68684b56f689b900d3';

const NO_FILTERS = { externalTables: [] as string[], externalEnums: [] as string[] };

let wasmReady: Promise<void> | undefined;

/**
 * The package's main entry imports the .wasm file as an ES module, which Node 20 refuses; so load the JS glue
 * and compile the .wasm ourselves (once per process).
 */
export function loadSchemaEngineWasm(): Promise<void> {
  wasmReady ??= (async () => {
    const require = createRequire(import.meta.url);
    // The package does not export package.json; resolve the glue and take its folder.
    const dir = path.dirname(require.resolve('@prisma/schema-engine-wasm/schema_engine_bg'));
    const module = await WebAssembly.compile(readFileSync(path.join(dir, 'schema_engine_bg.wasm')));
    const instance = await WebAssembly.instantiate(module, { './schema_engine_bg.js': glue as unknown as WebAssembly.ModuleImports });
    (glue as unknown as { __wbg_set_wasm(exports: unknown): void }).__wbg_set_wasm(instance.exports);
    (instance.exports as { __wbindgen_start(): void }).__wbindgen_start();
  })();
  return wasmReady;
}

export type EngineLog = (message: string) => void;

async function newEngine(schemaPath: string, engineSchema: string, factory: SqlMigrationAwareDriverAdapterFactory, log?: EngineLog): Promise<SchemaEngine> {
  await loadSchemaEngineWasm();
  const onLog = (line: string) => log?.(line);
  return glue.SchemaEngine.new({ datamodels: [[schemaPath, engineSchema]] }, onLog, bindMigrationAwareSqlAdapterFactory(factory));
}

/**
 * DDL script from an empty database to `engineSchema` for the schema's own provider, without any database
 * (a mock adapter of the same provider: diff between two schema sources never queries it).
 * `fromSchema` diffs from another datamodel instead of from empty (used to write the fixture's migrations).
 */
export async function diffSchemasOffline(opts: {
  provider: 'sqlite' | 'postgres';
  toSchema: string;
  fromSchema?: string;
  schemaPath?: string;
}): Promise<string> {
  const schemaPath = opts.schemaPath ?? 'schema.prisma';
  const engine = await newEngine(schemaPath, opts.toSchema, mockMigrationAwareAdapterFactory(opts.provider));
  try {
    const result = await engine.diff({
      from: opts.fromSchema === undefined ? { tag: 'empty' } : { tag: 'schemaDatamodel', files: [{ path: schemaPath, content: opts.fromSchema }] },
      to: { tag: 'schemaDatamodel', files: [{ path: schemaPath, content: opts.toSchema }] },
      script: true,
      exitCode: null,
      filters: NO_FILTERS,
    });
    return result.stdout ?? '';
  } finally {
    engine.free();
  }
}
