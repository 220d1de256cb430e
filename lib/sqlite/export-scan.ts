import Database from './driver.ts';
import { RowHasher } from '../canonical/row-hash.ts';
import type { TableModel } from '../prisma/schema-model.ts';
import { createCellBytesReader } from './cell-bytes.ts';
import { scanTableRows, type RowTreatment } from './table-scan.ts';
import {
  columnConverter,
  decodeTextBytes,
  preview,
  RECHECK_UTF8,
  type ColumnConverter,
  type ConversionProblem,
  type SqliteValue,
} from './values.ts';

/**
 * export-sqlite's one pass over one table of the snapshot (also run in a worker thread, one table per call, so
 * the export uses both cores on a big database): canonical fields → row hash → exact sum, storage-class census,
 * and the values that will not convert.
 */
export interface StorageClassCount {
  integer: number;
  real: number;
  text: number;
  blob: number;
  null: number;
}

export interface ManifestProblem {
  table: string;
  column: string;
  /** Key column → value (as text; null for SQL NULL). */
  key: Record<string, string | null>;
  value: string;
  reason: string;
}

/** At most this many problems are kept in manifest.json (all are counted). */
export const MAX_PROBLEMS = 1000;
/** A prefix-less value (ColumnConverter.value) as its canonical field: null → `N`, undefined (no conversion) → `X`. */
export function canonicalField(value: string | null | undefined): string {
  return value === null ? 'N' : value === undefined ? 'X' : 'V' + value;
}

/**
 * A DateTime column holding integers that, read as epoch milliseconds (Prisma's SQLite format, and how the app reads
 * them today), fall within about three years of 1970 — typical of values written as epoch *seconds* by raw SQL or
 * another tool (1709406482 s is 2024-03-02; as ms it is 1970-01-20). They convert as milliseconds, exactly as the app
 * shows them now; export-sqlite names them so the operator can decide before the cutover.
 */
export interface EpochSuspect {
  column: string;
  count: number;
  example: { key: Record<string, string | null>; value: string };
}
/** |ms| below this (1973-03-03) in a DateTime column is reported as a likely epoch-seconds value. */
export const EPOCH_SECONDS_SUSPECT_BELOW = 100_000_000_000n;

export interface TableScan {
  rowCount: number;
  contentHash: string;
  storageClasses: Record<string, StorageClassCount>;
  problems: ManifestProblem[];
  problemCount: number;
  epochSuspects: EpochSuspect[];
}

export interface ScanOptions {
  /** The operator's --orphans choice for this table (rows left out, foreign keys read as NULL). */
  treatment?: RowTreatment;
  /** Keep at most this many problems (all are counted). */
  maxProblems?: number;
  /** Called for every row with its hash and canonical key fields (verify uses it to narrow a mismatch). */
  onRow?: (hash: bigint, keyFields: string[]) => void;
  /** Called every `progressEvery` rows. */
  onProgress?: (rows: number) => void;
  progressEvery?: number;
}

/**
 * One pass over one table: canonical fields → row hash → exact sum; storage-class census; conversion problems.
 * A value that does not convert hashes as `X` (a field PostgreSQL can never produce), so the content hash of a
 * table with problems never matches by accident.
 */
export function scanTable(
  db: Database.Database,
  table: TableModel,
  enums: Record<string, string[]>,
  options: ScanOptions = {},
): TableScan {
  const scanner = tableScanner(db, table, enums, options);
  while (!scanner.step(Infinity));
  return scanner.result();
}

/** The same, giving the event loop a turn every `chunk` rows (so worker threads' messages are handled meanwhile). */
export async function scanTableAsync(
  db: Database.Database,
  table: TableModel,
  enums: Record<string, string[]>,
  options: ScanOptions = {},
  chunk = 20_000,
): Promise<TableScan> {
  const scanner = tableScanner(db, table, enums, options);
  while (!scanner.step(chunk)) await new Promise((resolve) => setImmediate(resolve));
  return scanner.result();
}

interface TableScanner {
  /** Process up to `limit` rows; true when the table is done. */
  step(limit: number): boolean;
  result(): TableScan;
}

function tableScanner(
  db: Database.Database,
  table: TableModel,
  enums: Record<string, string[]>,
  options: ScanOptions,
): TableScanner {
  const maxProblems = options.maxProblems ?? MAX_PROBLEMS;
  const columns = table.columns;
  const n = columns.length;
  const converters: ColumnConverter[] = columns.map((c) => columnConverter(c, enums));
  const convert = converters.map((c) => c.value);
  const keyIndexes = table.key.map((k) => columns.findIndex((c) => c.name === k));
  // Storage classes per column: [integer, real, text, blob, null] counters.
  const census = new Float64Array(n * 5);
  const isDateTime = columns.map((c) => c.kind === 'datetime');
  const suspects = new Map<number, EpochSuspect>();
  const values: (string | null | undefined)[] = new Array<string | null | undefined>(n);
  const hasher = new RowHasher();
  const problems: ManifestProblem[] = [];
  let problemCount = 0;
  let rows = 0;
  const every = options.progressEvery ?? 50_000;
  const onRow = options.onRow;

  const keyOf = (row: SqliteValue[]): Record<string, string | null> => {
    const key: Record<string, string | null> = {};
    for (let k = 0; k < keyIndexes.length; k++) {
      const v = row[keyIndexes[k]];
      key[table.key[k]] = v === null ? null : preview(v);
    }
    return key;
  };
  const noteSuspect = (c: number, row: SqliteValue[]): void => {
    const seen = suspects.get(c);
    if (seen) seen.count++;
    else suspects.set(c, { column: columns[c].name, count: 1, example: { key: keyOf(row), value: String(row[c]) } });
  };
  // Only for a text cell containing U+FFFD (rare): re-read it as bytes by the row's key to tell invalid UTF-8 apart.
  const readCell = createCellBytesReader(
    db,
    table.name,
    columns.map((c) => c.name),
    table.key,
  );
  const readBytes = (row: SqliteValue[], column: number): Buffer | null => readCell(row, column) ?? null;

  const iterator = scanTableRows<SqliteValue[]>(
    db,
    table.name,
    columns.map((c) => c.name),
    options.treatment,
  );
  const step = (limit: number): boolean => {
    try {
      for (let k = 0; k < limit; k++) {
        const next = iterator.next();
        if (next.done) return true;
        processRow(next.value);
      }
      return false;
    } catch (err) {
      iterator.return?.();
      throw err;
    }
  };

  const processRow = (row: SqliteValue[]): void => {
    for (let c = 0; c < n; c++) {
      const v = row[c];
      const base = c * 5;
      if (v === null) census[base + 4]++;
      else {
        const t = typeof v;
        if (t === 'bigint') {
          census[base]++;
          if (
            isDateTime[c] &&
            (v as bigint) < EPOCH_SECONDS_SUSPECT_BELOW &&
            (v as bigint) > -EPOCH_SECONDS_SUSPECT_BELOW
          )
            noteSuspect(c, row);
        } else if (t === 'string') census[base + 2]++;
        else if (t === 'number') census[base + 1]++;
        else census[base + 3]++;
      }
      let f = convert[c](v);
      if (f !== null && typeof f !== 'string') {
        if (f === RECHECK_UTF8) {
          const bytes = readBytes(row, c);
          // No bytes: the key itself holds the undecodable text, so the row cannot be found again; report it.
          const text = bytes
            ? decodeTextBytes(bytes)
            : {
                reason: 'contains U+FFFD and its bytes could not be re-read (invalid UTF-8 in the key?)',
                value: preview(v),
              };
          f = typeof text === 'string' ? convert[c](text, true) : text;
        }
        if (f !== null && typeof f !== 'string') {
          problemCount++;
          if (problems.length < maxProblems) {
            const p = f as ConversionProblem;
            problems.push({
              table: table.name,
              column: columns[c].name,
              key: keyOf(row),
              value: p.value,
              reason: p.reason,
            });
          }
          values[c] = undefined; // hashed as field `X`
          continue;
        }
      }
      values[c] = f;
    }
    hasher.addValues(values);
    rows++;
    if (onRow)
      onRow(
        hasher.lastHash(),
        keyIndexes.map((i) => canonicalField(values[i])),
      );
    if (options.onProgress && rows % every === 0) options.onProgress(rows);
  };

  const result = (): TableScan => {
    const storageClasses: Record<string, StorageClassCount> = {};
    columns.forEach((c, i) => {
      const base = i * 5;
      storageClasses[c.name] = {
        integer: census[base],
        real: census[base + 1],
        text: census[base + 2],
        blob: census[base + 3],
        null: census[base + 4],
      };
    });
    return {
      rowCount: rows,
      contentHash: hasher.total(),
      storageClasses,
      problems,
      problemCount,
      epochSuspects: [...suspects.values()],
    };
  };
  return { step, result };
}

const openSnapshots = new Map<string, Database.Database>();

/** Worker entry (lib/threads/worker-call.ts): scan one table of a snapshot file; the connection is kept for the next call. */
export async function scanSnapshotTable(args: {
  snapshot: string;
  table: TableModel;
  enums: Record<string, string[]>;
  maxProblems: number;
  treatment?: RowTreatment;
}): Promise<TableScan> {
  let db = openSnapshots.get(args.snapshot);
  if (!db) {
    db = new Database(args.snapshot, { readonly: true, fileMustExist: true });
    openSnapshots.set(args.snapshot, db);
  }
  return scanTable(db, args.table, args.enums, { maxProblems: args.maxProblems, treatment: args.treatment });
}
