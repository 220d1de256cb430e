import { isMain, runCli } from '../lib/cli.ts';
import { usageError } from '../lib/errors.ts';
import { runMaintenance, type MaintenanceOptions } from '../lib/steps/maintenance.ts';

const usage = `
just maintenance on|off [--app-dir DIR] [--stop-cmd CMD] [--start-cmd CMD] [--wait-seconds N] [--health-url URL] [--json]

  on   run the stop command (default <app>/maintenance.sh stop), then prove via /proc that no process still has
       the SQLite file (or -wal/-shm) open; exit 4 naming the PID if one does after --wait-seconds (default 30)
  off  run the start command and wait until the health URL (none = no check; default http://HOST:PORT/api/health from
       backend/.env) answers 200; exit 4 (app on SQLite) or 3 (app on PostgreSQL) if it does not come up
`;

export const maintenanceFlags = {
  'wait-seconds': { type: 'string' },
  'health-url': { type: 'string' },
} as const;

export function parseMaintenanceExtra(extra: Record<string, unknown>): MaintenanceOptions {
  const raw = extra.waitSeconds as string | undefined;
  const waitSeconds = raw === undefined ? undefined : Number(raw);
  if (waitSeconds !== undefined && !(waitSeconds >= 0)) throw usageError('--wait-seconds must be a number of seconds');
  return { waitSeconds, healthUrl: extra.healthUrl as string | undefined };
}

if (isMain(import.meta.url)) {
  await runCli({
    task: 'maintenance',
    usage,
    flags: maintenanceFlags,
    run: (ctx) => runMaintenance({ ...ctx, extra: parseMaintenanceExtra(ctx.extra) }, ctx.positionals[0]),
  });
}
