import { rmSync } from 'node:fs';
import path from 'node:path';
import type { Settings } from '../cli/config.ts';
import type { Logger } from '../cli/log.ts';
import { expectedWrites } from '../pg/apply-delta.ts';
import { addWrites } from '../app/pg-writes.ts';
import type { SnapshotDelta } from '../sqlite/snapshot-delta.ts';
import { backupInto } from './backup.ts';
import { requireSqlitePath } from './maintenance.ts';
import {
  applyDeltaToTarget,
  computeDelta,
  deltaBase,
  patchOnlineState,
  readOnlineState,
  verifyDelta,
} from './online-cutover.ts';

/**
 * A catch-up round (docs/online-cutover.md): still in phase 1, the app running, a new snapshot of the live file
 * through the backup API, its delta against what the target holds, applied in one transaction and verified exactly
 * as the window's delta is. The window's delta then starts from this round's snapshot and carries only what the app
 * wrote since. A schema change refuses here already (exit 4), with nothing stopped.
 */
export interface RoundResult {
  round: number;
  rows: SnapshotDelta['rows'];
  tables: number;
  snapshotSeconds: number;
  deltaSeconds: number;
  seconds: number;
}

export const roundSnapshotFile = (round: number) => `snapshot-round-${round}.sqlite`;
export const roundManifestFile = (round: number) => `manifest.round-${round}.json`;
export const ROUND_STEP = /^round-(\d+)$/;
export const roundStep = (round: number) => `round-${round}`;
/** The moment inside every round a fire drill can pause at: its delta committed on the target, not yet verified. */
export const ROUND_PAUSE_POINTS = ['round:applied'] as const;

export async function catchUpRound(
  settings: Settings,
  log: Logger,
  runDir: string,
  round: number,
  pause: (point: (typeof ROUND_PAUSE_POINTS)[number]) => Promise<void> = async () => undefined,
): Promise<RoundResult> {
  const started = performance.now();
  const previousRound = deltaBase(runDir).round;
  const snapshot = await backupInto(requireSqlitePath(settings), runDir, log, {
    file: roundSnapshotFile(round),
    checked: false,
    online: true,
    fingerprint: false,
  });
  const snapshotSeconds = (performance.now() - started) / 1000;
  const delta = computeDelta(settings, log, runDir, snapshot.snapshot);
  await applyDeltaToTarget(settings, log, runDir, delta, snapshot.snapshot);
  await pause('round:applied');
  await verifyDelta(settings, log, runDir, delta, {
    newerFile: snapshot.snapshot,
    manifestOut: roundManifestFile(round),
  });
  commitRound(settings, runDir, round, delta);
  // The snapshot it replaces as the base is no longer needed, unless it is phase 1's (a resume reloads from that).
  if (previousRound > 0) removeRoundFiles(runDir, [previousRound]);
  log.ok(
    `catch-up round ${round}: ${delta.rows.total} row(s) in ${delta.tables.length} table(s) applied and verified while the app runs`,
  );
  return {
    round,
    rows: delta.rows,
    tables: delta.tables.length,
    snapshotSeconds,
    deltaSeconds: delta.seconds,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * One journal write makes the round the base: its snapshot and manifest, and the baseline moved by exactly its
 * writes (computed, not read again, so a write by anyone else since is still caught by the next check).
 */
function commitRound(settings: Settings, runDir: string, round: number, delta: SnapshotDelta): void {
  const state = readOnlineState(runDir)!;
  patchOnlineState(runDir, settings.appDir, {
    baseline: addWrites(state.baseline, expectedWrites(delta)),
    inFlight: undefined,
    applied: {
      round,
      snapshot: roundSnapshotFile(round),
      manifest: roundManifestFile(round),
      at: new Date().toISOString(),
    },
  });
}

/** Superseded rounds' files (a newer round is the base, or a resume reloads from phase 1's snapshot). */
export function removeRoundFiles(runDir: string, rounds: number[]): void {
  for (const round of rounds) {
    rmSync(path.join(runDir, roundSnapshotFile(round)), { force: true });
    rmSync(path.join(runDir, roundManifestFile(round)), { force: true });
  }
}
