/** A cell as better-sqlite3 reads it with safe integers on. */
export type Cell = null | bigint | number | string | Buffer;

/** SQLite's storage class of a cell as better-sqlite3 (safe integers) returns it. */
export const storageClass = (v: Cell): 'null' | 'integer' | 'real' | 'text' | 'blob' =>
  v === null
    ? 'null'
    : typeof v === 'bigint'
      ? 'integer'
      : typeof v === 'number'
        ? 'real'
        : typeof v === 'string'
          ? 'text'
          : 'blob';
