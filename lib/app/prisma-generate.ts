import { existsSync } from 'node:fs';
import path from 'node:path';
import { $ } from 'zx';
import type { Logger } from '../cli/log.ts';
import { maskSecrets } from '../cli/secrets.ts';
import { serviceEnv } from './service-commands.ts';

/**
 * The app's Prisma Client follows the provider: Prisma 6's generated client carries the provider it was generated
 * for and rejects a DATABASE_URL of the other protocol, and a systemd start (`npm run dev`) does not regenerate it.
 * So after every provider change the app's own CLI (backend/node_modules/.bin/prisma, the app's version with its
 * engines) runs `prisma generate` in backend/ — unless the operator says the start command does it.
 */
export interface GenerateResult {
  provider: 'postgresql' | 'sqlite';
  ran: boolean;
  ok: boolean;
  /** Why it did not run, or the CLI's last meaningful line on failure. */
  detail: string;
  ms: number;
  at: string;
}

export function appPrismaBin(appDir: string): string {
  return path.join(appDir, 'backend', 'node_modules', '.bin', 'prisma');
}

/** The last line that says something (skips blank lines and Prisma's update-available banners). */
function lastMeaningfulLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.replace(/\x1b\[[0-9;]*m/g, '').trim())
    .filter((l) => l && !/^[│┌└─┐┘╭╮╰╯|]+$/.test(l) && !/update available/i.test(l));
  return lines.at(-1) ?? '(no output)';
}

export async function generateAppClient(
  appDir: string,
  provider: GenerateResult['provider'],
  log: Logger,
  options: { skip?: boolean } = {},
): Promise<GenerateResult> {
  const at = new Date().toISOString();
  const started = Date.now();
  if (options.skip) {
    log.info('prisma generate skipped (--no-generate: the start command regenerates the client)');
    return {
      provider,
      ran: false,
      ok: true,
      detail: 'skipped: the operator says the start command runs prisma generate',
      ms: 0,
      at,
    };
  }
  const bin = appPrismaBin(appDir);
  if (!existsSync(bin)) {
    return {
      provider,
      ran: false,
      ok: false,
      detail: `${bin} is missing: install the app's dependencies (npm install in backend/) or pass --no-generate`,
      ms: 0,
      at,
    };
  }
  log.info(
    `running the app's own prisma generate in ${path.dirname(path.dirname(path.dirname(bin)))} (client for ${provider})`,
  );
  // No secret in argv; the environment is the services' one (no DSN: generate does not connect).
  const out = await $({
    cwd: path.join(appDir, 'backend'),
    env: serviceEnv(),
    nothrow: true,
    quiet: true,
    timeout: '300s',
  })`${bin} generate`;
  const ms = Date.now() - started;
  if (out.exitCode !== 0) {
    const cause = maskSecrets(lastMeaningfulLine(out.stderr || out.stdout));
    return {
      provider,
      ran: true,
      ok: false,
      detail: `prisma generate exited ${out.exitCode ?? out.signal}: ${cause}`,
      ms,
      at,
    };
  }
  log.ok(`prisma generate: client generated for ${provider} (${(ms / 1000).toFixed(1)} s)`);
  return { provider, ran: true, ok: true, detail: maskSecrets(lastMeaningfulLine(out.stdout)), ms, at };
}
