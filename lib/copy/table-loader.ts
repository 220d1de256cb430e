import Database from '../sqlite/driver.ts';
import type pg from 'pg';
import { copyTable, type CopyTableResult } from './copy-table.ts';
import { RowLoadError, type CopyTablePlan, type ProgressCallback } from './rows.ts';
import type { WorkerInit, WorkerReply, WorkerRequest } from './copy-worker.ts';
import { useSchema } from '../pg/schema-objects.ts';
import { helperThreadModule } from '../files/code-location.ts';
import { dropHeadStart } from './head-start.ts';
import { startHelperWorker } from '../threads/worker-call.ts';

/**
 * A slot that loads one table at a time: either in a worker thread (its own core for the SQLite read and the
 * conversion) or inline in the main thread. load-pg runs two slots at once.
 */
export interface TableLoader {
  load(plan: CopyTablePlan, onProgress?: ProgressCallback): Promise<CopyTableResult>;
  close(): Promise<void>;
}

export async function startWorkerLoader(init: WorkerInit): Promise<TableLoader> {
  // Bounded heap: the worker holds a few 64 KB chunks at a time, so a small young generation only means more
  // (cheap) scavenges, and peak RSS stays low whatever the table size.
  const worker = startHelperWorker(helperThreadModule('copy/copy-worker'), init, {
    maxYoungGenerationSizeMb: 4,
    maxOldGenerationSizeMb: 128,
  });
  let current:
    { resolve: (r: CopyTableResult) => void; reject: (e: Error) => void; onProgress?: ProgressCallback } | undefined;
  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  let failed: Error | undefined;
  const fail = (err: Error) => {
    failed = err;
    readyReject(err);
    current?.reject(err);
    current = undefined;
  };
  worker.on('message', (reply: WorkerReply) => {
    switch (reply.type) {
      case 'ready':
        readyResolve();
        break;
      case 'progress':
        current?.onProgress?.(reply.rows);
        break;
      case 'done':
        current?.resolve(reply.result);
        current = undefined;
        break;
      case 'error': {
        const err = reply.rowError
          ? new RowLoadError(reply.message, reply.rowError)
          : Object.assign(new Error(reply.message), { code: reply.code });
        if (!current) fail(err);
        else {
          current.reject(err);
          current = undefined;
        }
        break;
      }
    }
  });
  worker.on('error', (err) => fail(err));
  let exitedAlready = false;
  worker.on('exit', (code) => {
    exitedAlready = true;
    if (current || code !== 0) fail(new Error(`load worker exited with code ${code}`));
  });
  await ready;
  return {
    load(plan, onProgress) {
      if (failed) return Promise.reject(failed);
      // A head start lives in the main thread (and cannot be posted): this thread converts the table afresh.
      if (plan.headStart) {
        dropHeadStart(plan.headStart);
        plan = { ...plan, headStart: undefined };
      }
      return new Promise<CopyTableResult>((resolve, reject) => {
        current = { resolve, reject, onProgress };
        worker.postMessage({ type: 'load', plan } satisfies WorkerRequest);
      });
    },
    async close() {
      if (exitedAlready) return; // its 'exit' event has been and gone: waiting for it would never end
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage({ type: 'close' } satisfies WorkerRequest);
      const timer = setTimeout(() => void worker.terminate(), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The same job in the main thread (used when worker threads are turned off, e.g. to measure their benefit). */
export async function startInlineLoader(
  snapshotPath: string,
  connect: () => Promise<pg.Client>,
  schema: string,
): Promise<TableLoader> {
  const db = new Database(snapshotPath, { readonly: true, fileMustExist: true });
  let client: pg.Client | undefined;
  try {
    client = await connect();
    await useSchema(client, schema);
  } catch (err) {
    await client?.end().catch(() => undefined);
    db.close();
    throw err;
  }
  const connected = client; // (the closures below need it narrowed)
  return {
    load: (plan, onProgress) => {
      let last = 0;
      return copyTable(db, connected, plan, (rows) => {
        const now = Date.now();
        if (now - last >= 200) {
          last = now;
          onProgress?.(rows);
        }
      });
    },
    async close() {
      await connected.end().catch(() => undefined);
      db.close();
    },
  };
}
