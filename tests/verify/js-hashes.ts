/**
 * Test helper: per-table content hashes computed in JS from a run's snapshot with lib/sqlite/values.ts (docs/design.md),
 * independently of export-sqlite's scanning code: the JS side of the SQL-vs-JS cross-check.
 */
import Database from '../../lib/sqlite/driver.ts';
import pg from 'pg';
import type { SchemaModel } from '../../lib/prisma/schema-model.ts';
import {
  TableHash,
  columnConverter,
  convertChecked,
  isProblem,
  rowHash,
  type SqliteValue,
} from '../../lib/sqlite/values.ts';

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
      const stmt = db.prepare(
        `SELECT ${table.columns.map((c) => pg.escapeIdentifier(c.name)).join(', ')} FROM ${pg.escapeIdentifier(table.name)}`,
      );
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
