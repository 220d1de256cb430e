import { DomainError, targetNotReady } from '../errors.ts';

/**
 * One classifier for errors PostgreSQL raises while we work on it: which side is at fault. Target-side causes
 * (the server's resources, its timeouts and locks, the role's privileges, a lost connection) are exit 3 with
 * PostgreSQL's own words; anything else (a value PostgreSQL rejects, a constraint) is left to the caller, which
 * knows the table and row it came from.
 */
export type PgErrorSide = 'connection' | 'resources' | 'timeout' | 'privilege' | 'other';

export function pgErrorSide(err: unknown): PgErrorSide {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string') return 'other';
  if (/^(08|57P)/.test(code)) return 'connection';
  // 53: insufficient resources (53100 disk_full, 53200 out_of_memory, 53300 too_many_connections, 53400); 58: I/O.
  if (/^(53|58)/.test(code)) return 'resources';
  if (code === '57014' || code === '55P03' || code === '25P03' || code === '25P04') return 'timeout';
  if (code === '42501') return 'privilege';
  return 'other';
}

const SOCKET_LOSS_CODES = ['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT', 'ECONNABORTED', 'EHOSTUNREACH'];
const LOSS_MESSAGE =
  /Connection terminated|connection (is |was )?(closed|ended|terminated)|Client has encountered a connection error/i;

/**
 * The connection died under us (server restart or shutdown: 08xxx / 57Pxx; a killed backend; a reset socket; an SSH
 * tunnel that dropped, which the driver reports as "Connection terminated unexpectedly" with no code). The one
 * connection-loss classifier: a loss is the target's problem, never a value of ours.
 */
export function isConnectionLoss(err: unknown): boolean {
  if (err instanceof DomainError) return false;
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  if (/^(08|57P)/.test(code) || SOCKET_LOSS_CODES.includes(code)) return true;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return LOSS_MESSAGE.test(message.split('\n')[0]);
}

const ADVICE: Record<Exclude<PgErrorSide, 'other'>, string> = {
  connection: 'the target is re-loadable with --force once the server is back',
  resources: 'free space or memory on the PostgreSQL server (or raise max_connections), then run again',
  timeout:
    'a server or role setting cut the statement short, or another session holds a lock: check SHOW statement_timeout/lock_timeout and pg_stat_activity, then run again',
  privilege: 'run `just create-role` (it makes the role own the database and schema) or GRANT the privilege named',
};

/** A DomainError (exit 3) for a target-side PostgreSQL error, or undefined for anything else. */
export function targetSideError(err: unknown, doing: string): DomainError | undefined {
  if (err instanceof DomainError) return undefined;
  const side = pgErrorSide(err);
  if (side === 'other') return undefined;
  const e = err as { code: string; message?: string };
  const words = (e.message ?? String(err)).split('\n')[0];
  return targetNotReady(`PostgreSQL stopped ${doing}: ${words} (SQLSTATE ${e.code}); ${ADVICE[side]}`, {
    code: e.code,
    side,
  });
}
