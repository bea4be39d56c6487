// How many threads, connection slots and refused sockets fit in the process: the thread cap and
// the descriptor budget (ulimit -n) it has to share with the sockets.
import { log } from '../log.js'
import { FD_RESERVE } from '../fd-limit.js'

/** Well below the ~1,800 threads at which the process aborts on these machines. */
export const MAX_THREADS_LIMIT = 1500

/** Descriptors a connection costs: its socket, plus its thread's event loop (epoll, eventfds). */
export const FDS_PER_THREAD = 5

/** Refused sockets that may always linger, however few descriptors are left over (FD_RESERVE has room). */
const MIN_REFUSAL_ROOM = 4

/**
 * Connection slots (ring pairs) for a thread cap: twice the threads, because a connection whose
 * handler has finished keeps its rings (not its thread) until its socket has flushed and closed.
 * A slot number is below this, so tables indexed by slot can be sized with it.
 */
export function slotCountFor(maxThreads: number): number {
  return maxThreads * 2
}

/**
 * The thread cap that fits the descriptor limit (`limit`, null for none): each connection holds
 * its socket and its thread holds ~4 descriptors of its own, so `ulimit -n 64` allows a handful of
 * threads, not 256. Says so when it lowers the cap.
 */
export function fitThreadCap(requested: number, limit: number | null): number {
  if (limit === null) return requested
  const room = Math.max(1, Math.floor((limit - FD_RESERVE) / FDS_PER_THREAD))
  if (requested <= room) return requested
  log(`thread cap lowered from ${requested} to ${room}: the file-descriptor limit is ${limit} (ulimit -n), ~${FDS_PER_THREAD} per connection-thread`)
  return room
}

/**
 * Refused sockets that may linger at once (saying why before they close): the descriptors that
 * `maxThreads` threads leave over, so that a flood of refusals cannot starve threads of them.
 */
export function refusalRoomFor(maxThreads: number, limit: number | null): number {
  if (limit === null) return Infinity
  return Math.max(MIN_REFUSAL_ROOM, limit - FD_RESERVE - maxThreads * FDS_PER_THREAD)
}
