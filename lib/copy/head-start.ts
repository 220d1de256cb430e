import type Database from '../sqlite/driver.ts';
import { binaryChunks, usesBinary, type CopyTablePlan, type HeadStart } from './rows.ts';
import type { TargetColumn } from '../pg/schema-objects.ts';
import type { ColumnKind, SchemaModel } from '../prisma/schema-model.ts';

/**
 * A head start for the first tables' COPY: while Prisma's schema engine builds the schema on the target (≈ 0.3-0.4 s
 * in which load-pg's main thread only waits), their first chunks are read from the snapshot and converted, so the
 * copy phase starts with data ready and has that much less conversion left to do on its busy cores.
 *
 * The conversion depends on the target's column types, which only exist once the migration has run; the head start
 * converts for the types Prisma gives each kind when nothing overrides them (predictTargetColumns), and its chunks are
 * used only if the real types turn out the same for every column (matchesPlan). Otherwise they are dropped and the
 * table is converted from its first row, as without a head start. Bounded: at most `budgetBytes` per table.
 */

/** The PostgreSQL base type Prisma's migration gives each kind when the schema names no native type. */
const PRISMA_DEFAULT_BASE_TYPE: Record<Exclude<ColumnKind, 'enum'>, string> = {
  text: 'text',
  int: 'int4',
  bigint: 'int8',
  float: 'float8',
  decimal: 'numeric',
  boolean: 'bool',
  datetime: 'timestamp',
  json: 'jsonb',
  bytes: 'bytea',
};

/** Each table's columns as a migration generated from the schema (no native types) creates them. */
export function predictTargetColumns(model: SchemaModel): Map<string, TargetColumn[]> {
  return new Map(
    model.tables.map((table) => [
      table.name,
      table.columns.map((column, i) => {
        const baseType =
          column.kind === 'enum' ? (column.enumName ?? column.prismaType) : PRISMA_DEFAULT_BASE_TYPE[column.kind];
        return {
          table: table.name,
          name: column.name,
          position: i + 1,
          dataType: baseType,
          baseType,
          typeKind: column.kind === 'enum' ? 'e' : 'b',
          isArray: false,
          notNull: !column.nullable,
          generated: false,
        };
      }),
    ]),
  );
}

/** True when the real plan converts every column exactly as the predicted one did (same encoders, same order). */
export function matchesPlan(head: HeadStart, actual: CopyTablePlan): boolean {
  const predicted = head.predicted;
  if (actual.table !== predicted.table || actual.columns.length !== predicted.columns.length || !usesBinary(actual))
    return false;
  return actual.columns.every((column, i) => {
    const other = predicted.columns[i];
    return (
      column.name === other.name &&
      column.kind === other.kind &&
      column.target === other.target &&
      (column.target === 'enum' || column.baseType === other.baseType)
    );
  });
}

/** The head start if the real plan converts as the predicted one did (matchesPlan); otherwise it is dropped. */
export function claimHeadStart(head: HeadStart, actual: CopyTablePlan): HeadStart | undefined {
  if (matchesPlan(head, actual)) return head;
  dropHeadStart(head);
  return undefined;
}

/** The COPY data of a head start's table: the chunks converted ahead, then the rest of the conversion. */
export function* continueHeadStart(head: HeadStart): Generator<Buffer> {
  while (head.chunks.length) yield head.chunks.shift()!;
  if (head.failure !== undefined) throw head.failure;
  yield* head.generator;
}

/** Ends a head start whose chunks will not be sent (its paused SQLite statement is reset). */
export function dropHeadStart(head: HeadStart): void {
  head.chunks.length = 0;
  head.generator.return(undefined);
}

/**
 * Convert the first chunks of `plans` (binary COPY only), one chunk of each in turn, yielding to the event loop
 * between chunks, until `stop()` or each table's budget or end. `stop()` resolves once no chunk is being converted.
 */
export function startHeadStarts(
  db: Database.Database,
  plans: CopyTablePlan[],
  budgetBytes: number,
): { heads: HeadStart[]; stop(): Promise<void> } {
  const heads: HeadStart[] = plans.filter(usesBinary).map((plan) => {
    const counter = { rows: 0 };
    const progress = { onChunk: () => undefined as void };
    return {
      table: plan.table,
      predicted: plan,
      chunks: [],
      bytes: 0,
      counter,
      progress,
      generator: binaryChunks(db, plan, counter, () => progress.onChunk()),
    };
  });
  let stopped = false;
  const running = (async () => {
    const finished = new Set<HeadStart>(); // converted to the end, or stopped by a value that will not convert
    let active = heads.slice();
    while (!stopped && active.length) {
      for (const head of active) {
        try {
          const next = head.generator.next();
          if (next.done) finished.add(head);
          else {
            head.chunks.push(next.value);
            head.bytes += next.value.length;
          }
        } catch (err) {
          head.failure = err;
          finished.add(head);
        }
      }
      active = active.filter((h) => !finished.has(h) && h.bytes < budgetBytes);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  })();
  return {
    heads,
    async stop() {
      stopped = true;
      await running;
    },
  };
}
