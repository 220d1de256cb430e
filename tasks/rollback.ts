import { parseStartFlags, START_FLAGS } from '../lib/cli/config.ts';
import { isMain, runCli, type CliHelp } from '../lib/cli/run-cli.ts';
import { usageError } from '../lib/errors.ts';
import { runRollback } from '../lib/steps/rollback.ts';

const help: CliHelp = {
  description: 'Put the app back on SQLite and start it.',
  details: `
Stops the app, restores every file switch-env touched (env files, schema.prisma, the migrations folder) from the
run's backups, proves each by sha256, regenerates the app's Prisma Client for SQLite (--no-generate when the start
command does it), starts the services, waits for the status route to say "online" and proves from outside that the
app holds the SQLite file again. Writes the app made on PostgreSQL after the cutover are NOT in SQLite: when there
are any, rollback refuses (exit 2, naming tables and row counts, and pointing to \`npx just fallback\`, which carries
them back into a new SQLite file) unless --discard-postgres-writes, which rolls back and leaves the PostgreSQL
database as it is. Safe to run twice.
`,
  flagHelp: {
    'drop-target': [
      '',
      "drop the app's tables and enum types on --target (never the database or role; never when the app wrote there)",
    ],
    'discard-postgres-writes': ['', 'roll back although the app wrote to PostgreSQL (those rows stay there, counted)'],
  },
  exitCodes: {
    0: 'back on SQLite and healthy',
    2: 'bad flags, or PostgreSQL holds writes the SQLite file lacks (named; see fallback)',
    6: 'rollback could not finish (the exact manual steps are printed)',
    10: 'internal error',
  },
};

if (isMain(import.meta.url)) {
  await runCli({
    task: 'rollback',
    ...help,
    flags: { 'drop-target': { type: 'boolean' }, 'discard-postgres-writes': { type: 'boolean' }, ...START_FLAGS },
    run: (ctx) => {
      const extra = ctx.extra as { dropTarget?: boolean; discardPostgresWrites?: boolean };
      const { waitSeconds, healthUrl, noGenerate } = parseStartFlags(ctx.extra);
      if (extra.dropTarget && !ctx.settings.targetUrl)
        throw usageError('--drop-target needs --target (or TARGET_DATABASE_URL)');
      return runRollback({
        ...ctx,
        extra: {
          dropTarget: extra.dropTarget,
          discardPostgresWrites: extra.discardPostgresWrites,
          waitSeconds,
          healthUrl,
          noGenerate,
        },
      });
    },
  });
}
