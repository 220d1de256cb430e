import { parseStartFlags, START_FLAGS } from '../lib/config.ts';
import { isMain, runCli } from '../lib/cli.ts';
import { runFreshInstall } from '../lib/steps/fresh-install.ts';

const usage = `
just fresh-install --target URL [--admin-url URL [--role R] [--database D] [--password-file F]] [--app-dir DIR]
                   [--system-env FILE] [--wait-seconds N] [--health-url URL] [--json]

A new install straight onto PostgreSQL: (create-role with --admin-url) → check-target → the Prisma schema and its
migration history applied on PostgreSQL → switch-env → start the app → health. No SQLite data needed.
Without --target, the app's DSN is built from --admin-url's host, --role, --database and the password file.
`;

if (isMain(import.meta.url)) {
  await runCli({
    task: 'fresh-install',
    usage,
    flags: START_FLAGS,
    run: (ctx) => {
      return runFreshInstall({ ...ctx, extra: parseStartFlags(ctx.extra) });
    },
  });
}
