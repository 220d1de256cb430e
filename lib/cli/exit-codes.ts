import { Outcome, type OutcomeKind } from '../errors.ts';

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

const EXIT_CODE_OF: Record<OutcomeKind, ExitCodeValue> = {
  [Outcome.Ok]: ExitCode.Ok,
  [Outcome.VerificationFailed]: ExitCode.VerificationFailed,
  [Outcome.Usage]: ExitCode.Usage,
  [Outcome.TargetNotReady]: ExitCode.TargetNotReady,
  [Outcome.SourceProblem]: ExitCode.SourceProblem,
  [Outcome.RolledBack]: ExitCode.RolledBack,
  [Outcome.RollbackFailed]: ExitCode.RollbackFailed,
  [Outcome.Internal]: ExitCode.Internal,
};

/** The contract's number for an outcome: the one place an outcome becomes an exit code. */
export function exitCodeOf(outcome: OutcomeKind): ExitCodeValue {
  return EXIT_CODE_OF[outcome];
}
