import { parseStartFlags, START_FLAGS } from '../lib/cli/config.ts';
import { isMain, runCli, type CliHelp } from '../lib/cli/run-cli.ts';
import { fallback, type FallbackResult } from '../lib/steps/fallback.ts';

const help: CliHelp = {
  description: 'Put the app back on SQLite with everything PostgreSQL holds (the writes made after the cutover).',
  details: `
check (the run's cutover, the app's SQLite file unchanged since the backup, PostgreSQL's schema the cutover's) ->
export, the app still running: PostgreSQL into a NEW file beside the app's (schema from the app's own SQLite
migrations, _prisma_migrations as the app had it, every value stored the way Prisma 6 stores it in SQLite) -> verify
(per table row count and content hash equal to PostgreSQL's, integrity_check, foreign_key_check, schema equal to the
app's file) -> stop the app (no process left) -> catch up (every table's content hash on PostgreSQL again; the tables
changed since the export copied again and checked) -> swap (the new file takes the app's file name; the original is
kept beside it as <name>.pre-fallback-<stamp>, byte-identical) -> restore the files switch-env changed -> the app's
prisma generate for sqlite -> start, health, and proof from outside that the app holds the new file and has no
session on PostgreSQL. PostgreSQL (the one backend/.env names, or --target) is never written and is kept. Journaled
in the upgrade's run dir. Killed outright (kill -9) in the window, a guardian starts the app on PostgreSQL again
(before the swap) or finishes the fallback (after it); the next fallback starts over or finishes likewise.
--dry-run prints the plan and the rows per table that would come back. Without --yes it asks once on a terminal.
`,
  exitCodes: {
    0: 'back on SQLite with every row of PostgreSQL, healthy',
    1: 'the new file did not equal PostgreSQL: nothing switched, the app runs on PostgreSQL',
    2: 'usage / no cutover to fall back from / not confirmed / another run holds the lock',
    3: 'PostgreSQL not reachable (nothing changed)',
    4: "the app's SQLite file changed after the backup, or the app would not stop (nothing switched)",
    5: 'interrupted (SIGINT/SIGTERM) before the swap: nothing switched, the app runs on PostgreSQL',
    6: 'failed after the commit point (run fallback again to finish), or the app could not be restarted',
    10: 'internal error',
  },
};

if (isMain(import.meta.url)) {
  await runCli<Record<string, unknown>, FallbackResult>({
    task: 'fallback',
    ...help,
    flags: START_FLAGS,
    run: (ctx) => fallback({ ...ctx, extra: parseStartFlags(ctx.extra) }),
    print: (result, log) => {
      for (const s of result.steps)
        log.info(
          `  ${s.status.padEnd(7)} ${s.name.padEnd(20)} ${(s.ms / 1000).toFixed(1)} s${s.message ? `  ${s.message}` : ''}`,
        );
      if (result.runDir) log.info(`run dir: ${result.runDir}`);
    },
  });
}
