// The thread-per-connection host: the main thread's half of the `threads` model.
//
// Node 20 cannot hand a socket to a worker thread, so the main thread keeps every socket and, per
// connection, pumps bytes between the socket and two shared-memory rings (ring.ts): `inbound`
// (socket → thread) and `outbound` (thread → socket). The connection's thread runs blocking,
// Python-style handler code over those rings (connection.ts). The main thread never blocks: it
// waits for the rings with Atomics.waitAsync.
//
// The seam — any protocol plugs in the same way (echo now, chat next):
//
//   const host = new ThreadHost({
//     handler: builtSibling(import.meta.url, './my-handler.js'), // exports handle(conn, ctx)
//     shared: { table: tableSab, lock: mutex.sab },              // optional, given to every thread
//     maxThreads: 256, pool: 0, trace: false, verbose: true,
//   })
//   await host.start()
//   net.createServer({ allowHalfOpen: true }, socket => host.serve(socket))
//   ...
//   await host.stop(graceMs)
//
// See handler.ts for what a handler module exports and receives (its `init`, the `shared` value,
// and the slot table through which it may reach other connections' rings).
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
import { Worker } from 'node:worker_threads'
import { RateLimitedLog, log } from '../log.js'
import type { ObservedConnection, ServerObserver } from '../observer.js'
import { FD_RESERVE, readFdLimit } from '../fd-limit.js'
import { builtSibling } from '../built.js'
import type { HostMessage, Outcome, ServeMessage, ThreadBoot, ThreadMessage } from './handler.js'
import { FLAG_CLOSED, FLAG_EOF, FLAG_RESET, ResetReason, type Ring } from './ring.js'
import { SlotTable } from './slots.js'

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
  /** Print thread starts, parks and exits. */
  trace: boolean
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

/** After our FIN, how long a finished connection may wait for the client's before it is dropped. */
const LINGER_MS = 10_000
/**
 * How long a refused client has to read its one line before its socket is closed: short, because
 * refusals come in floods and each one holds a descriptor the server may be short of.
 */
const REFUSAL_LINGER_MS = 1000
/** Refused sockets that may always linger, however few descriptors are left over (FD_RESERVE has room). */
const MIN_REFUSAL_ROOM = 4

/** Descriptors a connection costs: its socket, plus its thread's event loop (epoll, eventfds). */
export const FDS_PER_THREAD = 5

/** Well below the ~1,800 threads at which the process aborts on these machines. */
export const MAX_THREADS_LIMIT = 1500

/**
 * Connection slots (ring pairs) for a thread cap: twice the threads, because a connection whose
 * handler has finished keeps its rings (not its thread) until its socket has flushed and closed.
 * A slot number is below this, so tables indexed by slot can be sized with it.
 */
export function slotCountFor(maxThreads: number): number {
  return maxThreads * 2
}

/** The worker entry, as plain .js even when this module runs from its .ts source. */
const WORKER_URL = builtSibling(import.meta.url, './worker.js')

// ---- threads ------------------------------------------------------------------------------------

type ThreadState =
  | 'STARTING' // spawned; loading the handler module (it may already have a connection queued)
  | 'PARKED' // idle in its event loop, waiting for a connection
  | 'BUSY' // running handle() for a connection
  | 'EXITING' // terminate() requested; still counted until its 'exit' event

class ThreadRecord {
  state: ThreadState = 'STARTING'
  conn: HostConnection | null = null
  readonly spawnedAt = performance.now()
  readonly id: number

  constructor(readonly worker: Worker) {
    this.id = worker.threadId
  }
}

// ---- connections --------------------------------------------------------------------------------

type Phase =
  | 'SERVING' // its thread is running the handler
  | 'LINGERING' // the handler has finished; the socket is still flushing or half-open
  | 'ORPHANED' // the socket has closed; the handler has not finished yet
  | 'CLOSED' // both finished; waiting for outstanding ring waits to settle before reusing the slot
  | 'RELEASED' // slot returned to the free list

type InState =
  | 'READING' // socket flowing into the ring
  | 'BLOCKED' // ring full: socket paused, `pending` waits for space
  | 'EOF' // the client's FIN (or the server's stop) has been passed on
  | 'DISCARDING' // the handler stopped reading (or the ring is dead): input is dropped

type OutState =
  | 'PUMPING' // moving ring bytes to the socket, or waiting for some
  | 'ENDED' // the handler's EOF reached the socket (end() called)
  | 'DONE' // reset or destroyed

class HostConnection {
  phase: Phase = 'SERVING'
  inState: InState = 'READING'
  outState: OutState = 'PUMPING'
  thread: ThreadRecord | null = null
  /** Bytes read from the socket that did not fit in the ring yet. */
  pending: Buffer | null = null
  sawEof = false
  /** Outbound bytes handed to socket.write and not yet written (their ring space is still held). */
  inFlight = 0
  readonly writeSizes: number[] = []
  /** Outstanding Atomics.waitAsync waits on this slot's rings (the slot is reused only at 0). */
  waits = 0
  finished = false
  lingerTimer: NodeJS.Timeout | null = null
  readonly remote: string

  constructor(
    readonly host: ThreadHost,
    readonly id: number,
    readonly slot: number,
    readonly socket: net.Socket,
    readonly inbound: Ring,
    readonly outbound: Ring,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`
  }

  start(): void {
    const s = this.socket
    s.on('data', this.onData)
    s.on('end', this.onEnd)
    s.on('error', this.onError)
    s.on('finish', this.onFinish)
    s.on('close', this.onClose)
    s.on('drain', this.onDrain)
    this.pumpOut()
  }

  // -- socket → inbound ring --

  readonly onData = (chunk: Buffer): void => {
    switch (this.inState) {
      case 'READING': {
        const n = this.inbound.write(chunk)
        if (this.inbound.flags() & (FLAG_CLOSED | FLAG_RESET)) return this.discardInput()
        if (n < chunk.length) {
          this.pending = chunk.subarray(n)
          this.inState = 'BLOCKED'
          this.socket.pause()
          this.fillRing()
        }
        return
      }
      case 'BLOCKED': // paused, but a chunk already on its way may still come: queue it
        this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk
        return
      case 'EOF':
      case 'DISCARDING':
        return
    }
  }

  readonly onEnd = (): void => {
    this.sawEof = true
    if (this.inState === 'READING') this.passEof()
  }

  /** The server is stopping: the handler sees end of input (recv returns b''), as if the client had sent FIN. */
  endInput(): void {
    this.sawEof = true
    if (this.inState === 'READING') {
      this.socket.pause()
      this.passEof()
    }
  }

  private passEof(): void {
    this.inState = 'EOF'
    this.inbound.end()
  }

  private discardInput(): void {
    this.inState = 'DISCARDING'
    this.pending = null
    this.socket.resume() // keep reading and dropping, so the client is never stuck writing to us
  }

  /** Moves `pending` into the ring as space appears; resumes the socket when it is all in. */
  private fillRing(): void {
    while (this.inState === 'BLOCKED' && this.pending) {
      if (this.inbound.flags() & (FLAG_CLOSED | FLAG_RESET)) return this.discardInput()
      const seq = this.inbound.spaceSeq() // before looking at the space: no lost wake-up
      const n = this.inbound.write(this.pending)
      if (n === this.pending.length) {
        this.pending = null
        if (this.sawEof) return this.passEof()
        this.inState = 'READING'
        if (!this.host.stopping) this.socket.resume()
        return
      }
      this.pending = this.pending.subarray(n)
      const wait = this.inbound.whenSpace(seq, this.pending.length)
      if (wait) {
        this.waits++
        wait.then(this.afterSpaceWait)
        return
      }
    }
  }

  private readonly afterSpaceWait = (): void => {
    this.waits--
    if (this.phase === 'CLOSED') return this.host.release(this)
    this.fillRing()
  }

  // -- outbound ring → socket --

  /** Writes every readable region of the ring straight from shared memory (no copy). */
  private pumpOut(): void {
    for (;;) {
      if (this.outState !== 'PUMPING' || this.phase === 'CLOSED' || this.phase === 'RELEASED') return
      const seq = this.outbound.dataSeq()
      const flags = this.outbound.flags()
      if (flags & FLAG_RESET) {
        this.outState = 'DONE'
        if (this.outbound.resetReason() === ResetReason.LOCAL_RESET) this.socket.resetAndDestroy()
        else this.socket.destroy()
        return
      }
      const view = this.outbound.peek(this.inFlight, this.outbound.capacity)
      if (view.length > 0) {
        this.inFlight += view.length
        this.writeSizes.push(view.length)
        // The ring bounds what is in flight, so socket.write's "buffer full" answer needs no
        // extra pause: once the ring is full the handler blocks in sendall. It is published
        // (SINK_FULL) for producers that must not wait on a client that is not reading.
        if (!this.socket.write(view, this.onWritten)) this.outbound.markSinkFull(true)
        continue
      }
      if (flags & FLAG_EOF) {
        this.outState = 'ENDED'
        this.socket.end()
        return
      }
      const wait = this.outbound.whenData(seq)
      if (wait) {
        this.waits++
        wait.then(this.afterDataWait)
        return
      }
    }
  }

  private readonly onWritten = (): void => {
    const n = this.writeSizes.shift()!
    this.inFlight -= n
    if (this.phase === 'RELEASED' || this.phase === 'CLOSED') return
    this.outbound.consume(n)
  }

  private readonly onDrain = (): void => {
    if (this.phase !== 'CLOSED' && this.phase !== 'RELEASED') this.outbound.markSinkFull(false)
  }

  private readonly afterDataWait = (): void => {
    this.waits--
    if (this.phase === 'CLOSED') return this.host.release(this)
    this.pumpOut()
  }

  // -- endings --

  private readonly onError = (err: NodeJS.ErrnoException): void => {
    const reason = err.code === 'EPIPE' ? ResetReason.BROKEN_PIPE : ResetReason.PEER_RESET
    if (this.host.verbose && err.code !== 'ECONNRESET' && err.code !== 'EPIPE') this.host.log(`${this.remote}: ${err.message}`)
    this.abortRings(reason)
  }

  private readonly onFinish = (): void => {
    this.finished = true
    this.lingerIfDone()
  }

  private readonly onClose = (): void => {
    this.outState = 'DONE'
    if (this.lingerTimer) clearTimeout(this.lingerTimer)
    switch (this.phase) {
      case 'SERVING':
        // The client is gone while the handler still runs: wake it with a reset.
        this.abortRings(ResetReason.PEER_RESET)
        this.phase = 'ORPHANED'
        break
      case 'LINGERING':
        this.phase = 'CLOSED'
        this.host.release(this)
        break
      case 'ORPHANED':
      case 'CLOSED':
      case 'RELEASED':
        break
    }
  }

  /** The handler has returned (or its thread died). */
  threadDone(): void {
    this.thread = null
    this.host.onHandlerDone?.(this.slot, this.id)
    switch (this.phase) {
      case 'SERVING':
        this.phase = 'LINGERING'
        // Nobody will read the input any more: keep draining it, so that the client's FIN is
        // seen (the socket may be paused: ring full, or the server stopping) and a close never
        // leaves unread bytes behind (the kernel would answer them with a RST).
        if (this.inState !== 'DISCARDING') this.discardInput()
        this.lingerIfDone()
        break
      case 'ORPHANED':
        this.phase = 'CLOSED'
        this.host.release(this)
        break
      case 'LINGERING':
      case 'CLOSED':
      case 'RELEASED':
        break
    }
  }

  /** Our FIN is out and the handler is done: give the client a while to close its side. */
  private lingerIfDone(): void {
    if (this.phase !== 'LINGERING' || !this.finished || this.lingerTimer) return
    this.lingerTimer = setTimeout(() => this.socket.destroy(), LINGER_MS).unref()
  }

  /** Marks both rings dead (waking the handler and any wait of ours). */
  abortRings(reason: ResetReason): void {
    this.inbound.abort(reason)
    this.outbound.abort(reason)
  }

  /** Shutdown ran out of patience: reset the client, wake the handler. */
  kill(): void {
    this.abortRings(ResetReason.SHUTDOWN)
    this.socket.resetAndDestroy()
  }
}

// ---- the host -----------------------------------------------------------------------------------

export class ThreadHost {
  readonly maxThreads: number
  readonly pool: number
  readonly maxConnections: number
  readonly idleTimeoutMs: number
  readonly verbose: boolean
  readonly trace: boolean
  readonly log = log
  readonly slots: SlotTable
  readonly onHandlerDone: ((slot: number, id: number) => void) | undefined
  stopping = false
  private readonly observer: ServerObserver | null
  /** The watcher's view of each connection (only while watched). */
  private readonly observed = new Map<HostConnection, ObservedConnection>()
  private readonly onHandlerEvent: ((event: unknown, threadId: number) => void) | undefined

  private readonly boot: ThreadBoot
  private readonly threads = new Set<ThreadRecord>()
  private readonly parked: ThreadRecord[] = []
  private readonly conns = new Set<HostConnection>()
  /** Sockets turned away and still saying so (closed at stop, not left to their linger timer). */
  private readonly refused = new Set<net.Socket>()
  /** Refused sockets allowed to linger at once: the descriptors the thread cap leaves over. */
  private readonly refusalRoom: number
  private readonly freeSlots: number[] = []
  private nextConnId = 1
  private readonly refusals = new RateLimitedLog()
  private readonly threadFailures = new RateLimitedLog()
  private idleWaiters: Array<() => void> = []

  constructor(options: ThreadHostOptions) {
    const fdLimit = readFdLimit()?.soft ?? null
    this.maxThreads = fitThreadCap(options.maxThreads, fdLimit)
    this.refusalRoom = fdLimit === null ? Infinity : Math.max(MIN_REFUSAL_ROOM, fdLimit - FD_RESERVE - this.maxThreads * FDS_PER_THREAD)
    this.pool = Math.min(options.pool, this.maxThreads)
    this.maxConnections = options.maxConnections ?? Infinity
    this.idleTimeoutMs = options.idleTimeoutMs ?? 0
    this.verbose = options.verbose
    this.trace = options.trace
    this.onHandlerDone = options.onHandlerDone
    this.observer = options.observer ?? null
    this.onHandlerEvent = options.onHandlerEvent
    const slotCount = slotCountFor(this.maxThreads)
    const ringBytes = options.ringBytes ?? DEFAULT_RING_BYTES
    this.slots = SlotTable.create(slotCount, ringBytes, options.outboundRingBytes ?? ringBytes)
    for (let i = slotCount - 1; i >= 0; i--) this.freeSlots.push(i)
    this.boot = { handlerUrl: options.handler.href, slots: this.slots.sab, shared: options.shared }
  }

  get activeConnections(): number {
    return this.conns.size
  }

  get liveThreads(): number {
    return this.threads.size
  }

  /** Starts the pool and waits until those threads are parked (or have failed). */
  async start(): Promise<void> {
    const starting = Array.from({ length: this.pool }, () => this.spawn())
    await Promise.all(
      starting.map(
        t => new Promise<void>(resolve => {
          const done = () => resolve()
          t.worker.once('message', done)
          t.worker.once('exit', done)
        }),
      ),
    )
  }

  /** Takes a freshly accepted socket: serves it on a thread, or refuses it when at the cap. */
  serve(socket: net.Socket): boolean {
    if (this.stopping) {
      socket.destroy()
      return false
    }
    if (this.conns.size >= this.maxConnections) {
      // The other models' --max-conns behaviour: closed at once, logged.
      this.refusals.log(`refused ${socket.remoteAddress}:${socket.remotePort}: connection limit (${this.maxConnections}) reached`)
      socket.destroy()
      return false
    }
    const slot = this.freeSlots.pop()
    if (slot === undefined) return this.busy(socket, `all ${this.slots.slotCount} connection slots in use`)
    const thread = this.parked.pop() ?? (this.threads.size < this.maxThreads ? this.spawn() : null)
    if (!thread) {
      this.freeSlots.push(slot)
      return this.busy(socket, `thread limit (${this.maxThreads}) reached`)
    }
    const inbound = this.slots.inbound(slot)
    const outbound = this.slots.outbound(slot)
    inbound.reset()
    outbound.reset()
    const conn = new HostConnection(this, this.nextConnId++, slot, socket, inbound, outbound)
    this.conns.add(conn)
    if (this.idleTimeoutMs > 0) socket.setTimeout(this.idleTimeoutMs, () => socket.destroy())
    if (this.verbose) this.log(`connect ${conn.remote} (${this.conns.size} active)`)
    if (this.observer !== null) this.observeConnection(conn)
    conn.start()
    this.assign(thread, conn)
    return true
  }

  /** Stops: every handler sees end of input; after `graceMs` the rest are reset and their threads terminated. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true
    for (const s of this.refused) s.destroy()
    this.slots.markStopping()
    for (const t of this.parked.splice(0)) this.exitThread(t)
    for (const t of this.threads) if (t.state === 'STARTING' && !t.conn) this.exitThread(t)
    for (const c of this.conns) c.endInput()
    if (!(await this.idle(graceMs))) {
      if (this.verbose) this.log(`shutdown: resetting ${this.conns.size} connection(s) still open`)
      for (const c of this.conns) c.kill()
      for (const t of this.threads) this.exitThread(t)
      await this.idle(1000)
    }
  }

  // -- threads --

  private spawn(): ThreadRecord {
    const worker = new Worker(WORKER_URL, { workerData: this.boot })
    const t = new ThreadRecord(worker)
    this.threads.add(t)
    this.threadChanged(t)
    worker.on('message', (m: ThreadMessage) => this.onThreadMessage(t, m))
    worker.on('error', err => this.onThreadError(t, err))
    worker.on('exit', code => this.onThreadExit(t, code))
    return t
  }

  private assign(t: ThreadRecord, conn: HostConnection): void {
    t.conn = conn
    conn.thread = t
    if (t.state === 'PARKED') t.state = 'BUSY'
    this.threadChanged(t)
    const msg: ServeMessage = {
      type: 'serve',
      id: conn.id,
      slot: conn.slot,
      remoteAddress: conn.socket.remoteAddress ?? '',
      remotePort: conn.socket.remotePort ?? 0,
    }
    t.worker.postMessage(msg)
  }

  private onThreadMessage(t: ThreadRecord, m: ThreadMessage): void {
    switch (m.type) {
      case 'ready':
        if (this.trace) {
          const ms = (performance.now() - t.spawnedAt).toFixed(1)
          this.log(`thread ${t.id} started in ${ms} ms${t.conn ? ` for ${t.conn.remote}` : ''} (${this.threads.size} live)`)
        }
        if (t.state !== 'STARTING') return
        if (t.conn) {
          t.state = 'BUSY'
          this.threadChanged(t)
        } else this.park(t)
        return
      case 'done':
        this.finishConnection(t, m.outcome, m.error)
        return
      case 'print': {
        const stream = m.stream === 'stdout' ? process.stdout : process.stderr
        if (!stream.destroyed) stream.write(m.text) // a closed stdout (EPIPE) costs only the output
        return
      }
      case 'event':
        this.onHandlerEvent?.(m.event, t.id)
        return
    }
  }

  private finishConnection(t: ThreadRecord, outcome: Outcome, error?: string): void {
    const conn = t.conn
    t.conn = null
    if (conn) {
      switch (outcome) {
        case 'ok':
          break
        case 'disconnect':
          if (this.verbose) this.log(`${conn.remote}: ${error}`)
          break
        case 'error':
          this.log(`thread ${t.id}: handler failed for ${conn.remote}, connection closed: ${error}`)
          break
      }
      conn.threadDone()
      this.phaseChanged(conn)
    }
    if (t.state !== 'BUSY') return
    if (!this.stopping && this.parked.length < this.pool) this.park(t)
    else this.exitThread(t)
  }

  private park(t: ThreadRecord): void {
    t.state = 'PARKED'
    this.parked.push(t)
    this.threadChanged(t)
    if (this.trace) this.log(`thread ${t.id} parked (${this.parked.length} parked, ${this.threads.size} live)`)
  }

  /** Ends a thread: an idle one is asked to exit (code 0), a busy one is terminated. */
  private exitThread(t: ThreadRecord): void {
    if (t.state === 'EXITING') return
    const idle = !t.conn
    t.state = 'EXITING'
    this.threadChanged(t)
    if (idle) t.worker.postMessage({ type: 'exit' } satisfies HostMessage)
    else void t.worker.terminate()
  }

  private onThreadError(t: ThreadRecord, err: Error & { code?: string }): void {
    // A thread that cannot start (EMFILE, out of memory) is one line, rate-limited; a crash gets its stack.
    if (err.code === 'ERR_WORKER_INIT_FAILED' || t.state === 'STARTING') this.threadFailures.log(`thread ${t.id} failed to start: ${err.message}`)
    else this.log(`thread ${t.id}: ${err.stack ?? err.message}`)
  }

  private onThreadExit(t: ThreadRecord, code: number): void {
    const state = t.state
    this.threads.delete(t)
    const i = this.parked.indexOf(t)
    if (i >= 0) this.parked.splice(i, 1)
    if (this.trace) this.log(`thread ${t.id} exited (code ${code}, ${this.threads.size} live)`)
    this.observer?.threadChanged(t.id, 'EXITED', null)
    if (t.conn) {
      // It died under its connection (a crash, or terminated at shutdown): that connection is lost.
      const conn = t.conn
      t.conn = null
      if (state !== 'EXITING') this.threadFailures.log(`thread ${t.id} ended while serving ${conn.remote}: connection reset`)
      conn.abortRings(ResetReason.HANDLER_GONE)
      conn.socket.resetAndDestroy()
      conn.threadDone()
      this.phaseChanged(conn)
    }
    this.checkIdle()
  }

  // -- connections --

  /** A connection is finished on both sides: its slot is reused once no wait of ours is left on it. */
  release(conn: HostConnection): void {
    if (conn.phase !== 'CLOSED') return
    if (conn.waits > 0) {
      // Wake our own waits (the rings are dead anyway); the last one to settle calls back here.
      conn.abortRings(ResetReason.PEER_RESET)
      return
    }
    conn.phase = 'RELEASED'
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

  private busy(socket: net.Socket, why: string): false {
    return this.refuse(socket, `server busy: ${why}`, why)
  }

  /**
   * Turns a client away without a thread: `line` to it, then FIN, and a log line `refused
   * HOST:PORT: why` (rate-limited: a flood costs a line a second). Protocols use it for refusals
   * of their own (the chat's "server full").
   */
  refuse(socket: net.Socket, line: string, why: string): false {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`
    socket.on('error', () => socket.destroy())
    socket.end(`${line}\n`)
    if (this.refused.size < this.refusalRoom) {
      this.refused.add(socket)
      socket.on('close', () => this.refused.delete(socket))
      socket.resume() // drop whatever it sends, so the close is a FIN and not a RST
      setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref()
    } else {
      // A flood: its sockets must not take the descriptors that threads need to start (a thread
      // holds ~4). Closed at once; the line was handed to the kernel, but may be lost to a RST.
      socket.destroy()
    }
    this.refusals.log(`refused ${peer}: ${why}`)
    return false
  }

  // -- the watcher (lib/observer.ts): connections as their sockets count them, threads as they change --

  private observeConnection(conn: HostConnection): void {
    const { socket, outbound } = conn
    const seen: ObservedConnection = {
      id: conn.id,
      peer: conn.remote,
      queuedBytes: () => (conn.phase === 'RELEASED' ? 0 : outbound.available()),
      bytesIn: () => socket.bytesRead,
      bytesOut: () => socket.bytesWritten,
    }
    this.observed.set(conn, seen)
    this.observer!.connectionOpened(seen, null)
    this.observer!.stateChanged(seen, conn.phase)
  }

  private phaseChanged(conn: HostConnection): void {
    const seen = this.observed.get(conn)
    if (seen) this.observer!.stateChanged(seen, conn.phase)
  }

  private threadChanged(t: ThreadRecord): void {
    if (this.observer !== null) this.observer.threadChanged(t.id, t.state, t.conn?.id ?? null)
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

/**
 * The thread cap that fits the descriptor limit: each connection holds its socket and its thread
 * holds ~4 descriptors of its own, so `ulimit -n 64` allows a handful of threads, not 256. Says so
 * when it lowers the cap.
 */
export function fitThreadCap(requested: number, limit = readFdLimit()?.soft ?? null): number {
  if (limit === null) return requested
  const room = Math.max(1, Math.floor((limit - FD_RESERVE) / FDS_PER_THREAD))
  if (requested <= room) return requested
  log(`thread cap lowered from ${requested} to ${room}: the file-descriptor limit is ${limit} (ulimit -n), ~${FDS_PER_THREAD} per connection-thread`)
  return room
}
