import { isMain, runCli, type CliHelp } from '../lib/cli/run-cli.ts';
import { usageError } from '../lib/errors.ts';
import { demo } from '../lib/steps/demo.ts';

const help: CliHelp = {
  description: 'Whole upgrade of a sample install into an embedded PostgreSQL, then clean up.',
  details: `
A few thousand rows, a backend writing to SQLite, an embedded PostgreSQL, create-role, \`upgrade --yes\`, the verify
report, the backend answering from PostgreSQL; then everything is stopped and removed.
`,
  flagHelp: {
    rows: ['N', 'rows in the sample install'],
    keep: ['', 'leave the temp folder'],
  },
  exitCodes: {
    0: 'the upgrade passed and the backend answered from PostgreSQL',
    1: 'the backend did not answer from PostgreSQL',
    2: 'bad flags',
    3: 'target not ready',
    4: 'source problem',
    5: 'upgrade failed and rolled back',
    6: 'rollback failed',
    10: 'internal error',
  },
};

if (isMain(import.meta.url)) {
  await runCli({
    task: 'demo',
    ...help,
    flags: { rows: { type: 'string' }, keep: { type: 'boolean' } },
    run: (ctx) => {
      const rows = ctx.extra.rows === undefined ? undefined : Number(ctx.extra.rows);
      if (rows !== undefined && !(rows > 0)) throw usageError('--rows must be a positive number');
      return demo({ ...ctx, extra: { rows, keep: Boolean(ctx.extra.keep) } });
    },
  });
}
