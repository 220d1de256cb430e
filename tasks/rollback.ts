import { parseStartFlags, START_FLAGS } from '../lib/config.ts';
import { isMain, runCli, type CliHelp } from '../lib/cli.ts';
import { usageError } from '../lib/errors.ts';
import { runRollback } from '../lib/steps/rollback.ts';

const help: CliHelp = {
  description: 'Put the app back on SQLite and start it.',
  details: `
Stops the app, restores every file switch-env touched (env files, schema.prisma, the migrations folder) from the
run's backups, proves each by sha256, starts the services and waits for health. PostgreSQL is left untouched
unless --drop-target. Safe to run twice. Writes made to PostgreSQL after the cutover are NOT copied back to SQLite.
`,
  flagHelp: {
    'drop-target': ['', 'drop the app\'s tables and enum types on --target (never the database or role)'],
  },
  exitCodes: {
    0: 'back on SQLite and healthy',
    2: 'bad flags',
    6: 'rollback could not finish (the exact manual steps are printed)',
    10: 'internal error',
  },
};

if (isMain(import.meta.url)) {
  await runCli({
    task: 'rollback',
    ...help,
    flags: { 'drop-target': { type: 'boolean' }, ...START_FLAGS },
    run: (ctx) => {
      const extra = ctx.extra as { dropTarget?: boolean; waitSeconds?: string; healthUrl?: string };
      const { waitSeconds } = parseStartFlags(ctx.extra);
      if (extra.dropTarget && !ctx.settings.targetUrl) throw usageError('--drop-target needs --target (or TARGET_DATABASE_URL)');
      return runRollback({ ...ctx, extra: { dropTarget: extra.dropTarget, waitSeconds, healthUrl: extra.healthUrl } });
    },
  });
}
