/**
 * PostgreSQL's COPY TO text format, read back: rows end in `\n`, fields are separated by `\t`, and inside a field
 * backslash, newline, carriage return, tab, backspace, form feed and vertical tab arrive escaped (PostgreSQL docs,
 * COPY "Text Format"; copyto.c CopyAttributeOutText). The fallback's query never yields SQL NULL (every field is the
 * canonical `N`/`V…` text), so `\N` needs no meaning here.
 *
 * Chunks of the stream are split at line ends only, so a multi-byte UTF-8 character is never cut in two.
 */
const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

export function unescapeCopyField(s: string): string {
  let i = s.indexOf('\\');
  if (i === -1) return s;
  let out = s.slice(0, i);
  while (i < s.length) {
    const c = s[i];
    if (c !== '\\') {
      out += c;
      i++;
      continue;
    }
    const next = s[i + 1];
    const rep = ESCAPES[next];
    if (rep === undefined) throw new Error(`unexpected escape \\${next} in COPY output`);
    out += rep;
    i += 2;
  }
  return out;
}

/** Splits a COPY TO byte stream into rows of unescaped fields. */
export class CopyTextReader {
  private rest: Buffer = Buffer.alloc(0);

  /** Every complete row in this chunk (the tail waits for the next chunk). */
  *rows(chunk: Buffer): Generator<string[]> {
    const buf = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
      const line = buf.toString('utf8', start, nl);
      start = nl + 1;
      yield line.split('\t').map(unescapeCopyField);
    }
    this.rest = Buffer.from(buf.subarray(start));
  }

  /** Throws when the stream ended inside a row. */
  end(): void {
    if (this.rest.length) throw new Error(`COPY output ended inside a row (${this.rest.length} bytes left)`);
  }
}
