/**
 * Text-level edits of a Prisma schema file that keep everything else byte-for-byte (comments, spacing, other
 * blocks). Only the `datasource` block is touched; a `provider = "sqlite"` inside a generator block is not a
 * datasource provider and stays as it is.
 *
 * Two generations of Prisma meet here: the app runs Prisma 6, whose datasource keeps `url = env("DATABASE_URL")`;
 * the Prisma 7 schema engine we drive (wasm) rejects connection properties in the schema, so it gets a copy
 * without them and the connection comes through the driver adapter.
 */

export interface SchemaBlock {
  /** `datasource`, `generator`, `model`, `enum`, `view`, `type`. */
  kind: string;
  name: string;
  /** Offset of the block keyword. */
  start: number;
  /** Offset of the opening brace. */
  open: number;
  /** Offset just after the closing brace. */
  end: number;
}

/** Top-level blocks, found with a scanner that knows strings and `//` comments (a `}` in either is not a brace). */
export function findBlocks(text: string): SchemaBlock[] {
  const blocks: SchemaBlock[] = [];
  let depth = 0;
  let current: Omit<SchemaBlock, 'end'> | undefined;
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (ch === '"') {
      i++;
      while (i < text.length && text[i] !== '"' && text[i] !== '\n') i += text[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    if (ch === '{') {
      if (depth === 0) {
        // The header is the code on the same line before the brace: `<kind> <name>`.
        const lineStart = text.lastIndexOf('\n', i - 1) + 1;
        const header = /^\s*([A-Za-z]+)\s+([A-Za-z0-9_]+)\s*$/.exec(text.slice(lineStart, i));
        if (header)
          current = { kind: header[1], name: header[2], start: lineStart + header[0].indexOf(header[1]), open: i };
      }
      depth++;
    } else if (ch === '}') {
      depth = Math.max(0, depth - 1);
      if (depth === 0 && current) {
        blocks.push({ ...current, end: i + 1 });
        current = undefined;
      }
    }
    i++;
  }
  return blocks;
}

interface BlockLine {
  /** Offset of the line's first character in the schema text. */
  start: number;
  /** Offset just after the line's newline (or the block's closing brace). */
  end: number;
  /** The line without its `//` comment. */
  code: string;
}

function codeOf(line: string): string {
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '/' && line[i + 1] === '/') return line.slice(0, i);
  }
  return line;
}

/** Lines strictly between a block's braces. */
function blockLines(text: string, block: SchemaBlock): BlockLine[] {
  const lines: BlockLine[] = [];
  const bodyEnd = block.end - 1;
  let pos = text.indexOf('\n', block.open);
  if (pos === -1 || pos >= bodyEnd) return lines;
  pos++;
  while (pos < bodyEnd) {
    const nl = text.indexOf('\n', pos);
    const lineEnd = nl === -1 || nl >= bodyEnd ? bodyEnd : nl + 1;
    lines.push({ start: pos, end: lineEnd, code: codeOf(text.slice(pos, lineEnd).replace(/\r?\n$/, '')) });
    pos = lineEnd;
  }
  return lines;
}

function datasourceBlock(text: string): SchemaBlock | undefined {
  return findBlocks(text).find((b) => b.kind === 'datasource');
}

const PROPERTY = /^\s*([A-Za-z_]+)\s*=\s*(.*?)\s*$/;

/** The datasource's provider (`sqlite`, `postgresql`, …), or undefined when the schema has no datasource. */
export function readDatasourceProvider(text: string): string | undefined {
  const block = datasourceBlock(text);
  if (!block) return undefined;
  for (const line of blockLines(text, block)) {
    const m = PROPERTY.exec(line.code);
    if (m && m[1] === 'provider') return /^"([^"]*)"$/.exec(m[2])?.[1] ?? m[2];
  }
  return undefined;
}

interface Edit {
  start: number;
  end: number;
  replacement: string;
}

function applyEdits(text: string, edits: Edit[]): string {
  let out = text;
  for (const edit of [...edits].sort((a, b) => b.start - a.start))
    out = out.slice(0, edit.start) + edit.replacement + out.slice(edit.end);
  return out;
}

/** Replace the value part of a `key = value` line, keeping indentation, alignment and any trailing comment. */
function replaceValue(text: string, line: BlockLine, value: string): Edit {
  const raw = text.slice(line.start, line.end);
  const m = /^(\s*[A-Za-z_]+\s*=\s*)(.*?)(\s*)$/.exec(line.code)!;
  const valueStart = line.start + m[1].length;
  const valueEnd = valueStart + m[2].length;
  void raw;
  return { start: valueStart, end: valueEnd, replacement: value };
}

/**
 * The app's own schema for PostgreSQL in the app's own Prisma generation, every other line and comment kept:
 *  - Prisma 6 form (the datasource has a `url`): provider → "postgresql"; `url = env("ANY_VAR")` stays (the app
 *    reads that variable), a literal URL — e.g. `file:./dev.db` — becomes `env("DATABASE_URL")`;
 *  - Prisma 7 form (no `url`: Prisma 7 rejects it in the schema, P1012, and reads it from prisma.config.ts's
 *    datasource, https://www.prisma.io/docs/orm/reference/prisma-config-reference#datasource): provider only.
 * `addUrl: true` restores the old behaviour of adding `url = env("DATABASE_URL")` to a datasource without one.
 */
export function toPostgresAppSchema(text: string, options: { addUrl?: boolean } = {}): string {
  const block = datasourceBlock(text);
  if (!block) throw new Error('the Prisma schema has no datasource block');
  const lines = blockLines(text, block);
  const edits: Edit[] = [];
  let providerLine: BlockLine | undefined;
  let hasUrl = false;
  for (const line of lines) {
    const m = PROPERTY.exec(line.code);
    if (!m) continue;
    if (m[1] === 'provider') {
      providerLine = line;
      edits.push(replaceValue(text, line, '"postgresql"'));
    } else if (m[1] === 'url') {
      hasUrl = true;
      if (!/^env\(\s*"[^"]+"\s*\)$/.test(m[2])) edits.push(replaceValue(text, line, 'env("DATABASE_URL")'));
    }
  }
  if (!providerLine) throw new Error(`the datasource block "${block.name}" has no provider`);
  if (!hasUrl && options.addUrl) {
    const indent = /^\s*/.exec(text.slice(providerLine.start, providerLine.end))![0];
    const pad = /^\s*provider(\s*)=/.exec(providerLine.code)![1];
    const urlPad = ' '.repeat(Math.max(1, pad.length + 'provider'.length - 'url'.length));
    const afterProvider = providerLine.end;
    const needsNl = !text.slice(providerLine.start, providerLine.end).endsWith('\n');
    edits.push({
      start: afterProvider,
      end: afterProvider,
      replacement: `${needsNl ? '\n' : ''}${indent}url${urlPad}= env("DATABASE_URL")\n`,
    });
  }
  return applyEdits(text, edits);
}

/** The variable the datasource's `url = env("…")` names; undefined for a literal url or none (Prisma 7 form). */
export function readDatasourceUrlVariable(text: string): string | undefined {
  const block = datasourceBlock(text);
  if (!block) return undefined;
  for (const line of blockLines(text, block)) {
    const m = PROPERTY.exec(line.code);
    if (m && m[1] === 'url') return /^env\(\s*"([^"]+)"\s*\)$/.exec(m[2])?.[1];
  }
  return undefined;
}

/** Whether the datasource has no `url` line: the Prisma 7 form, whose URL lives in prisma.config.ts. */
export function isPrisma7Datasource(text: string): boolean {
  const block = datasourceBlock(text);
  if (!block) return false;
  return !blockLines(text, block).some((line) => PROPERTY.exec(line.code)?.[1] === 'url');
}

const CONNECTION_PROPERTIES = new Set(['url', 'directUrl', 'shadowDatabaseUrl']);

/** A copy for the Prisma 7 schema engine: the datasource's url/directUrl/shadowDatabaseUrl lines removed. */
export function toEngineSchema(text: string): string {
  const block = datasourceBlock(text);
  if (!block) return text;
  const edits: Edit[] = [];
  for (const line of blockLines(text, block)) {
    const m = PROPERTY.exec(line.code);
    if (m && CONNECTION_PROPERTIES.has(m[1])) edits.push({ start: line.start, end: line.end, replacement: '' });
  }
  return applyEdits(text, edits);
}

/** Prisma's engine names the PostgreSQL flavour `postgres` in adapters and `postgresql` in schemas. */
export function isSqliteProvider(provider: string | undefined): boolean {
  return provider === 'sqlite';
}
