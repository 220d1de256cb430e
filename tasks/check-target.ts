import { runCli, type CliHelp } from '../lib/cli/run-cli.ts';
import type { Logger } from '../lib/cli/log.ts';
import { checkTarget, type CheckTargetResult } from '../lib/steps/check-target.ts';

const help: CliHelp = {
  description: 'Is this PostgreSQL ready for the app? (reachable, auth, version, privileges, TLS, empty)',
  details: `
Checks the server and database in --target: reachable, TLS in use (--require-tls: the certificate verified against
the system's CAs or --ca; --insecure-skip-tls-verify: not verified, warned), authentication (the password only over
SCRAM or verified TLS unless --allow-insecure-auth), database exists, server version supported, role not a
superuser, role may run what load-pg runs (CREATE on the database and on the target schema), enough free connection
slots for load-pg, required extensions available, target empty or a load of this install's own (marker). The
DATABASE_URL the app will get is checked first. One line per check on stderr.
`,
  exitCodes: {
    0: 'ready (warnings allowed)',
    2: 'bad flags',
    3: 'not ready',
    10: 'internal error',
  },
};

const MARK: Record<string, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' };

function printChecks(result: CheckTargetResult, log: Logger): void {
  log.info(`check-target ${result.target} (schema ${result.schema})`);
  const width = Math.max(...result.checks.map((c) => c.name.length));
  for (const check of result.checks) {
    const line = `  ${MARK[check.status]}  ${check.name.padEnd(width)}  ${check.reason}`;
    if (check.status === 'fail') log.error(line.trimStart());
    else if (check.status === 'warn') log.warn(line.trimStart());
    else log.info(line);
  }
}

await runCli<Record<string, never>, CheckTargetResult>({
  task: 'check-target',
  ...help,
  run: ({ settings, log }) => checkTarget(settings, log),
  print: printChecks,
});
