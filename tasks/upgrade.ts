import { ORPHANS_FLAG, parseStartFlags, START_FLAGS } from '../lib/cli/config.ts';
import { parseOrphanMode } from '../lib/sqlite/orphans.ts';
import { isMain, runCli, type CliHelp } from '../lib/cli/run-cli.ts';
import { upgrade, type UpgradeResult } from '../lib/steps/upgrade.ts';
import { renderVerify } from '../lib/steps/upgrade-steps.ts';

const help: CliHelp = {
  description: 'The whole production run, with automatic rollback on any failed gate.',
  details: `
check-target -> stop the writers (proven via /proc) -> backup -> export-sqlite -> load-pg -> verify -> live SQLite
unchanged since the backup -> switch-env -> counts re-check -> start the app -> health reports postgresql. Every
step is journaled in the run dir; re-running after a crash or kill resumes the unfinished run. --dry-run runs only
read-only checks and prints the plan. Without --yes it asks once on a terminal. --orphans is export-sqlite's (kept in
the run's journal, so a resumed run applies the same choice).
`,
  exitCodes: {
    0: 'upgraded',
    2: 'usage / not confirmed / another run holds the lock',
    3: 'target not ready (nothing changed)',
    4: 'source problem (writers would not stop, or SQLite changed after the backup: nothing switched, app restarted on SQLite)',
    5: 'a gate failed and the app was rolled back to SQLite and started',
    6: 'rollback failed (manual steps printed)',
    10: 'internal error',
  },
};

if (isMain(import.meta.url)) {
  await runCli<Record<string, unknown>, UpgradeResult>({
    task: 'upgrade',
    ...help,
    flags: { ...START_FLAGS, ...ORPHANS_FLAG },
    run: (ctx) => {
      return upgrade({
        ...ctx,
        extra: { ...parseStartFlags(ctx.extra), orphans: parseOrphanMode(ctx.extra.orphans) },
      });
    },
    print: (result, log) => {
      if (result.verify) log.info(renderVerify(result.verify));
      for (const s of result.steps)
        log.info(
          `  ${s.status.padEnd(7)} ${s.name.padEnd(20)} ${(s.ms / 1000).toFixed(1)} s${s.message ? `  ${s.message}` : ''}`,
        );
      if (result.runDir) log.info(`run dir: ${result.runDir}`);
    },
  });
}
