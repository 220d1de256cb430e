import pg from 'pg';
import { sqlWithIdentifiers } from '../files/sql-files.ts';
import type { CopyTablePlan } from '../copy/rows.ts';
import type { SqliteValue } from '../sqlite/values.ts';
import { contentFragments, type HashTable, type TableHash } from './content-hash.ts';
import { keyMatch, stageKeys } from './delta-stage.ts';

const id = (name: string) => pg.escapeIdentifier(name);
const STAGE = 'online_delta_keys';

/**
 * Row count and content hash of the rows of one table at the given keys (raw rows in the plan's column order, of
 * which only the key columns are read), on PostgreSQL. The canonical row hash sum is additive, so a table's hash is
 * brought forward by what the delta removes and adds; this reads only those rows, not the table.
 */
export async function pgHashAtKeys(
  client: pg.Client,
  table: HashTable,
  plan: CopyTablePlan,
  rows: SqliteValue[][],
): Promise<TableHash> {
  if (rows.length === 0) return { rowCount: 0, contentHash: '0' };
  await client.query('BEGIN');
  try {
    await stageKeys(client, STAGE, plan, rows);
    await client.query(sqlWithIdentifiers('online-delta-stage-analyze', { stage: id(STAGE) }));
    const { rows: result } = await client.query<{ row_count: string; content_hash: string }>(
      sqlWithIdentifiers('online-delta-keyed-hash', {
        ...contentFragments(plan.schema, table),
        stage: id(STAGE),
        match: keyMatch(plan, 'c', 's'),
      }),
    );
    await client.query('COMMIT');
    return { rowCount: Number(result[0].row_count), contentHash: result[0].content_hash };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
