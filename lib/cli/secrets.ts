/**
 * Secret masking shared by the logger, JSON output and every file we write into a run directory.
 * Two mechanisms: DSN passwords are masked by shape (so a URL we never saw registered is still safe),
 * and exact secret strings (generated passwords, password-file contents) are registered at runtime.
 */
const registered = new Set<string>();

export function registerSecret(secret: string | undefined | null): void {
  // Very short strings would mask unrelated text everywhere; a real password is never that short.
  if (secret && secret.length >= 4) registered.add(secret);
}

const DSN_PASSWORD = /\b((?:postgres(?:ql)?|mysql|sqlserver|mongodb(?:\+srv)?):\/\/[^:/@\s'"]*:)([^@\s'"]+)(@)/gi;
const KEY_VALUE_PASSWORD = /\b(password|passwd|pgpassword)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&'"]+)/gi;

export function maskSecrets(text: string): string {
  let masked = text.replace(DSN_PASSWORD, '$1***$3').replace(KEY_VALUE_PASSWORD, '$1$2***');
  for (const secret of registered) {
    if (masked.includes(secret)) masked = masked.split(secret).join('***');
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret && masked.includes(encoded)) masked = masked.split(encoded).join('***');
  }
  return masked;
}

/** Deep copy of a JSON-able value with every string masked: used for --json output and run-dir files. */
export function maskDeep<T>(value: T): T {
  return JSON.parse(
    JSON.stringify(value, (_key, v) =>
      typeof v === 'string' ? maskSecrets(v) : typeof v === 'bigint' ? v.toString() : v,
    ),
  ) as T;
}
