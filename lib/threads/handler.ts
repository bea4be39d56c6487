// The seam between the thread host and a protocol: what a *handler module* exports, what it is
// given, and the few messages the host and its threads exchange.
//
// A handler module is an ES module (plain .js at run time: pass its built URL, see built.ts) that
// exports:
//
//   export function handle(conn: BlockingConnection, ctx: ThreadContext): void
//       Serves one connection on its own thread, blocking as it likes (conn.recv, conn.sendall).
//       When it returns (or throws) the connection is closed if it is not already, and the thread
//       goes back to the host. A throw is logged and costs only this connection.
//
//   export function init(ctx: ThreadInit): void          (optional)
//       Runs once per thread before its first connection: build views over `ctx.shared` here
//       (e.g. `new Mutex(ctx.shared.lock)`), not per connection.
//
// `shared` is whatever the host was given as `shared` (structured-cloned into each thread, so
// SharedArrayBuffers in it are the same memory everywhere). `slots` reaches every connection's
// rings, for handlers that write to other connections than their own (the chat's broadcast):
// writes into a ring that is not your own must be serialised by a lock of your own, and a slot
// must be removed from your shared tables before your handle() returns, since the host reuses it.
import type { BlockingConnection } from './connection.js'
import type { SlotTable } from './slots.js'

export interface ThreadInit {
  /** The host's `shared` option, as given (SharedArrayBuffers are shared, the rest is copied). */
  readonly shared: unknown
  readonly slots: SlotTable
  /** A log line on the server's stderr, timestamped and prefixed with this thread's id. */
  log(message: string): void
  /** Text for the server's stdout, as is (include the newline). */
  print(text: string): void
  /**
   * Hands `event` (anything structured clone can copy) to the main thread: the host's
   * onHandlerEvent. For what the server's watcher should hear of (the chat room's changes).
   */
  emit(event: unknown): void
}

export interface ThreadContext extends ThreadInit {
  /** The thread's id (worker_threads threadId). */
  readonly threadId: number
}

export interface HandlerModule {
  handle(conn: BlockingConnection, ctx: ThreadContext): void
  init?(ctx: ThreadInit): void
}

// ---- host ↔ thread messages (internal) ----------------------------------------------------------

/** workerData of every thread. */
export interface ThreadBoot {
  handlerUrl: string
  slots: SharedArrayBuffer
  shared: unknown
}

/** host → thread: serve this connection (its rings are in `slot`), or end (the thread exits, code 0). */
export type HostMessage = ServeMessage | { type: 'exit' }

export interface ServeMessage {
  type: 'serve'
  id: number
  slot: number
  remoteAddress: string
  remotePort: number
}

/** How a handler ended: normally, by a disconnect (reset, broken pipe), or by a bug. */
export const Outcome = {
  OK: 'ok',
  DISCONNECT: 'disconnect',
  ERROR: 'error',
} as const
export type Outcome = (typeof Outcome)[keyof typeof Outcome]

/**
 * thread → host. Output goes through the host ('print'): a thread's own process.stdout/stderr
 * hand one write to the main thread and wait, in their event loop, for it to ask for more, so a
 * thread blocked in a handler would hold back every line after its first.
 */
export type ThreadMessage =
  | { type: 'ready' }
  | { type: 'done'; slot: number; outcome: Outcome; error?: string }
  | { type: 'print'; stream: 'stdout' | 'stderr'; text: string }
  | { type: 'event'; event: unknown }
