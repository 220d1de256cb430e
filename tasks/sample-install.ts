import { resolveOperatorPath } from '../lib/cli/config.ts';
import { existsSync, readdirSync } from 'node:fs';
import { createSampleInstall } from '../fixtures/sample-install.ts';
import { isMain, runCli, type StepResult, type CliHelp } from '../lib/cli/run-cli.ts';
import { Outcome, usageError } from '../lib/errors.ts';

const help: CliHelp = {
  description: 'A sample VisionSuit install with data, to try the tasks by hand (prints its folder).',
  details: `
Creates it from fixtures/ (backend/prisma/dev.db seeded with N rows, including epoch-ms and text dates, hostile
text, Json, BigInt, Decimal, Bytes). \`DIR/maintenance.sh start\` runs its fake backend. Then, e.g.:
  export VS_APP_DIR=DIR TARGET_DATABASE_URL=postgresql://...
  npx just backup && npx just export-sqlite && npx just load-pg && npx just verify
The folder is printed on stdout (the log goes to stderr).
`,
  flagHelp: {
    dir: ['DIR', 'an empty or new folder (default: a new temp folder)'],
    rows: ['N', 'rows to seed (default 600)'],
  },
  exitCodes: {
    0: 'created',
    2: 'bad flags / --dir not empty',
    10: 'internal error',
  },
};

interface SampleInstallResult extends StepResult {
  appDir: string;
  sqlitePath: string;
  healthUrl: string;
  rows: number;
}

if (isMain(import.meta.url)) {
  await runCli<Record<string, unknown>, SampleInstallResult>({
    task: 'sample-install',
    ...help,
    flags: { dir: { type: 'string' }, rows: { type: 'string' } },
    run: async (ctx) => {
      const rows = ctx.extra.rows === undefined ? undefined : Number(ctx.extra.rows);
      if (rows !== undefined && !(rows > 0)) throw usageError('--rows must be a positive number');
      const dir = ctx.extra.dir === undefined ? undefined : resolveOperatorPath(String(ctx.extra.dir));
      // Never over a real install: the sample replaces backend/.env, schema.prisma and dev.db.
      if (dir && existsSync(dir) && readdirSync(dir).length > 0)
        throw usageError(`--dir ${dir} is not empty; the sample install needs an empty or new folder`);
      const install = await createSampleInstall({ dir, rows });
      const total = Object.values(install.rowCounts).reduce((a, b) => a + b, 0);
      if (!ctx.settings.json) process.stdout.write(install.appDir + '\n');
      return {
        ok: true,
        outcome: Outcome.Ok,
        appDir: install.appDir,
        sqlitePath: install.sqlitePath,
        healthUrl: install.healthUrl,
        rows: total,
        summary: `sample install in ${install.appDir} (${total} rows in ${install.sqlitePath})`,
      };
    },
  });
}
