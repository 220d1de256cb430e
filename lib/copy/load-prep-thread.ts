import type { Logger } from '../cli/log.ts';
import { helperThreadModule } from '../files/code-location.ts';
import { startCallWorker, type CallWorker } from '../threads/worker-call.ts';

/**
 * A helper thread running lib/copy/load-prep.ts (Prisma's schema parser or schema engine, see there). Its own module,
 * with nothing but worker-call.ts behind it, so tasks/load-pg.ts can start the engine's thread before it loads
 * the rest of its modules.
 */
export function startLoadPrepThread(log?: Logger): CallWorker {
  return startCallWorker(helperThreadModule('copy/load-prep'), log);
}
