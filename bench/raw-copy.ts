/**
 * The benchmark's "raw limit" contender, run as its own process so its peak RSS is measured alone: apply the
 * PostgreSQL DDL, drop the indexes (primary keys included: load-pg's deferred set) and foreign keys, COPY
 * pre-converted text files (written beforehand, no conversion at all) with 2 connections in parallel, then build
 * the indexes and foreign keys after.
 *
 *   node --import tsx bench/raw-copy.ts <filesDir> <ddl.sql> <deferred-objects.json>
 * The target URL comes from TARGET_DATABASE_URL (never an argument: it carries the password).
 * Prints one JSON line: { seconds, rows, phases }.
 */
import { createReadStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { dropDeferredObjects, indexRebuildStatement, type DeferredObjects } from '../lib/pg/schema-objects.ts';
import { sqlWithIdentifiers } from '../lib/files/sql-files.ts';

const [filesDir, ddlFile, deferredFile] = process.argv.slice(2);
const url = process.env.TARGET_DATABASE_URL;
if (!filesDir || !ddlFile || !deferredFile || !url) {
  process.stderr.write('usage: TARGET_DATABASE_URL=… raw-copy.ts <filesDir> <ddl.sql> <deferred-objects.json>\n');
  process.exit(2);
}

interface TableFile {
  table: string;
  columns: string[];
  file: string;
  rows: number;
  bytes: number;
}

const started = performance.now();
const phases: Record<string, number> = {};
let mark = performance.now();
const phase = (name: string) => {
  const now = performance.now();
  phases[name] = Math.round(now - mark) / 1000;
  mark = now;
};

const tables = JSON.parse(readFileSync(path.join(filesDir, 'tables.json'), 'utf8')) as TableFile[];
const deferred = JSON.parse(readFileSync(deferredFile, 'utf8')) as DeferredObjects;
const clients = [new pg.Client({ connectionString: url }), new pg.Client({ connectionString: url })];
await Promise.all(clients.map((c) => c.connect()));

await clients[0].query(readFileSync(ddlFile, 'utf8'));
await dropDeferredObjects(clients[0], deferred);
phase('ddl');

const queue = [...tables].sort((a, b) => b.bytes - a.bytes);
let rows = 0;
await Promise.all(
  clients.map(async (client) => {
    for (let t = queue.shift(); t; t = queue.shift()) {
      const sql = sqlWithIdentifiers('bench-raw-copy', {
        schema: pg.escapeIdentifier(deferred.schema),
        table: pg.escapeIdentifier(t.table),
        columns: t.columns.map((c) => pg.escapeIdentifier(c)).join(', '),
      });
      const stream = client.query(copyFrom(sql));
      await pipeline(createReadStream(t.file, { highWaterMark: 256 * 1024 }), stream);
      rows += stream.rowCount;
    }
  }),
);
phase('copy');

const indexQueue = [...deferred.indexes];
await Promise.all(
  clients.map(async (client) => {
    for (let ix = indexQueue.shift(); ix; ix = indexQueue.shift())
      await client.query(indexRebuildStatement(deferred.schema, ix));
  }),
);
phase('indexes');
for (const fk of deferred.foreignKeys) {
  await clients[0].query(
    sqlWithIdentifiers('load-pg-add-constraint', {
      schema: pg.escapeIdentifier(deferred.schema),
      table: pg.escapeIdentifier(fk.table),
      name: pg.escapeIdentifier(fk.name),
      definition: fk.definition,
    }),
  );
}
phase('foreignKeys');
await Promise.all(clients.map((c) => c.end()));
process.stdout.write(
  JSON.stringify({
    seconds: Math.round(performance.now() - started) / 1000,
    rows,
    phases,
    maxRssKb: process.resourceUsage().maxRSS,
  }) + '\n',
);
