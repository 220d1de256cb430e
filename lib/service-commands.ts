import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from './log.ts';
import { maskSecrets } from './secrets.ts';

/**
 * Run the operator's stop/start command (default `<app>/maintenance.sh stop|start`) with bash.
 *
 * - No secret reaches it: the environment is ours minus every key that may carry a DSN or password, and minus
 *   DATABASE_URL so the app reads its database from its own env file (dotenv never overrides an inherited value).
 * - Output goes to a temporary file, not a pipe: services started by the command inherit its stdout, and a pipe
 *   would keep us waiting for them (and kill them with SIGPIPE once we exit).
 * - The command runs in its own process group (detached), so a Ctrl-C aimed at the upgrade does not also kill
 *   the services it just started.
 */
export interface CommandRun {
  command: string;
  exitCode: number | null;
  signal: string | null;
  output: string;
  ms: number;
  timedOut: boolean;
}

const SECRET_KEYS = /(PASSWORD|PASSWD|SECRET|TOKEN|_KEY$|DATABASE_URL|^PG[A-Z]*$|^TARGET_|^ADMIN_)/i;

export function serviceEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!SECRET_KEYS.test(k) && v !== undefined) out[k] = v;
  return out;
}

let counter = 0;

export async function runServiceCommand(command: string, log: Logger, options: { cwd?: string; timeoutMs?: number } = {}): Promise<CommandRun> {
  const outFile = path.join(os.tmpdir(), `vs-migrate-cmd-${process.pid}-${++counter}.log`);
  const fd = openSync(outFile, 'w', 0o600);
  const started = Date.now();
  log.info(`running: ${maskSecrets(command)}`);
  try {
    const result = await new Promise<{ code: number | null; signal: string | null; timedOut: boolean }>((resolve, reject) => {
      const child = spawn('bash', ['-c', command], {
        cwd: options.cwd,
        env: serviceEnv(),
        stdio: ['ignore', fd, fd],
        detached: true,
      });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }, options.timeoutMs ?? 120_000);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      // 'exit', not 'close': a service started in the background keeps the inherited descriptors open.
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, timedOut });
      });
    });
    const output = readFileSync(outFile, 'utf8');
    for (const line of output.split('\n').filter(Boolean).slice(-20)) log.debug(`  ${line}`);
    return { command: maskSecrets(command), exitCode: result.code, signal: result.signal, output: maskSecrets(output), ms: Date.now() - started, timedOut: result.timedOut };
  } finally {
    closeSync(fd);
    rmSync(outFile, { force: true });
  }
}
