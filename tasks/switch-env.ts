import { isMain, runCli } from '../lib/cli.ts';
import { runSwitchEnv, type SwitchEnvResult } from '../lib/steps/switch-env.ts';

const usage = `
just switch-env --target URL [--shadow-url URL] [--system-env FILE] [--run-dir DIR] [--app-dir DIR] [--no-generate] [--dry-run] [--json]

Point the app at PostgreSQL: DATABASE_URL (and SHADOW_DATABASE_URL) in <app>/backend/.env and in the system env
file (default /etc/visionsuit/vs-backend.env, only when it exists), the Prisma schema's provider, and the
PostgreSQL migration history from <run-dir>/postgres-schema (written by load-pg). Every touched file is backed up
into <run-dir>/env-backups first. Then the app's own Prisma CLI (backend/node_modules/.bin/prisma generate) builds
its client for postgresql, journaled in the run dir; --no-generate (or VS_NO_GENERATE=1) when the app's start
command runs it. --dry-run prints the diff (passwords masked) and changes nothing.
`;

if (isMain(import.meta.url)) {
  let json = false;
  await runCli<Record<string, unknown>, SwitchEnvResult>({
    task: 'switch-env',
    usage,
    flags: { 'no-generate': { type: 'boolean' } },
    run: (ctx) => {
      json = ctx.settings.json;
      return runSwitchEnv(ctx);
    },
    print: (result, log) => {
      // The diff is the output an operator asked for with --dry-run: stdout (unless --json owns stdout).
      if (result.diffs.length && !json) process.stdout.write(result.diffs.join('\n'));
      for (const f of result.files) log.info(`${f.changed ? (result.dryRun ? 'would change' : 'changed') : 'unchanged'}: ${f.path}`);
      log.info(`${result.migrations.changed ? (result.dryRun ? 'would replace' : 'replaced') : 'unchanged'}: ${result.migrations.dir}`);
    },
  });
}
