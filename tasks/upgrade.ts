import { ORPHANS_FLAG, parseStartFlags, START_FLAGS } from '../lib/cli/config.ts';
import { parseOrphanMode } from '../lib/sqlite/orphans.ts';
import { isMain, runCli, type CliHelp } from '../lib/cli/run-cli.ts';
import { DEFAULT_ROUNDS, MAX_ROUNDS, upgrade, type UpgradeResult } from '../lib/steps/upgrade.ts';
import { usageError } from '../lib/errors.ts';
import { renderVerify } from '../lib/steps/upgrade-steps.ts';

const help: CliHelp = {
  description: 'The whole production run, with automatic rollback on any failed gate.',
  details: `
Online (the default): while the app runs, nothing stopped: check-target -> backup (SQLite backup API) ->
export-sqlite -> load-pg -> verify -> baseline (the target's write counters). Any failure there exits with that
step's code and the app was never touched. Then the window: stop the writers (proven via /proc) -> final snapshot
(backup API, the live file never written) -> delta against the phase-1 snapshot (page-identical tables skipped,
the rest diffed by key; a schema change refuses with exit 4) -> apply it to PostgreSQL in one transaction -> verify
it (counts, content hashes brought forward, the target's counters moved by exactly the delta) -> the quick
Prisma gate (the run's Prisma Client reads every model) -> live SQLite
unchanged since the final snapshot -> switch-env -> counts re-check -> start the app -> health reports postgresql.
--rounds N (online, default ${DEFAULT_ROUNDS}, at most ${MAX_ROUNDS}): before the window, up to N catch-up rounds while the app still
runs, each a new snapshot whose delta is applied and verified as the window's is, so the window carries only what
the app wrote since the last round; the rounds end early once one carries few rows. --rounds 0: none.
--offline: the full-stop run: stop the writers first, then backup -> export-sqlite -> load-pg -> verify -> switch,
the app down for the whole copy. Every step is journaled in the run dir; re-running after a crash or kill resumes
the unfinished run (in its mode). The summary and --json give the window (stop command issued -> app healthy on
PostgreSQL) with its steps, and the rows the delta carried. --dry-run runs only read-only checks and prints the
plan. Without --yes it asks once on a terminal.
--orphans is export-sqlite's (kept in the run's journal, so a resumed run applies the same choice).
`,
  flagHelp: {
    offline: ['', 'the full-stop run: the app is stopped for the whole copy instead of a delta window'],
    rounds: [
      'N',
      `catch-up rounds while the app runs, before the window (online; default ${DEFAULT_ROUNDS}, 0 to ${MAX_ROUNDS})`,
    ],
  },
  exitCodes: {
    0: 'upgraded',
    2: 'usage / not confirmed / another run holds the lock',
    3: 'target not ready (nothing changed)',
    4: 'source problem (writers would not stop, the SQLite schema changed between the snapshots, or SQLite changed after the last snapshot: nothing switched, app restarted on SQLite)',
    5: 'a gate failed (the target written by someone else since phase 1 included) and the app was rolled back to SQLite and started',
    6: 'rollback failed (manual steps printed)',
    10: 'internal error',
  },
};

function parseRounds(raw: unknown): number {
  const rounds = Number(raw);
  if (!/^\d+$/.test(String(raw)) || rounds > MAX_ROUNDS)
    throw usageError(`--rounds must be a whole number from 0 to ${MAX_ROUNDS}, got "${String(raw)}"`);
  return rounds;
}

if (isMain(import.meta.url)) {
  await runCli<Record<string, unknown>, UpgradeResult>({
    task: 'upgrade',
    ...help,
    flags: { ...START_FLAGS, ...ORPHANS_FLAG, offline: { type: 'boolean' }, rounds: { type: 'string' } },
    run: (ctx) => {
      return upgrade({
        ...ctx,
        extra: {
          ...parseStartFlags(ctx.extra),
          orphans: parseOrphanMode(ctx.extra.orphans),
          ...(ctx.extra.offline === true ? { offline: true } : {}),
          ...(ctx.extra.rounds === undefined ? {} : { rounds: parseRounds(ctx.extra.rounds) }),
        },
      });
    },
    print: (result, log) => {
      if (result.verify) log.info(renderVerify(result.verify));
      for (const s of result.steps)
        log.info(
          `  ${s.status.padEnd(7)} ${s.name.padEnd(20)} ${(s.ms / 1000).toFixed(1)} s${s.message ? `  ${s.message}` : ''}`,
        );
      for (const r of result.rounds ?? [])
        log.info(
          `catch-up round ${r.round}: ${r.rows.total} row(s) in ${r.tables} table(s), ${r.seconds.toFixed(1)} s`,
        );
      if (result.delta)
        log.info(
          `delta: ${result.delta.rows.inserts} insert(s), ${result.delta.rows.updates} update(s), ${result.delta.rows.deletes} delete(s) in ${result.delta.tables.length} table(s)`,
        );
      if (result.window) log.info(`window (${result.mode}): ${result.window.seconds.toFixed(1)} s`);
      if (result.runDir) log.info(`run dir: ${result.runDir}`);
    },
  });
}
