import { parseStartFlags, START_FLAGS } from '../lib/config.ts';
import { isMain, runCli } from '../lib/cli.ts';
import { upgrade, type UpgradeResult } from '../lib/steps/upgrade.ts';
import { renderVerify } from '../lib/steps/upgrade-steps.ts';

const usage = `
just upgrade --target URL [--yes] [--dry-run] [--json] [--app-dir DIR] [--stop-cmd CMD] [--start-cmd CMD]
             [--system-env FILE] [--shadow-url URL] [--password-file FILE] [--wait-seconds N] [--health-url URL]

The whole production run: check-target → stop the writers (proven via /proc) → backup → export-sqlite → load-pg →
verify → live SQLite unchanged since the backup → switch-env → counts re-check → start the app → health reports
postgresql. Every step is journaled in the run dir; re-running after a crash or kill resumes the unfinished run.

Exit: 0 upgraded · 2 usage / not confirmed / another run holds the lock · 3 target not ready (nothing changed) ·
4 source problem (writers would not stop, or SQLite changed after the backup: nothing switched, app restarted on
SQLite) · 5 a gate failed and the app was rolled back to SQLite and started · 6 rollback failed (manual steps printed).
--dry-run runs only read-only checks and prints the plan. Without --yes it asks once on a terminal.
`;

if (isMain(import.meta.url)) {
  await runCli<Record<string, unknown>, UpgradeResult>({
    task: 'upgrade',
    usage,
    flags: START_FLAGS,
    run: (ctx) => {
      return upgrade({ ...ctx, extra: parseStartFlags(ctx.extra) });
    },
    print: (result, log) => {
      if (result.verify) log.info(renderVerify(result.verify));
      for (const s of result.steps) log.info(`  ${s.status.padEnd(7)} ${s.name.padEnd(20)} ${(s.ms / 1000).toFixed(1)} s${s.message ? `  ${s.message}` : ''}`);
      if (result.runDir) log.info(`run dir: ${result.runDir}`);
    },
  });
}
