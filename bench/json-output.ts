/** A measured task's `--json` object, or undefined when it printed none (it failed before its result). */
export function jsonOutput(stdout: string): any {
  try {
    return JSON.parse(stdout);
  } catch {
    return undefined;
  }
}
