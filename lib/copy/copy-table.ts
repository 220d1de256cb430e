import { isConnectionLoss, pgErrorSide } from '../pg/target-errors.ts';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Database from '../sqlite/driver.ts';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import {
  binaryChunks,
  CHUNK_CHARS,
  keyText,
  RowLoadError,
  sqliteId,
  tableCopyChunks,
  usesBinary,
  type CopyTablePlan,
  type ProgressCallback,
} from './rows.ts';
import { loadSql, sqlWithIdentifiers } from '../files/sql-files.ts';
import { duplicateIndexCause } from '../pg/schema-objects.ts';
import { continueHeadStart } from './head-start.ts';
import { tableRowAt } from '../sqlite/table-scan.ts';

/**
 * Stream one snapshot table into PostgreSQL with COPY FROM STDIN (text format), in its own transaction:
 * TRUNCATE (a retried table starts clean), COPY … FREEZE, COMMIT. Rows are read with better-sqlite3's raw,
 * safe-integer iterator, converted field by field, joined into ~64 KB chunks and pushed through a stream
 * pipeline, so memory stays bounded by a few chunks whatever the table size (the pipeline waits for 'drain').
 * Works the same in the main thread and in a worker thread (see copy-worker.ts).
 */
export interface CopyTableResult {
  table: string;
  /** Rows read from SQLite. */
  rowsRead: number;
  /** Rows PostgreSQL reports it copied (COPY n). */
  rowsCopied: number;
  /** The COPY transaction (TRUNCATE … COMMIT). */
  seconds: number;
  /** The ANALYZE after it, when the plan asked for one. */
  analyzeSeconds?: number;
  /** Names of the plan's indexes built after the COPY. */
  indexesBuilt?: string[];
  /** The time those index builds took. */
  indexSeconds?: number;
}

/**
 * pg-copy-streams sends each chunk as two socket writes: the 5-byte CopyData header, then the chunk. node-postgres
 * turns Nagle off, so each is its own system call and its own TCP segment, and PostgreSQL wakes up for the header
 * alone. Corked, the two leave in one writev.
 */
function oneWritePerChunk<T extends ReturnType<typeof copyFrom>>(copy: T): T {
  const stream = copy as unknown as {
    connection?: { stream: NodeJS.WritableStream & { cork(): void; uncork(): void } };
    flushChunk(chunk: Buffer): boolean;
  };
  const flushChunk = stream.flushChunk;
  if (typeof flushChunk !== 'function') return copy; // another pg-copy-streams layout: keep its own writes
  stream.flushChunk = function (chunk: Buffer) {
    const socket = this.connection!.stream;
    socket.cork();
    try {
      return flushChunk.call(this, chunk);
    } finally {
      socket.uncork();
    }
  };
  return copy;
}

export async function copyTable(
  db: Database.Database,
  client: pg.Client,
  plan: CopyTablePlan,
  onProgress?: ProgressCallback,
): Promise<CopyTableResult> {
  const started = performance.now();
  const head = plan.headStart;
  plan.headStart = undefined; // sent once: a second attempt at the table converts it afresh
  const counter = head?.counter ?? { rows: 0 };
  const fragments = { schema: pg.escapeIdentifier(plan.schema), table: pg.escapeIdentifier(plan.table) };

  await client.query('BEGIN');
  try {
    await client.query(loadSql('load-pg-set-local'));
    await client.query(sqlWithIdentifiers('load-pg-truncate', fragments));
    const binary = head !== undefined || usesBinary(plan);
    const copy = client.query(
      oneWritePerChunk(
        copyFrom(
          sqlWithIdentifiers(binary ? 'load-pg-copy-binary' : 'load-pg-copy', {
            ...fragments,
            columns: plan.columns.map((c) => pg.escapeIdentifier(c.name)).join(', '),
          }),
          {
            highWaterMark: 4 * CHUNK_CHARS,
          },
        ),
      ),
    );
    const onChunk = () => onProgress?.(counter.rows);
    if (head) head.progress.onChunk = onChunk;
    const chunks = head
      ? continueHeadStart(head)
      : binary
        ? binaryChunks(db, plan, counter, onChunk)
        : tableCopyChunks(db, plan, counter, onChunk);
    const source = Readable.from(chunks, {
      objectMode: false,
      highWaterMark: 2 * CHUNK_CHARS,
    });
    try {
      await pipeline(source, copy);
    } catch (err) {
      if (err instanceof RowLoadError) throw err;
      throw mapCopyError(db, plan, err);
    }
    await client.query('COMMIT');
    const seconds = (performance.now() - started) / 1000;
    const indexesBuilt: string[] = [];
    const indexStarted = performance.now();
    for (const index of plan.indexes ?? []) {
      try {
        await client.query(index.statement);
      } catch (err) {
        // A RowLoadError, not a DomainError: it also crosses the worker-thread loader's boundary as a source problem.
        const cause = duplicateIndexCause(index.name, plan.table, err);
        if (cause)
          throw new RowLoadError(cause, { table: plan.table, reason: `duplicate key for unique index ${index.name}` });
        throw err;
      }
      indexesBuilt.push(index.name);
    }
    const indexSeconds = (performance.now() - indexStarted) / 1000;
    // After the indexes, not before: ANALYZE also gathers statistics on the expressions of expression indexes, and
    // only for indexes that exist when it runs.
    let analyzeSeconds: number | undefined;
    if (plan.analyzeAfter) {
      const analyzeStarted = performance.now();
      await client.query(sqlWithIdentifiers('load-pg-analyze', fragments));
      analyzeSeconds = (performance.now() - analyzeStarted) / 1000;
    }
    return {
      table: plan.table,
      rowsRead: counter.rows,
      rowsCopied: copy.rowCount,
      seconds,
      indexesBuilt,
      indexSeconds,
      ...(analyzeSeconds !== undefined ? { analyzeSeconds } : {}),
    };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw connectionLost(err) ?? err;
  }
}

/**
 * A lost connection under the COPY as an error carrying a connection-class SQLSTATE (08006 when the driver gave
 * none), so load-pg reports it as the target's problem (exit 3), not as a rejected value.
 */
export function connectionLost(err: unknown): Error | undefined {
  if (err instanceof RowLoadError || !isConnectionLoss(err)) return undefined;
  const e = err as { message?: string; code?: string };
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = (e?.message ?? String(err)).split('\n')[0];
  return Object.assign(new Error(message), { code: /^(08|57P)/.test(code) ? code : '08006' });
}

/**
 * A PostgreSQL error during COPY names the line (= row number, since every row is one line) and usually the
 * column: `COPY User, line 5, column email: "..."`. Re-read that row from the snapshot to name its key.
 */
export function mapCopyError(db: Database.Database, plan: CopyTablePlan, err: unknown): Error {
  const lost = connectionLost(err);
  if (lost) return lost;
  // The server's disk, memory, timeouts or privileges: not a value of ours (load-pg reports it as exit 3).
  if (pgErrorSide(err) !== 'other') return err instanceof Error ? err : new Error(String(err));
  const e = err as { message?: string; where?: string; code?: string; detail?: string };
  const message = (e.message ?? String(err)).split('\n')[0] + (e.detail ? ` (${e.detail.split('\n')[0]})` : '');
  const where = e.where ?? '';
  // `where` may hold several context lines (e.g. "JSON data, line 1: …" before "COPY User, line 5, column x: …"):
  // only the COPY line counts rows.
  const copyContext = where.split('\n').find((l) => /^COPY .*, line \d+/.test(l)) ?? '';
  const line = Number(/, line (\d+)/.exec(copyContext)?.[1] ?? NaN);
  const column = /, column (.+?): /.exec(copyContext)?.[1] ?? /, column (.+)$/.exec(copyContext)?.[1];
  let key: string | undefined;
  if (Number.isInteger(line) && line >= 1) {
    try {
      const row = tableRowAt(
        db,
        plan.table,
        plan.columns.map((c) => c.name),
        line - 1,
        plan.treatment,
      );
      if (row) key = keyText(plan, row);
    } catch {
      // Naming the key is best effort; the PostgreSQL message still says what is wrong.
    }
  }
  if (!where && !e.code) return err instanceof Error ? err : new Error(message);
  const parts = [`table "${plan.table}"`];
  if (column) parts.push(`column "${column}"`);
  if (key) parts.push(`row ${key}`);
  else if (Number.isInteger(line)) parts.push(`line ${line}`);
  return new RowLoadError(`${parts.join(', ')}: PostgreSQL rejected the value: ${message}`, {
    table: plan.table,
    ...(column ? { column } : {}),
    ...(key ? { key } : {}),
    reason: message,
    ...(Number.isInteger(line) ? { line } : {}),
  });
}

export function sqliteRowCount(db: Database.Database, table: string): number {
  const row = db.prepare(sqlWithIdentifiers('sqlite-count', { table: sqliteId(table) })).get() as { n: number };
  return Number(row.n);
}
