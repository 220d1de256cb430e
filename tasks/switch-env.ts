import { isMain, runCli, type CliHelp } from '../lib/cli/run-cli.ts';
import { runSwitchEnv, type SwitchEnvResult } from '../lib/steps/switch-env.ts';

const help: CliHelp = {
  description: 'Point the app at PostgreSQL (env files, Prisma provider, migration history).',
  details: `
Sets DATABASE_URL (and SHADOW_DATABASE_URL) in <app>/backend/.env and in the system env file (only when it
exists), the Prisma schema's provider, and the PostgreSQL migration history from <run-dir>/postgres-schema
(written by load-pg). Every touched file is backed up into <run-dir>/env-backups first. --dry-run prints the
diff (passwords masked) and changes nothing. Then the app's own Prisma CLI (backend/node_modules/.bin/prisma
generate) builds its client for postgresql, journaled; --no-generate (VS_NO_GENERATE=1) when the start command
runs it.
`,
  exitCodes: {
    0: 'switched (or, with --dry-run, the diff printed)',
    2: 'bad flags / no run dir',
    10: 'internal error',
  },
};

if (isMain(import.meta.url)) {
  let json = false;
  await runCli<Record<string, unknown>, SwitchEnvResult>({
    task: 'switch-env',
    ...help,
    flags: { 'no-generate': { type: 'boolean' } },
    run: (ctx) => {
      json = ctx.settings.json;
      return runSwitchEnv(ctx);
    },
    print: (result, log) => {
      // The diff is the output an operator asked for with --dry-run: stdout (unless --json owns stdout).
      if (result.diffs.length && !json) process.stdout.write(result.diffs.join('\n'));
      for (const f of result.files)
        log.info(`${f.changed ? (result.dryRun ? 'would change' : 'changed') : 'unchanged'}: ${f.path}`);
      log.info(
        `${result.migrations.changed ? (result.dryRun ? 'would replace' : 'replaced') : 'unchanged'}: ${result.migrations.dir}`,
      );
    },
  });
}
