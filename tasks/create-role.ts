import { runCli, type CliHelp } from '../lib/cli/run-cli.ts';
import { DEFAULT_REMOTE_PSQL, createRole, type CreateRoleResult } from '../lib/steps/create-role.ts';

const help: CliHelp = {
  description: "Create or update the app's login role and database (idempotent).",
  details: `
Creates or updates the login role (NOSUPERUSER NOCREATEROLE NOCREATEDB, SCRAM password), its database (owned by the
role, CONNECT revoked from PUBLIC) and schema public (owned by / usable by the role), through --admin-url, or
without it through --ssh as the postgres OS user running psql with the SQL on stdin. The password is read from
--password-file (mode 0600), or generated and written there when the file does not exist; it is sent to the
server only as a SCRAM verifier.
`,
  flagHelp: {
    'remote-psql': ['CMD', `psql command on the --ssh host (default: ${DEFAULT_REMOTE_PSQL})`],
  },
  exitCodes: {
    0: 'ok (a second run reports "no changes")',
    2: 'bad input',
    3: 'cannot connect / insufficient privilege',
    10: 'internal error',
  },
};

await runCli<{ remotePsql?: string }, CreateRoleResult>({
  task: 'create-role',
  ...help,
  flags: { 'remote-psql': { type: 'string' } },
  run: ({ settings, extra, log }) => createRole(settings, log, { remotePsql: extra.remotePsql }),
});
