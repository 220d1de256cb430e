import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import dotenv from 'dotenv';
import { $ } from 'zx';
import { pollDelay, pollPause } from '../run/poll-delay.ts';

/**
 * Where the app listens and whether it is healthy, by the app's own routes (upstream AsaTyr2018/VisionSuit):
 * `GET /api/meta/status/backend` (backend/src/routes/meta.ts) answers 200 with service.status "online" only after a
 * `SELECT 1` through Prisma, "degraded" when the database fails — still HTTP 200, so the body decides.
 * `GET /health` (backend/src/app.ts) checks no database: used only as a liveness fallback when the status route is
 * missing (404), and then reported as such. The address is the service's environment as the service manager gives
 * it (backend/src/config.ts: `PORT ?? 4000`, `HOST ?? '0.0.0.0'`, the environment winning over backend/.env).
 */
export const STATUS_ROUTE = '/api/meta/status/backend';
export const LIVENESS_ROUTE = '/health';

export interface AppAddress {
  host: string;
  port: number;
  /** Where the port came from, for messages. */
  source: string;
}

function envFile(file: string): Record<string, string> {
  try {
    return dotenv.parse(readFileSync(file));
  } catch {
    return {};
  }
}

/** EnvironmentFile= paths of an installed systemd unit (empty without systemctl or the unit). */
async function systemdEnvironmentFiles(unit: string): Promise<string[] | undefined> {
  const which = await $({ nothrow: true, quiet: true })`command -v systemctl`;
  if (which.exitCode !== 0) return undefined;
  const load = await $({ nothrow: true, quiet: true })`systemctl show -p LoadState --value ${unit}`;
  if (load.stdout.trim() !== 'loaded') return undefined;
  const out = await $({ nothrow: true, quiet: true })`systemctl show -p EnvironmentFiles --value ${unit}`;
  // One "path (ignore_errors=yes)" entry per line.
  return out.stdout
    .split('\n')
    .map((l) => l.replace(/\s*\(ignore_errors=\w+\)\s*$/, '').trim())
    .filter(Boolean);
}

/** The legacy script's default for a variable (`X="${NAME:-default}"`), as upstream services/vs-backend.sh sets them. */
function scriptDefault(script: string, name: string): string | undefined {
  try {
    return new RegExp(`\\$\\{${name}:-([^}"]*)\\}`).exec(readFileSync(script, 'utf8'))?.[1] || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Where the app may listen, most specific first: the legacy script's address (BACKEND_PORT/HOST from the
 * environment the start command inherits from us, else the script's own defaults), systemd's EnvironmentFiles
 * (the installed unit's, then --system-env), backend/.env, the app default 4000. Which start the operator's
 * command uses is not visible from here, so the probe asks them in this order and takes the first that answers.
 */
export async function appAddresses(
  settings: { appDir: string; systemEnvFile: string },
  env: NodeJS.ProcessEnv = process.env,
): Promise<AppAddress[]> {
  const dotEnv = envFile(path.join(settings.appDir, 'backend/.env'));
  const out: AppAddress[] = [];
  const add = (port: string | undefined, host: string | undefined, source: string) => {
    if (!port || !(Number(port) > 0)) return;
    const a = { host: host || dotEnv.HOST || '0.0.0.0', port: Number(port), source };
    if (!out.some((o) => o.port === a.port && baseUrlOf(o) === baseUrlOf(a))) out.push(a);
  };
  const unitFiles = await systemdEnvironmentFiles('vs-backend.service');
  const script = path.join(settings.appDir, 'services/vs-backend.sh');
  // Legacy services/vs-backend.sh passes PORT="${BACKEND_PORT:-4000}" and HOST, overriding backend/.env's PORT.
  if (!unitFiles && existsSync(script)) {
    add(
      env.BACKEND_PORT ?? scriptDefault(script, 'BACKEND_PORT'),
      env.HOST ?? scriptDefault(script, 'HOST'),
      env.BACKEND_PORT ? 'BACKEND_PORT' : 'services/vs-backend.sh',
    );
  }
  // systemd: its EnvironmentFiles (later ones win, as systemd applies them in order), then backend/.env.
  const systemFiles = [...(unitFiles ?? []), ...(existsSync(settings.systemEnvFile) ? [settings.systemEnvFile] : [])];
  let port: string | undefined;
  let host: string | undefined;
  let source = '';
  for (const file of systemFiles) {
    const values = envFile(file);
    if (values.PORT) [port, source] = [values.PORT, file];
    if (values.HOST) host = values.HOST;
  }
  if (port) add(port, host, source);
  add(dotEnv.PORT, host ?? dotEnv.HOST, 'backend/.env');
  add('4000', host ?? dotEnv.HOST, 'the app default');
  return out;
}

/** Base URL of the app (a wildcard bind address is reached through the loopback). */
export function baseUrlOf(address: AppAddress): string {
  let host = address.host;
  if (host === '0.0.0.0' || host === '::' || host === '[::]' || host === '') host = '127.0.0.1';
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  return `http://${host}:${address.port}`;
}

/**
 * The health URLs to ask: the operator's, none (`none`: no check), or the app's status route at each address it may
 * listen on (appAddresses).
 */
export async function resolveHealthUrl(
  settings: { appDir: string; systemEnvFile: string },
  override?: string,
): Promise<string[] | undefined> {
  if (override === 'none') return undefined;
  if (override) return [override];
  return (await appAddresses(settings)).map((a) => baseUrlOf(a) + STATUS_ROUTE);
}

export function portOfUrl(url: string | undefined): number | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  } catch {
    return undefined;
  }
}

export interface HealthResult {
  ok: boolean;
  url: string;
  status?: number;
  /** service.status of the status route ("online", "degraded", …), or the liveness route's status. */
  serviceStatus?: string;
  /** false: only the liveness route answered (no database check), or a URL whose body says nothing about it. */
  databaseChecked: boolean;
  body?: unknown;
  error?: string;
  waitedMs: number;
  attempts: number;
}

interface Verdict {
  ok: boolean;
  serviceStatus?: string;
  databaseChecked: boolean;
  error?: string;
}

/** Judge one answer: only "online" (status route) or "ok" (liveness) with HTTP 200 is healthy. */
function judge(status: number, body: unknown, liveness: boolean): Verdict {
  if (status !== 200) return { ok: false, databaseChecked: false, error: `HTTP ${status}` };
  const b = body && typeof body === 'object' ? (body as Record<string, unknown>) : undefined;
  const service = b?.service as Record<string, unknown> | undefined;
  if (service && typeof service.status === 'string') {
    const ok = service.status === 'online';
    return {
      ok,
      serviceStatus: service.status,
      databaseChecked: true,
      error: ok ? undefined : `${service.status}: ${String(service.message ?? '')}`.trim(),
    };
  }
  if (b && typeof b.status === 'string') {
    const ok = b.status === 'ok' || b.status === 'online';
    return { ok, serviceStatus: b.status, databaseChecked: false, error: ok ? undefined : `status ${b.status}` };
  }
  // A plain 200 from an operator's URL: up, but nothing said about the database.
  return { ok: !liveness || status === 200, databaseChecked: false };
}

async function fetchOnce(url: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(Math.min(5_000, timeoutMs)) });
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    return { status: response.status, body: text };
  }
}

/**
 * Poll until the app is healthy or the time is up. On a 404 from the status route, the liveness route of the
 * same base is asked instead (an app without the status route): that result says databaseChecked false.
 */
export async function waitForHealth(
  urls: string | string[],
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<HealthResult> {
  const candidates = typeof urls === 'string' ? [urls] : urls;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxIntervalMs = options.intervalMs ?? 250;
  const started = Date.now();
  let attempts = 0;
  let last: HealthResult = {
    ok: false,
    url: candidates.join(' | '),
    waitedMs: 0,
    attempts: 0,
    databaseChecked: false,
    error: 'not tried',
  };
  for (;;) {
    attempts++;
    let errors: string[] = [];
    for (const url of candidates) {
      try {
        let asked = url;
        let answer = await fetchOnce(asked, timeoutMs);
        let liveness = false;
        if (answer.status === 404 && new URL(url).pathname === STATUS_ROUTE) {
          asked = new URL(LIVENESS_ROUTE, url).toString();
          answer = await fetchOnce(asked, timeoutMs);
          liveness = true;
        }
        const verdict = judge(answer.status, answer.body, liveness);
        last = {
          ...verdict,
          url: asked,
          status: answer.status,
          body: answer.body,
          waitedMs: Date.now() - started,
          attempts,
        };
        if (liveness && verdict.ok)
          last.error = `${STATUS_ROUTE} answered 404: only ${LIVENESS_ROUTE} (no database check) answered`;
        errors = [];
        break; // the first address that answers at all is the app's
      } catch (err) {
        const e = err as Error & { cause?: { code?: string } };
        errors.push(`${url} → ${e.cause?.code ?? e.message}`);
      }
    }
    if (errors.length)
      last = {
        ok: false,
        url: candidates.join(' | '),
        waitedMs: Date.now() - started,
        attempts,
        databaseChecked: false,
        error: errors.join('; '),
      };
    if (last.ok) return last;
    if (Date.now() - started + pollDelay(attempts, maxIntervalMs) > timeoutMs) return last;
    await pollPause(attempts, maxIntervalMs);
  }
}
