import { isMain, runCli } from '../lib/cli.ts';
import { usageError } from '../lib/errors.ts';
import { demo } from '../lib/steps/demo.ts';

const usage = `
just demo [--rows N] [--keep] [--json]

The whole upgrade on a throw-away sample install: a few thousand rows, a backend writing to SQLite, an embedded
PostgreSQL, create-role, \`upgrade --yes\`, the verify report, the backend answering from PostgreSQL; then
everything is stopped and removed (--keep leaves the temp folder). Exit code = the upgrade's.
`;

if (isMain(import.meta.url)) {
  await runCli({
    task: 'demo',
    usage,
    flags: { rows: { type: 'string' }, keep: { type: 'boolean' } },
    run: (ctx) => {
      const rows = ctx.extra.rows === undefined ? undefined : Number(ctx.extra.rows);
      if (rows !== undefined && !(rows > 0)) throw usageError('--rows must be a positive number');
      return demo({ ...ctx, extra: { rows, keep: Boolean(ctx.extra.keep) } });
    },
  });
}
