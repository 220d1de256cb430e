import { appendFileSync } from 'node:fs';
import { Chalk } from 'chalk';
import { maskSecrets } from './secrets.ts';

/**
 * The one logger: human text on stderr (stdout is reserved for --json), chalk colours unless NO_COLOR
 * or stderr is not a TTY, every line passed through maskSecrets, optionally mirrored (uncoloured) into
 * the run directory's run.log.
 */
export interface Logger {
  info(message: string): void;
  ok(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug(message: string): void;
  /** Progress lines overwrite themselves on a TTY and are dropped otherwise (they would flood a log file). */
  progress(message: string): void;
  /** Mirror every further line into this file (the run directory's run.log). */
  attachFile(path: string): void;
  readonly isTty: boolean;
}

export interface LoggerOptions {
  verbose?: boolean;
  quiet?: boolean;
  stream?: NodeJS.WriteStream;
}

/**
 * Output streams whose reader has gone (EPIPE: the terminal closed, `| head` done, the parent script killed). A
 * write to such a pipe fails with an 'error' event; unheard, it is an uncaught exception, and the upgrade's crash
 * handler, logging it, wrote to the same pipe again: the run spun on EPIPE instead of rolling back. Heard here, the
 * stream is just not written any more; run.log still gets every line and the run goes on to its outcome.
 */
const goneStreams = new WeakSet<NodeJS.WritableStream>();
const heardStreams = new WeakSet<NodeJS.WritableStream>();

export function hearWriteErrors(stream: NodeJS.WritableStream): void {
  if (heardStreams.has(stream)) return;
  heardStreams.add(stream);
  stream.on('error', () => goneStreams.add(stream));
}

/** Writes unless the stream's reader has gone; never throws for that. */
export function writeIfHeard(stream: NodeJS.WritableStream, text: string): void {
  hearWriteErrors(stream);
  if (goneStreams.has(stream)) return;
  stream.write(text);
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const stream = options.stream ?? process.stderr;
  hearWriteErrors(process.stdout);
  const isTty = Boolean(stream.isTTY) && !process.env.CI;
  const colour = new Chalk({ level: process.env.NO_COLOR || !stream.isTTY ? 0 : 1 });
  let logFile: string | undefined;
  let progressShown = false;

  const write = (prefix: string, paint: (s: string) => string, message: string, toConsole = true) => {
    const text = maskSecrets(message);
    if (logFile) {
      try {
        appendFileSync(logFile, `${new Date().toISOString()} ${prefix}${text}\n`, { mode: 0o600 });
      } catch {
        // A full disk must not turn a log line into a crash; the console still gets the message.
      }
    }
    if (!toConsole) return;
    if (progressShown) {
      writeIfHeard(stream, '\r\x1b[K');
      progressShown = false;
    }
    writeIfHeard(stream, paint(`${prefix}${text}`) + '\n');
  };

  return {
    isTty,
    info: (m) => !options.quiet && write('', (s) => s, m),
    ok: (m) => !options.quiet && write('✔ ', colour.green, m),
    warn: (m) => write('⚠ ', colour.yellow, m),
    error: (m) => write('✖ ', colour.red, m),
    debug: (m) => write('· ', colour.gray, m, Boolean(options.verbose || process.env.VS_DEBUG)),
    progress: (m) => {
      if (!isTty || options.quiet) return;
      writeIfHeard(stream, '\r\x1b[K' + colour.cyan(maskSecrets(m)));
      progressShown = true;
    },
    attachFile: (path) => {
      logFile = path;
    },
  };
}
