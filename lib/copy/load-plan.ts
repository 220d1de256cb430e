import type Database from '../sqlite/driver.ts';
import { parse as parseConnectionString } from 'pg-connection-string';
import type { Settings } from '../cli/config.ts';
import { Outcome, DomainError, sourceProblem } from '../errors.ts';
import { loadSql } from '../files/sql-files.ts';
import type { TargetColumn } from '../pg/schema-objects.ts';
import type { SchemaModel } from '../prisma/schema-model.ts';
import { incompatibility, targetCategory, type CopyColumnPlan } from './converters.ts';
import { sqliteRowCount } from './copy-table.ts';
import type { CopyTablePlan } from './rows.ts';
import type { RowTreatment } from '../sqlite/table-scan.ts';

/** Plan each table: SQLite and PostgreSQL column names from the schema model, conversion from the target type. */
export function planTables(
  model: SchemaModel,
  db: Database.Database,
  targetColumns: Map<string, TargetColumn[]>,
  schema: string,
  expected: Map<string, number>,
  treatments: Record<string, RowTreatment> = {},
): CopyTablePlan[] {
  const plans: CopyTablePlan[] = [];
  for (const table of model.tables) {
    const pgColumns = targetColumns.get(table.name);
    if (!pgColumns)
      throw new DomainError(
        Outcome.Internal,
        `table "${table.name}" is missing in PostgreSQL after the migrations were applied`,
      );
    const byName = new Map(pgColumns.map((c) => [c.name, c]));
    const columns: CopyColumnPlan[] = table.columns.map((column) => {
      const target = byName.get(column.name);
      if (!target)
        throw new DomainError(
          Outcome.Internal,
          `column "${table.name}"."${column.name}" is missing in PostgreSQL after the migrations were applied`,
        );
      const bad = incompatibility(column.kind, target);
      if (bad) throw sourceProblem(`column "${table.name}"."${column.name}": ${bad}`);
      return {
        name: column.name,
        kind: column.kind,
        target: targetCategory(target)!,
        targetType: target.dataType,
        baseType: target.baseType,
        model: column,
      };
    });
    // A PostgreSQL column the schema does not know would be left NULL/default: refuse rather than guess.
    const extra = pgColumns.find((c) => !c.generated && !table.columns.some((m) => m.name === c.name));
    if (extra && extra.notNull)
      throw new DomainError(
        Outcome.Internal,
        `PostgreSQL column "${table.name}"."${extra.name}" is not in schema.prisma`,
      );
    plans.push({
      schema,
      table: table.name,
      columns,
      key: table.key,
      ...(treatments[table.name] ? { treatment: treatments[table.name] } : {}),
      enums: model.enums,
      expectedRows: expected.get(table.name) ?? sqliteRowCount(db, table.name),
      analyzeAfter: true,
    });
  }
  return plans;
}

/**
 * Statements every load connection runs once it is open. PostgreSQL on this host (a loopback address or a Unix
 * socket, no SSH hop) shares its cores with load-pg's conversion, and with two or more slots each one already keeps a
 * core busy: parallel workers for an index build or a foreign key's validation then only add start-up and
 * coordination (bench/README.md has the numbers). A server of its own, or a single slot, keeps the server's defaults.
 */
export function loadSessionStatements(settings: Pick<Settings, 'targetUrl' | 'ssh'>, slots: number): string[] {
  if (slots < 2 || settings.ssh || !settings.targetUrl) return [];
  let host: string | null | undefined;
  try {
    host = parseConnectionString(settings.targetUrl).host;
  } catch {
    return [];
  }
  const local =
    !host || host.startsWith('/') || host === 'localhost' || /^127\./.test(host) || host === '::1' || host === '[::1]';
  return local ? [loadSql('load-pg-parallel-workers-off')] : [];
}
