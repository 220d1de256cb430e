/**
 * The window benchmark's live writer (a process of its own, not the app): about 60 writes a second into the
 * install's live SQLite file, spread over three tables the fake backend does not touch — Notification inserts and
 * updates (readAt), ImageAsset updates (title), ImageLike deletes — with DateTimes as epoch milliseconds, the way
 * Prisma 6 stores them in SQLite. Runs until SIGTERM (the bench's stop command), then writes its counts as JSON to
 * <counts file>. Args: <sqlite path> <counts file>.
 */
import { writeFileSync } from 'node:fs';
import Database from '../lib/sqlite/driver.ts';

const [sqlite, countsFile] = process.argv.slice(2);
const db = new Database(sqlite, { fileMustExist: true, timeout: 10_000 });
const users = db.prepare('SELECT "id" FROM "User" LIMIT 100').pluck().all() as string[];
const maxNotification = Number(db.prepare('SELECT max(rowid) FROM "Notification"').pluck().get());
const maxImage = Number(db.prepare('SELECT max(rowid) FROM "ImageAsset"').pluck().get());
const insert = db.prepare(
  `INSERT INTO "Notification" ("id", "userId", "kind", "title", "body", "createdAt") VALUES (?, ?, 'SYSTEM', ?, ?, ?)`,
);
const read = db.prepare(`UPDATE "Notification" SET "readAt" = ? WHERE rowid = ?`);
const retitle = db.prepare(`UPDATE "ImageAsset" SET "title" = ? WHERE rowid = ?`);
const unlike = db.prepare(`DELETE FROM "ImageLike" WHERE rowid = (SELECT min(rowid) FROM "ImageLike")`);
const counts = { inserts: 0, updates: 0, deletes: 0 };
let n = 0;
const tick = () => {
  const now = Date.now();
  const i = n++;
  switch (i % 4) {
    case 0:
      counts.inserts += insert.run(`live-${process.pid}-${i}`, users[i % users.length], `live ${i}`, null, now).changes;
      break;
    case 1:
      counts.updates += read.run(now, 1 + ((i * 7919) % maxNotification)).changes;
      break;
    case 2:
      counts.updates += retitle.run(`retitled live ${i}`, 1 + ((i * 104729) % maxImage)).changes;
      break;
    default:
      counts.deletes += unlike.run().changes;
  }
};
// 4 writes per 64 ms ≈ 62 writes/s; one write per call so each is its own transaction, as an app's are.
const timer = setInterval(() => {
  for (let k = 0; k < 4; k++) tick();
}, 64);
process.on('SIGTERM', () => {
  clearInterval(timer);
  db.close();
  writeFileSync(countsFile, JSON.stringify(counts));
  process.exit(0);
});
