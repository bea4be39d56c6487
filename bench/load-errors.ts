// The load generator's error counts, by kind: what the engine counts, the load report merges
// across threads, and the bench runner merges across repeated runs.

/**
 * timeout: no echo within the deadline; reset: ECONNRESET or EPIPE; eof: the server closed;
 * mismatch: bytes echoed that were not sent (wrong, or more than sent); other: any other error.
 */
export const ERROR_KINDS = ['timeout', 'reset', 'eof', 'mismatch', 'other'] as const
export type ErrorKind = (typeof ERROR_KINDS)[number]
export type ErrorCounts = Record<ErrorKind, number>

/** Error counts with nothing counted yet. */
export function noErrors(): ErrorCounts {
  return { timeout: 0, reset: 0, eof: 0, mismatch: 0, other: 0 }
}

/** Adds `more` into `into` (kind by kind); returns `into`. */
export function addErrors(into: ErrorCounts, more: ErrorCounts): ErrorCounts {
  for (const k of ERROR_KINDS) into[k] += more[k]
  return into
}

/** Every kind of error counted together. */
export function totalErrors(counts: ErrorCounts): number {
  return ERROR_KINDS.reduce((sum, k) => sum + counts[k], 0)
}
