import { resolveOperatorPath } from '../lib/config.ts';
import { existsSync, readdirSync } from 'node:fs';
import { createSampleInstall } from '../fixtures/sample-install.ts';
import { isMain, runCli, type StepResult } from '../lib/cli.ts';
import { ExitCode, usageError } from '../lib/errors.ts';

const usage = `
just sample-install [--dir DIR] [--rows N] [--json]

Creates the sample VisionSuit install from fixtures/ (backend/prisma/dev.db seeded with N rows, default 600,
including epoch-ms and text dates, hostile text, Json, BigInt, Decimal, Bytes), so every task can be tried by hand:
  export VS_APP_DIR=DIR TARGET_DATABASE_URL=postgresql://…
  npx just backup && npx just export-sqlite && npx just load-pg && npx just verify
\`DIR/maintenance.sh start\` runs its fake backend, which writes to the database its backend/.env names.
The install's folder path is printed on stdout (the human log goes to stderr).
`;

interface SampleInstallResult extends StepResult {
  appDir: string;
  sqlitePath: string;
  healthUrl: string;
  rows: number;
}

if (isMain(import.meta.url)) {
  await runCli<Record<string, unknown>, SampleInstallResult>({
    task: 'sample-install',
    usage,
    flags: { dir: { type: 'string' }, rows: { type: 'string' } },
    run: async (ctx) => {
      const rows = ctx.extra.rows === undefined ? undefined : Number(ctx.extra.rows);
      if (rows !== undefined && !(rows > 0)) throw usageError('--rows must be a positive number');
      const dir = ctx.extra.dir === undefined ? undefined : resolveOperatorPath(String(ctx.extra.dir));
      // Never over a real install: the sample replaces backend/.env, schema.prisma and dev.db.
      if (dir && existsSync(dir) && readdirSync(dir).length > 0) throw usageError(`--dir ${dir} is not empty; the sample install needs an empty or new folder`);
      const install = await createSampleInstall({ dir, rows });
      const total = Object.values(install.rowCounts).reduce((a, b) => a + b, 0);
      if (!ctx.settings.json) process.stdout.write(install.appDir + '\n');
      return {
        ok: true,
        exitCode: ExitCode.Ok,
        appDir: install.appDir,
        sqlitePath: install.sqlitePath,
        healthUrl: install.healthUrl,
        rows: total,
        summary: `sample install in ${install.appDir} (${total} rows in ${install.sqlitePath})`,
      };
    },
  });
}
