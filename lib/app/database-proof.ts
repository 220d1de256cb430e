import path from 'node:path';
import type { Settings } from '../cli/config.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../cli/log.ts';
import { openTarget, type TargetConnection } from '../pg/target.ts';
import { findHolders, sqliteFamily } from './process-files.ts';
import { loadSql } from '../files/sql-files.ts';
import { appProcesses, socketsOf } from './processes.ts';
import { pollPause } from '../run/poll-delay.ts';

/**
 * Which database the app really uses, proven from outside: PostgreSQL's pg_stat_activity sessions matched to TCP
 * sockets owned by the app's processes (client address and port = the socket's local end), and /proc holders of
 * the SQLite file. After a start on PostgreSQL: at least one matched session, no app process holds the SQLite
 * file; after a start on SQLite: the reverse.
 */
export interface DatabaseProof {
  expect: 'postgresql' | 'sqlite';
  ok: boolean;
  appPids: number[];
  /** Sessions on the target database owned by the app's processes (undefined: the target was not asked). */
  targetSessions?: number;
  /** Sessions over a Unix socket, which cannot be attributed by address. */
  unattributedSessions?: number;
  sqliteHolders: { pid: number; file: string }[];
  detail: string;
  waitedMs: number;
}

async function matchedSessions(
  target: TargetConnection,
  appPids: number[],
): Promise<{ matched: number; unix: number }> {
  const { rows } = await target.client.query<{ pid: number; client_addr: string | null; client_port: number | null }>(
    loadSql('app-target-sessions'),
  );
  const sockets = socketsOf(appPids).filter((s) => s.state === '01');
  const norm = (a: string | null) => (a ?? '').replace(/^::ffff:/, '');
  let matched = 0;
  let unix = 0;
  for (const row of rows) {
    if (row.client_port === null || row.client_port < 0) {
      unix++;
      continue;
    }
    if (
      sockets.some(
        (s) => s.localPort === row.client_port && (!row.client_addr || norm(row.client_addr) === norm(s.localAddress)),
      )
    )
      matched++;
  }
  return { matched, unix };
}

export async function proveAppDatabase(
  settings: Settings,
  log: Logger,
  options: {
    expect: 'postgresql' | 'sqlite';
    port?: number;
    sqlitePath?: string;
    targetUrl?: string;
    timeoutMs?: number;
  },
): Promise<DatabaseProof> {
  const started = Date.now();
  const timeoutMs = options.timeoutMs ?? 30_000;
  let target: TargetConnection | undefined;
  let targetError: string | undefined;
  if (options.targetUrl) {
    try {
      target = await openTarget(settings, log, { url: options.targetUrl });
    } catch (err) {
      targetError = errorMessage(err);
    }
  }
  let proof: DatabaseProof;
  try {
    for (let look = 1; ; look++) {
      const appPids = await appProcesses(settings.appDir, options.port);
      const holders = options.sqlitePath
        ? findHolders(sqliteFamily(options.sqlitePath))
            .holders.filter((h) => appPids.includes(h.pid))
            .map((h) => ({ pid: h.pid, file: h.file }))
        : [];
      // A target that drops our connection (a failover, a cut network) leaves the proof to what /proc shows.
      const sessions = target
        ? await matchedSessions(target, appPids).catch((err) => {
            targetError = errorMessage(err);
            void target?.close().catch(() => undefined);
            target = undefined;
            return undefined;
          })
        : undefined;
      const db = options.sqlitePath ? path.basename(options.sqlitePath) : 'the SQLite file';
      const who = appPids.length ? `app pids ${appPids.join(', ')}` : 'no app process found';
      let ok: boolean;
      let detail: string;
      if (options.expect === 'postgresql') {
        ok = appPids.length > 0 && (sessions?.matched ?? 0) > 0 && holders.length === 0;
        detail = !target
          ? `cannot ask the target for sessions: ${targetError ?? 'no target URL'}`
          : holders.length
            ? `pid ${holders[0].pid} of the app still holds ${path.basename(holders[0].file)}: the app runs on SQLite (an environment overriding backend/.env?)`
            : sessions!.matched
              ? `${sessions!.matched} session(s) of the app on the target (${who}); no app process holds ${db}`
              : `no session of the app on the target (${who}${sessions!.unix ? `; ${sessions!.unix} over a Unix socket, not attributable` : ''})`;
      } else {
        ok = appPids.length > 0 && holders.length > 0 && (sessions?.matched ?? 0) === 0;
        detail = sessions?.matched
          ? `${sessions.matched} session(s) of the app still on the target`
          : holders.length
            ? `pid ${holders[0].pid} of the app holds ${db}${target ? '; no session of the app on the target' : ' (target not asked: no URL)'}`
            : `no app process holds ${db} (${who})`;
      }
      proof = {
        expect: options.expect,
        ok,
        appPids,
        targetSessions: sessions?.matched,
        unattributedSessions: sessions?.unix,
        sqliteHolders: holders,
        detail,
        waitedMs: Date.now() - started,
      };
      if (ok || Date.now() - started > timeoutMs || (options.expect === 'postgresql' && !target)) break;
      await pollPause(look, 300);
    }
  } finally {
    await target?.close().catch(() => undefined);
  }
  return proof!;
}
