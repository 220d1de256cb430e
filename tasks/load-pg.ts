import type { CliHelp } from '../lib/cli/run-cli.ts';
import { resolveOperatorPath } from '../lib/cli/config.ts';
import type { Logger } from '../lib/cli/log.ts';
import { startLoadPrepThread } from '../lib/copy/load-prep-thread.ts';
import type { LoadPgResult } from '../lib/steps/load-pg.ts';

// Prisma's schema engine runs in a helper thread whose start-up (TypeScript loader, module graph: ≈ 0.3 s) used to
// begin only once this process had loaded its own modules, and load-pg then waited for it. Started here, before
// the dynamic imports below, the two start-ups overlap. It keeps nothing alive: --help or bad flags just exit.
const engineThread = startLoadPrepThread();
const { runCli } = await import('../lib/cli/run-cli.ts');
const { usageError } = await import('../lib/errors.ts');
const { loadPg } = await import('../lib/steps/load-pg.ts');

const help: CliHelp = {
  description: "Build the Prisma schema on PostgreSQL and COPY the snapshot's data into it.",
  details: `
Builds the app's schema through Prisma's schema engine (genuine _prisma_migrations; the generated PostgreSQL schema
and migrations are saved in <run-dir>/postgres-schema for switch-env), then streams every row of the run's
snapshot in with COPY, converting each value for its PostgreSQL column type. Indexes and foreign keys are dropped
before the COPY; each table is ANALYZEd and its indexes rebuilt right after its own COPY, each foreign key is
validated once both its tables are loaded; then sequences are reset to max(id) and proven. --force: the target
schema holds tables: drop them (and their types/sequences) and load again. Orphan rows are loaded as export-sqlite's
--orphans decided (manifest.json: foreign keys NULL, or left out; listed in <run-dir>/orphans.jsonl); a manifest that
refused them is refused here too, before the target is touched.
`,
  flagHelp: {
    'pg-migrations': ['DIR', 'PostgreSQL migrations the app ships (default: a baseline generated from schema.prisma)'],
    jobs: ['N', 'tables loaded at once (default 2); 2N connections while copying (3 with --jobs 1)'],
    'single-thread': ['', 'convert every table in the main thread (measurement aid)'],
    'copy-format': ['FORMAT', 'binary (default, where every column type allows it) or text (measurement aid)'],
  },
  exitCodes: {
    0: 'loaded',
    2: 'bad flags',
    3: 'target not ready / not empty without --force',
    4: 'snapshot problem (checksum, a value that will not convert, orphan rows export-sqlite refused, a row PostgreSQL rejects, a violated foreign key)',
    10: 'internal error',
  },
};

interface Flags extends Record<string, unknown> {
  pgMigrations?: string;
  jobs?: string;
  singleThread?: boolean;
  copyFormat?: string;
}

function printSummary(result: LoadPgResult, log: Logger): void {
  const width = Math.max(5, ...result.tables.map((t) => t.name.length));
  log.info(`${'table'.padEnd(width)}  ${'rows'.padStart(11)}  ${'seconds'.padStart(8)}  ${'rows/s'.padStart(10)}`);
  for (const t of result.tables) {
    const rate = t.seconds > 0 ? Math.round(t.rows / t.seconds) : 0;
    log.info(
      `${t.name.padEnd(width)}  ${t.rows.toLocaleString('en-US').padStart(11)}  ${t.seconds.toFixed(2).padStart(8)}  ${rate.toLocaleString('en-US').padStart(10)}`,
    );
  }
  log.info(
    `${'total'.padEnd(width)}  ${result.totalRows.toLocaleString('en-US').padStart(11)}  ${result.seconds.toFixed(2).padStart(8)}`,
  );
  log.info(
    `phases (s): ${Object.entries(result.phases)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
}

await runCli<Flags, LoadPgResult>({
  task: 'load-pg',
  ...help,
  flags: {
    'pg-migrations': { type: 'string' },
    jobs: { type: 'string' },
    // Every table converted in the main thread (for the benchmark's comparison; slower: see LoadPgOptions.workerThreads).
    'single-thread': { type: 'boolean' },
    'copy-format': { type: 'string' },
  },
  run: async ({ settings, extra, log }) => {
    const jobs = extra.jobs === undefined ? undefined : Number(extra.jobs);
    if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1 || jobs > 8)) {
      throw usageError(`--jobs must be an integer from 1 to 8, got "${extra.jobs}"`);
    }
    if (extra.copyFormat !== undefined && extra.copyFormat !== 'binary' && extra.copyFormat !== 'text') {
      throw usageError(`--copy-format must be binary or text, got "${extra.copyFormat}"`);
    }
    return await loadPg(settings, log, {
      pgMigrations: extra.pgMigrations ? resolveOperatorPath(extra.pgMigrations) : undefined,
      jobs,
      ...(extra.singleThread ? { workerThreads: false } : {}),
      copyFormat: extra.copyFormat as 'binary' | 'text' | undefined,
      engineThread,
    });
  },
  print: printSummary,
});
