import { parentPort, workerData } from 'node:worker_threads';
import { DomainError } from '../errors.ts';
import type { Logger } from '../cli/log.ts';
import type { HostReply, HostRequest, LogLevel } from './worker-call.ts';

/**
 * Worker entry of worker-call.ts: imports the module named in workerData and runs `module[fn](args, log)` for each
 * request; log lines go back to the main thread's logger (which masks secrets and writes run.log).
 */
const port = parentPort!;
const { module: moduleUrl } = workerData as { module: string };
const mod = (await import(moduleUrl)) as Record<string, (args: unknown, log: Logger) => Promise<unknown>>;

const send = (level: LogLevel) => (message: string) => port.postMessage({ log: level, message } satisfies HostReply);
const log: Logger = {
  info: send('info'),
  ok: send('ok'),
  warn: send('warn'),
  error: send('error'),
  debug: send('debug'),
  progress: () => undefined,
  attachFile: () => undefined,
  isTty: false,
};

port.on('message', async (request: HostRequest) => {
  try {
    const fn = mod[request.fn];
    if (typeof fn !== 'function') throw new Error(`worker module has no function ${request.fn}`);
    const result = await fn(request.args, log);
    port.postMessage({ id: request.id, result } satisfies HostReply);
  } catch (err) {
    const e = err as Error;
    port.postMessage({
      id: request.id,
      error: {
        message: e?.message ?? String(err),
        domainError: err instanceof DomainError || (e as { name?: string })?.name === 'DomainError',
        ...(err instanceof DomainError ? { outcome: err.outcome, details: err.details } : {}),
        ...(e?.stack ? { stack: e.stack } : {}),
      },
    } satisfies HostReply);
  }
});
