// `--workers N`: one command run as a primary that supervises (primary.ts) and N workers that
// serve (worker.ts). The command's module calls serveWithWorkers() with how to start its server;
// which side of the fork this process is decides what happens.
import cluster from 'node:cluster'
import type { Readable } from 'node:stream'
import type { RunningServer } from '../server-lifecycle.js'
import { supervise } from './primary.js'
import { consoleFromPrimary, serveAsWorker, workerIndex } from './worker.js'
import type { WorkerOptions } from './options.js'
import { setLogPrefix } from '../log.js'

export { WORKER_OPTIONS, workerUsage, parseWorkerOptions, type WorkerOptions } from './options.js'

/** Whether this process is a worker of `--workers N` (its primary speaks for it at start). */
export function isWorkerProcess(): boolean {
  return cluster.isWorker
}

/** What a worker's server is started with. */
export interface WorkerContext {
  /** 0..N-1: worker 0 reads the operator's console and shows the chat. */
  index: number
  /** The operator's console, forwarded by the primary (worker 0 only; null for the others). */
  console: Readable | null
}

export interface WorkersRun extends WorkerOptions {
  /** Forward the operator's console (stdin) to worker 0. */
  console: boolean
  /** The server's own grace time for a clean stop. */
  shutdownGraceMs: number
  /**
   * More arguments for the workers' command line, asked for once, in the primary only: what the
   * primary made that every worker must share (the --tls certificate, so clients see one).
   */
  workerArgs?: () => string[]
}

/**
 * In the primary: starts and supervises the workers until they have all stopped. In a worker:
 * starts the server with `start` and serves under the primary.
 */
export async function serveWithWorkers(o: WorkersRun, start: (w: WorkerContext) => Promise<RunningServer>): Promise<void> {
  if (cluster.isPrimary) return supervise({ ...o, workerArgs: o.workerArgs?.() ?? [], stopTimeoutMs: o.shutdownGraceMs + 10_000 })
  const index = workerIndex()
  setLogPrefix(`[w${index + 1}]`)
  const input = o.console && index === 0 ? consoleFromPrimary() : null
  await serveAsWorker(() => start({ index, console: input }))
}
