import type Database from './driver.ts';
import { escapeIdentifier } from 'pg';
import { sqlWithIdentifiers } from '../files/sql-files.ts';

/**
 * better-sqlite3 decodes TEXT as UTF-8 and silently turns invalid bytes into U+FFFD. When a text value contains
 * U+FFFD, export, load and verify read that one cell again as a BLOB, found by the row's key, to tell a real
 * U+FFFD from invalid UTF-8 (which PostgreSQL rejects). A rare path: one prepared statement per column, made on
 * first use. SQLite quotes identifiers the way PostgreSQL does ("a""b"), so pg's escapeIdentifier serves both.
 *
 * Returns undefined when the row cannot be found again (no usable key, or the cell is not text any more).
 */
export type CellBytesReader = (row: readonly unknown[], column: number) => Buffer | undefined;

export function createCellBytesReader(
  db: Database.Database,
  table: string,
  columnNames: readonly string[],
  keyColumns: readonly string[],
): CellBytesReader {
  const keyIndexes = keyColumns.map((k) => columnNames.indexOf(k));
  const usable = keyIndexes.length > 0 && keyIndexes.every((i) => i >= 0);
  const statements = new Map<number, Database.Statement>();
  return (row, column) => {
    if (!usable) return undefined;
    let stmt = statements.get(column);
    if (!stmt) {
      stmt = db
        .prepare(
          sqlWithIdentifiers('sqlite-cell-bytes', {
            column: escapeIdentifier(columnNames[column]),
            table: escapeIdentifier(table),
            keyMatch: keyColumns.map((k) => `${escapeIdentifier(k)} IS ?`).join(' AND '),
          }),
        )
        .raw(true)
        .safeIntegers(true);
      statements.set(column, stmt);
    }
    const found = stmt.get(...keyIndexes.map((i) => row[i])) as unknown[] | undefined;
    return Buffer.isBuffer(found?.[0]) ? (found[0] as Buffer) : undefined;
  };
}
