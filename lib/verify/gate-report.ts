import { existsSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { type Manifest } from '../sqlite/manifest.ts';
import { readSchemaSource } from '../prisma/schema-source.ts';
import { RUN_FILES, assertOwnedFile } from '../run/run-dir.ts';

/**
 * What every verify gate reports, and what the gates share: the run's schema and snapshot files, and table work
 * spread over the two connections.
 */
/** The gates, in the order they are reported. */
export const GATES = ['counts', 'content', 'integrity', 'prisma'] as const;

export type GateName = (typeof GATES)[number];

export interface GateReport {
  gate: GateName;
  ok: boolean;
  reason: string;
  seconds: number;
  details: Record<string, unknown>;
}

/**
 * The run's PostgreSQL flavour of the app's schema (written by load-pg); after cutover the app's own schema is
 * PostgreSQL too and serves as well. Undefined (with the reason) when neither is a PostgreSQL schema.
 */
export function pgSchemaFile(runDir: string, appSchema: string): { file?: string; problem?: string } {
  const file = path.join(runDir, RUN_FILES.pgSchemaDir, 'schema.prisma');
  if (existsSync(file)) return { file };
  const provider = existsSync(appSchema) ? readSchemaSource(appSchema).provider : undefined;
  if (provider === 'postgresql' || provider === 'postgres') return { file: appSchema };
  return { problem: `${file} is missing and the app's schema is not on PostgreSQL: run load-pg first` };
}

export function snapshotFile(runDir: string, manifest: Manifest): string | undefined {
  const candidates = [
    manifest.snapshot?.file ? path.resolve(runDir, manifest.snapshot.file) : undefined,
    path.join(runDir, RUN_FILES.snapshot),
  ];
  const found = candidates.find((f): f is string => Boolean(f && existsSync(f)));
  if (found) assertOwnedFile(found);
  return found;
}

export const fmt = (n: number) => n.toLocaleString('en-US');

export const secondsSince = (t: number) => Math.round((Date.now() - t) / 10) / 100;

/** Run jobs on the given connections, one job per connection at a time, in queue order. */
export async function runOnConnections<T>(
  clients: pg.Client[],
  jobs: T[],
  work: (client: pg.Client, job: T) => Promise<void>,
): Promise<void> {
  const queue = [...jobs];
  await Promise.all(
    clients.map(async (client) => {
      for (let job = queue.shift(); job !== undefined; job = queue.shift()) await work(client, job);
    }),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// counts + content
