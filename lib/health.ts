import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import dotenv from 'dotenv';

/**
 * Is the app up? Poll its health URL until it answers 200 or the time is up. VisionSuit serves GET /api/health
 * on HOST:PORT from backend/.env; when the body is JSON and names the database (e.g. {"database":"postgresql"}),
 * the caller can check the app really runs on the database we expect.
 */
export interface HealthResult {
  ok: boolean;
  url: string;
  status?: number;
  /** Database kind the app reported, lowercased (postgresql / sqlite), when it says. */
  database?: string;
  body?: unknown;
  error?: string;
  waitedMs: number;
  attempts: number;
}

/** Default health URL from <app>/backend/.env (HOST/PORT); undefined when PORT is not set there. */
export function defaultHealthUrl(appDir: string): string | undefined {
  const envFile = path.join(appDir, 'backend/.env');
  if (!existsSync(envFile)) return undefined;
  const env = dotenv.parse(readFileSync(envFile));
  if (!env.PORT) return undefined;
  let host = env.HOST || '127.0.0.1';
  // A wildcard bind address is not something to connect to; the loopback reaches it.
  if (host === '0.0.0.0' || host === '::' || host === '[::]') host = '127.0.0.1';
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  return `http://${host}:${env.PORT}/api/health`;
}

function databaseOf(body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const b = body as Record<string, unknown>;
  const candidates = [b.database, b.db, b.provider, (b.database as Record<string, unknown> | undefined)?.provider, (b.db as Record<string, unknown> | undefined)?.provider];
  for (const c of candidates) {
    if (typeof c === 'string' && c) {
      const v = c.toLowerCase();
      return v === 'postgres' ? 'postgresql' : v;
    }
  }
  return undefined;
}

export async function waitForHealth(url: string, options: { timeoutMs?: number; intervalMs?: number; expectDatabase?: string } = {}): Promise<HealthResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 250;
  const started = Date.now();
  let attempts = 0;
  let last: HealthResult = { ok: false, url, waitedMs: 0, attempts: 0, error: 'not tried' };
  for (;;) {
    attempts++;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(Math.min(5_000, timeoutMs)) });
      const text = await response.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // a plain-text health answer is fine; only the status matters then
      }
      const database = databaseOf(body);
      const dbOk = !options.expectDatabase || !database || database === options.expectDatabase;
      last = {
        ok: response.status === 200 && dbOk,
        url,
        status: response.status,
        database,
        body,
        waitedMs: Date.now() - started,
        attempts,
        error: response.status !== 200 ? `HTTP ${response.status}` : dbOk ? undefined : `app reports database ${database}, expected ${options.expectDatabase}`,
      };
      // A wrong database will not fix itself by waiting; report it at once.
      if (last.ok || (response.status === 200 && !dbOk)) return last;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      last = { ok: false, url, waitedMs: Date.now() - started, attempts, error: e.cause?.code ?? e.message };
    }
    if (Date.now() - started + intervalMs > timeoutMs) return last;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
