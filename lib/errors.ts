/**
 * What a step's run came to, in the terms of docs/cli-contract.md. Library code speaks only these kinds; the CLI layer
 * (lib/cli/exit-codes.ts) alone turns them into the contract's numbers.
 */
export const Outcome = {
  Ok: 'ok',
  VerificationFailed: 'verification-failed',
  Usage: 'usage',
  TargetNotReady: 'target-not-ready',
  SourceProblem: 'source-problem',
  RolledBack: 'rolled-back',
  RollbackFailed: 'rollback-failed',
  Internal: 'internal',
} as const;
export type OutcomeKind = (typeof Outcome)[keyof typeof Outcome];

/**
 * An expected failure of the domain (bad usage, a target not ready, a source problem, …): the message is the one-line
 * cause shown to the operator. Anything else thrown is a bug (an internal error).
 */
export class DomainError extends Error {
  constructor(
    readonly outcome: OutcomeKind,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

/** A journaled step of an orchestrator (upgrade, fallback) failed: which step, its outcome and the one-line cause. */
export class StepFailure extends DomainError {
  constructor(
    readonly step: string,
    outcome: OutcomeKind,
    message: string,
  ) {
    super(outcome, message);
    this.name = 'StepFailure';
  }
}

export const usageError = (message: string, details?: Record<string, unknown>) =>
  new DomainError(Outcome.Usage, message, details);
export const targetNotReady = (message: string, details?: Record<string, unknown>) =>
  new DomainError(Outcome.TargetNotReady, message, details);
export const sourceProblem = (message: string, details?: Record<string, unknown>) =>
  new DomainError(Outcome.SourceProblem, message, details);

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * A full disk (ENOSPC, or EDQUOT for a quota) while writing run-dir artifacts is not a bug: the operator frees
 * space or points --run-dir elsewhere and runs again. Exit 4 like backup's own free-space refusal, one line.
 */
export function diskFullError(err: unknown): DomainError | undefined {
  const e = err as { code?: string; path?: string; message?: string };
  if (e?.code !== 'ENOSPC' && e?.code !== 'EDQUOT') return undefined;
  const where = e.path ? ` writing ${e.path}` : '';
  return new DomainError(
    Outcome.SourceProblem,
    `no space left on the device${where} (${e.code}); free space in the run directory's file system or pass --run-dir on another one, then run again`,
    { code: e.code },
  );
}
