import type Database from './driver.ts';
import { escapeIdentifier } from 'pg';
import { sqlWithIdentifiers } from '../files/sql-files.ts';

/**
 * The one read of a snapshot table's rows that export-sqlite (content hash), load-pg (COPY) and verify (narrowing)
 * share, raw arrays with exact integers, in storage order. When the operator chose `--orphans=null|delete`, the
 * manifest's RowTreatment of the table is applied in SQL, so every reader sees the same treated rows and the
 * snapshot itself is never written.
 */
export interface RowTreatment {
  /** Rowids of rows left out (orphans and the rows depending on them), as decimal strings. */
  leftOut: string[];
  /** Column → rowids of rows whose value in that column is read as NULL (an orphan's foreign key). */
  nulled: Record<string, string[]>;
}

/** `[1,2,3]` from decimal rowid strings: SQLite's json_each reads them back as exact 64-bit integers. */
export const rowidArray = (rowids: readonly string[]): string => `[${rowids.join(',')}]`;

function treatedSql(
  name: 'sqlite-table-scan-treated' | 'sqlite-table-scan-treated-row-at',
  table: string,
  columns: readonly string[],
  treatment: RowTreatment,
): { sql: string; params: Record<string, string> } {
  const params: Record<string, string> = { leftOut: rowidArray(treatment.leftOut) };
  const list = columns.map((c, i) => {
    const nulled = treatment.nulled[c];
    if (!nulled?.length) return escapeIdentifier(c);
    params[`nulled${i}`] = rowidArray(nulled);
    return `CASE WHEN _rowid_ IN (SELECT value FROM json_each(:nulled${i})) THEN NULL ELSE ${escapeIdentifier(c)} END`;
  });
  return { sql: sqlWithIdentifiers(name, { columns: list.join(', '), table: escapeIdentifier(table) }), params };
}

const untreated = (treatment: RowTreatment | undefined): treatment is undefined =>
  !treatment || (treatment.leftOut.length === 0 && Object.values(treatment.nulled).every((r) => r.length === 0));

/** Every row of `table` (its `columns`, in that order), with the treatment applied when there is one. */
export function scanTableRows<Row = unknown[]>(
  db: Database.Database,
  table: string,
  columns: readonly string[],
  treatment?: RowTreatment,
): IterableIterator<Row> {
  if (untreated(treatment)) {
    const sql = sqlWithIdentifiers('sqlite-table-scan', {
      columns: columns.map(escapeIdentifier).join(', '),
      table: escapeIdentifier(table),
    });
    return db.prepare(sql).raw(true).safeIntegers(true).iterate() as IterableIterator<Row>;
  }
  const { sql, params } = treatedSql('sqlite-table-scan-treated', table, columns, treatment);
  return db.prepare(sql).raw(true).safeIntegers(true).iterate(params) as IterableIterator<Row>;
}

/** The row at `offset` of the same scan (a COPY error's line number → the row). */
export function tableRowAt(
  db: Database.Database,
  table: string,
  columns: readonly string[],
  offset: number,
  treatment?: RowTreatment,
): unknown[] | undefined {
  if (untreated(treatment)) {
    const sql = sqlWithIdentifiers('load-pg-sqlite-row-at', {
      columns: columns.map(escapeIdentifier).join(', '),
      table: escapeIdentifier(table),
    });
    return db.prepare(sql).raw(true).safeIntegers(true).get(offset) as unknown[] | undefined;
  }
  const { sql, params } = treatedSql('sqlite-table-scan-treated-row-at', table, columns, treatment);
  return db
    .prepare(sql)
    .raw(true)
    .safeIntegers(true)
    .get({ ...params, offset }) as unknown[] | undefined;
}
