import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../files/fs-atomic.ts';
import type { Logger } from '../cli/log.ts';
import { isPidAlive, processStartTicks } from './process-files.ts';
import { maskSecrets } from '../cli/secrets.ts';
import { OPERATOR_MALLOC_ARENA_MAX } from '../files/code-location.ts';

/**
 * Run the operator's stop/start command (default `<app>/maintenance.sh stop|start`) with bash.
 *
 * - No secret reaches it: the environment is ours minus every key that may carry a DSN or password, and minus
 *   DATABASE_URL so the app reads its database from its own env file (dotenv never overrides an inherited value).
 * - Output goes to a temporary file, not a pipe: services started by the command inherit its stdout, and a pipe
 *   would keep us waiting for them (and kill them with SIGPIPE once we exit).
 * - The command runs in its own process group (detached), so a Ctrl-C aimed at the upgrade does not also kill
 *   the services it just started.
 * - With a run dir, the command's PID is kept in <runDir>/service-command.pid while it runs. A command outlives a
 *   `kill -9` of the upgrade that started it (detached, above); the next command of that run — the guardian's
 *   stop, a resumed upgrade's stop — first waits for it to end. Otherwise a start still launching the app on
 *   PostgreSQL could finish after the guardian's stop and leave the app running on the wrong database.
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
  // The one-process tasks run with our allocator setting (oneProcessTaskEnv); the app keeps the operator's.
  const operators = env[OPERATOR_MALLOC_ARENA_MAX];
  if (operators !== undefined) {
    delete out[OPERATOR_MALLOC_ARENA_MAX];
    if (operators) out.MALLOC_ARENA_MAX = operators;
    else delete out.MALLOC_ARENA_MAX;
  }
  return out;
}

let counter = 0;
export const IN_FLIGHT_FILE = 'service-command.pid';
/** How long a command left running by a dead process is waited for before it is stopped. */
const IN_FLIGHT_WAIT_MS = 120_000;

/** Wait until a stop/start command started by a process that has since died has ended (SIGTERM after the limit). */
export async function waitForInFlightCommand(
  runDir: string,
  log: Logger,
  timeoutMs = IN_FLIGHT_WAIT_MS,
): Promise<void> {
  const file = path.join(runDir, IN_FLIGHT_FILE);
  if (!existsSync(file)) return;
  const [pidText, startTicks, ...rest] = readFileSync(file, 'utf8').split('\n');
  const pid = Number(pidText);
  // Same PID and same start time: still that command, not a process that reused its PID since.
  const same = () => isPidAlive(pid) && processStartTicks(pid) === startTicks;
  if (Number.isInteger(pid) && pid > 0 && same()) {
    log.warn(
      `an earlier \`${rest.join(' ').trim() || 'service command'}\` (pid ${pid}) is still running: waiting for it to end first`,
    );
    const started = Date.now();
    while (same() && Date.now() - started < timeoutMs) await new Promise((r) => setTimeout(r, 200));
    if (same()) {
      log.warn(`pid ${pid} still running after ${Math.round(timeoutMs / 1000)} s: stopping it`);
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone meanwhile
      }
    }
  }
  rmSync(file, { force: true });
}

export async function runServiceCommand(
  command: string,
  log: Logger,
  options: { cwd?: string; timeoutMs?: number; runDir?: string } = {},
): Promise<CommandRun> {
  if (options.runDir) await waitForInFlightCommand(options.runDir, log);
  const inFlight = options.runDir && existsSync(options.runDir) ? path.join(options.runDir, IN_FLIGHT_FILE) : undefined;
  const outFile = path.join(os.tmpdir(), `vs-migrate-cmd-${process.pid}-${++counter}.log`);
  const fd = openSync(outFile, 'w', 0o600);
  const started = Date.now();
  log.info(`running: ${maskSecrets(command)}`);
  try {
    const result = await new Promise<{ code: number | null; signal: string | null; timedOut: boolean }>(
      (resolve, reject) => {
        const child = spawn('bash', ['-c', command], {
          cwd: options.cwd,
          env: serviceEnv(),
          stdio: ['ignore', fd, fd],
          detached: true,
        });
        if (inFlight && child.pid) {
          try {
            writeFileAtomic(inFlight, `${child.pid}\n${processStartTicks(child.pid) ?? ''}\n${maskSecrets(command)}\n`);
          } catch {
            // Best effort (a full disk): the guardian's restart-once check in startServices still catches a late start.
          }
        }
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
      },
    );
    const output = readFileSync(outFile, 'utf8');
    for (const line of output.split('\n').filter(Boolean).slice(-20)) log.debug(`  ${line}`);
    return {
      command: maskSecrets(command),
      exitCode: result.code,
      signal: result.signal,
      output: maskSecrets(output),
      ms: Date.now() - started,
      timedOut: result.timedOut,
    };
  } finally {
    closeSync(fd);
    rmSync(outFile, { force: true });
    if (inFlight) rmSync(inFlight, { force: true });
  }
}
