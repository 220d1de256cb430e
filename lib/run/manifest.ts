import path from 'node:path';
import { errorMessage, usageError } from '../errors.ts';
import type { ColumnKind } from '../prisma/schema-model.ts';
import type { EpochSuspect, ManifestProblem, StorageClassCount } from '../sqlite/export-scan.ts';
import { readRunJson, RUN_FILES } from './run-dir.ts';

/**
 * manifest.json: what export-sqlite found in the snapshot (row counts, content hashes over the canonical row form of
 * docs/design.md, storage classes, values that will not convert). load-pg and verify read it; one type for all.
 */
export interface ManifestColumn {
  name: string;
  kind: ColumnKind;
  prismaType: string;
  nullable: boolean;
  enumName?: string;
}

export interface ManifestTable {
  name: string;
  model: string;
  columns: ManifestColumn[];
  key: string[];
  rowCount: number;
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
  /** Every SQLite table or view that is not loaded, with why (absent in manifests of older versions). */
  notMigrated?: NotMigrated[];
  problems: ManifestProblem[];
  problemCount: number;
  /** DateTime integers that look like epoch seconds (converted as ms, as the app reads them): see EpochSuspect. */
  epochSuspects: (EpochSuspect & { table: string })[];
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
