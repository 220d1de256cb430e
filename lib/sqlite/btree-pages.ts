import { closeSync, openSync, readSync } from 'node:fs';
import type Database from './driver.ts';
import { loadSql } from '../files/sql-files.ts';

/**
 * The pages of each table's b-tree in one snapshot, as SQLite's dbstat lists them, and the rowids of the cells on a
 * table leaf page read from the file itself (https://www.sqlite.org/fileformat2.html, "B-tree Pages"). The online
 * delta row-diffs only the rows on leaves that changed; docs/online-cutover.md argues why no other row can differ.
 */
export interface TablePages {
  /** Every page of the tree: interior, leaf and overflow. */
  all: Set<number>;
  leaves: Set<number>;
  /** Leaf page → the overflow pages that continue its cells. */
  overflowOf: Map<number, number[]>;
}

/** One pass over dbstat: the pages of every table in `names`. */
export function tablePages(db: Database.Database, names: Set<string>): Map<string, TablePages> {
  const out = new Map<string, TablePages>();
  const leafAt = new Map<string, Map<string, number>>();
  const overflow: [string, string, number][] = [];
  const rows = db.prepare(loadSql('online-delta-sqlite-btree-pages')).raw(true).iterate() as IterableIterator<
    [string, number, string, string]
  >;
  for (const [name, pageno, kind, treePath] of rows) {
    if (!names.has(name)) continue;
    let pages = out.get(name);
    if (!pages) {
      pages = { all: new Set(), leaves: new Set(), overflowOf: new Map() };
      out.set(name, pages);
      leafAt.set(name, new Map());
    }
    pages.all.add(pageno);
    if (kind === 'leaf') {
      pages.leaves.add(pageno);
      leafAt.get(name)!.set(treePath, pageno);
    } else if (kind === 'overflow') {
      // "/0a3/007+000002": overflow page 2 of cell 7 of the leaf at "/0a3/".
      const plus = treePath.indexOf('+');
      overflow.push([name, treePath.slice(0, treePath.lastIndexOf('/', plus) + 1), pageno]);
    }
  }
  for (const [name, leafPath, pageno] of overflow) {
    const leaf = leafAt.get(name)!.get(leafPath);
    if (leaf === undefined) throw new Error(`dbstat: overflow page ${pageno} of "${name}" has no leaf at ${leafPath}`);
    const pages = out.get(name)!;
    const list = pages.overflowOf.get(leaf) ?? [];
    list.push(pageno);
    pages.overflowOf.set(leaf, list);
  }
  return out;
}

/**
 * Leaves of one table whose rows may differ from the other snapshot's: the page changed, is not a leaf of the table
 * there, or one of its cells continues on a changed overflow page. Every other leaf is byte-identical in both, with
 * byte-identical overflow chains, so it holds the same rows in both.
 */
export function changedLeaves(mine: TablePages, theirs: TablePages | undefined, changed: Set<number>): number[] {
  const out: number[] = [];
  for (const leaf of mine.leaves) {
    if (changed.has(leaf) || !theirs?.leaves.has(leaf) || mine.overflowOf.get(leaf)?.some((p) => changed.has(p)))
      out.push(leaf);
  }
  return out;
}

/** Reads varint at `at`: [value, next offset]. */
function varint(page: Buffer, at: number): [bigint, number] {
  let value = 0n;
  for (let i = 0; i < 8; i++) {
    const byte = page[at + i];
    value = (value << 7n) | BigInt(byte & 0x7f);
    if (byte < 0x80) return [value, at + i + 1];
  }
  return [(value << 8n) | BigInt(page[at + 8]), at + 9];
}

const TABLE_LEAF = 0x0d;

/**
 * The rowids of the cells on the given table-leaf pages of `file`. Undefined when a page is not a table leaf (a
 * WITHOUT ROWID table stores its rows in index pages): the caller then diffs the whole table.
 */
export function leafRowids(file: string, pageSize: number, leaves: number[]): bigint[] | undefined {
  const page = Buffer.alloc(pageSize);
  const rowids: bigint[] = [];
  const fd = openSync(file, 'r');
  try {
    for (const pageno of leaves) {
      if (readSync(fd, page, 0, pageSize, (pageno - 1) * pageSize) !== pageSize) return undefined;
      // Page 1 starts with the 100-byte database header.
      const header = pageno === 1 ? 100 : 0;
      if (page[header] !== TABLE_LEAF) return undefined;
      const cells = page.readUInt16BE(header + 3);
      for (let i = 0; i < cells; i++) {
        const cell = page.readUInt16BE(header + 8 + 2 * i);
        const [, afterSize] = varint(page, cell);
        rowids.push(BigInt.asIntN(64, varint(page, afterSize)[0]));
      }
    }
  } finally {
    closeSync(fd);
  }
  return rowids;
}
