import path from 'node:path';
import { errorMessage, usageError } from '../errors.ts';
import { readRunJson, RUN_FILES } from '../run/run-dir.ts';
import type { ColumnKind, TableModel } from '../prisma/schema-model.ts';
import type { EpochSuspect, ManifestProblem, StorageClassCount } from './export-scan.ts';
import type { OrphanReport } from './orphans.ts';

/**
 * manifest.json (docs/design.md): what export-sqlite found in the snapshot, and what load-pg and verify hold the
 * target to. The one definition every task reads; fields marked optional are absent in manifests of older versions.
 */
export interface ManifestColumn {
  name: string;
  kind: ColumnKind;
  prismaType: string;
  nullable: boolean;
  enumName?: string;
}

/** A table's columns as the manifest (and the canonical row form) describe them. */
export function manifestColumns(table: TableModel): ManifestColumn[] {
  return table.columns.map((c) => ({
    name: c.name,
    kind: c.kind,
    prismaType: c.prismaType,
    nullable: c.nullable,
    ...(c.enumName ? { enumName: c.enumName } : {}),
  }));
}

export interface ManifestTable {
  name: string;
  model: string;
  columns: ManifestColumn[];
  key: string[];
  /** Rows as loaded: the snapshot's, less the rows `--orphans=delete` left out. */
  rowCount: number;
  /** Over the rows as loaded (`--orphans` applied). */
  contentHash: string;
  storageClasses: Record<string, StorageClassCount>;
}

export interface NotMigrated {
  name: string;
  kind: 'view' | 'prisma-migrations' | 'excluded';
  reason: string;
  /** Rows in the snapshot (tables only). */
  rows?: number;
}

export interface Manifest {
  version: 1;
  createdAt: string;
  snapshot: { file: string; sha256: string; bytes: number };
  source: {
    path: string | null;
    sha256: string | null;
    size: number | null;
    wal: { path: string; size: number; sha256: string } | null;
  };
  schema: { path: string; sha256: string };
  tables: ManifestTable[];
  /** SQLite tables the Prisma schema does not know that the operator excluded (--exclude-table): not migrated. */
  extraTables: string[];
  /** Every SQLite table or view that is not loaded, with why. */
  notMigrated?: NotMigrated[];
  problems: ManifestProblem[];
  problemCount: number;
  /** DateTime integers that look like epoch seconds (converted as ms, as the app reads them): see EpochSuspect. */
  epochSuspects: (EpochSuspect & { table: string })[];
  /** Orphan rows found and the operator's --orphans choice; load-pg and verify apply its `tables`. */
  orphans?: OrphanReport;
}

/** The run dir's manifest.json; a file that is not a manifest is a usage problem naming it. */
export function readManifest(runDir: string): Manifest {
  const file = path.join(runDir, RUN_FILES.manifest);
  let manifest: Manifest;
  try {
    manifest = readRunJson<Manifest>(runDir, RUN_FILES.manifest);
  } catch (err) {
    throw usageError(`${file} is not readable JSON: ${errorMessage(err)}`);
  }
  if (!manifest || !Array.isArray(manifest.tables))
    throw usageError(`${file} has no tables list; run export-sqlite again`);
  return manifest;
}
