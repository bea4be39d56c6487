// The file-descriptor limit (ulimit -n) as a connection cap. Past the limit, libuv sheds new
// connections by itself (its "EMFILE trick": accept and close at once) and tells nobody, so a
// server would drop clients without a word in its log. Capping connections a little below the
// limit keeps the shedding ours: refused explicitly, and logged.
import { readFileSync } from 'node:fs'
import { log } from './log.js'

/** Descriptors kept free for Node itself (stdio, epoll, signal pipes, workers, timers). */
export const FD_RESERVE = 32

/** The soft limit on open files, from /proc/self/limits; null where it cannot be read. */
export function readFdLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
    if (!m || m[1] === 'unlimited') return null
    return Number(m[1])
  } catch {
    return null
  }
}

/**
 * The connection cap to enforce: `requested` (from the command line) or `fallback` (the default),
 * lowered when the descriptor limit would be reached first — with a log line saying why when the
 * user asked for more than fits.
 */
export function capConnections(requested: number | undefined, fallback: number, limit = readFdLimit()): number {
  const wanted = requested ?? fallback
  if (limit === null) return wanted
  const room = Math.max(1, limit - FD_RESERVE)
  if (wanted <= room) return wanted
  if (requested !== undefined || room < fallback / 2) {
    log(`connection cap lowered from ${wanted} to ${room}: the file-descriptor limit is ${limit} (ulimit -n)`)
  }
  return room
}
