/**
 * Test helper: manifest.json computed in JS from a run's snapshot with lib/sqlite-values.ts, the way export-sqlite
 * does (docs/design.md). Used only while tasks/export-sqlite.ts does not exist yet, and by the cross-check test
 * as the independent JS side of the canonical form.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { writeRunJson } from '../../lib/run-dir.ts';
import { loadSchemaModel, type SchemaModel } from '../../lib/schema-model.ts';
import { TableHash, columnConverter, convertChecked, isProblem, rowHash, type SqliteValue } from '../../lib/sqlite-values.ts';

export interface JsTableHash {
  name: string;
  rowCount: number;
  contentHash: string;
}

export function jsTableHashes(snapshot: string, model: SchemaModel): JsTableHash[] {
  const db = new Database(snapshot, { readonly: true, fileMustExist: true });
  try {
    return model.tables.map((table) => {
      const converters = table.columns.map((c) => columnConverter(c, model.enums));
      const stmt = db.prepare(`SELECT ${table.columns.map((c) => pg.escapeIdentifier(c.name)).join(', ')} FROM ${pg.escapeIdentifier(table.name)}`);
      stmt.raw(true).safeIntegers(true);
      const hash = new TableHash();
      for (const row of stmt.iterate() as IterableIterator<unknown[]>) {
        const fields = converters.map((conv, i) => {
          const out = convertChecked(conv.canonical, row[i] as SqliteValue, () => undefined);
          if (isProblem(out)) throw new Error(`${table.name}.${table.columns[i].name}: ${out.reason}`);
          return out;
        });
        hash.add(rowHash(fields));
      }
      return { name: table.name, rowCount: hash.rows, contentHash: hash.toString() };
    });
  } finally {
    db.close();
  }
}

export function writeStandInManifest(runDir: string, schemaPath: string): void {
  const model = loadSchemaModel(schemaPath);
  const hashes = new Map(jsTableHashes(path.join(runDir, 'snapshot.sqlite'), model).map((h) => [h.name, h]));
  writeRunJson(runDir, 'manifest.json', {
    version: 1,
    createdAt: new Date().toISOString(),
    snapshot: { file: 'snapshot.sqlite' },
    tables: model.tables.map((t) => ({
      name: t.name,
      model: t.model,
      columns: t.columns.map((c) => ({ name: c.name, kind: c.kind, prismaType: c.prismaType, nullable: c.nullable })),
      key: t.key,
      rowCount: hashes.get(t.name)!.rowCount,
      contentHash: hashes.get(t.name)!.contentHash,
    })),
    problems: [],
    problemCount: 0,
  });
}
