import { parseStartFlags, START_FLAGS } from '../lib/config.ts';
import { isMain, runCli } from '../lib/cli.ts';
import { usageError } from '../lib/errors.ts';
import { runRollback } from '../lib/steps/rollback.ts';

const usage = `
just rollback [--run-dir DIR] [--app-dir DIR] [--drop-target --target URL] [--wait-seconds N] [--health-url URL] [--json]

Put the app back on SQLite: stop it, restore every file switch-env touched (env files, schema.prisma, the
migrations folder) from the run's backups, prove each by sha256, start the services and wait for health.
PostgreSQL is left untouched unless --drop-target (drops the app's tables and enum types, never the database or
role). Safe to run twice. Exit 6 with the exact manual steps when it cannot finish.
Writes made to PostgreSQL after the cutover are NOT copied back to SQLite.
`;

if (isMain(import.meta.url)) {
  await runCli({
    task: 'rollback',
    usage,
    flags: { 'drop-target': { type: 'boolean' }, ...START_FLAGS },
    run: (ctx) => {
      const extra = ctx.extra as { dropTarget?: boolean; waitSeconds?: string; healthUrl?: string };
      const { waitSeconds } = parseStartFlags(ctx.extra);
      if (extra.dropTarget && !ctx.settings.targetUrl) throw usageError('--drop-target needs --target (or TARGET_DATABASE_URL)');
      return runRollback({ ...ctx, extra: { dropTarget: extra.dropTarget, waitSeconds, healthUrl: extra.healthUrl } });
    },
  });
}
