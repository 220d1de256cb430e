/**
 * `just fallback` killed with SIGKILL at its generate step, past the commit point (a pause point,
 * VISIONSUIT_MIGRATE_PAUSE_AT), the app writing on PostgreSQL before: the guardian finishes the fallback and the app
 * runs entirely on SQLite with every row PostgreSQL held (tests/faults/fallback-kill-helpers.ts, killPastCommit).
 */
import { suite } from 'uvu';
import { useUpgradeHarness } from '../e2e/e2e-helpers.ts';
import { killPastCommit } from './fallback-kill-helpers.ts';

const test = suite('faults: kill -9 of the fallback at generate');
const harness = useUpgradeHarness(test);

test('killed at fallback:generate: the guardian finishes, the app entirely on SQLite, nothing lost', async () => {
  await killPastCommit(harness, 'fallback:generate');
});

test.run();
