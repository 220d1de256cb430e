/**
 * Test helper process (not a test): a writer that is still around after the stop command. It waits for its moment,
 * then writes one row into the live SQLite file and exits. Args: <sqlite path> <moment>, the moment being either
 * a file that appears (`file:<path>`, e.g. the export's manifest.json) or a step the run's journal records done
 * (`step:<journal.json>:<step>`).
 */
import { existsSync, readFileSync } from 'node:fs';
import Database from '../../lib/sqlite/driver.ts';

const [sqlite, moment] = process.argv.slice(2);
const [kind, file, step] = moment.split(':');
const reached = (): boolean => {
  if (!existsSync(file)) return false;
  if (kind === 'file') return true;
  try {
    return JSON.parse(readFileSync(file, 'utf8')).steps?.[step]?.status === 'done';
  } catch {
    return false; // the journal is being replaced
  }
};
const deadline = Date.now() + 120_000;
while (!reached()) {
  if (Date.now() > deadline) process.exit(1);
  await new Promise((r) => setTimeout(r, kind === 'file' ? 50 : 5));
}
const db = new Database(sqlite, { fileMustExist: true, timeout: 5000 });
db.prepare(`INSERT INTO "Setting" ("key", "value", "updatedAt") VALUES ('late.write', '"late"', ?)`).run(Date.now());
db.close();
