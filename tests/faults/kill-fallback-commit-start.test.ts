/**
 * `just fallback` killed with SIGKILL at its start step, past the commit point (a pause point,
 * VISIONSUIT_MIGRATE_PAUSE_AT), the app writing on PostgreSQL before: the guardian finishes the fallback and the app
 * runs entirely on SQLite with every row PostgreSQL held (tests/faults/fallback-kill-helpers.ts, killPastCommit).
 */
import { suite } from 'uvu';
import { useUpgradeHarness } from '../e2e/e2e-helpers.ts';
import { killPastCommit } from './fallback-kill-helpers.ts';

const test = suite('faults: kill -9 of the fallback at start');
const harness = useUpgradeHarness(test);

test('killed at fallback:start: the guardian finishes, the app entirely on SQLite, nothing lost', async () => {
  await killPastCommit(harness, 'fallback:start');
});

test.run();
