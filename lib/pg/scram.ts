import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * SCRAM-SHA-256 password verifiers in PostgreSQL's stored form (RFC 5803):
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64 parts). create-role computes the verifier
 * here and sends only that (`ALTER ROLE … PASSWORD 'SCRAM-SHA-256$…'`), so the cleartext password never travels
 * to the server, never sits in pg_stat_activity and never lands in a statement log.
 */
export const SCRAM_ITERATIONS = 4096; // PostgreSQL's default scram_iterations

/**
 * PostgreSQL runs the password through SASLprep before hashing. For ASCII (every password this tool generates)
 * that is the identity; for other text NFKC is the bulk of it. Exotic input that PostgreSQL would prep
 * differently only costs an extra "password set" on the next run (the check then fails and we re-set it).
 */
function prep(password: string): Buffer {
  // eslint-disable-next-line no-control-regex
  return Buffer.from(/^[\x00-\x7f]*$/.test(password) ? password : password.normalize('NFKC'), 'utf8');
}

function keys(password: string, salt: Buffer, iterations: number) {
  const salted = pbkdf2Sync(prep(password), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  return {
    storedKey: createHash('sha256').update(clientKey).digest(),
    serverKey: createHmac('sha256', salted).update('Server Key').digest(),
  };
}

export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = SCRAM_ITERATIONS): string {
  const { storedKey, serverKey } = keys(password, salt, iterations);
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

const VERIFIER = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/;

/** Does the stored verifier (pg_authid.rolpassword) accept this password? False for md5 or anything else. */
export function scramVerifierMatches(stored: string | null | undefined, password: string): boolean {
  const match = stored ? VERIFIER.exec(stored) : null;
  if (!match) return false;
  const iterations = Number(match[1]);
  if (!Number.isSafeInteger(iterations) || iterations < 1) return false;
  const { storedKey, serverKey } = keys(password, Buffer.from(match[2], 'base64'), iterations);
  const wantStored = Buffer.from(match[3], 'base64');
  const wantServer = Buffer.from(match[4], 'base64');
  return (
    wantStored.length === storedKey.length &&
    wantServer.length === serverKey.length &&
    timingSafeEqual(wantStored, storedKey) &&
    timingSafeEqual(wantServer, serverKey)
  );
}

/** 32 random bytes, URL-safe base64 (43 characters, 256 bits): safe in a DSN without percent-encoding. */
export function generatePassword(): string {
  return randomBytes(32).toString('base64url');
}
