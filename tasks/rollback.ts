import { parseStartFlags, START_FLAGS } from '../lib/config.ts';
import { isMain, runCli } from '../lib/cli.ts';
import { usageError } from '../lib/errors.ts';
import { runRollback } from '../lib/steps/rollback.ts';

const usage = `
just rollback [--run-dir DIR] [--app-dir DIR] [--discard-postgres-writes] [--drop-target --target URL]
              [--wait-seconds N] [--health-url URL] [--no-generate] [--json]

Put the app back on SQLite: stop it, restore every file switch-env touched (env files, schema.prisma, the
migrations folder) from the run's backups, prove each by sha256, regenerate the app's Prisma Client for SQLite
(its own backend/node_modules/.bin/prisma; --no-generate when the start command does it), start the services,
wait for the status route to say "online" and prove from outside the app holds the SQLite file again.
Writes the app made on PostgreSQL after the cutover are NOT in SQLite: when there are any, rollback refuses
(exit 2, naming tables and row counts; \`just fallback\` carries them back) unless --discard-postgres-writes,
which rolls back and leaves the PostgreSQL database as it is. --drop-target drops the app's tables and enum
types (never the database or role), and never when the app wrote there. Safe to run twice. Exit 6 with the
exact manual steps when it cannot finish.
`;

if (isMain(import.meta.url)) {
  await runCli({
    task: 'rollback',
    usage,
    flags: { 'drop-target': { type: 'boolean' }, 'discard-postgres-writes': { type: 'boolean' }, ...START_FLAGS },
    run: (ctx) => {
      const extra = ctx.extra as { dropTarget?: boolean; discardPostgresWrites?: boolean };
      const { waitSeconds, healthUrl, noGenerate } = parseStartFlags(ctx.extra);
      if (extra.dropTarget && !ctx.settings.targetUrl) throw usageError('--drop-target needs --target (or TARGET_DATABASE_URL)');
      return runRollback({ ...ctx, extra: { dropTarget: extra.dropTarget, discardPostgresWrites: extra.discardPostgresWrites, waitSeconds, healthUrl, noGenerate } });
    },
  });
}
