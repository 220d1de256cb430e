/** Exit codes of docs/cli-contract.md. Bash maintenance scripts branch on these numbers: never renumber. */
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

/**
 * A full disk (ENOSPC, or EDQUOT for a quota) while writing run-dir artifacts is not a bug: the operator frees
 * space or points --run-dir elsewhere and runs again. Exit 4 like backup's own free-space refusal, one line.
 */
export function diskFullError(err: unknown): TaskError | undefined {
  const e = err as { code?: string; path?: string; message?: string };
  if (e?.code !== 'ENOSPC' && e?.code !== 'EDQUOT') return undefined;
  const where = e.path ? ` writing ${e.path}` : '';
  return new TaskError(
    ExitCode.SourceProblem,
    `no space left on the device${where} (${e.code}); free space in the run directory's file system or pass --run-dir on another one, then run again`,
    { code: e.code },
  );
}
