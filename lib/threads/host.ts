// The thread-per-connection host: the main thread's half of the `threads` model.
//
// Node 20 cannot hand a socket to a worker thread, so the main thread keeps every socket and, per
// connection, pumps bytes between the socket and two shared-memory rings (pump.ts over ring.ts).
// The connection's thread runs blocking, Python-style handler code over those rings
// (connection.ts), on a thread from the pool (pool.ts). The main thread never blocks.
//
// The seam — any protocol plugs in the same way (echo, chat):
//
//   const host = new ThreadHost({
//     handler: builtSibling(import.meta.url, './my-handler.js'), // exports handle(conn, ctx)
//     shared: { table: tableSab, lock: mutex.sab },              // optional, given to every thread
//     maxThreads: 256, pool: 0, verbose: true,
//   })
//   await host.start()
//   net.createServer({ allowHalfOpen: true }, socket => host.serve(socket))
//   ...
//   await host.stop(graceMs)
//
// See handler.ts for what a handler module exports and receives (its `init`, the `shared` value,
// and the slot table through which it may reach other connections' rings).
//
// This module is the composition: a connection gets a slot (its pair of rings), a pump and a
// thread, or is turned away (refusal.ts) when the caps (limits.ts) are reached.
//
// Costs, handled rather than hidden:
// - start-up: a new thread takes ~25–35 ms before it can serve. `pool` threads are started up
//   front and finished threads are parked (idle in their event loop) for reuse, up to `pool`.
// - memory: ~8 MB per live thread; the rings (2 × 256 KiB per connection) are reserved once,
//   resident only as used.
// - the thread cap: the process aborts near 1,800 threads on these machines, so beyond
//   `maxThreads` a client is told `server busy: thread limit (N) reached` and closed, and the
//   server keeps running. The cap counts every live thread, parked and exiting ones included.
import type net from 'node:net'
import { log } from '../log.js'
import type { ObservedConnection, ServerObserver } from '../observer.js'
import { readFdLimit } from '../fd-limit.js'
import { builtSibling } from '../built.js'
import { Outcome, type ServeMessage, type ThreadBoot } from './handler.js'
import { fitThreadCap, refusalRoomFor, slotCountFor } from './limits.js'
import { ThreadPool, type ThreadPoolEvents } from './pool.js'
import { ConnectionPump, Phase, type PumpOwner } from './pump.js'
import { Refusals } from './refusal.js'
import { SlotTable } from './slots.js'

export { FDS_PER_THREAD, MAX_THREADS_LIMIT, fitThreadCap, slotCountFor } from './limits.js'

export interface ThreadHostOptions {
  /** URL of the handler module, as built JavaScript (use builtSibling/builtUrl). */
  handler: URL
  /** Given to every thread (ThreadInit.shared); put SharedArrayBuffers here for shared state. */
  shared?: unknown
  /** Live threads at most; beyond it new clients are told so and closed. Lowered to fit `ulimit -n`. */
  maxThreads: number
  /** Connections at most (default: no cap but the threads'); beyond it clients are closed at once. */
  maxConnections?: number
  /** Close a connection whose client has sent nothing for this long (0 or absent: never). */
  idleTimeoutMs?: number
  /** Threads started up front, and finished threads kept parked for reuse (at most this many). */
  pool: number
  /** Bytes in each ring (a power of two). */
  ringBytes?: number
  /** Bytes in each outbound (thread → socket) ring, when it should differ from `ringBytes`. */
  outboundRingBytes?: number
  /** Log connects and disconnects. */
  verbose: boolean
  /**
   * Called on the main thread once per served connection, when its handler has finished: returned,
   * thrown, or its thread died (then the handler may never have run, or not to its end).
   */
  onHandlerDone?: (slot: number, id: number) => void
  /** A watcher of the connections and the threads (lib/observer.ts); null or absent: nobody. */
  observer?: ServerObserver | null
  /** Called on the main thread with what a handler emits (ThreadInit.emit), and the thread's id. */
  onHandlerEvent?: (event: unknown, threadId: number) => void
}

/**
 * 256 KiB per ring: each wake-up of a thread then moves more bytes (with 64 KiB rings, 100
 * connections of 64 KiB messages ran at about half the throughput here). At most 0.5 MB per
 * connection, and only the pages a connection has used are resident: small next to ~8 MB a thread.
 */
export const DEFAULT_RING_BYTES = 256 * 1024

/** After the grace, how long woken handlers have to finish and their output to be flushed. */
const WRAP_UP_MS = 1000

/** The worker entry, as plain .js even when this module runs from its .ts source. */
const WORKER_URL = builtSibling(import.meta.url, './worker.js')

export class ThreadHost implements PumpOwner {
  readonly maxThreads: number
  readonly pool: number
  readonly maxConnections: number
  readonly idleTimeoutMs: number
  readonly verbose: boolean
  readonly log = log
  readonly slots: SlotTable
  readonly onHandlerDone: ((slot: number, id: number) => void) | undefined
  stopping = false
  private readonly observer: ServerObserver | null
  /** The watcher's view of each connection (only while watched). */
  private readonly observed = new Map<ConnectionPump, ObservedConnection>()
  private readonly onHandlerEvent: ((event: unknown, threadId: number) => void) | undefined

  private readonly threads: ThreadPool<ConnectionPump>
  private readonly refusals: Refusals
  private readonly conns = new Set<ConnectionPump>()
  private readonly freeSlots: number[] = []
  private nextConnId = 1
  private idleWaiters: Array<() => void> = []
  /** Connections reset by their peer before they were accepted: skipped, never served. */
  aborted = 0

  constructor(options: ThreadHostOptions) {
    const fdLimit = readFdLimit()?.soft ?? null
    this.maxThreads = fitThreadCap(options.maxThreads, fdLimit)
    this.refusals = new Refusals(refusalRoomFor(this.maxThreads, fdLimit))
    this.pool = Math.min(options.pool, this.maxThreads)
    this.maxConnections = options.maxConnections ?? Infinity
    this.idleTimeoutMs = options.idleTimeoutMs ?? 0
    this.verbose = options.verbose
    this.onHandlerDone = options.onHandlerDone
    this.observer = options.observer ?? null
    this.onHandlerEvent = options.onHandlerEvent
    const slotCount = slotCountFor(this.maxThreads)
    const ringBytes = options.ringBytes ?? DEFAULT_RING_BYTES
    this.slots = SlotTable.create(slotCount, ringBytes, options.outboundRingBytes ?? ringBytes)
    for (let i = slotCount - 1; i >= 0; i--) this.freeSlots.push(i)
    const boot: ThreadBoot = { handlerUrl: options.handler.href, slots: this.slots.sab, shared: options.shared }
    this.threads = new ThreadPool<ConnectionPump>(
      { workerUrl: WORKER_URL, boot, maxThreads: this.maxThreads, keep: this.pool, log: m => this.log(m) },
      this.poolEvents,
    )
  }

  get activeConnections(): number {
    return this.conns.size
  }

  get liveThreads(): number {
    return this.threads.size
  }

  /** Starts the pool and waits until those threads are parked (or have failed). */
  start(): Promise<void> {
    return this.threads.start()
  }

  /** Takes a freshly accepted socket: serves it on a thread, or refuses it when at the cap. */
  serve(socket: net.Socket): boolean {
    if (this.stopping) {
      socket.destroy()
      return false
    }
    if (socket.remoteAddress === undefined) {
      // Reset by its peer before Node accepted it (getpeername fails): nobody to serve, so no
      // thread is spent on it and nothing is logged, as the reactor's Listener.accept() skips these.
      this.aborted++
      socket.destroy()
      return false
    }
    // The other models' --max-conns behaviour: closed at once, logged.
    if (this.conns.size >= this.maxConnections) return this.refusals.drop(socket, `connection limit (${this.maxConnections}) reached`)
    const slot = this.freeSlots.pop()
    if (slot === undefined) return this.busy(socket, `all ${this.slots.slotCount} connection slots in use`)
    const thread = this.threads.acquire()
    if (!thread) {
      this.freeSlots.push(slot)
      return this.busy(socket, `thread limit (${this.maxThreads}) reached`)
    }
    const inbound = this.slots.inbound(slot)
    const outbound = this.slots.outbound(slot)
    inbound.reset()
    outbound.reset()
    const conn = new ConnectionPump(this, this.nextConnId++, slot, socket, inbound, outbound)
    this.conns.add(conn)
    if (this.idleTimeoutMs > 0) socket.setTimeout(this.idleTimeoutMs, () => socket.destroy())
    if (this.verbose) this.log(`connect ${conn.remote} (${this.conns.size} active)`)
    if (this.observer !== null) this.observeConnection(conn)
    conn.start()
    const msg: ServeMessage = { type: 'serve', id: conn.id, slot, remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0 }
    this.threads.assign(thread, conn, msg)
    return true
  }

  /**
   * Turns a client away without a thread: `line` to it, then FIN, and a log line `refused
   * HOST:PORT: why` (rate-limited: a flood costs a line a second). Protocols use it for refusals
   * of their own (the chat's "server full"). Returns false.
   */
  refuse(socket: net.Socket, line: string, why: string): false {
    return this.refusals.turnAway(socket, line, why)
  }

  /**
   * Stops: every handler sees end of input after what the server had received, finishes, and its
   * output is flushed, then FIN. After `graceMs`, handlers still running are woken (their output
   * still flushed); a second later what cannot be flushed is dropped and threads still busy are
   * terminated. Connections are closed with a FIN throughout, never reset: the kernel goes on
   * delivering what it holds after the process has gone. Resolves when all is closed.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true
    this.refusals.closeAll()
    this.slots.markStopping()
    this.threads.close()
    for (const c of this.conns) c.endInput()
    if (await this.idle(graceMs)) return
    if (this.verbose) this.log(`shutdown: grace over, closing ${this.conns.size} connection(s) still open`)
    for (const c of this.conns) c.wrapUp()
    if (await this.idle(WRAP_UP_MS)) return
    if (this.verbose) this.log(`shutdown: ${this.conns.size} connection(s) could not flush (client not reading): closed`)
    for (const c of this.conns) c.abandon()
    this.threads.terminateAll()
    await this.idle(1000)
  }

  /** A connection is finished on both sides: its slot is reused once no wait of ours is left on it. */
  release(conn: ConnectionPump): void {
    if (!conn.releasable()) return
    conn.markReleased()
    this.conns.delete(conn)
    this.freeSlots.push(conn.slot)
    if (this.verbose) this.log(`disconnect ${conn.remote} (${this.conns.size} active)`)
    const seen = this.observed.get(conn)
    if (seen) {
      this.observed.delete(conn)
      this.observer!.connectionClosed(seen, 'closed')
    }
    this.checkIdle()
  }

  private readonly poolEvents: ThreadPoolEvents<ConnectionPump> = {
    handlerDone: (conn: ConnectionPump, outcome: Outcome, error: string | undefined, threadId: number) => {
      switch (outcome) {
        case Outcome.OK:
          break
        case Outcome.DISCONNECT:
          if (this.verbose) this.log(`${conn.remote}: ${error}`)
          break
        case Outcome.ERROR:
          this.log(`thread ${threadId}: handler failed for ${conn.remote}, connection closed: ${error}`)
          break
      }
      this.onHandlerDone?.(conn.slot, conn.id)
      conn.handlerDone()
      this.phaseChanged(conn)
    },
    threadLost: (conn: ConnectionPump, _threadId: number, terminated: boolean) => {
      this.onHandlerDone?.(conn.slot, conn.id)
      conn.threadLost(terminated)
      this.phaseChanged(conn)
    },
    threadGone: () => this.checkIdle(),
    threadChanged: (threadId: number, state: string, conn: ConnectionPump | null) => this.observer?.threadChanged(threadId, state, conn?.id ?? null),
    handlerEvent: (event: unknown, threadId: number) => this.onHandlerEvent?.(event, threadId),
  }

  // -- the watcher (lib/observer.ts): connections as their sockets count them --

  private observeConnection(conn: ConnectionPump): void {
    const { socket, outbound } = conn
    const seen: ObservedConnection = {
      id: conn.id,
      peer: conn.remote,
      queuedBytes: () => (conn.phase === Phase.RELEASED ? 0 : outbound.available()),
      bytesIn: () => socket.bytesRead,
      bytesOut: () => socket.bytesWritten,
    }
    this.observed.set(conn, seen)
    conn.watch(this.observer!, seen)
    this.observer!.connectionOpened(seen, null)
    this.observer!.stateChanged(seen, conn.phase)
  }

  private phaseChanged(conn: ConnectionPump): void {
    const seen = this.observed.get(conn)
    if (seen) this.observer!.stateChanged(seen, conn.phase)
  }

  private busy(socket: net.Socket, why: string): false {
    return this.refusals.turnAway(socket, `server busy: ${why}`, why)
  }

  private checkIdle(): void {
    if (this.conns.size === 0 && this.threads.size === 0) this.idleWaiters.splice(0).forEach(w => w())
  }

  /** Resolves true once no connection and no thread is left, false after `ms`. */
  private idle(ms: number): Promise<boolean> {
    if (this.conns.size === 0 && this.threads.size === 0) return Promise.resolve(true)
    return new Promise(resolve => {
      const timer = setTimeout(() => resolve(false), ms)
      this.idleWaiters.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }
}
