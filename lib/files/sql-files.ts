import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './code-location.ts';

/**
 * Every hand-written query lives in sql/<name>.sql and is loaded by name. Values travel as $1..$n
 * parameters; identifiers are never concatenated from input here — callers that need a table name
 * in SQL substitute {{placeholders}} with pg's escapeIdentifier via sqlWithIdentifiers().
 */
const SQL_DIR = path.join(REPO_ROOT, 'sql');
const cache = new Map<string, string>();

export function loadSql(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(path.join(SQL_DIR, `${name}.sql`), 'utf8');
    cache.set(name, text);
  }
  return text;
}

export function sqlDir(): string {
  return SQL_DIR;
}

/**
 * Load sql/<name>.sql and replace each {{key}} with an already-escaped SQL fragment. Only fragments built by
 * escapeIdentifier (or lists of them) may be passed; an unknown or missing placeholder is a programming error.
 */
export function sqlWithIdentifiers(name: string, fragments: Record<string, string>): string {
  const text = loadSql(name).replace(/\{\{(\w+)\}\}/g, (_m, key: string) => {
    const fragment = fragments[key];
    if (fragment === undefined) throw new Error(`sql/${name}.sql needs {{${key}}}`);
    return fragment;
  });
  return text;
}
