import { readFileSync, statSync } from 'node:fs';
import { usageError } from '../errors.ts';
import { registerSecret } from './secrets.ts';

/**
 * The one way to read a password file (--password-file / PG_PASSWORD_FILE), for every task and for the URL written
 * for the app: a regular file readable by its owner only (a wider mode means the secret may already have leaked, so
 * we refuse rather than use it). The password is the first line without its line ending (\n or \r\n), every other
 * character kept, spaces included, as `.pgpass` does; empty is refused. The password is registered for masking
 * before anything else can print it.
 */
export function readPasswordFile(file: string): string {
  let stat;
  try {
    stat = statSync(file);
  } catch (err) {
    throw usageError(
      `cannot read password file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  if (!stat.isFile()) throw usageError(`password file ${file} is not a regular file`);
  const mode = stat.mode & 0o777;
  if (mode & 0o077) {
    throw usageError(
      `password file ${file} has mode ${mode.toString(8).padStart(4, '0')}; it must be readable by its owner only (chmod 600)`,
    );
  }
  const password = readFileSync(file, 'utf8').split(/\r?\n/)[0];
  if (!password) throw usageError(`password file ${file} is empty`);
  registerSecret(password);
  return password;
}

export interface ResolvedPassword {
  password?: string;
  /** Where it came from, for messages: `the URL`, `PGPASSWORD`, `--password-file FILE`. */
  source?: string;
}

/**
 * Which password a DSN is used with, the same for the suite's connections and the app's DATABASE_URL: the URL's own,
 * else PGPASSWORD, else --password-file.
 */
export function resolvePassword(
  urlPassword: string | undefined,
  passwordFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedPassword {
  if (urlPassword) return { password: urlPassword, source: 'the URL' };
  if (env.PGPASSWORD) {
    registerSecret(env.PGPASSWORD);
    return { password: env.PGPASSWORD, source: 'PGPASSWORD' };
  }
  if (passwordFile) return { password: readPasswordFile(passwordFile), source: `--password-file ${passwordFile}` };
  return {};
}
