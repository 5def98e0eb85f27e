// When to try the daemon again after a connection drops. Pure, so the schedule is tested on its own.

export interface BackoffOptions {
  /** First delay. */
  baseMs: number;
  /** Longest delay; attempts beyond it keep this delay (a daemon that comes back is found within it). */
  maxMs: number;
  /** Fraction of the delay added or removed at random, so several windows do not retry in lockstep. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 10_000, jitter: 0.2 };

/** Delay before reconnect attempt `attempt` (0-based): base doubling up to max, +-jitter. `random` in [0, 1). */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const n = Math.max(0, Math.floor(attempt));
  const plain = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(n, 30));
  const spread = plain * options.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(plain + spread));
}
