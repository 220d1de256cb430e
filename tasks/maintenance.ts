import { parseStartFlags, START_FLAGS } from '../lib/config.ts';
import { isMain, runCli } from '../lib/cli.ts';
import { runMaintenance } from '../lib/steps/maintenance.ts';

const usage = `
just maintenance on|off [--app-dir DIR] [--stop-cmd CMD] [--start-cmd CMD] [--wait-seconds N] [--health-url URL] [--json]

  on   run the stop command (default <app>/maintenance.sh stop), then prove via /proc that no process still has
       the SQLite file (or -wal/-shm) open; exit 4 naming the PID if one does after --wait-seconds (default 30)
  off  run the start command, wait until the app's status route (--health-url, none = no check; default
       http://HOST:PORT/api/meta/status/backend at the service's address) says "online", then prove from outside
       which database the app uses; exit 4 (app on SQLite) or 3 (app on PostgreSQL) if it does not come up so
`;

if (isMain(import.meta.url)) {
  await runCli({
    task: 'maintenance',
    usage,
    flags: START_FLAGS,
    run: (ctx) => runMaintenance({ ...ctx, extra: parseStartFlags(ctx.extra) }, ctx.positionals[0]),
  });
}
