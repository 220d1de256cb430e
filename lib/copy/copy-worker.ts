import { parentPort, workerData } from 'node:worker_threads';
import Database from '../sqlite/driver.ts';
import pg from 'pg';
import { copyTable } from './copy-table.ts';
import { RowLoadError, type CopyTablePlan } from './rows.ts';
import { GuardedClient } from '../pg/guarded-client.ts';
import { useSchema } from '../pg/schema-objects.ts';
import { claimHeadStart, dropHeadStart, startHeadStarts } from './head-start.ts';

/**
 * Worker-thread entry for load-pg: the SQLite read and the value conversion are synchronous CPU work, so a
 * second table loads on its own thread (own SQLite handle, own PostgreSQL connection) to use the second core.
 * Started through table-loader.ts; messages: in {type:'load', plan}, out progress/done/error.
 */
export interface WorkerInit {
  snapshotPath: string;
  clientConfig: pg.ClientConfig;
  schema: string;
  /** Statements run once on the connection after it is opened (load-pg's loadSessionStatements). */
  sessionStatements?: string[];
  /**
   * The table this slot will most likely load first, planned for the predicted column types (copy/head-start.ts):
   * converted ahead, up to budgetBytes, from the moment the thread is ready until its first table arrives.
   */
  headStart?: { plan: CopyTablePlan; budgetBytes: number };
}

export type WorkerRequest = { type: 'load'; plan: CopyTablePlan } | { type: 'close' };
export type WorkerReply =
  | { type: 'ready' }
  | { type: 'progress'; table: string; rows: number }
  | { type: 'done'; result: import('./copy-table.ts').CopyTableResult }
  | { type: 'error'; message: string; rowError?: RowLoadError['details']; code?: string };

const port = parentPort!;
const init = workerData as WorkerInit;

const db = new Database(init.snapshotPath, { readonly: true, fileMustExist: true });
const client = new GuardedClient(init.clientConfig);
client.on('error', () => undefined); // reported through the failing query instead

async function main() {
  await client.connect();
  await useSchema(client, init.schema);
  for (const statement of init.sessionStatements ?? []) await client.query(statement);
  port.postMessage({ type: 'ready' } satisfies WorkerReply);
  let headStart = init.headStart ? startHeadStarts(db, [init.headStart.plan], init.headStart.budgetBytes) : undefined;
  /** Stops converting ahead (once: at the first table, or at close) and returns what was converted. */
  const endHeadStart = async () => {
    const started = headStart;
    headStart = undefined;
    await started?.stop();
    return started?.heads[0];
  };
  port.on('message', async (message: WorkerRequest) => {
    if (message.type === 'close') {
      const unused = await endHeadStart();
      if (unused) dropHeadStart(unused);
      await client.end().catch(() => undefined);
      db.close();
      port.close();
      return;
    }
    const { plan } = message;
    const head = await endHeadStart();
    plan.headStart = head && claimHeadStart(head, plan);
    let last = 0;
    try {
      const result = await copyTable(db, client, plan, (rows) => {
        const now = Date.now();
        if (now - last >= 200) {
          last = now;
          port.postMessage({ type: 'progress', table: plan.table, rows } satisfies WorkerReply);
        }
      });
      port.postMessage({ type: 'done', result } satisfies WorkerReply);
    } catch (err) {
      const e = err as { message?: string; code?: string };
      port.postMessage({
        type: 'error',
        message: e.message ?? String(err),
        ...(err instanceof RowLoadError ? { rowError: err.details } : {}),
        ...(e.code ? { code: e.code } : {}),
      } satisfies WorkerReply);
    }
  });
}

main().catch(async (err) => {
  port.postMessage({
    type: 'error',
    message: (err as Error).message,
    code: (err as { code?: string }).code,
  } satisfies WorkerReply);
  // Not ready, so never handed a table or closed by load-pg: end the connection and the thread here.
  await client.end().catch(() => undefined);
  db.close();
  port.close();
});
