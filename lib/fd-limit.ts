// The file-descriptor limit (ulimit -n) as a connection cap. Past the limit, libuv sheds new
// connections by itself (its "EMFILE trick": accept and close at once) and tells nobody, so a
// server would drop clients without a word in its log. Capping connections a little below the
// limit keeps the shedding ours: refused explicitly, and logged.
import { readFileSync } from 'node:fs'
import { log } from './log.js'

/** Descriptors kept free for Node itself (stdio, epoll, signal pipes, workers, timers). */
export const FD_RESERVE = 32

/** A process's limits on open files (ulimit -n): `soft` is enforced, `hard` is as far as soft may be raised. */
export interface FdLimit {
  /** Infinity when unlimited. */
  soft: number
  /** Infinity when unlimited. */
  hard: number
}

/**
 * The open-files limits of a process (`Max open files` in /proc/PID/limits). Returns null where
 * they cannot be read: the process is gone, or this is not Linux.
 */
export function readFdLimit(pid: number | 'self' = 'self'): FdLimit | null {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/limits`, 'utf8')
  } catch {
    return null
  }
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text)
  if (!m) return null
  const n = (s: string) => (s === 'unlimited' ? Infinity : Number(s))
  return { soft: n(m[1]), hard: n(m[2]) }
}

/**
 * The connection cap to enforce: `requested` (from the command line) or `fallback` (the default),
 * lowered when the descriptor limit would be reached first — with a log line saying why when the
 * user asked for more than fits.
 */
export function capConnections(requested: number | undefined, fallback: number, limit = readFdLimit()?.soft ?? null): number {
  const wanted = requested ?? fallback
  if (limit === null || limit === Infinity) return wanted
  const room = Math.max(1, limit - FD_RESERVE)
  if (wanted <= room) return wanted
  if (requested !== undefined || room < fallback / 2) {
    log(`connection cap lowered from ${wanted} to ${room}: the file-descriptor limit is ${limit} (ulimit -n)`)
  }
  return room
}
