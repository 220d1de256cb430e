import { chownSync, existsSync, readFileSync, statSync } from 'node:fs';
import dotenv from 'dotenv';
import { writeFileAtomic } from '../files/fs-atomic.ts';
import { maskSecrets } from '../cli/secrets.ts';

/**
 * Edit dotenv files (backend/.env, /etc/visionsuit/vs-backend.env) the way an operator would by hand:
 * change only the value of the keys we own and keep every other byte — comments, blank lines, `export `
 * prefixes, other keys, quote styles, CRLF line endings.
 *
 * Entries are found with dotenv's own line grammar (the same regular expression dotenv 17 uses), so a
 * multi-line quoted value of another key is never mistaken for a key of its own, and what we change is
 * exactly what the app's dotenv will read.
 */

// dotenv 17's LINE expression (lib/main.js) with the `d` flag so we get the value's position.
const LINE =
  /(?:^|^)\s*(?:export\s+)?([\w.-]+)(?:\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?(?:$|$)/dgm;

type Quote = '"' | "'" | '`' | '';

export interface EnvEdit {
  text: string;
  /** Keys whose value actually changed (or were appended). */
  changed: string[];
}

/**
 * How a value must be written so dotenv.parse returns it unchanged. dotenv strips one pair of matching quotes
 * and, inside double quotes only, turns `\n`/`\r` into newlines; it never un-escapes anything else — so the
 * safe choice is a quote character that does not occur in the value.
 */
export function encodeValue(value: string, preferred: Quote = '"'): string {
  const plainOk = value !== '' && /^[^\s#'"`\\]+$/.test(value) && !/[\r\n]/.test(value);
  if (preferred === '' && plainOk) return value;
  const candidates: Quote[] = [preferred === '' ? '"' : preferred, '"', "'", '`'];
  for (const q of candidates) {
    if (q === '' || value.includes(q)) continue;
    if (q === '"') {
      // Real newlines are written as \n (dotenv expands it back); a literal backslash-n would be mangled.
      if (/\\[nr]/.test(value)) continue;
      const encoded = value.replace(/\n/g, '\\n').replace(/\r/g, '\\r');
      return `"${encoded}"`;
    }
    if (/[\r\n]/.test(value)) continue; // only double quotes can carry a newline safely on one line
    return `${q}${value}${q}`;
  }
  throw new Error(
    'value cannot be written to a dotenv file so that it reads back identically (it mixes every quote character)',
  );
}

function quoteOf(raw: string): Quote {
  const trimmed = raw.trim();
  const first = trimmed[0];
  if ((first === '"' || first === "'" || first === '`') && trimmed.length >= 2 && trimmed.endsWith(first)) return first;
  return '';
}

/**
 * Set keys in dotenv text. Existing entries are replaced in place (every occurrence: dotenv lets the last one
 * win, so all of them must agree) keeping their quote style when it can carry the new value; absent keys are
 * appended (double-quoted, VisionSuit's own style). `undefined` values are left alone.
 */
export function setEnvValues(text: string, values: Record<string, string | undefined>): EnvEdit {
  const crlf = /\r\n/.test(text);
  let work = crlf ? text.replace(/\r\n?/g, '\n') : text;
  const wanted = Object.entries(values).filter((e): e is [string, string] => e[1] !== undefined);
  const changed: string[] = [];

  // Collect replacements first (positions refer to the unmodified text), apply from the end.
  const edits: { start: number; end: number; replacement: string }[] = [];
  const seen = new Set<string>();
  LINE.lastIndex = 0;
  for (let match = LINE.exec(work); match; match = LINE.exec(work)) {
    const key = match[1];
    const entry = wanted.find(([k]) => k === key);
    if (!entry) continue;
    seen.add(key);
    const indices = match.indices!;
    const keyEnd = indices[1][1];
    // Value span: group 2 without its leading whitespace; when absent (KEY=), insert right after the `=`.
    let start: number;
    let end: number;
    let raw = '';
    if (indices[2]) {
      raw = match[2];
      const lead = raw.length - raw.trimStart().length;
      start = indices[2][0] + lead;
      end = indices[2][1];
      // An unquoted value keeps its trailing spaces before a comment in group 2; keep them in the file too.
      const trail = raw.trimStart().length - raw.trim().length;
      end -= trail;
      raw = raw.trim();
    } else {
      const eq = work.slice(keyEnd).search(/[=:]/);
      start = end = keyEnd + eq + 1;
    }
    if (dotenv.parse(`${key}=${raw}`)[key] === entry[1]) continue;
    if (!changed.includes(key)) changed.push(key);
    edits.push({ start, end, replacement: encodeValue(entry[1], raw === '' ? '"' : quoteOf(raw)) });
  }
  for (const edit of edits.sort((a, b) => b.start - a.start)) {
    work = work.slice(0, edit.start) + edit.replacement + work.slice(edit.end);
  }
  const appended: string[] = [];
  for (const [key, value] of wanted) {
    if (seen.has(key)) continue;
    appended.push(`${key}=${encodeValue(value, '"')}`);
    changed.push(key);
  }
  if (appended.length) {
    if (work.length && !work.endsWith('\n')) work += '\n';
    work += appended.join('\n') + '\n';
  }
  const after = dotenv.parse(work);
  for (const [key, value] of wanted) {
    if (after[key] !== value) throw new Error(`internal: ${key} did not read back as written`);
  }
  if (!changed.length) return { text, changed };
  return { text: crlf ? work.replace(/\n/g, '\r\n') : work, changed };
}

export function readEnvValue(file: string, key: string): string | undefined {
  if (!existsSync(file)) return undefined;
  return dotenv.parse(readFileSync(file))[key];
}

/**
 * Replace a file atomically with mode 0600, keeping the original's owner and group (so a root-run tool does not
 * leave the app unable to read its own .env).
 */
export function writeEnvFileAtomic(file: string, text: string | Buffer, mode = 0o600): void {
  const before = existsSync(file) ? statSync(file) : undefined;
  writeFileAtomic(file, text, mode);
  if (before && typeof process.getuid === 'function' && process.getuid() === 0) {
    try {
      chownSync(file, before.uid, before.gid);
    } catch {
      // Keeping ownership is best effort (e.g. a file system without ownership); the 0600 mode is what matters.
    }
  }
}

/**
 * A unified diff (one hunk per change, 2 lines of context) for --dry-run, with secrets masked by shape and by
 * registered value. Line-based LCS: env files and schemas are small.
 */
export function unifiedDiff(oldText: string, newText: string, label: string, context = 2): string {
  if (oldText === newText) return '';
  const a = oldText.split('\n');
  const b = newText.split('\n');
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  type Op = { kind: ' ' | '-' | '+'; text: string; ai: number; bi: number };
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) ops.push({ kind: ' ', text: a[i], ai: i++, bi: j++ });
    else if (j < m && (i >= n || lcs[i][j + 1] >= lcs[i + 1][j])) ops.push({ kind: '+', text: b[j], ai: i, bi: j++ });
    else ops.push({ kind: '-', text: a[i], ai: i++, bi: j });
  }
  const out = [`--- ${label}`, `+++ ${label} (new)`];
  let k = 0;
  while (k < ops.length) {
    if (ops[k].kind === ' ') {
      k++;
      continue;
    }
    let start = Math.max(0, k - context);
    let end = k;
    // Extend the hunk while changes are within 2*context lines of each other.
    while (end < ops.length) {
      if (ops[end].kind !== ' ') {
        end++;
        continue;
      }
      let next = end;
      while (next < ops.length && ops[next].kind === ' ') next++;
      if (next < ops.length && next - end <= context * 2) end = next;
      else break;
    }
    const stop = Math.min(ops.length, end + context);
    const hunk = ops.slice(start, stop);
    const aStart = hunk[0].ai + 1;
    const bStart = hunk[0].bi + 1;
    const aLen = hunk.filter((o) => o.kind !== '+').length;
    const bLen = hunk.filter((o) => o.kind !== '-').length;
    out.push(`@@ -${aStart},${aLen} +${bStart},${bLen} @@`);
    for (const op of hunk) out.push(op.kind + op.text);
    k = stop;
    start = stop;
  }
  return maskSecrets(out.join('\n')) + '\n';
}
