/**
 * The benchmark's fallback contender, run as its own process so its peak RSS is measured alone: the PostgreSQL →
 * SQLite part of `just fallback` on the database load-pg just filled — a new file from the app's SQLite migrations
 * and the snapshot's `_prisma_migrations`, every table streamed from PostgreSQL in Prisma's storage format, then
 * the fallback's verify (counts and content hashes against PostgreSQL's, schema against the snapshot), then 100 rows
 * changed on PostgreSQL and the catch-up that runs inside the window. Stopping and starting the app, the swap and the
 * env restore are left out: they do not depend on the data.
 *
 *   node --import tsx bench/fallback-export.ts <runDir> <sqliteMigrationsDir> <outFile>
 * The target URL comes from TARGET_DATABASE_URL (never an argument: it carries the password).
 * Prints one JSON line: { seconds, rows, phases }.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import Database from '../lib/sqlite/driver.ts';
import { createLogger } from '../lib/cli/log.ts';
import { scanAll } from '../lib/steps/export-sqlite.ts';
import pg from 'pg';
import { exportPostgres } from '../lib/fallback/export-pg.ts';
import { catchUp } from '../lib/fallback/catch-up.ts';
import { loadSql } from '../lib/files/sql-files.ts';
import { checkFallbackFile } from '../lib/fallback/verify-file.ts';
import { loadSchemaModel } from '../lib/prisma/schema-model.ts';
import {
  buildPrismaSqliteFile,
  finishPrismaSqliteFile,
  raiseSequences,
  readSqliteHeader,
} from '../lib/sqlite/fallback-file.ts';

const [runDir, migrationsDir, outFile] = process.argv.slice(2);
const url = process.env.TARGET_DATABASE_URL;
if (!runDir || !migrationsDir || !outFile || !url) {
  process.stderr.write('usage: TARGET_DATABASE_URL=… fallback-export.ts <runDir> <sqliteMigrationsDir> <outFile>\n');
  process.exit(2);
}

const started = performance.now();
const phases: Record<string, number> = {};
let mark = performance.now();
// Peak RSS so far (MB) after each phase: which phase sets the process's peak.
const peakRss: Record<string, number> = {};
const phase = (name: string) => {
  const now = performance.now();
  phases[name] = Math.round(now - mark) / 1000;
  peakRss[name] = Math.round(process.resourceUsage().maxRSS / 1024);
  mark = now;
};

const snapshot = path.join(runDir, 'snapshot.sqlite');
const model = loadSchemaModel(path.join(runDir, 'postgres-schema', 'schema.prisma'));
const header = readSqliteHeader(snapshot);
const built = buildPrismaSqliteFile({
  file: outFile,
  migrationsDir,
  snapshotFile: snapshot,
  header,
  tables: model.tables,
});
phase('schema');
const client = new pg.Client({ connectionString: url });
const hashClient = new pg.Client({ connectionString: url });
await client.connect();
await hashClient.connect();
const result = await exportPostgres(client, 'public', model.tables, built.db, { hashClient });
await client.end();
await hashClient.end();
raiseSequences(built.db, result.sequences);
phase('copy');
const finish = finishPrismaSqliteFile(built.db, outFile, header, built.deferredIndexes);
phase('finish');
const exportSeconds = Math.round(performance.now() - started) / 1000;
const scanDb = new Database(outFile, { readonly: true });
const scans = await scanAll(scanDb, { file: outFile, bytes: statSync(outFile).size }, model, createLogger(), 0, {});
scanDb.close();
const check = checkFallbackFile(outFile, snapshot, model, result.tables, scans);
phase('verify');
// The window's data part: a small change on PostgreSQL, then the catch-up that carries it into the file.
const changer = new pg.Client({ connectionString: url });
const second = new pg.Client({ connectionString: url });
await changer.connect();
await second.connect();
await changer.query(loadSql('bench-fallback-change'));
mark = performance.now();
const caught = await catchUp(changer, 'public', model, outFile, result.tables, { hashClient: second });
await changer.end();
await second.end();
phase('catchUp');
if (caught.failures.length || caught.changed.length !== 1) {
  process.stderr.write(`catch-up not clean: ${JSON.stringify(caught.failures.slice(0, 5))} ${caught.changed}\n`);
  process.exitCode = 1;
}
if (!check.ok || finish.integrity.length || finish.foreignKeyViolations) {
  process.stderr.write(
    `fallback file not clean: ${JSON.stringify({ failures: check.failures.slice(0, 5), finish })}\n`,
  );
  process.exitCode = 1;
}
process.stdout.write(
  JSON.stringify({
    seconds: (performance.now() - started) / 1000,
    exportSeconds,
    rows: result.rows,
    phases,
    peakRss,
    caughtUp: { tables: caught.changed, rows: caught.rowsCopied },
  }) + '\n',
);
