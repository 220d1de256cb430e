import type Database from '../sqlite/driver.ts';
import pg from 'pg';
import type { CopyColumnPlan } from './converters.ts';
import {
  BINARY_HEADER,
  BINARY_TRAILER,
  binaryCapable,
  binaryEncoderFor,
  BinaryWriter,
  type BinaryEncoder,
} from './binary.ts';
import { encoderFor, type FieldEncoder } from './encoders.ts';
import type { SqliteValue } from '../sqlite/values.ts';
import { createCellBytesReader } from '../sqlite/cell-bytes.ts';
import { scanTableRows, type RowTreatment } from '../sqlite/table-scan.ts';

/** What one table's copy reads and how: the plan, and the snapshot's rows as COPY data (text or binary chunks). */
export interface CopyTablePlan {
  /** Target schema. */
  schema: string;
  /** Table name in SQLite and PostgreSQL (same in both: both come from the Prisma schema). */
  table: string;
  columns: CopyColumnPlan[];
  /** Key column names, for naming a failed row. */
  key: string[];
  /** The manifest's --orphans treatment of the table (rows left out, foreign keys read as NULL). */
  treatment?: RowTreatment;
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
   * The table's first chunks, converted while the schema was being built (copy/head-start.ts); copyTable sends them
   * and continues the same conversion. Only on plans loaded in this thread (it cannot cross into a worker).
   */
  headStart?: HeadStart;
}

/** The converted first chunks of a table (copy-head-start.ts starts them, copyTable continues them). */
export interface HeadStart {
  table: string;
  /** The plan the chunks were converted for (predicted column types). */
  predicted: CopyTablePlan;
  /** Converted COPY data not sent yet, in order (the first is the binary COPY header). */
  chunks: Buffer[];
  bytes: number;
  /** Rows converted so far: the same counter the rest of the table's conversion continues. */
  counter: { rows: number };
  /** The rest of the table's conversion, paused. */
  generator: Generator<Buffer>;
  /** Called after each chunk the generator produces (copyTable points it at its progress callback). */
  progress: { onChunk: () => void };
  /** A value that would not convert, met during the head start: raised when the table's COPY reaches it. */
  failure?: unknown;
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

export const CHUNK_CHARS = 64 * 1024;
/** Progress callback granularity: at most every this many rows (cheap: a counter compare per chunk). */
export type ProgressCallback = (rows: number) => void;

export const sqliteId = (name: string) => pg.escapeIdentifier(name); // SQLite quotes identifiers the same way

export function keyText(plan: CopyTablePlan, row: unknown[]): string {
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
function cellBytesReader(
  db: Database.Database,
  plan: CopyTablePlan,
  cursor: { row: unknown[]; column: number },
): () => Buffer | undefined {
  const read = createCellBytesReader(
    db,
    plan.table,
    plan.columns.map((c) => c.name),
    plan.key,
  );
  return () => read(cursor.row, cursor.column);
}

/**
 * One pass over the table's rows (raw arrays, safe integers), with the cursor the encoders' byte re-reader uses to
 * find the cell it is asked about.
 */
function scanTable(db: Database.Database, plan: CopyTablePlan) {
  const cursor: { row: unknown[]; column: number } = { row: [], column: 0 };
  return {
    rows: scanTableRows<SqliteValue[]>(
      db,
      plan.table,
      plan.columns.map((c) => c.name),
      plan.treatment,
    ),
    cursor,
    readBytes: cellBytesReader(db, plan, cursor),
  };
}

/** A value the encoder refused, as the one-line cause naming table, column and key. */
function conversionError(
  plan: CopyTablePlan,
  row: unknown[],
  column: number,
  problem: { reason: string; value?: string },
): RowLoadError {
  const name = plan.columns[column].name;
  const key = keyText(plan, row);
  const reason = `${problem.reason}${problem.value ? ` (value: ${JSON.stringify(problem.value)})` : ''}`;
  return new RowLoadError(`table "${plan.table}", column "${name}", row ${key}: ${reason}`, {
    table: plan.table,
    column: name,
    key,
    reason: problem.reason,
  });
}

function* copyChunks(
  plan: CopyTablePlan,
  rows: Iterable<unknown[]>,
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
export function tableCopyChunks(
  db: Database.Database,
  plan: CopyTablePlan,
  counter: { rows: number } = { rows: 0 },
  onChunk: () => void = () => undefined,
): Generator<string> {
  const { rows, cursor, readBytes } = scanTable(db, plan);
  const encoders = plan.columns.map((c) => encoderFor(c, plan.enums));
  return copyChunks(plan, rows, encoders, readBytes, cursor, counter, onChunk);
}

/**
 * COPY text of rows already in memory (the online cutover's delta), with load-pg's encoders, so every value lands
 * exactly as a full load writes it. Text holding U+FFFD must have been checked against its bytes by the caller.
 */
export function copyTextOf(plan: CopyTablePlan, rows: Iterable<SqliteValue[]>): string {
  const encoders = plan.columns.map((c) => encoderFor(c, plan.enums));
  const cursor: { row: unknown[]; column: number } = { row: [], column: 0 };
  let text = '';
  for (const chunk of copyChunks(
    plan,
    rows,
    encoders,
    () => undefined,
    cursor,
    { rows: 0 },
    () => undefined,
  ))
    text += chunk;
  return text;
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
export function* binaryChunks(
  db: Database.Database,
  plan: CopyTablePlan,
  counter: { rows: number },
  onChunk: () => void,
): Generator<Buffer> {
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

export function usesBinary(plan: CopyTablePlan): boolean {
  return !plan.textFormat && binaryCapable(plan.columns);
}
