import { isMain, runCli } from '../lib/cli.ts';
import { usageError } from '../lib/errors.ts';
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
    flags: { 'wait-seconds': { type: 'string' }, 'health-url': { type: 'string' } },
    run: (ctx) => {
      const raw = ctx.extra.waitSeconds as string | undefined;
      const waitSeconds = raw === undefined ? undefined : Number(raw);
      if (waitSeconds !== undefined && !(waitSeconds >= 0)) throw usageError('--wait-seconds must be a number of seconds');
      return runFreshInstall({ ...ctx, extra: { waitSeconds, healthUrl: ctx.extra.healthUrl as string | undefined } });
    },
  });
}
