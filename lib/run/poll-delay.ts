/**
 * The pause between two looks at something that is about to change (the app answering, the writers gone): short at
 * first, since a local app often answers within tens of milliseconds and every look saved is window time, then
 * doubling up to `maxMs`, so a slow start on a host with many processes is not scanned dozens of times a second.
 */
export function pollDelay(attempt: number, maxMs: number, firstMs = 20): number {
  return Math.min(maxMs, firstMs * 2 ** Math.max(0, attempt - 1));
}

/** Waits the pause before look number `attempt + 1` (attempts counted from 1). */
export function pollPause(attempt: number, maxMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, pollDelay(attempt, maxMs)));
}
