import { runCli } from '../lib/cli.ts';
import type { Logger } from '../lib/log.ts';
import { checkTarget, type CheckTargetResult } from '../lib/steps/check-target.ts';

const usage = `
Usage: npx just check-target --target URL [--require-tls [--ca FILE] [--insecure-skip-tls-verify]] [--allow-insecure-auth]
         [--ssh USER@HOST[:PORT] --ssh-key FILE --known-hosts FILE] [--force] [--json]

Checks whether the PostgreSQL server and database in --target are ready for VisionSuit: reachable, TLS in use
(--require-tls: the certificate verified against the system's CAs or --ca; --insecure-skip-tls-verify: not
verified, warned), authentication (the password only over SCRAM or verified TLS unless --allow-insecure-auth),
database exists, server version supported, role not a superuser, role may run what load-pg runs (CREATE on the
database and on the target schema), enough free connection slots for load-pg, required extensions available,
target empty (or a previous run of this migration). The DATABASE_URL the app will get is checked first.
Prints one line per check on stderr.

Exit: 0 ready (warnings allowed) · 2 bad flags · 3 not ready
`;

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
  usage,
  run: ({ settings, log }) => checkTarget(settings, log),
  print: printChecks,
});
