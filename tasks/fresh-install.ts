import { parseStartFlags, START_FLAGS } from '../lib/cli/config.ts';
import { isMain, runCli, type CliHelp } from '../lib/cli/run-cli.ts';
import { runFreshInstall } from '../lib/steps/fresh-install.ts';

const help: CliHelp = {
  description: 'A new install straight onto PostgreSQL (no SQLite data).',
  details: `
(create-role with --admin-url) -> check-target -> the Prisma schema and its migration history applied on PostgreSQL
-> switch-env -> start the app -> health. Without --target, the app's DSN is built from --admin-url's host, --role,
--database and the password file.
`,
  exitCodes: {
    0: 'installed, the app answers on PostgreSQL',
    2: 'bad flags',
    3: 'target not ready',
    5: 'the app did not come up and was put back',
    10: 'internal error',
  },
};

if (isMain(import.meta.url)) {
  await runCli({
    task: 'fresh-install',
    ...help,
    flags: START_FLAGS,
    run: (ctx) => {
      return runFreshInstall({ ...ctx, extra: parseStartFlags(ctx.extra) });
    },
  });
}
