// The load generator's error counts, by kind: what the engine counts, the load report merges
// across threads, and the bench runner merges across repeated runs.

/**
 * timeout: no echo within the deadline; reset: ECONNRESET or EPIPE; eof: the server closed;
 * mismatch: bytes echoed that were not sent (wrong, or more than sent); refused: the server ended
 * the connection before echoing a single byte of it (closed at once, or said something else
 * first, such as a thread server's "server busy"); other: any other error.
 */
export const ERROR_KINDS = ['timeout', 'reset', 'eof', 'mismatch', 'refused', 'other'] as const
export type ErrorKind = (typeof ERROR_KINDS)[number]
export type ErrorCounts = Record<ErrorKind, number>

/** Error counts with nothing counted yet. */
export function noErrors(): ErrorCounts {
  return { timeout: 0, reset: 0, eof: 0, mismatch: 0, refused: 0, other: 0 }
}

/** Adds `more` into `into` (kind by kind; a kind `more` lacks, from an older record, adds 0); returns `into`. */
export function addErrors(into: ErrorCounts, more: Partial<ErrorCounts>): ErrorCounts {
  for (const k of ERROR_KINDS) into[k] += more[k] ?? 0
  return into
}

/** Every kind of error counted together. */
export function totalErrors(counts: Partial<ErrorCounts>): number {
  return ERROR_KINDS.reduce((sum, k) => sum + (counts[k] ?? 0), 0)
}

/** "timeout 40, eof 2" for the kinds counted, or "none". */
export function describeErrors(counts: Partial<ErrorCounts>): string {
  const parts = ERROR_KINDS.filter(k => (counts[k] ?? 0) > 0).map(k => `${k} ${counts[k]}`)
  return parts.length ? parts.join(', ') : 'none'
}
