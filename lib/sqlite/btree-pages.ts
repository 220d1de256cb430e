import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type Database from './driver.ts';
import { loadSql } from '../files/sql-files.ts';

/**
 * The pages of each table's b-tree in one snapshot, as SQLite's dbstat lists them, and the rowids of the cells on a
 * table leaf page read from the file itself (https://www.sqlite.org/fileformat2.html, "B-tree Pages"). The online
 * delta row-diffs only the rows on leaves that changed; docs/online-cutover.md argues why no other row can differ.
 */
export interface TablePages {
  /** The table's number in FilePages.leafOwner (the same in both files: its place in the names given). */
  id: number;
  /** Every page of the tree: interior and leaf, and overflow where dbstat listed them. */
  all: number[];
  leaves: number[];
  /** Leaf page → the overflow pages that continue its cells. */
  overflowOf: Map<number, number[]>;
}

/**
 * The tables' pages of one file. Page numbers live in arrays and one typed array, not in sets: a file of a million
 * rows has a quarter of a million pages, and sets that size cost the window garbage collections.
 */
export interface FilePages {
  tables: Map<string, TablePages>;
  /** Page number → the id of the table it is a leaf of, 0 when none. */
  leafOwner: Int32Array;
}

/** Each table's id: its place in `names`, from 1, so both files number them alike. */
function tableIds(names: Set<string>): Map<string, number> {
  return new Map([...names].map((name, i) => [name, i + 1]));
}

function newTablePages(id: number): TablePages {
  return { id, all: [], leaves: [], overflowOf: new Map() };
}

/** One pass over dbstat: the pages of every table in `names` (`pageCount`: the file's pages). */
export function tablePages(db: Database.Database, names: Set<string>, pageCount: number): FilePages {
  const ids = tableIds(names);
  const out = new Map<string, TablePages>();
  const leafOwner = new Int32Array(pageCount + 2);
  const leafAt = new Map<string, Map<string, number>>();
  const overflow: [string, string, number][] = [];
  const rows = db.prepare(loadSql('online-delta-sqlite-btree-pages')).raw(true).iterate() as IterableIterator<
    [string, number, string, string]
  >;
  for (const [name, pageno, kind, treePath] of rows) {
    if (!names.has(name)) continue;
    let pages = out.get(name);
    if (!pages) {
      pages = newTablePages(ids.get(name)!);
      out.set(name, pages);
      leafAt.set(name, new Map());
    }
    pages.all.push(pageno);
    if (kind === 'leaf') {
      pages.leaves.push(pageno);
      if (pageno < leafOwner.length) leafOwner[pageno] = pages.id;
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
  return { tables: out, leafOwner };
}

/**
 * Leaves of one table whose rows may differ from the other snapshot's: the page changed, is not a leaf of the table
 * there, or one of its cells continues on a changed overflow page. Every other leaf is byte-identical in both, with
 * byte-identical overflow chains, so it holds the same rows in both.
 */
export function changedLeaves(mine: TablePages, theirs: FilePages, changed: Set<number>): number[] {
  const out: number[] = [];
  for (const leaf of mine.leaves) {
    if (
      changed.has(leaf) ||
      theirs.leafOwner[leaf] !== mine.id ||
      mine.overflowOf.get(leaf)?.some((p) => changed.has(p))
    )
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

/** Reads pages of one database file by number. */
class PageReader {
  private readonly fd: number;
  private readonly page: Buffer;
  constructor(
    file: string,
    readonly pageSize: number,
  ) {
    this.fd = openSync(file, 'r');
    this.page = Buffer.alloc(pageSize);
  }
  read(pageno: number): Buffer | undefined {
    return readSync(this.fd, this.page, 0, this.pageSize, (pageno - 1) * this.pageSize) === this.pageSize
      ? this.page
      : undefined;
  }
  close(): void {
    closeSync(this.fd);
  }
}

/** Page 1 starts with the 100-byte database header; every other page's b-tree header is at its start. */
function headerOffset(pageno: number): number {
  return pageno === 1 ? 100 : 0;
}

/**
 * The rowids of the cells on the given table-leaf pages of `file`. Undefined when a page is not a table leaf (a
 * WITHOUT ROWID table stores its rows in index pages): the caller then diffs the whole table.
 */
export function leafRowids(file: string, pageSize: number, leaves: number[]): bigint[] | undefined {
  const rowids: bigint[] = [];
  const reader = new PageReader(file, pageSize);
  try {
    for (const pageno of leaves) {
      const page = reader.read(pageno);
      if (!page) return undefined;
      const header = headerOffset(pageno);
      if (page[header] !== TABLE_LEAF) return undefined;
      const cells = page.readUInt16BE(header + 3);
      for (let i = 0; i < cells; i++) {
        const cell = page.readUInt16BE(header + 8 + 2 * i);
        const [, afterSize] = varint(page, cell);
        rowids.push(BigInt.asIntN(64, varint(page, afterSize)[0]));
      }
    }
  } finally {
    reader.close();
  }
  return rowids;
}

const TABLE_INTERIOR = 0x05;
const INDEX_INTERIOR = 0x02;
const INDEX_LEAF = 0x0a;

/**
 * The overflow pages of the cells on one b-tree page of `reader`'s file: each cell whose payload does not fit on the
 * page continues on a chain of overflow pages, whose first page number follows the part kept on the page (file
 * format, "Cell Payload Overflow Pages").
 */
function overflowChains(reader: PageReader, pageno: number, usable: number): number[] | undefined {
  const page = reader.read(pageno);
  if (!page) return undefined;
  const header = headerOffset(pageno);
  const kind = page[header];
  if (kind === TABLE_INTERIOR) return [];
  const isTable = kind === TABLE_LEAF;
  if (!isTable && kind !== INDEX_LEAF && kind !== INDEX_INTERIOR) return undefined;
  const maxLocal = isTable ? usable - 35 : Math.floor(((usable - 12) * 64) / 255) - 23;
  const minLocal = Math.floor(((usable - 12) * 32) / 255) - 23;
  const cellStart = header + (kind === INDEX_INTERIOR ? 12 : 8);
  const cells = page.readUInt16BE(header + 3);
  const firsts: [number, number][] = [];
  for (let i = 0; i < cells; i++) {
    let at = page.readUInt16BE(cellStart + 2 * i);
    if (kind === INDEX_INTERIOR) at += 4;
    const [size, afterSize] = varint(page, at);
    at = isTable ? varint(page, afterSize)[1] : afterSize;
    const payload = Number(size);
    if (payload <= maxLocal) continue;
    const spill = minLocal + ((payload - minLocal) % (usable - 4));
    const local = spill <= maxLocal ? spill : minLocal;
    firsts.push([page.readUInt32BE(at + local), Math.ceil((payload - local) / (usable - 4))]);
  }
  const out: number[] = [];
  for (const [first, count] of firsts) {
    let next = first;
    for (let n = 0; n < count && next !== 0; n++) {
      out.push(next);
      const overflow = reader.read(next);
      if (!overflow) return undefined;
      next = overflow.readUInt32BE(0);
    }
  }
  return out;
}

/**
 * What the page comparison keeps of one file for the b-tree walk, so the walk reads no page again: each page's
 * b-tree kind byte, and each interior page's children (its cells' left children, then the right-most one).
 */
export interface PageIndex {
  kinds: Uint8Array;
  children: Map<number, Uint32Array>;
}

export interface ComparedPages {
  /** Page numbers (1-based) whose bytes differ between the two files; pages only one file has count as changed. */
  changed: Set<number>;
  older: PageIndex;
  newer: PageIndex;
}

/** An interior page's children, the page at `start` of `chunk`; undefined when a cell pointer runs off the page. */
function interiorChildren(chunk: Buffer, start: number, pageSize: number, header: number): Uint32Array | undefined {
  const at = start + header;
  const cells = chunk.readUInt16BE(at + 3);
  if (header + 12 + 2 * cells > pageSize) return undefined;
  const children = new Uint32Array(cells + 1);
  for (let i = 0; i < cells; i++) {
    const cell = chunk.readUInt16BE(at + 12 + 2 * i);
    if (cell + 4 > pageSize) return undefined;
    children[i] = chunk.readUInt32BE(start + cell);
  }
  children[cells] = chunk.readUInt32BE(at + 8);
  return children;
}

/**
 * Note one page of a file in its index, the page at `start` of `chunk` (read in place: no view per page). An
 * interior page whose cell pointers run off the page gets no children: the walk then stops there and the caller
 * asks dbstat.
 */
function indexPage(index: PageIndex, chunk: Buffer, start: number, pageSize: number, pageno: number): void {
  const header = headerOffset(pageno);
  const kind = chunk[start + header];
  index.kinds[pageno - 1] = kind;
  if (kind !== TABLE_INTERIOR && kind !== INDEX_INTERIOR) return;
  const children = interiorChildren(chunk, start, pageSize, header);
  if (children) index.children.set(pageno, children);
}

/** Both files read once, side by side: which pages differ, and each file's page index for the walk. */
export function comparePages(olderFile: string, newerFile: string, pageSize: number): ComparedPages {
  const changed = new Set<number>();
  const sizes = [statSync(olderFile).size, statSync(newerFile).size];
  const pages = Math.ceil(Math.max(...sizes) / pageSize);
  const index = (size: number): PageIndex => ({
    kinds: new Uint8Array(Math.floor(size / pageSize)),
    children: new Map(),
  });
  const older = index(sizes[0]);
  const newer = index(sizes[1]);
  const chunkPages = Math.max(1, Math.floor((4 << 20) / pageSize));
  const a = Buffer.alloc(chunkPages * pageSize);
  const b = Buffer.alloc(chunkPages * pageSize);
  const fa = openSync(olderFile, 'r');
  const fb = openSync(newerFile, 'r');
  try {
    for (let first = 0; first < pages; first += chunkPages) {
      const offset = first * pageSize;
      const na = readSync(fa, a, 0, a.length, offset);
      const nb = readSync(fb, b, 0, b.length, offset);
      const count = Math.min(chunkPages, pages - first);
      for (let i = 0; i < count; i++) {
        const start = i * pageSize;
        const end = start + pageSize;
        const pageno = first + i + 1;
        if (end <= na) indexPage(older, a, start, pageSize, pageno);
        if (end <= nb) indexPage(newer, b, start, pageSize, pageno);
        if (end > na || end > nb || a.compare(b, start, end, start, end) !== 0) changed.add(pageno);
      }
    }
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
  return { changed, older, newer };
}

/** Page flags of a walked file: every interior and leaf page of every b-tree is TREE and KNOWN. */
const KNOWN = 1;
const TREE = 2;

interface WalkedFile {
  pages: FilePages;
  /** Page number → flags: TREE for b-tree pages; KNOWN for those, every freelist page, page 1 and known overflow. */
  flags: Uint8Array;
}

/**
 * The b-trees of one file walked from their roots through their interior pages only (from the page index the
 * comparison built: no page is read again but the freelist's): which pages are each tree's interior and leaf pages.
 * Undefined when a page is not what its parent says it is (the caller falls back to dbstat).
 */
function walkFile(
  file: string,
  pageSize: number,
  roots: Map<string, number>,
  names: Set<string>,
  index: PageIndex,
): WalkedFile | undefined {
  const reader = new PageReader(file, pageSize);
  const flags = new Uint8Array(index.kinds.length + 2);
  const leafOwner = new Int32Array(index.kinds.length + 2);
  const ids = tableIds(names);
  const tables = new Map<string, TablePages>();
  flags[1] = KNOWN;
  try {
    for (const [name, root] of roots) {
      const pages = newTablePages(ids.get(name) ?? 0);
      const stack = [root];
      while (stack.length) {
        const pageno = stack.pop()!;
        if (pageno < 1 || pageno > index.kinds.length) return undefined;
        if (flags[pageno] & TREE || (flags[pageno] & KNOWN && pageno !== 1)) return undefined;
        const kind = index.kinds[pageno - 1];
        flags[pageno] |= KNOWN | TREE;
        pages.all.push(pageno);
        if (kind === TABLE_LEAF || kind === INDEX_LEAF) {
          pages.leaves.push(pageno);
          if (pages.id) leafOwner[pageno] = pages.id;
          continue;
        }
        const children = index.children.get(pageno);
        if (!children) return undefined;
        for (const child of children) stack.push(child);
      }
      if (names.has(name)) tables.set(name, pages);
    }
    // The freelist: trunk pages, each listing leaf pages (file format, "The Freelist").
    const header = reader.read(1);
    if (!header) return undefined;
    let trunk = header.readUInt32BE(32);
    while (trunk !== 0) {
      if (trunk >= flags.length || flags[trunk] & KNOWN) return undefined;
      const page = reader.read(trunk);
      if (!page) return undefined;
      flags[trunk] |= KNOWN;
      const next = page.readUInt32BE(0);
      const leaves = page.readUInt32BE(4);
      if (8 + 4 * leaves > pageSize) return undefined;
      for (let i = 0; i < leaves; i++) {
        const leaf = page.readUInt32BE(8 + 4 * i);
        if (leaf < flags.length) flags[leaf] |= KNOWN;
      }
      trunk = next;
    }
    return { pages: { tables, leafOwner }, flags };
  } finally {
    reader.close();
  }
}

/**
 * Each table's pages in both files, for the tables in `names`. The cheap way walks only interior pages; it knows
 * no overflow pages, which is exact only when every changed page is a b-tree or freelist page of one of the files
 * (a changed overflow page is neither in either: its leaf, byte-identical, points to it in both). Otherwise, and
 * for files the walk cannot read, dbstat lists every page with its owner.
 */
export function bothFilesPages(
  files: { older: string; newer: string },
  dbs: { older: Database.Database; newer: Database.Database },
  pageSize: number,
  roots: { older: Map<string, number>; newer: Map<string, number> },
  names: Set<string>,
  compared: ComparedPages,
): { older: FilePages; newer: FilePages; walked: boolean } {
  const { changed } = compared;
  const older = walkFile(files.older, pageSize, roots.older, names, compared.older);
  const newer = older && walkFile(files.newer, pageSize, roots.newer, names, compared.newer);
  const explained = (p: number) => Boolean((older!.flags[p] | newer!.flags[p]) & KNOWN);
  if (older && newer && everyChangedPageKnown(files, pageSize, { older, newer }, changed, explained))
    return { older: older.pages, newer: newer.pages, walked: true };
  return {
    older: tablePages(dbs.older, names, compared.older.kinds.length),
    newer: tablePages(dbs.newer, names, compared.newer.kinds.length),
    walked: false,
  };
}

/**
 * Whether every changed page is known, counting the overflow pages that continue cells of changed b-tree pages in
 * either file. A changed page still unknown may continue a cell of an unchanged leaf.
 */
function everyChangedPageKnown(
  files: { older: string; newer: string },
  pageSize: number,
  walked: { older: WalkedFile; newer: WalkedFile },
  changed: Set<number>,
  explained: (p: number) => boolean,
): boolean {
  if ([...changed].every(explained)) return true;
  for (const side of ['older', 'newer'] as const) {
    const reader = new PageReader(files[side], pageSize);
    try {
      const usable = pageSize - (reader.read(1)?.[20] ?? 0);
      const { flags } = walked[side];
      for (const p of changed) {
        if (!(flags[p] & TREE)) continue;
        const chain = overflowChains(reader, p, usable);
        if (!chain) return false;
        for (const o of chain) if (o < flags.length) flags[o] |= KNOWN;
      }
    } finally {
      reader.close();
    }
  }
  return [...changed].every(explained);
}
