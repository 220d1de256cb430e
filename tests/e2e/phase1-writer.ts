/**
 * Test helper process (not a test): a second writer on the live SQLite file while `just upgrade` runs phase 1 (the
 * fake backend keeps inserting and upserting beside it). It waits until the newest run's journal has the phase-1
 * backup done, makes its changes in one transaction, and exits, long before the window opens.
 * Args: <app dir> <sqlite path> <changes|schema>.
 *  - changes: a new user, an updated one, a user whose primary key changes (its rows in other tables follow by
 *    ON UPDATE CASCADE), a deleted gallery (its entries go by ON DELETE CASCADE), a renamed and a deleted
 *    Setting key. Prints what it did as JSON on stdout.
 *  - schema: a column added to "Setting" (a schema change between the snapshots).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Database from '../../lib/sqlite/driver.ts';

const [appDir, sqlite, mode] = process.argv.slice(2);
const root = path.join(appDir, 'backups', 'pg-migration');
const deadline = Date.now() + 180_000;
const backupDone = () => {
  if (!existsSync(root)) return false;
  const dir = readdirSync(root)
    .filter((n) => /^\d{8}T/.test(n))
    .sort()
    .at(-1);
  const journal = dir && path.join(root, dir, 'journal.json');
  if (!journal || !existsSync(journal)) return false;
  try {
    return JSON.parse(readFileSync(journal, 'utf8')).steps?.backup?.status === 'done';
  } catch {
    return false;
  }
};
while (!backupDone()) {
  if (Date.now() > deadline) process.exit(1);
  await new Promise((r) => setTimeout(r, 20));
}
// better-sqlite3 is built with foreign keys on (DEFAULT_FOREIGN_KEYS): the referential actions run as in the app.
const db = new Database(sqlite, { fileMustExist: true, timeout: 10_000 });
if (mode === 'schema') {
  db.exec('ALTER TABLE "Setting" ADD COLUMN "addedWhileLive" TEXT');
  db.close();
  process.exit(0);
}
const users = db.prepare('SELECT * FROM "User" ORDER BY "id"').all() as Record<string, unknown>[];
const [updated, renamed] = users;
const gallery = db.prepare('SELECT "id" FROM "Gallery" ORDER BY "id"').pluck().get() as string;
const settings = db
  .prepare(`SELECT "key" FROM "Setting" WHERE "key" <> 'backend.heartbeat' ORDER BY "key"`)
  .pluck()
  .all() as string[];
const done = db.transaction(() => {
  const fresh: Record<string, unknown> = { ...updated, id: 'online-new-user', email: 'online-new-user@example.test' };
  const cols = Object.keys(fresh);
  db.prepare(
    `INSERT INTO "User" (${cols.map((c) => `"${c}"`).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
  ).run(...cols.map((c) => fresh[c] as never));
  db.prepare(`UPDATE "User" SET "displayName" = 'Changed while live' WHERE "id" = ?`).run(updated.id);
  db.prepare(`UPDATE "User" SET "id" = 'online-renamed-user' WHERE "id" = ?`).run(renamed.id);
  db.prepare(`DELETE FROM "Gallery" WHERE "id" = ?`).run(gallery);
  db.prepare(`UPDATE "Setting" SET "key" = 'online.renamed' WHERE "key" = ?`).run(settings[0]);
  db.prepare(`DELETE FROM "Setting" WHERE "key" = ?`).run(settings[1]);
  return {
    updated: updated.id,
    renamed: renamed.id,
    deletedGallery: gallery,
    settingRenamed: settings[0],
    settingDeleted: settings[1],
  };
})();
db.close();
process.stdout.write(JSON.stringify(done));
