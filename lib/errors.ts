/** Exit codes of ../shared/cli-contract.md. Bash maintenance scripts branch on these numbers: never renumber. */
export const ExitCode = {
  Ok: 0,
  VerificationFailed: 1,
  Usage: 2,
  TargetNotReady: 3,
  SourceProblem: 4,
  RolledBack: 5,
  RollbackFailed: 6,
  Internal: 10,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * An expected failure: the message is the one-line cause shown to the operator,
 * the exit code is the contract's. Anything else thrown is a bug (exit 10).
 */
export class TaskError extends Error {
  constructor(
    readonly exitCode: ExitCodeValue,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'TaskError';
  }
}

export const usageError = (message: string, details?: Record<string, unknown>) =>
  new TaskError(ExitCode.Usage, message, details);
export const targetNotReady = (message: string, details?: Record<string, unknown>) =>
  new TaskError(ExitCode.TargetNotReady, message, details);
export const sourceProblem = (message: string, details?: Record<string, unknown>) =>
  new TaskError(ExitCode.SourceProblem, message, details);

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
