import { runCli } from '../lib/cli.ts';
import { DEFAULT_REMOTE_PSQL, createRole, type CreateRoleResult } from '../lib/steps/create-role.ts';

const usage = `
Usage: npx just create-role --admin-url URL [--role R] [--database D] [--password-file F] [--ssh USER@HOST[:PORT] …] [--dry-run] [--json]
       npx just create-role --ssh USER@HOST[:PORT] --ssh-key FILE --known-hosts FILE [--remote-psql CMD] [--role R] [--database D] [--password-file F]

Creates or updates, idempotently, the app's login role (NOSUPERUSER NOCREATEROLE NOCREATEDB, SCRAM password),
its database (owned by the role, CONNECT revoked from PUBLIC) and schema public (owned by / usable by the role).
The password is read from --password-file (must be mode 0600), or generated and written there when the file does
not exist (default <app-dir>/.pg-password); it is sent to the server only as a SCRAM verifier.
Without --admin-url, --ssh runs psql as the postgres OS user on the host, SQL on stdin
(--remote-psql CMD, default: ${DEFAULT_REMOTE_PSQL}).

Exit: 0 ok (a second run reports "no changes") · 2 bad input · 3 cannot connect / insufficient privilege
`;

await runCli<{ remotePsql?: string }, CreateRoleResult>({
  task: 'create-role',
  usage,
  flags: { 'remote-psql': { type: 'string' } },
  run: ({ settings, extra, log }) => createRole(settings, log, { remotePsql: extra.remotePsql }),
});
