import type { CopyColumnPlan } from './copy-converters.ts';
import { columnConverter, convertChecked, type Converted, type SqliteValue } from './sqlite-values.ts';

/**
 * One function per column: a better-sqlite3 value (raw rows, safeIntegers) → one COPY text-format field
 * (`\N` for NULL, escaped), or a ConversionProblem. The per-kind value rules are sqlite-values' (shared with
 * export-sqlite's manifest, so what the manifest calls a problem is exactly what fails here); this adapter only
 * reshapes the result for the few target types a Prisma native-type attribute can choose (@db.Date, @db.Time,
 * @db.Timestamptz) and handles the re-read of text that may hide invalid UTF-8.
 */
export type FieldEncoder = (value: SqliteValue, readBytes: () => Buffer | null | undefined) => Converted;

export function encoderFor(column: CopyColumnPlan, enums: Record<string, string[]>): FieldEncoder {
  const converter = columnConverter(column.model, enums);
  const copy = (value: SqliteValue, readBytes: () => Buffer | null | undefined): Converted =>
    convertChecked(converter.copy, value, readBytes);
  if (column.kind !== 'datetime') return copy;
  // sqlite-values writes `YYYY-MM-DD HH:MM:SS.mmm` (UTC) for timestamp(3); adapt it to the other date-time targets.
  switch (column.target) {
    case 'timestamptz':
      return (v, r) => {
        const out = copy(v, r);
        return typeof out === 'string' && v !== null ? out + '+00' : out;
      };
    case 'date':
      return (v, r) => {
        const out = copy(v, r);
        return typeof out === 'string' && v !== null ? out.slice(0, 10) : out;
      };
    case 'time':
      return (v, r) => {
        const out = copy(v, r);
        return typeof out === 'string' && v !== null ? out.slice(11) : out;
      };
    default:
      return copy;
  }
}
