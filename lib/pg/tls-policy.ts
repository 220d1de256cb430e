import path from 'node:path';
import type { Settings } from '../cli/config.ts';
import { usageError } from '../errors.ts';

/**
 * The one place that decides how a connection to PostgreSQL is protected. Inputs: the URL's own TLS parameters
 * (libpq's `sslmode`/`sslrootcert`, or Prisma's `sslaccept`/`sslcert`) and the operator's flags (`--require-tls`,
 * `--ca`, `--insecure-skip-tls-verify`). The strictest of them wins; a flag can only add protection, never remove
 * what the URL asked for. The same decision gives the suite's pg.ClientConfig.ssl and the app's URL parameters,
 * so the app runs with exactly the TLS the suite used.
 */
export type TlsLevel = 'none' | 'unverified' | 'verify-ca' | 'verify-full';

const RANK: Record<TlsLevel, number> = { none: 0, unverified: 1, 'verify-ca': 2, 'verify-full': 3 };

export interface TlsPolicy {
  level: TlsLevel;
  /** CA file the server certificate must chain to; undefined with a verifying level means the system's CAs. */
  caFile?: string;
  /** The operator opted out of certificate verification with --insecure-skip-tls-verify (warned on every run). */
  verificationSkipped: boolean;
  /** What decided the level, for messages: e.g. `--require-tls`, `sslmode=verify-full in --target`. */
  decidedBy: string;
}

/** URL query parameters that carry TLS settings (both dialects); the app's URL gets them rewritten as one set. */
export const TLS_URL_PARAMS = ['sslmode', 'sslrootcert', 'sslcert', 'sslaccept', 'ssl'] as const;

function urlLevel(params: URLSearchParams, flag: string): { level: TlsLevel; disabled: boolean; caFile?: string } {
  const mode = params.get('sslmode')?.toLowerCase();
  const accept = params.get('sslaccept')?.toLowerCase();
  const prismaDialect = accept !== null && accept !== undefined;
  // libpq's sslrootcert is the CA; in Prisma's dialect (recognised by sslaccept) sslcert is the CA file.
  const caRaw = params.get('sslrootcert') ?? (prismaDialect ? (params.get('sslcert') ?? undefined) : undefined);
  const caFile =
    caRaw && caRaw !== 'system' ? path.resolve(process.env.VS_INVOCATION_DIR ?? process.cwd(), caRaw) : undefined;
  switch (mode) {
    case undefined:
    case 'allow':
    case 'prefer': {
      const ssl = params.get('ssl')?.toLowerCase();
      // node-postgres verifies the certificate for `ssl=true`: keep that meaning.
      return { level: ssl === 'true' || ssl === '1' ? 'verify-full' : 'none', disabled: false, caFile };
    }
    case 'disable':
      return { level: 'none', disabled: true };
    case 'require':
      // node-postgres and Prisma's engine both verify the certificate for `require` unless told to accept anything
      // (sslaccept's default is strict): keep that, never the weaker libpq reading.
      return accept === 'accept_invalid_certs'
        ? { level: 'unverified', disabled: false }
        : { level: 'verify-full', disabled: false, caFile };
    case 'no-verify':
      return { level: 'unverified', disabled: false };
    case 'verify-ca':
      return { level: 'verify-ca', disabled: false, caFile };
    case 'verify-full':
      return { level: 'verify-full', disabled: false, caFile };
    default:
      throw usageError(`${flag} has sslmode=${mode}; use disable, prefer, require, verify-ca or verify-full`);
  }
}

type TlsSettings = Pick<Settings, 'requireTls' | 'caFile' | 'insecureSkipTlsVerify'>;

export function decideTlsPolicy(settings: TlsSettings, url: string, flag = '--target'): TlsPolicy {
  let params: URLSearchParams;
  try {
    params = new URL(url).searchParams;
  } catch {
    throw usageError(`${flag} is not a valid URL`);
  }
  const fromUrl = urlLevel(params, flag);
  const skip = Boolean(settings.insecureSkipTlsVerify);
  const flagLevel: TlsLevel = settings.caFile
    ? 'verify-full'
    : settings.requireTls
      ? skip
        ? 'unverified'
        : 'verify-full'
      : skip
        ? 'unverified'
        : 'none';
  if (fromUrl.disabled && flagLevel !== 'none') {
    // Refused rather than upgraded: the operator wrote both, and the app would get a URL that contradicts one of them.
    throw usageError(
      `${flag} says sslmode=disable but ${settings.caFile ? '--ca' : '--require-tls'} asks for TLS; remove sslmode=disable from the URL or drop the flag`,
    );
  }
  const urlWins = RANK[fromUrl.level] > RANK[flagLevel];
  const level = urlWins ? fromUrl.level : flagLevel;
  const decidedBy =
    level === 'none'
      ? 'no TLS asked for'
      : urlWins
        ? `${flag}'s TLS parameters`
        : settings.caFile
          ? '--ca'
          : settings.requireTls
            ? '--require-tls'
            : '--insecure-skip-tls-verify';
  return {
    level,
    caFile: RANK[level] >= RANK['verify-ca'] ? (settings.caFile ?? fromUrl.caFile) : undefined,
    verificationSkipped: skip && level === 'unverified',
    decidedBy,
  };
}

export const tlsVerified = (policy: TlsPolicy) => RANK[policy.level] >= RANK['verify-ca'];

/**
 * The app's URL carries the same TLS as the suite, in Prisma's own dialect: its Rust engine reads only
 * `sslmode` = disable | prefer | require (anything else silently becomes prefer), `sslcert` = the CA file and
 * `sslaccept` = strict | accept_invalid_certs (prisma/prisma-engines quaint/src/connector/postgres/url.rs).
 * A URL that asked for no TLS keeps its own parameters.
 */
export function appUrlWithTls(url: string, policy: TlsPolicy): string {
  if (policy.level === 'none') return url;
  const parsed = new URL(url);
  for (const name of TLS_URL_PARAMS) parsed.searchParams.delete(name);
  parsed.searchParams.set('sslmode', 'require');
  if (policy.caFile) parsed.searchParams.set('sslcert', policy.caFile);
  parsed.searchParams.set('sslaccept', tlsVerified(policy) ? 'strict' : 'accept_invalid_certs');
  return parsed.toString();
}
