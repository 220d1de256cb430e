/**
 * Test helper process (not a test): a writer that is still around after the stop command — it waits until the
 * upgrade's export has finished (manifest.json appears), then writes one row into the live SQLite file and exits.
 * Used by the e2e test "SQLite written after export → exit 4". Args: <manifest.json path> <sqlite path>.
 */
import { existsSync } from 'node:fs';
import Database from '../../lib/sqlite/driver.ts';

const [manifest, sqlite] = process.argv.slice(2);
const deadline = Date.now() + 120_000;
while (!existsSync(manifest)) {
  if (Date.now() > deadline) process.exit(1);
  await new Promise((r) => setTimeout(r, 50));
}
const db = new Database(sqlite, { fileMustExist: true, timeout: 5000 });
db.prepare(`INSERT INTO "Setting" ("key", "value", "updatedAt") VALUES ('late.write', '"after export"', ?)`).run(
  Date.now(),
);
db.close();
