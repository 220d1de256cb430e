import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Settings } from '../cli/config.ts';
import { targetNotReady } from '../errors.ts';
import type { Queryable } from './schema-objects.ts';
import { assertOwnedFile, runsRoot } from '../run/run-dir.ts';
import { loadSql, sqlWithIdentifiers } from '../files/sql-files.ts';

/**
 * A target is "ours" only by proof: load-pg writes a marker as the target schema's COMMENT (install id + run +
 * state + the row counts it loaded). A schema comment survives a re-load (we drop the schema's contents, never
 * the schema) and is invisible to Prisma, whose migrate diff/drift compares only tables, columns, indexes and enums.
 * The install id is a random id stored once in <app>/backups/pg-migration/.install-id (0600), so two installs on
 * one server (staging and production) never take each other's database for a previous run.
 *
 * A non-empty target is refused (exit 3), with --force or without, when it has no marker, another install's marker,
 * rows written after our load, or client sessions other than ours; --force re-loads only our own partial or
 * previous load.
 */
const MARKER_PREFIX = 'visionsuit-pg-migrate ';
/** The application_name of this suite's sessions (lib/pg/target.ts sets it). */
export const OUR_APPLICATION_NAME = 'visionsuit-pg-migrate';

export interface TargetMarker {
  install: string;
  /** The target schema the marker is about (a database comment covers one schema of it). */
  schema?: string;
  run: string;
  state: 'loading' | 'loaded';
  at: string;
  /** Row counts per table after a finished load. */
  rows?: Record<string, number>;
}

function installIdFile(settings: Settings): string {
  return path.join(runsRoot(settings), '.install-id');
}

/** This install's id, or undefined when no load ever ran from it (then no marker can be ours). */
export function readInstallId(settings: Settings): string | undefined {
  const file = installIdFile(settings);
  if (!existsSync(file)) return undefined;
  assertOwnedFile(file);
  return readFileSync(file, 'utf8').trim() || undefined;
}

/** This install's id, created (0600, O_EXCL) the first time a load needs it. */
export function installId(settings: Settings): string {
  const existing = readInstallId(settings);
  if (existing) return existing;
  const id = randomUUID();
  if (!existsSync(runsRoot(settings))) mkdirSync(runsRoot(settings), { recursive: true, mode: 0o700 });
  try {
    const fd = openSync(installIdFile(settings), 'wx', 0o600);
    writeSync(fd, id + '\n');
    closeSync(fd);
    return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readInstallId(settings)!;
    throw err;
  }
}

interface MarkerRow {
  schema_comment: string | null;
  database_comment: string | null;
  schema_exists: boolean;
}

function parseMarker(comment: string | null, schema: string): TargetMarker | undefined {
  if (!comment?.startsWith(MARKER_PREFIX)) return undefined;
  try {
    const marker = JSON.parse(comment.slice(MARKER_PREFIX.length)) as TargetMarker;
    return marker.schema === undefined || marker.schema === schema ? marker : undefined;
  } catch {
    return undefined;
  }
}

export async function readMarker(client: Queryable, schema: string): Promise<TargetMarker | undefined> {
  const { rows } = await client.query<MarkerRow>(loadSql('target-marker-read'), [schema]);
  return parseMarker(rows[0]?.schema_comment ?? null, schema) ?? parseMarker(rows[0]?.database_comment ?? null, schema);
}

export interface OwnershipVerdict {
  ok: boolean;
  /** 'empty' | our partial or finished load | why it is refused. */
  kind: 'empty' | 'ours-partial' | 'ours-loaded' | 'no-marker' | 'other-install' | 'written-since' | 'sessions';
  message: string;
  marker?: TargetMarker;
}

/**
 * Whose is this target schema? `tables` are its relations (empty → ours to fill). Read-only: check-target and
 * load-pg both call it, so "ready" means load-pg will accept it.
 */
export async function judgeTarget(
  client: Queryable,
  schema: string,
  tables: string[],
  ourInstall: string | undefined,
): Promise<OwnershipVerdict> {
  if (tables.length === 0) return { ok: true, kind: 'empty', message: `schema "${schema}" is empty` };
  const list = tables.slice(0, 5).join(', ') + (tables.length > 5 ? ', …' : '');
  const marker = await readMarker(client, schema);
  if (!marker) {
    return {
      ok: false,
      kind: 'no-marker',
      message: `schema "${schema}" holds ${tables.length} table(s) (${list}) and no marker of this suite: it is not a load of ours; use an empty database`,
    };
  }
  if (!ourInstall || marker.install !== ourInstall) {
    return {
      ok: false,
      kind: 'other-install',
      marker,
      message: `schema "${schema}" was loaded by another install (install id ${marker.install}, run ${marker.run}); it is not this app's database, use another one`,
    };
  }
  const { rows: sessions } = await client.query<{
    pid: number;
    user: string;
    application: string;
    address: string | null;
  }>(loadSql('target-other-sessions'), [OUR_APPLICATION_NAME]);
  if (sessions.length) {
    const s = sessions[0];
    return {
      ok: false,
      kind: 'sessions',
      marker,
      message: `${sessions.length} other client session(s) are connected to the target database (pid ${s.pid}, user ${s.user}${s.application ? `, ${s.application}` : ''}${s.address ? ` from ${s.address}` : ''}): something uses it; stop it first`,
    };
  }
  if (marker.state === 'loaded' && marker.rows) {
    const changed: string[] = [];
    for (const [table, loaded] of Object.entries(marker.rows)) {
      if (!tables.includes(table)) continue;
      const { rows } = await client.query<{ n: string }>(
        sqlWithIdentifiers('target-table-count', {
          table: `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`,
        }),
      );
      const now = Number(rows[0].n);
      if (now !== loaded) changed.push(`${table} ${loaded} → ${now}`);
    }
    if (changed.length) {
      return {
        ok: false,
        kind: 'written-since',
        marker,
        message: `rows were written to schema "${schema}" after our load (run ${marker.run}): ${changed.slice(0, 5).join(', ')}; those writes would be lost, keep this database`,
      };
    }
    return {
      ok: true,
      kind: 'ours-loaded',
      marker,
      message: `schema "${schema}" holds this install's load of run ${marker.run}, unchanged since; --force re-loads it`,
    };
  }
  return {
    ok: true,
    kind: 'ours-partial',
    marker,
    message: `schema "${schema}" holds this install's unfinished load of run ${marker.run}; --force re-loads it`,
  };
}

/** load-pg's gate: refuse (exit 3) anything but an empty schema or, with --force, our own load. */
export function refuseUnlessOurs(verdict: OwnershipVerdict, force: boolean, display: string): void {
  if (verdict.kind === 'empty') return;
  if (!verdict.ok) throw targetNotReady(`target database ${display}: ${verdict.message}`);
  if (!force)
    throw targetNotReady(
      `target database ${display} is not empty (${verdict.message.replace(/; --force re-loads it$/, '')}); pass --force to replace it`,
    );
}

/**
 * Write our marker on the schema, or on the database when the role owns the database but not the schema (PG 15's
 * public, managed servers). The schema is created first only when missing (CREATE SCHEMA IF NOT EXISTS needs
 * CREATE on the database even when the schema exists). Neither possible is exit 3 naming what to do.
 */
export async function markTarget(client: Queryable, schema: string, marker: TargetMarker): Promise<void> {
  const { rows } = await client.query<MarkerRow>(loadSql('target-marker-read'), [schema]);
  if (!rows[0]?.schema_exists)
    await client.query(sqlWithIdentifiers('load-pg-create-schema', { schema: pg.escapeIdentifier(schema) }));
  const literal = pg.escapeLiteral(MARKER_PREFIX + JSON.stringify({ ...marker, schema }));
  try {
    await client.query(
      sqlWithIdentifiers('target-marker-write', { schema: pg.escapeIdentifier(schema), marker: literal }),
    );
    return;
  } catch (err) {
    if ((err as { code?: string }).code !== '42501') throw err;
  }
  try {
    const { rows: db } = await client.query<{ name: string }>(loadSql('target-current-database'));
    await client.query(
      sqlWithIdentifiers('target-marker-write-database', {
        database: pg.escapeIdentifier(db[0].name),
        marker: literal,
      }),
    );
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === '42501')
      throw targetNotReady(
        `cannot mark schema "${schema}" as this suite's load: ${e.message} (the role must own the schema or the database; run create-role)`,
      );
    throw err;
  }
}
