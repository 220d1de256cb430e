import Database from '../sqlite/driver.ts';
import type { SchemaModel } from '../prisma/schema-model.ts';
import type { TableScan } from '../sqlite/export-scan.ts';
import { schemaDifferences, schemaObjects } from '../sqlite/fallback-file.ts';
import type { ExportedTable } from './export-pg.ts';

/**
 * The fallback file proven equal to PostgreSQL: every table's row count and canonical content hash computed on the
 * file by export-sqlite's own scan (`scans`: lib/sqlite/export-scan.ts, SQLite cells → canonical form, the JS side
 * of docs/design.md) against the ones PostgreSQL computed in the export's snapshot; a value the scan cannot read
 * back counts as a problem. The schema is compared with the app's own file (the run's snapshot) object by object.
 */
export interface TableCheck {
  name: string;
  rows: number;
  pgRowCount: number;
  contentHash: string;
  pgContentHash: string;
  problems: number;
  ok: boolean;
}

export interface FileCheck {
  ok: boolean;
  tables: TableCheck[];
  schemaDifferences: string[];
  /** One line per failed check. */
  failures: string[];
}

export function checkFallbackFile(
  file: string,
  snapshotFile: string,
  model: SchemaModel,
  exported: ExportedTable[],
  scans: Map<string, { scan: TableScan }>,
): FileCheck {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  const snapshot = new Database(snapshotFile, { readonly: true, fileMustExist: true });
  try {
    const tables: TableCheck[] = [];
    const failures: string[] = [];
    for (const table of model.tables) {
      const pgSide = exported.find((t) => t.name === table.name);
      const scan = scans.get(table.name)?.scan;
      if (!scan) throw new Error(`${table.name} was not scanned`);
      const check: TableCheck = {
        name: table.name,
        rows: scan.rowCount,
        pgRowCount: pgSide?.pgRowCount ?? -1,
        contentHash: scan.contentHash,
        pgContentHash: pgSide?.pgContentHash ?? '',
        problems: scan.problemCount,
        ok: Boolean(pgSide) && scan.rowCount === pgSide!.pgRowCount && scan.contentHash === pgSide!.pgContentHash,
      };
      tables.push(check);
      if (!pgSide) failures.push(`${table.name}: not exported`);
      else if (check.rows !== check.pgRowCount)
        failures.push(`${table.name}: ${check.rows} rows in the file, ${check.pgRowCount} on PostgreSQL`);
      else if (!check.ok)
        failures.push(
          `${table.name}: content hash ${check.contentHash} in the file, ${check.pgContentHash} on PostgreSQL${check.problems ? ` (${check.problems} value(s) that do not read back)` : ''}`,
        );
    }
    const differences = schemaDifferences(schemaObjects(db), schemaObjects(snapshot));
    for (const d of differences) failures.push(`schema: ${d}`);
    return { ok: failures.length === 0, tables, schemaDifferences: differences, failures };
  } finally {
    db.close();
    snapshot.close();
  }
}
