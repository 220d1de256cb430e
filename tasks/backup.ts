import { runCli, type CliHelp } from '../lib/cli/run-cli.ts';
import { backup, type BackupResult } from '../lib/steps/backup.ts';

const help: CliHelp = {
  description: 'Online backup of the live SQLite file into a new run directory.',
  details: `
Uses the SQLite backup API (consistent while the app keeps writing; the live file is opened read-only and never
written). The copy is checked with PRAGMA integrity_check (and foreign_key_check, reported only), checksummed
(sha256), and stored as snapshot.sqlite + snapshot.sqlite.sha256 (mode 0600) in a new run directory (default
<app>/backups/pg-migration/<UTC stamp>). Refuses to start when the run directory's file system has less than 1.2x
the database size free.
`,
  exitCodes: {
    0: 'snapshot taken',
    2: 'bad flags / no SQLite configured',
    4: 'SQLite missing, not SQLite, corrupt, locked, WAL without database, or not enough disk space',
    10: 'internal error',
  },
};

await runCli<Record<string, never>, BackupResult>({
  task: 'backup',
  ...help,
  run: ({ settings, log }) => backup(settings, log),
  print: (result, log) => {
    log.info(`  run dir   ${result.runDir}`);
    log.info(
      `  source    ${result.source.path} (${result.source.size} bytes${result.source.wal ? `, WAL ${result.source.wal.size} bytes` : ''})`,
    );
    log.info(`  snapshot  ${result.snapshot} (${result.bytes} bytes, sha256 ${result.sha256})`);
    if (result.foreignKeyViolations)
      log.warn(`  ${result.foreignKeyViolations} foreign key violation(s) in the snapshot`);
  },
});
