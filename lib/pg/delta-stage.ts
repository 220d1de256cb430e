import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { sqlWithIdentifiers } from '../files/sql-files.ts';
import { copyTextOf, type CopyTablePlan } from '../copy/rows.ts';
import type { SqliteValue } from '../sqlite/values.ts';

/**
 * Rows of the online delta staged in a temporary table by COPY with load-pg's encoders, so a value lands exactly as a
 * full load writes it. Temporary tables are not in the app's schema: pg_stat counts for the app's tables show only
 * what the delta itself wrote. The caller holds the transaction the table drops with.
 */
const id = (name: string) => pg.escapeIdentifier(name);

export async function stageRows(
  client: pg.Client,
  stage: string,
  plan: CopyTablePlan,
  columns: string[],
  text: string,
): Promise<void> {
  const fragments = {
    stage: id(stage),
    table: `${id(plan.schema)}.${id(plan.table)}`,
    columns: columns.map(id).join(', '),
  };
  await client.query(sqlWithIdentifiers('online-delta-stage', fragments));
  const copy = client.query(copyFrom(sqlWithIdentifiers('online-delta-copy', fragments)));
  await pipeline(Readable.from([text]), copy);
}

/** Stage only the key columns of `rows` (raw rows in the plan's column order). */
export async function stageKeys(
  client: pg.Client,
  stage: string,
  plan: CopyTablePlan,
  rows: SqliteValue[][],
): Promise<void> {
  const names = plan.columns.map((c) => c.name);
  const keyIndexes = plan.key.map((k) => names.indexOf(k));
  const keyPlan = { ...plan, columns: keyIndexes.map((i) => plan.columns[i]) };
  const text = copyTextOf(
    keyPlan,
    rows.map((r) => keyIndexes.map((i) => r[i])),
  );
  await stageRows(client, stage, plan, plan.key, text);
}

/** `target.k = stage.k AND …` over the plan's key; a key column that may be NULL matches NULL. */
export function keyMatch(plan: CopyTablePlan, target: string, stage: string): string {
  const nullable = plan.key.some((k) => plan.columns.find((c) => c.name === k)?.model.nullable !== false);
  return plan.key
    .map((k) =>
      nullable ? `${target}.${id(k)} IS NOT DISTINCT FROM ${stage}.${id(k)}` : `${target}.${id(k)} = ${stage}.${id(k)}`,
    )
    .join(' AND ');
}
