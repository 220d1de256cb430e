import { runCli, type CliHelp } from '../lib/cli/run-cli.ts';
import type { Logger } from '../lib/cli/log.ts';
import { verify, type VerifyExtra, type VerifyResult } from '../lib/steps/verify.ts';
import { GATES } from '../lib/verify/gate-report.ts';
import { describeRowDifference, type TableDifference } from '../lib/verify/table-gates.ts';

const help: CliHelp = {
  description: 'Prove the PostgreSQL copy equals the snapshot (counts, content, integrity, Prisma health).',
  details: `
Gates:
  counts     rows per table vs manifest.json
  content    per-table hash of every value (canonical row form) computed on PostgreSQL vs manifest.json;
             on a mismatch names the differing keys with the SQLite and PostgreSQL values
  integrity  tables, columns, primary keys, unique constraints, indexes, foreign keys and sequences as the
             Prisma schema defines them; no orphan rows; every sequence ahead of max(id)
  prisma     migration history clean (nothing pending, failed or edited), zero drift (Prisma's schema engine),
             Prisma Client reads every model and writes once in a rolled-back transaction
manifest.json describes the rows as loaded: with export-sqlite's --orphans=null|delete, the snapshot with those rows
nulled or left out (counts and content compare against that, and the counts reason says how many).
Writes <run dir>/report.json.
`,
  flagHelp: {
    only: ['GATES', `a comma-separated subset: ${GATES.join(',')} (e.g. counts,content after cutover)`],
  },
  exitCodes: {
    0: 'all selected gates passed',
    1: 'a gate failed',
    2: 'bad flags / no run dir or manifest',
    3: 'target unreachable',
    10: 'internal error',
  },
};

function printReport(result: VerifyResult, log: Logger): void {
  for (const gate of result.gates) {
    const line = `${gate.ok ? 'PASS' : 'FAIL'}  ${gate.gate.padEnd(9)} ${gate.reason}  (${gate.seconds.toFixed(1)} s)`;
    if (gate.ok) log.info(`  ${line}`);
    else log.error(line);
    if (gate.ok) continue;
    if (gate.gate === 'content') {
      for (const diff of (gate.details.differences ?? []) as TableDifference[]) {
        for (const row of diff.rows) log.info(`        ${describeRowDifference(row)}`);
        if (diff.note) log.info(`        "${diff.table}": ${diff.note}`);
        if (diff.differingBuckets > 0)
          log.info(`        "${diff.table}": ${diff.differingBuckets} of 256 key buckets differ`);
      }
    } else if (gate.gate === 'counts') {
      for (const m of (
        (gate.details.mismatches ?? []) as { table: string; expected: number; actual: number | null; error?: string }[]
      ).slice(0, 10)) {
        log.info(`        "${m.table}": ${m.error ?? `PostgreSQL ${m.actual}, manifest ${m.expected}`}`);
      }
    } else if (gate.gate === 'integrity') {
      for (const f of ((gate.details.findings ?? []) as { message: string }[]).slice(0, 10))
        log.info(`        ${f.message}`);
    } else if (gate.gate === 'prisma') {
      for (const p of ((gate.details.problems ?? []) as string[]).slice(0, 10)) log.info(`        ${p}`);
    }
  }
  log.info(`  report: ${result.report}`);
}

await runCli<VerifyExtra, VerifyResult>({
  task: 'verify',
  ...help,
  flags: { only: { type: 'string' } },
  run: (ctx) => verify(ctx),
  print: printReport,
});
