import { pgErrorSide } from './pg/target-errors.ts';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Database from 'better-sqlite3';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { CopyColumnPlan } from './copy-converters.ts';
import { BINARY_HEADER, BINARY_TRAILER, binaryCapable, binaryEncoderFor, BinaryWriter, type BinaryEncoder } from './copy-binary.ts';
import { encoderFor, type FieldEncoder } from './copy-encoders.ts';
import type { SqliteValue } from './sqlite-values.ts';
import { loadSql, sqlWithIdentifiers } from './sql-files.ts';
import { duplicateIndexCause } from './pg-schema-objects.ts';
import { createCellBytesReader } from './sqlite-cell-bytes.ts';
import { continueHeadStart, type HeadStart } from './copy-head-start.ts';

/**
 * Stream one snapshot table into PostgreSQL with COPY FROM STDIN (text format), in its own transaction:
 * TRUNCATE (a retried table starts clean), COPY … FREEZE, COMMIT. Rows are read with better-sqlite3's raw,
 * safe-integer iterator, converted field by field, joined into ~64 KB chunks and pushed through a stream
 * pipeline, so memory stays bounded by a few chunks whatever the table size (the pipeline waits for 'drain').
 * Works the same in the main thread and in a worker thread (see copy-worker.ts).
 */
export interface CopyTablePlan {
  /** Target schema. */
  schema: string;
  /** Table name in SQLite and PostgreSQL (same in both: both come from the Prisma schema). */
  table: string;
  columns: CopyColumnPlan[];
  /** Key column names, for naming a failed row. */
  key: string[];
  /** Enum name → database values (schema model), for the enum check. */
  enums: Record<string, string[]>;
  /** Rows expected (manifest or count(*)), for progress and the ETA. */
  expectedRows: number;
  /**
   * ANALYZE the table right after its COPY and index rebuilds, on the same connection (after the indexes so that
   * expression indexes get their statistics too): while this slot analyzes, the other slot keeps PostgreSQL busy with
   * its COPY — the statistics work fills the load's idle gaps instead of being a phase of its own at the end.
   */
  analyzeAfter?: boolean;
  /** Use COPY's text format even where the binary one is possible (the benchmark's raw files are text). */
  textFormat?: boolean;
  /**
   * The table's deferred indexes, primary key first, each with the statement that rebuilds it (CREATE INDEX, or
   * ADD CONSTRAINT for a constraint-backed one), run right after its COPY on the same connection: the data is still
   * hot in cache, and a slot that finishes early builds while the other still copies.
   */
  indexes?: { name: string; statement: string }[];
  /**
   * The table's first chunks, converted while the schema was being built (copy-head-start.ts); copyTable sends them
   * and continues the same conversion. Only on plans loaded in this thread (it cannot cross into a worker).
   */
  headStart?: HeadStart;
}

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

/** A row that could not be loaded: a one-line cause naming table, column and key. */
export class RowLoadError extends Error {
  constructor(
    message: string,
    readonly details: { table: string; column?: string; key?: string; reason: string; line?: number },
  ) {
    super(message);
    this.name = 'RowLoadError';
  }
}

const CHUNK_CHARS = 64 * 1024;
/** Progress callback granularity: at most every this many rows (cheap: a counter compare per chunk). */
export type ProgressCallback = (rows: number) => void;

const sqliteId = (name: string) => pg.escapeIdentifier(name); // SQLite quotes identifiers the same way

function keyText(plan: CopyTablePlan, row: unknown[]): string {
  return plan.key
    .map((k) => {
      const i = plan.columns.findIndex((c) => c.name === k);
      const v = i >= 0 ? row[i] : undefined;
      const shown = Buffer.isBuffer(v) ? `x'${v.toString('hex').slice(0, 32)}'` : String(v);
      return `${k}=${shown.length > 60 ? shown.slice(0, 57) + '...' : shown}`;
    })
    .join(', ');
}

/** Re-reads one cell as bytes by the current row's key (rare path: only for text containing U+FFFD). */
function cellBytesReader(db: Database.Database, plan: CopyTablePlan, cursor: { row: unknown[]; column: number }): () => Buffer | undefined {
  const read = createCellBytesReader(db, plan.table, plan.columns.map((c) => c.name), plan.key);
  return () => read(cursor.row, cursor.column);
}

/** The plan's columns, quoted for SQLite, in plan order (the order of every row read). */
const sqliteColumns = (plan: CopyTablePlan) => plan.columns.map((c) => sqliteId(c.name)).join(', ');

/**
 * One pass over the table's rows (raw arrays, safe integers), with the cursor the encoders' byte re-reader uses to
 * find the cell it is asked about.
 */
function scanTable(db: Database.Database, plan: CopyTablePlan) {
  const select = db.prepare(sqlWithIdentifiers('sqlite-table-scan', { columns: sqliteColumns(plan), table: sqliteId(plan.table) }));
  select.raw(true).safeIntegers(true);
  const cursor: { row: unknown[]; column: number } = { row: [], column: 0 };
  return { rows: select.iterate() as IterableIterator<SqliteValue[]>, cursor, readBytes: cellBytesReader(db, plan, cursor) };
}

/** A value the encoder refused, as the one-line cause naming table, column and key. */
function conversionError(plan: CopyTablePlan, row: unknown[], column: number, problem: { reason: string; value?: string }): RowLoadError {
  const name = plan.columns[column].name;
  const key = keyText(plan, row);
  const reason = `${problem.reason}${problem.value ? ` (value: ${JSON.stringify(problem.value)})` : ''}`;
  return new RowLoadError(`table "${plan.table}", column "${name}", row ${key}: ${reason}`, { table: plan.table, column: name, key, reason: problem.reason });
}

function* copyChunks(
  plan: CopyTablePlan,
  rows: IterableIterator<unknown[]>,
  encoders: FieldEncoder[],
  readBytes: () => Buffer | null | undefined,
  cursor: { row: unknown[]; column: number },
  counter: { rows: number },
  onChunk: () => void,
): Generator<string> {
  const n = encoders.length;
  let chunk = '';
  for (const row of rows) {
    cursor.row = row;
    let line = '';
    for (let i = 0; i < n; i++) {
      const value = row[i] as SqliteValue;
      let field: string;
      if (value === null) field = '\\N';
      else {
        cursor.column = i;
        const encoded = encoders[i](value, readBytes);
        if (typeof encoded !== 'string') throw conversionError(plan, row, i, encoded);
        field = encoded;
      }
      line = i === 0 ? field : line + '\t' + field;
    }
    chunk += line + '\n';
    counter.rows++;
    if (chunk.length >= CHUNK_CHARS) {
      yield chunk;
      chunk = '';
      onChunk();
    }
  }
  if (chunk) yield chunk;
  onChunk();
}

/**
 * The COPY text of a whole table as ~64 KB string chunks (what copyTable streams); also used by the benchmark to
 * write the pre-converted files of its raw-COPY baseline.
 */
export function tableCopyChunks(db: Database.Database, plan: CopyTablePlan, counter: { rows: number } = { rows: 0 }, onChunk: () => void = () => undefined): Generator<string> {
  const { rows, cursor, readBytes } = scanTable(db, plan);
  const encoders = plan.columns.map((c) => encoderFor(c, plan.enums));
  return copyChunks(plan, rows, encoders, readBytes, cursor, counter, onChunk);
}

/**
 * Encodes rows into `w` until it holds a chunk (true) or the rows run out (false).
 * A plain function called once per chunk, not a loop inside the generator: V8 optimizes it once per thread and
 * keeps it for every table. The generator's own loop was compiled on-stack anew for each table and thrown away at
 * each table's end (binaryChunks was compiled 7 times per thread on the 1.5 M-row bench, ≈ 17 ms each, with the
 * rows in between run unoptimized).
 */
function encodeBinaryRows(
  plan: CopyTablePlan,
  rows: Iterator<SqliteValue[]>,
  encoders: BinaryEncoder[],
  w: BinaryWriter,
  cursor: { row: unknown[]; column: number },
  readBytes: () => Buffer | null | undefined,
  counter: { rows: number },
): boolean {
  const n = encoders.length;
  for (;;) {
    const next = rows.next();
    if (next.done) return false;
    const row = next.value;
    cursor.row = row;
    w.int16(n);
    for (let i = 0; i < n; i++) {
      const value = row[i];
      if (value === null) {
        w.nullField();
        continue;
      }
      cursor.column = i;
      const bad = encoders[i](value, w, readBytes);
      if (bad) throw conversionError(plan, row, i, bad);
    }
    counter.rows++;
    if (w.pos >= CHUNK_CHARS) return true;
  }
}

/** Binary COPY data of a whole table: header, rows, trailer, as ~64 KB buffers. */
export function* binaryChunks(db: Database.Database, plan: CopyTablePlan, counter: { rows: number }, onChunk: () => void): Generator<Buffer> {
  const { rows, cursor, readBytes } = scanTable(db, plan);
  const encoders = plan.columns.map((c) => binaryEncoderFor(c, plan.enums));
  // Flushed at 64 KB; the 8 KB margin keeps the usual row from forcing a grow-and-copy at the boundary.
  const w = new BinaryWriter(CHUNK_CHARS + 8 * 1024);
  try {
    yield BINARY_HEADER;
    while (encodeBinaryRows(plan, rows, encoders, w, cursor, readBytes, counter)) {
      yield w.take();
      onChunk();
    }
  } finally {
    // A failed row or a stopped consumer leaves the SQLite statement mid-scan; closing it frees the connection for
    // the statements that name the failed row (for…of did this on its own).
    rows.return?.();
  }
  w.ensure(2);
  BINARY_TRAILER.copy(w.buf, w.pos);
  w.pos += 2;
  yield w.take();
  onChunk();
}

/**
 * pg-copy-streams sends each chunk as two socket writes: the 5-byte CopyData header, then the chunk. node-postgres
 * turns Nagle off, so each is its own system call and its own TCP segment, and PostgreSQL wakes up for the header
 * alone. Corked, the two leave in one writev.
 */
function oneWritePerChunk<T extends ReturnType<typeof copyFrom>>(copy: T): T {
  const stream = copy as unknown as { connection?: { stream: NodeJS.WritableStream & { cork(): void; uncork(): void } }; flushChunk(chunk: Buffer): boolean };
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

export function usesBinary(plan: CopyTablePlan): boolean {
  return !plan.textFormat && binaryCapable(plan.columns);
}

export async function copyTable(db: Database.Database, client: pg.Client, plan: CopyTablePlan, onProgress?: ProgressCallback): Promise<CopyTableResult> {
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
        copyFrom(sqlWithIdentifiers(binary ? 'load-pg-copy-binary' : 'load-pg-copy', { ...fragments, columns: plan.columns.map((c) => pg.escapeIdentifier(c.name)).join(', ') }), {
          highWaterMark: 4 * CHUNK_CHARS,
        }),
      ),
    );
    const onChunk = () => onProgress?.(counter.rows);
    if (head) head.progress.onChunk = onChunk;
    const chunks = head ? continueHeadStart(head) : binary ? binaryChunks(db, plan, counter, onChunk) : tableCopyChunks(db, plan, counter, onChunk);
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
        // A RowLoadError, not a TaskError: it also crosses the worker-thread loader's boundary as a source problem.
        const cause = duplicateIndexCause(index.name, plan.table, err);
        if (cause) throw new RowLoadError(cause, { table: plan.table, reason: `duplicate key for unique index ${index.name}` });
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
    return { table: plan.table, rowsRead: counter.rows, rowsCopied: copy.rowCount, seconds, indexesBuilt, indexSeconds, ...(analyzeSeconds !== undefined ? { analyzeSeconds } : {}) };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw connectionLost(err) ?? err;
  }
}

/**
 * The connection died under the COPY (server restarted: 57P01; backend terminated; socket reset; SSH tunnel
 * dropped: "Connection terminated unexpectedly", no code). That is a target problem, not a rejected value: return
 * an error carrying a connection-class SQLSTATE (08006 when the driver gave none) so load-pg reports exit 3.
 */
export function connectionLost(err: unknown): Error | undefined {
  if (err instanceof RowLoadError) return undefined;
  const e = err as { message?: string; code?: string };
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = (e?.message ?? String(err)).split('\n')[0];
  const lost =
    /^(08|57P)/.test(code) ||
    ['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT', 'ECONNABORTED'].includes(code) ||
    /Connection terminated|connection (is )?(closed|ended)|Client has encountered a connection error/i.test(message);
  if (!lost) return undefined;
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
      const stmt = db.prepare(sqlWithIdentifiers('load-pg-sqlite-row-at', { columns: sqliteColumns(plan), table: sqliteId(plan.table) }));
      const row = stmt.raw(true).safeIntegers(true).get(line - 1) as unknown[] | undefined;
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
