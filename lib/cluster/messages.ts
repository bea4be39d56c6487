// What the primary and its workers say to each other over cluster's IPC channel.

/** The worker's slot (0..N-1), in its environment: a replacement takes the slot of the one it replaces. */
export const WORKER_INDEX_ENV = 'SELECTLOOP_WORKER'

export type FromWorker =
  /** Listening: the address it serves (every worker serves the same one). */
  { kind: 'ready'; host: string; port: number }

export type FromPrimary =
  /** Stop as one process stops on SIGTERM (goodbyes, drain), then exit. */
  | { kind: 'stop' }
  /** Bytes the operator typed (base64), for worker 0's console. */
  | { kind: 'console'; data: string }
  /** The operator's stdin ended. */
  | { kind: 'console-end' }
