/**
 * JSON text → exactly what PostgreSQL prints for it after a round trip through jsonb (`col::text`), or the reason
 * jsonb would reject it. JSON.parse cannot be used: it turns numbers into doubles (jsonb keeps them as numeric:
 * `1.50` stays `1.50`, `1e2` becomes `100`) and it accepts `\u0000`, which jsonb refuses.
 *
 * jsonb's rules reproduced here (PostgreSQL src/backend/utils/adt/jsonb.c, jsonb_util.c, json.c escape_json):
 * - object keys sorted by UTF-8 byte length, then bytewise; for a duplicate key the last value wins;
 * - separators `", "` and `": "`; empty containers `[]` / `{}`;
 * - numbers printed by numeric_out with numeric_in's display scale (max(0, fraction digits - exponent));
 * - strings: \uXXXX decoded (surrogate pairs combined; lone surrogates and \u0000 rejected), then only `"`, `\`
 *   and control characters escaped (\b \f \n \r \t, others \u00xx);
 * - grammar of PostgreSQL's JSON lexer: whitespace is space/tab/newline/CR only, no leading zeros, no `+`,
 *   a number or literal followed by a letter/digit/_/non-ASCII character is one invalid token.
 */
export interface JsonError {
  error: string;
}

class JsonFail extends Error {}

const NUMERIC_DSCALE_MAX = 0x3fff;
const NUMERIC_WEIGHT_MAX = 0x7fff;

export function jsonbText(text: string): string | JsonError {
  const p = new Parser(text);
  try {
    p.ws();
    const out = p.value();
    p.ws();
    if (p.i !== text.length) p.fail(`unexpected ${p.describe()} after the JSON value`);
    return out;
  } catch (err) {
    if (err instanceof JsonFail) return { error: `invalid JSON: ${err.message}` };
    if (err instanceof RangeError) return { error: 'invalid JSON: nested too deeply' };
    throw err;
  }
}

const isDigit = (c: number) => c >= 48 && c <= 57;
// PostgreSQL's JSON_ALPHANUMERIC_CHAR: a token that continues with one of these is invalid as a whole.
const isAlnum = (c: number) =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128;

interface Pair {
  key: string;
  bytes: number;
  ascii: boolean;
  value: string;
  order: number;
}

class Parser {
  i = 0;
  private keyAscii = true;
  constructor(private readonly s: string) {}

  fail(message: string): never {
    throw new JsonFail(message);
  }

  describe(): string {
    if (this.i >= this.s.length) return 'end of input';
    const ch = String.fromCodePoint(this.s.codePointAt(this.i)!);
    return `character ${JSON.stringify(ch)} at position ${this.i}`;
  }

  ws(): void {
    const s = this.s;
    let i = this.i;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c !== 32 && c !== 9 && c !== 10 && c !== 13) break;
    }
    this.i = i;
  }

  value(): string {
    const c = this.s.charCodeAt(this.i);
    if (c === 123) return this.object();
    if (c === 91) return this.array();
    if (c === 34) return escapeJsonString(this.string());
    if (c === 45 || isDigit(c)) return this.number();
    if (c === 116) return this.literal('true');
    if (c === 102) return this.literal('false');
    if (c === 110) return this.literal('null');
    this.fail(this.i >= this.s.length ? 'unexpected end of input' : `unexpected ${this.describe()}`);
  }

  private literal(word: string): string {
    const s = this.s;
    if (
      s.startsWith(word, this.i) &&
      !(this.i + word.length < s.length && isAlnum(s.charCodeAt(this.i + word.length)))
    ) {
      this.i += word.length;
      return word;
    }
    this.fail(`invalid token at position ${this.i}`);
  }

  private array(): string {
    this.i++;
    this.ws();
    if (this.s.charCodeAt(this.i) === 93) {
      this.i++;
      return '[]';
    }
    let out = '[';
    for (;;) {
      out += this.value();
      this.ws();
      const c = this.s.charCodeAt(this.i);
      if (c === 44) {
        this.i++;
        this.ws();
        out += ', ';
      } else if (c === 93) {
        this.i++;
        return out + ']';
      } else {
        this.fail(`expected "," or "]" but found ${this.describe()}`);
      }
    }
  }

  private object(): string {
    this.i++;
    this.ws();
    if (this.s.charCodeAt(this.i) === 125) {
      this.i++;
      return '{}';
    }
    const pairs: Pair[] = [];
    for (;;) {
      if (this.s.charCodeAt(this.i) !== 34) this.fail(`expected a string key but found ${this.describe()}`);
      this.keyAscii = true;
      const key = this.string(true);
      const ascii = this.keyAscii;
      this.ws();
      if (this.s.charCodeAt(this.i) !== 58) this.fail(`expected ":" but found ${this.describe()}`);
      this.i++;
      this.ws();
      const value = this.value();
      pairs.push({
        key,
        ascii,
        bytes: ascii ? key.length : Buffer.byteLength(key, 'utf8'),
        value,
        order: pairs.length,
      });
      this.ws();
      const c = this.s.charCodeAt(this.i);
      if (c === 44) {
        this.i++;
        this.ws();
      } else if (c === 125) {
        this.i++;
        break;
      } else {
        this.fail(`expected "," or "}" but found ${this.describe()}`);
      }
    }
    if (pairs.length > 1) {
      pairs.sort(comparePairs);
      // Equal keys are now adjacent in input order; keep the last of each run.
      let w = 0;
      for (let r = 0; r < pairs.length; r++) {
        if (r + 1 < pairs.length && pairs[r + 1].key === pairs[r].key) continue;
        pairs[w++] = pairs[r];
      }
      pairs.length = w;
    }
    let out = '{';
    for (let k = 0; k < pairs.length; k++) {
      if (k) out += ', ';
      out += escapeJsonString(pairs[k].key) + ': ' + pairs[k].value;
    }
    return out + '}';
  }

  /** A JSON string starting at the opening quote → its decoded value. */
  private string(isKey = false): string {
    const s = this.s;
    const start = ++this.i;
    let i = start;
    // Fast path: no escapes.
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 34) {
        this.i = i + 1;
        return s.slice(start, i);
      }
      if (c === 92 || c < 32) break;
      if (isKey && c >= 128) this.keyAscii = false;
    }
    let out = s.slice(start, i);
    let highSurrogate = -1;
    for (;;) {
      if (i >= s.length) this.fail('unterminated string');
      const c = s.charCodeAt(i);
      if (c === 34) {
        if (highSurrogate !== -1) this.fail(`Unicode low surrogate must follow a high surrogate (position ${i})`);
        this.i = i + 1;
        return out;
      }
      if (c < 32) this.fail(`control character U+${c.toString(16).padStart(4, '0')} must be escaped (position ${i})`);
      if (c !== 92) {
        if (highSurrogate !== -1) this.fail(`Unicode low surrogate must follow a high surrogate (position ${i})`);
        if (isKey && c >= 128) this.keyAscii = false;
        out += s[i++];
        continue;
      }
      const e = s.charCodeAt(i + 1);
      if (e === 117) {
        const hex = s.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex))
          this.fail(`"\\u" must be followed by four hexadecimal digits (position ${i})`);
        const code = parseInt(hex, 16);
        i += 6;
        if (code >= 0xd800 && code <= 0xdbff) {
          if (highSurrogate !== -1)
            this.fail(`Unicode high surrogate must not follow a high surrogate (position ${i - 6})`);
          highSurrogate = code;
          continue;
        }
        if (code >= 0xdc00 && code <= 0xdfff) {
          if (highSurrogate === -1) this.fail(`Unicode low surrogate must follow a high surrogate (position ${i - 6})`);
          out += String.fromCharCode(highSurrogate, code);
          highSurrogate = -1;
          if (isKey) this.keyAscii = false;
          continue;
        }
        if (highSurrogate !== -1) this.fail(`Unicode low surrogate must follow a high surrogate (position ${i - 6})`);
        if (code === 0) this.fail('\\u0000 cannot be converted to text (jsonb rejects it)');
        if (isKey && code >= 128) this.keyAscii = false;
        out += String.fromCharCode(code);
        continue;
      }
      if (highSurrogate !== -1) this.fail(`Unicode low surrogate must follow a high surrogate (position ${i})`);
      let rep: string;
      switch (e) {
        case 34:
          rep = '"';
          break;
        case 92:
          rep = '\\';
          break;
        case 47:
          rep = '/';
          break;
        case 98:
          rep = '\b';
          break;
        case 102:
          rep = '\f';
          break;
        case 110:
          rep = '\n';
          break;
        case 114:
          rep = '\r';
          break;
        case 116:
          rep = '\t';
          break;
        default:
          this.fail(`escape sequence "\\${Number.isNaN(e) ? '' : String.fromCharCode(e)}" is invalid (position ${i})`);
      }
      out += rep;
      i += 2;
    }
  }

  /** A JSON number → numeric_out text with numeric_in's display scale. */
  private number(): string {
    const s = this.s;
    const start = this.i;
    let i = start;
    let negative = false;
    if (s.charCodeAt(i) === 45) {
      negative = true;
      i++;
    }
    const intStart = i;
    if (s.charCodeAt(i) === 48) i++;
    else if (isDigit(s.charCodeAt(i))) while (isDigit(s.charCodeAt(i))) i++;
    else this.fail(`invalid number at position ${start}`);
    const intDigits = s.slice(intStart, i);
    let fracDigits = '';
    if (s.charCodeAt(i) === 46) {
      const fs = ++i;
      while (isDigit(s.charCodeAt(i))) i++;
      if (i === fs) this.fail(`invalid number at position ${start}`);
      fracDigits = s.slice(fs, i);
    }
    let exponent = 0;
    const ec = s.charCodeAt(i);
    if (ec === 101 || ec === 69) {
      i++;
      let expNeg = false;
      const sc = s.charCodeAt(i);
      if (sc === 43 || sc === 45) {
        expNeg = sc === 45;
        i++;
      }
      const es = i;
      while (isDigit(s.charCodeAt(i))) i++;
      if (i === es) this.fail(`invalid number at position ${start}`);
      const digits = s.slice(es, i).replace(/^0+(?=\d)/, '');
      exponent = digits.length > 10 ? Infinity : Number(digits) * (expNeg ? -1 : 1);
    }
    if (i < s.length && isAlnum(s.charCodeAt(i))) this.fail(`invalid token at position ${start}`);
    this.i = i;
    if (exponent === 0 && !negative && fracDigits === '') return intDigits; // the common case: a plain integer
    if (!numericFits(intDigits, fracDigits, exponent))
      this.fail(`number at position ${start} overflows numeric format`);
    return numericText(negative, intDigits, fracDigits, exponent);
  }
}

/**
 * numeric_in's limits (PostgreSQL 16+ set_var_from_str/make_result): |exponent| < INT_MAX/2, display scale at most
 * NUMERIC_DSCALE_MAX (16383), and for a non-zero value a base-10000 weight of at most 32767 (131072 integer digits).
 */
function numericFits(intDigits: string, fracDigits: string, exponent: number): boolean {
  if (!(Math.abs(exponent) < 1073741823)) return false;
  if (fracDigits.length - exponent > NUMERIC_DSCALE_MAX) return false;
  const all = intDigits + fracDigits;
  let first = 0;
  while (first < all.length && all.charCodeAt(first) === 48) first++;
  if (first === all.length) return true; // zero: no weight
  const leadExponent = intDigits.length - 1 - first + exponent;
  return Math.floor(leadExponent / 4) <= NUMERIC_WEIGHT_MAX;
}

/** numeric_out of numeric_in(text): digits with display scale max(0, fraction digits − exponent), no exponent. */
export function numericText(negative: boolean, intDigits: string, fracDigits: string, exponent: number): string {
  const all = intDigits + fracDigits;
  const point = intDigits.length + exponent;
  let intPart: string;
  let fracPart: string;
  if (point <= 0) {
    intPart = '0';
    fracPart = '0'.repeat(-point) + all;
  } else if (point >= all.length) {
    intPart = all + '0'.repeat(point - all.length);
    fracPart = '';
  } else {
    intPart = all.slice(0, point);
    fracPart = all.slice(point);
  }
  let lead = 0;
  while (lead < intPart.length - 1 && intPart.charCodeAt(lead) === 48) lead++;
  if (lead) intPart = intPart.slice(lead);
  let zero = intPart === '0';
  if (zero) for (let k = 0; k < fracPart.length; k++) if (fracPart.charCodeAt(k) !== 48) zero = false;
  return (negative && !zero ? '-' : '') + intPart + (fracPart ? '.' + fracPart : '');
}

function comparePairs(a: Pair, b: Pair): number {
  if (a.bytes !== b.bytes) return a.bytes - b.bytes;
  if (a.key !== b.key) {
    if (a.ascii && b.ascii) return a.key < b.key ? -1 : 1;
    // UTF-16 order differs from UTF-8 byte order for characters above U+FFFF: compare the bytes.
    return Buffer.compare(Buffer.from(a.key, 'utf8'), Buffer.from(b.key, 'utf8'));
  }
  return a.order - b.order;
}

/** PostgreSQL's escape_json: quote, escape `"` `\` and control characters, nothing else. */
export function escapeJsonString(s: string): string {
  const n = s.length;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c === 34 || c === 92) break;
  }
  if (i === n) return '"' + s + '"';
  let out = '"' + s.slice(0, i);
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 32 && c !== 34 && c !== 92) {
      out += s[i];
      continue;
    }
    switch (c) {
      case 8:
        out += '\\b';
        break;
      case 12:
        out += '\\f';
        break;
      case 10:
        out += '\\n';
        break;
      case 13:
        out += '\\r';
        break;
      case 9:
        out += '\\t';
        break;
      case 34:
        out += '\\"';
        break;
      case 92:
        out += '\\\\';
        break;
      default:
        out += '\\u' + c.toString(16).padStart(4, '0');
    }
  }
  return out + '"';
}
