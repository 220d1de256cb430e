import type pg from 'pg';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../cli/log.ts';
import {
  checkSequences,
  compareSnapshots,
  describeForeignKey,
  findOrphans,
  readSchemaSnapshot,
  referenceSnapshot,
  type Finding,
  type ForeignKeyInfo,
  type SchemaSnapshot,
} from '../pg/integrity.ts';
import { type TargetConnection } from '../pg/target.ts';
import type { CallWorker } from '../threads/worker-call.ts';
import { pgSchemaFile, runOnConnections, secondsSince, type GateReport } from './gate-report.ts';

export async function integrityGate(
  clients: pg.Client[],
  side: pg.Client,
  runDir: string,
  appSchemaPath: string,
  pgSchema: string,
  target: TargetConnection,
  log: Logger,
  /** A helper running lib/verify/prisma-thread.ts: the schema engine builds the reference DDL there. */
  thread: CallWorker,
): Promise<GateReport> {
  const started = Date.now();
  log.progress('verify integrity: building the reference schema');
  const { file: schemaFile, problem } = pgSchemaFile(runDir, appSchemaPath);
  if (!schemaFile)
    return { gate: 'integrity', ok: false, reason: problem!, seconds: secondsSince(started), details: {} };
  let reference: SchemaSnapshot & { scratch: 'schema' | 'temporary' };
  let referenceSource: string;
  try {
    const ddl = await thread.call<{ source: string; sql: string }>('referenceDdlOf', {
      schemaFile,
      clientConfig: target.clientConfig,
      pgSchema,
    });
    referenceSource = ddl.source;
    reference = await referenceSnapshot(side, ddl.sql);
  } catch (err) {
    return {
      gate: 'integrity',
      ok: false,
      reason: `cannot build the reference schema from ${schemaFile}: ${errorMessage(err)}`,
      seconds: secondsSince(started),
      details: {},
    };
  }
  const actual = await readSchemaSnapshot(side, pgSchema);
  const findings: Finding[] = compareSnapshots(reference, actual);

  // Orphans, checked for every foreign key the Prisma schema defines (so a dropped constraint is still checked).
  const tables = new Set(actual.catalog.filter((e) => e.kind === 'table').map((e) => e.table));
  const columns = new Set(actual.catalog.filter((e) => e.kind === 'column').map((e) => `${e.table}.${e.name}`));
  const checkable = reference.foreignKeys.filter(
    (fk) =>
      tables.has(fk.table) &&
      tables.has(fk.refTable) &&
      fk.columns.every((c) => columns.has(`${fk.table}.${c}`)) &&
      fk.refColumns.every((c) => columns.has(`${fk.refTable}.${c}`)),
  );
  const orphanFindings: Finding[] = [];
  let checked = 0;
  await runOnConnections(clients, checkable, async (client, fk: ForeignKeyInfo) => {
    const result = await findOrphans(client, pgSchema, fk);
    checked++;
    log.progress(`verify integrity: foreign keys ${checked}/${checkable.length}`);
    if (result.orphans.length) {
      orphanFindings.push({
        problem: 'orphans',
        kind: 'foreign key',
        table: fk.table,
        name: describeForeignKey(fk),
        message: `"${fk.table}" ${describeForeignKey(fk)} has rows pointing at no "${fk.refTable}" row: ${result.orphans.join('; ')}`,
      });
    }
  });
  findings.push(...orphanFindings.sort((a, b) => (a.table < b.table ? -1 : 1)));

  const sequences = await checkSequences(side, pgSchema);
  for (const s of sequences.filter((x) => !x.ok)) {
    findings.push({
      problem: 'sequence behind',
      kind: 'sequence',
      table: s.table,
      name: s.column,
      message: `sequence ${s.sequence} of "${s.table}".${s.column} would hand out ${s.nextValue}, but max(${s.column}) is ${s.maxValue}`,
    });
  }
  const first = findings[0];
  return {
    gate: 'integrity',
    ok: findings.length === 0,
    reason: first
      ? `${first.message}${findings.length > 1 ? ` (and ${findings.length - 1} more finding${findings.length > 2 ? 's' : ''})` : ''}`
      : `${tables.size} tables match the Prisma schema (columns, keys, unique constraints, indexes); ${reference.foreignKeys.length} foreign keys valid without orphans; ${sequences.length} sequences ahead of max(id)`,
    seconds: secondsSince(started),
    details: {
      referenceSource,
      referenceBuiltIn:
        reference.scratch === 'schema'
          ? 'a scratch schema (rolled back)'
          : "the session's temporary schema (rolled back)",
      findings,
      foreignKeysChecked: checkable.length,
      sequences,
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// prisma
