import { Worker, type ResourceLimits } from 'node:worker_threads';
import { Outcome, DomainError, type OutcomeKind } from '../errors.ts';
import type { Logger } from '../cli/log.ts';
import { helperThreadModule } from '../files/code-location.ts';

/**
 * Worker threads for load-pg and export-sqlite: a worker running one of lib/'s modules (code-location.ts's
 * helperThreadModule), and a call-a-function-in-a-worker helper used to run the memory-hungry one-off work (Prisma's
 * schema parser and schema engine, both WebAssembly whose memory never shrinks) in a thread that is then terminated,
 * so that memory is gone before the COPY phase starts.
 *
 * The entry is a .ts file: tsx's hooks do not reach a worker's entry, so a tiny data: URL
 * module registers tsx and then imports it. The worker would also run the process's own `--import tsx` (workers
 * inherit execArgv), registering tsx a second time, which every module the worker loads would then go through: the
 * worker gets the process's flags without it.
 */
export function startHelperWorker(entry: URL, workerData: unknown, resourceLimits?: ResourceLimits): Worker {
  const limits = resourceLimits ? { resourceLimits } : {};
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData, ...limits });
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const code = `import { register } from ${JSON.stringify(tsxApi)}; register(); await import(${JSON.stringify(entry.href)});`;
  const url = new URL('data:text/javascript,' + encodeURIComponent(code));
  const execArgv = withoutTsxImport(process.execArgv);
  if (execArgv.length === process.execArgv.length) return new Worker(url, { workerData, ...limits });
  try {
    return new Worker(url, { workerData, execArgv, ...limits });
  } catch (err) {
    // Flags a worker may not be given explicitly (V8's, such as --max-old-space-size) are only inherited: then the
    // worker inherits them all, --import tsx included.
    if ((err as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw err;
    return new Worker(url, { workerData, ...limits });
  }
}

/** `--import tsx` / `--import=tsx` (and tsx's other entry points) taken out of a list of node flags. */
export function withoutTsxImport(execArgv: string[]): string[] {
  const isTsx = (specifier: string) => specifier === 'tsx' || specifier.startsWith('tsx/');
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const flag = execArgv[i];
    if (
      (flag === '--import' || flag === '--loader' || flag === '--experimental-loader') &&
      isTsx(execArgv[i + 1] ?? '')
    )
      i++;
    else if (!/^--(import|loader|experimental-loader)=tsx(\/|$)/.test(flag)) out.push(flag);
  }
  return out;
}

export type LogLevel = 'info' | 'ok' | 'warn' | 'error' | 'debug';

export type HostRequest = { id: number; fn: string; args: unknown };
export type HostReply =
  | { id: number; result: unknown }
  | {
      id: number;
      error: {
        message: string;
        outcome?: OutcomeKind;
        details?: Record<string, unknown>;
        domainError: boolean;
        stack?: string;
      };
    }
  | { log: LogLevel; message: string };

export interface CallWorker {
  call<T>(fn: string, args: unknown): Promise<T>;
  /** Where the thread's log lines go; lines sent before a logger is set are held and replayed. */
  setLog(log: Logger): void;
  close(): Promise<void>;
}

/**
 * Start lib/threads/worker-host.ts for `moduleUrl`; `call(fn, args)` runs `module[fn](args, log)` there. The thread keeps
 * the process alive only while a call is pending: a task that ends before using it (bad flags, --help) just exits.
 */
export function startCallWorker(moduleUrl: URL, log?: Logger): CallWorker {
  const worker = startHelperWorker(helperThreadModule('threads/worker-host'), { module: moduleUrl.href });
  worker.unref();
  let logger = log;
  const held: { log: LogLevel; message: string }[] = [];
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let dead: Error | undefined;
  worker.on('message', (reply: HostReply) => {
    if ('log' in reply) {
      if (logger) logger[reply.log](reply.message);
      else held.push(reply);
      return;
    }
    const waiter = pending.get(reply.id);
    if (!waiter) return;
    pending.delete(reply.id);
    if (pending.size === 0) worker.unref();
    if ('error' in reply) {
      const e = reply.error;
      if (e.domainError && e.outcome !== undefined) waiter.reject(new DomainError(e.outcome, e.message, e.details));
      else waiter.reject(Object.assign(new Error(e.message), e.stack ? { stack: e.stack } : {}));
    } else {
      waiter.resolve(reply.result);
    }
  });
  const failAll = (err: Error) => {
    dead = err;
    for (const waiter of pending.values()) waiter.reject(err);
    pending.clear();
  };
  worker.on('error', failAll);
  worker.on('exit', (code) => failAll(new DomainError(Outcome.Internal, `helper thread exited (code ${code})`)));
  return {
    call<T>(fn: string, args: unknown): Promise<T> {
      if (dead) return Promise.reject(dead);
      const id = nextId++;
      worker.ref();
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, fn, args } satisfies HostRequest);
      });
    },
    setLog(log: Logger) {
      logger = log;
      for (const line of held.splice(0)) log[line.log](line.message);
    },
    async close() {
      // terminate() settles on the thread's 'exit' event, but a thread being stopped does not keep the event loop
      // alive for that event: a task whose last work was this await could end inside it (exit 13, "unsettled
      // top-level await": seen about once in 90 load-pg runs that failed early on a busy machine, with the engine's
      // thread still starting). The timer bounding the wait also keeps the loop alive until then.
      let timeoutTimer: NodeJS.Timeout | undefined;
      try {
        const outcome = await Promise.race([
          worker.terminate().then(() => 'stopped' as const),
          new Promise<'still running'>((resolve) => (timeoutTimer = setTimeout(() => resolve('still running'), 5000))),
        ]);
        if (outcome !== 'stopped') logger?.debug('a helper thread did not stop within 5 s; it ends with the process');
      } finally {
        clearTimeout(timeoutTimer);
      }
    },
  };
}
