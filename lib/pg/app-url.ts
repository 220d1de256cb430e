import dotenv from 'dotenv';
import type { Settings } from '../cli/config.ts';
import { encodeValue } from '../app/env-file.ts';
import { usageError } from '../errors.ts';
import { resolvePassword } from '../cli/password-file.ts';
import { registerSecret } from '../cli/secrets.ts';
import { appUrlWithTls, decideTlsPolicy } from './tls-policy.ts';

export interface AppUrl {
  url: string;
  /** Where its password came from; undefined when it carries none. */
  passwordSource?: string;
}

/**
 * The DATABASE_URL the app gets, built and checked before anything is stopped (check-target, switch-env --dry-run):
 * the --target URL with the password the suite itself uses (the URL's, PGPASSWORD, or --password-file; Prisma reads
 * no PGPASSWORD/.pgpass, so it must be in the URL, percent-encoded) and the TLS the suite uses (decideTlsPolicy).
 * It must survive the app's dotenv reading it back byte for byte, or it is refused here with exit 2.
 */
export function buildAppUrl(settings: Settings): AppUrl {
  const raw = settings.targetUrl;
  if (!raw) throw usageError('--target is required (or set TARGET_DATABASE_URL)');
  if (!/^postgres(ql)?:\/\//i.test(raw)) throw usageError('--target must be a postgresql:// URL');
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw usageError('--target is not a valid URL (percent-encode special characters in the password, e.g. %40 for @)');
  }
  let urlPassword: string | undefined;
  try {
    urlPassword = parsed.password ? decodeURIComponent(parsed.password) : undefined;
  } catch {
    throw usageError("--target's password has a % that is not percent-encoding; write it as %25");
  }
  const { password, source } = resolvePassword(urlPassword, settings.passwordFile);
  if (password) {
    registerSecret(password);
    // Re-encoded in full: quotes and backticks never reach the env file raw, whatever the operator typed.
    parsed.password = encodeURIComponent(password);
  }
  const url = appUrlWithTls(parsed.toString(), decideTlsPolicy(settings, raw));
  let encoded: string;
  try {
    encoded = encodeValue(url);
  } catch {
    throw usageError('the DATABASE_URL for the app cannot be written to its .env so that it reads back identically');
  }
  if (dotenv.parse(`DATABASE_URL=${encoded}\n`).DATABASE_URL !== url) {
    throw usageError(
      "the DATABASE_URL for the app does not read back identically through dotenv; change the password's special characters",
    );
  }
  return { url, passwordSource: source };
}
