import { parseStartFlags, START_FLAGS } from '../lib/cli/config.ts';
import { isMain, runCli, type CliHelp } from '../lib/cli/run-cli.ts';
import { runMaintenance } from '../lib/steps/maintenance.ts';

const help: CliHelp = {
  description: "Stop (on) or start (off) the app's writers, proving the SQLite file is closed.",
  positionals: 'on|off',
  details: `
on   run the stop command, then prove via /proc that no process still has the SQLite file (or -wal/-shm) open
off  run the start command, wait until the app's status route says "online" (--health-url; none = no check),
     then prove from outside which database the app uses
`,
  exitCodes: {
    0: 'done',
    2: 'bad flags',
    3: 'the app on PostgreSQL did not come up',
    4: 'a process still holds the SQLite file (named), or the app on SQLite did not come up',
    10: 'internal error',
  },
};

if (isMain(import.meta.url)) {
  await runCli({
    task: 'maintenance',
    ...help,
    flags: START_FLAGS,
    run: (ctx) => runMaintenance({ ...ctx, extra: parseStartFlags(ctx.extra) }, ctx.positionals[0]),
  });
}
