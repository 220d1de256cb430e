import { ORPHANS_FLAG } from '../lib/cli/config.ts';
import { runCli, type CliHelp } from '../lib/cli/run-cli.ts';
import type { Logger } from '../lib/cli/log.ts';
import { exportSqlite, notMigratedLine, problemLine, type ExportResult } from '../lib/steps/export-sqlite.ts';
import { parseOrphanMode } from '../lib/sqlite/orphans.ts';

const help: CliHelp = {
  description: 'Manifest of the snapshot: row counts, content hashes, values that will not convert.',
  details: `
Reads the snapshot taken by \`npx just backup\` (never the live file), checks its sha256, checks its tables and columns
against the Prisma schema, and writes manifest.json in the run directory: per table the row count, a content hash
over the canonical row form (verify recomputes it on PostgreSQL), the storage classes found per column, and every
value that will not convert to its PostgreSQL type (by table, column and key; the first 1000 are listed).
Orphan rows (a foreign key pointing at no parent row, PRAGMA foreign_key_check) are refused unless --orphans says
what to do; the rows nulled or left out are written with their original values to <run-dir>/orphans.jsonl, and the
manifest's counts and hashes are those of the rows as load-pg loads them.
`,
  flagHelp: {
    'allow-problems': ['', 'exit 0 even when values will not convert (they are listed in manifest.json)'],
  },
  exitCodes: {
    0: 'manifest written, every value converts',
    2: 'no snapshot / bad flags / --orphans=null on a required relation',
    4: 'snapshot checksum mismatch, SQLite tables/columns differ from the schema, values that will not convert, or orphan rows (without --orphans=null|delete)',
    10: 'internal error',
  },
};

function printTables(result: ExportResult, log: Logger): void {
  const width = Math.max(5, ...result.tables.map((t) => t.name.length));
  log.info(`  ${'table'.padEnd(width)}  ${'rows'.padStart(10)}  storage classes of mixed columns`);
  for (const t of result.tables) {
    const mixed = Object.entries(t.mixed)
      .map(
        ([column, counts]) =>
          `${column}: ${Object.entries(counts)
            .map(([cls, n]) => `${n.toLocaleString('en-US')} ${cls}`)
            .join(', ')}`,
      )
      .join('; ');
    log.info(`  ${t.name.padEnd(width)}  ${t.rows.toLocaleString('en-US').padStart(10)}  ${mixed}`);
  }
  log.info(
    `  ${result.totalRows.toLocaleString('en-US')} rows scanned in ${result.scanSeconds.toFixed(1)} s (${result.rowsPerSecond.toLocaleString('en-US')} rows/s); ${result.seconds.toFixed(1)} s in all`,
  );
  for (const n of result.notMigrated) if (n.kind !== 'prisma-migrations') log.warn(`  ${notMigratedLine(n)}`);
  for (const p of result.firstProblems.slice(0, 10))
    log.warn(`  will not convert: ${problemLine(p)} (value: ${JSON.stringify(p.value)})`);
  if (result.problemCount > 10) log.warn(`  … ${result.problemCount - 10} more in ${result.manifest}`);
}

await runCli<{ allowProblems?: boolean; orphans?: string }, ExportResult>({
  task: 'export-sqlite',
  ...help,
  flags: { 'allow-problems': { type: 'boolean' }, ...ORPHANS_FLAG },
  run: ({ settings, extra, log }) =>
    exportSqlite(settings, log, {
      allowProblems: Boolean(extra.allowProblems),
      orphans: parseOrphanMode(extra.orphans),
    }),
  print: printTables,
});
