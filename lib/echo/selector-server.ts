// The `selector` model: one thread, one selector, one explicit state machine per connection.
//
//   OPEN ──(peer's FIN: recv() → b'')──▶ DRAINING ──(output flushed; our FIN)──▶ CLOSED
//     └──────────────(reset, error, idle timeout, grace time over)────────────────▶ CLOSED
//
// OPEN      read and echo. What send() does not accept waits in `pending`; WRITE interest only
//           while something is pending; READ interest only while `pending` is below the
//           high-water mark, so a client that sends but never reads cannot grow our memory:
//           unread bytes back up into Node's receive bound, then the kernel, then TCP.
// DRAINING  the client has shut down its write side; finish echoing what we have, then send our
//           FIN and close (Connection.close() still delivers what Node holds, as the kernel would).
//
// A server stop changes no state: it stops accepting, and each connection is served until its
// client half-closes, so every byte a client sent is echoed, or until the grace time is over.
import { Connection, EVENT_READ, EVENT_WRITE, EventLoop, Listener, type Selectable } from '../../reactor/index.js'
import { RateLimitedLog, log } from '../log.js'
import type { ObservedConnection, ServerObserver } from '../observer.js'
import { type RunningServer } from '../server-lifecycle.js'
import { runOnLoop } from '../server-lifecycle.js'
import type { EchoOptions } from './options.js'

export const EchoState = {
  OPEN: 'OPEN',
  DRAINING: 'DRAINING',
  CLOSED: 'CLOSED',
} as const
export type EchoState = (typeof EchoState)[keyof typeof EchoState]

/** Above this many bytes waiting to be echoed, stop reading from that client. */
const PENDING_HIGH_WATER = 64 * 1024
/** Reads per dispatch: enough to batch a burst, few enough to stay fair to other connections. */
const READS_PER_EVENT = 16
const RECV_SIZE = 64 * 1024

/**
 * The buffer every session reads into (recv_into), then sends from: one for the whole server, as
 * everything runs on one thread. A message that the kernel takes whole leaves nothing behind, so
 * the buffer is free again for the next connection's read: no allocation per message. When the
 * kernel takes only part of a message, Node keeps the rest where it is: that memory goes to the
 * connection and the server reads into a new buffer from then on (see readAndEcho). Python's
 * recv() makes a new bytes per message instead; CPython frees it at once, Node's GC much later.
 */
let scratch = Buffer.allocUnsafeSlow(RECV_SIZE)

/** What a session needs of a connection: the reactor's Connection, or any stand-in with its calls. */
export type EchoConnection = Selectable &
  Pick<Connection, 'recvInto' | 'send' | 'pendingOutput' | 'shutdown' | 'close' | 'remoteAddress' | 'remotePort'>

/** What a session needs of its server: the loop to change interest in, and a place to report closing. */
export interface SessionHost {
  readonly loop: Pick<EventLoop, 'modify' | 'unregister' | 'isRegistered'>
  readonly tracksIdle: boolean
  /** Who watches (lib/observer.ts); null or absent: nobody, and each report is one null check. */
  readonly observer?: ServerObserver | null
  sessionClosed(session: EchoSession, reason: string): void
}

let nextSessionId = 1

export class EchoSession implements ObservedConnection {
  readonly id = nextSessionId++
  state: EchoState = EchoState.OPEN
  private pending: Buffer[] = []
  private pendingBytes = 0
  /**
   * Set once a write-through from the scratch was still held by Node after send(): this
   * connection's writes do not finish at once (TLS always: encryption completes them later), so
   * from then on it sends a copy of the echo's own size rather than costing a new 64 KiB scratch
   * per message.
   */
  private sendsCopies = false
  private events = EVENT_READ
  /** performance.now() of the last bytes received; kept only with --idle-timeout. */
  lastActive = 0
  readonly peer: string
  private readonly observer: ServerObserver | null

  constructor(
    readonly conn: EchoConnection,
    private readonly server: SessionHost,
  ) {
    this.peer = `${conn.remoteAddress}:${conn.remotePort}`
    this.observer = server.observer ?? null
  }

  /** Bytes read and not yet echoed. */
  queuedBytes(): number {
    return this.pendingBytes
  }

  /** The loop's callback for this connection: one step of the state machine. */
  readonly onEvent = (_conn: Selectable, mask: number): void => {
    try {
      switch (this.state) {
        case EchoState.OPEN:
          if (mask & EVENT_WRITE) this.flush()
          if (mask & EVENT_READ) this.readAndEcho()
          break
        case EchoState.DRAINING:
          if (mask & EVENT_WRITE) this.flush()
          break
        case EchoState.CLOSED:
          return
      }
      if (this.state === EchoState.DRAINING && this.pendingBytes === 0) this.finish()
      else this.updateInterest()
    } catch (err) {
      // A reset or broken pipe ends this connection only.
      this.close(`error: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }

  private readAndEcho(): void {
    for (let i = 0; i < READS_PER_EVENT && this.pendingBytes < PENDING_HIGH_WATER; i++) {
      const n = this.conn.recvInto(scratch)
      if (n === null) return // would block
      if (n === 0) {
        this.state = EchoState.DRAINING
        if (this.observer !== null) this.observer.stateChanged(this, this.state)
        return
      }
      if (this.server.tracksIdle) this.lastActive = performance.now()
      if (this.observer !== null) this.observer.received(this, n)
      const data = scratch.subarray(0, n)
      if (this.pendingBytes > 0) {
        // Behind already: this echo waits its turn, in a copy (the scratch is read into again).
        this.queue(Buffer.from(data))
        continue
      }
      // Write-through: most echoes fit the send buffer at once and never touch `pending`. If Node
      // is still writing earlier bytes, this write would wait in Node's queue: it gets a copy of
      // its own size rather than the scratch (and so does every write of a connection whose
      // writes never finish at once).
      const out = this.sendsCopies || this.conn.pendingOutput > 0 ? Buffer.from(data) : data
      const sent = this.conn.send(out)
      if (this.observer !== null) this.observer.sent(this, sent, n)
      if (sent < n) this.queue(out.subarray(sent))
      // The kernel took only part of the scratch: Node holds on to the rest, so that memory is
      // this connection's now, and the next read goes into a new buffer.
      if (out === data && (sent < n || this.conn.pendingOutput > 0)) {
        scratch = Buffer.allocUnsafeSlow(RECV_SIZE)
        this.sendsCopies = true
      }
    }
  }

  private queue(data: Buffer): void {
    this.pending.push(data)
    this.pendingBytes += data.length
  }

  /** Sends what is pending, as much as the connection accepts (partial writes are real). */
  private flush(): void {
    while (this.pending.length > 0) {
      const head = this.pending[0]
      const sent = this.conn.send(head)
      if (this.observer !== null) this.observer.sent(this, sent, head.length)
      this.pendingBytes -= sent
      if (sent < head.length) {
        this.pending[0] = head.subarray(sent)
        return
      }
      this.pending.shift()
    }
  }

  private updateInterest(): void {
    let events = 0
    if (this.state === EchoState.OPEN && this.pendingBytes < PENDING_HIGH_WATER) events |= EVENT_READ
    if (this.pendingBytes > 0) events |= EVENT_WRITE
    if (events !== this.events) {
      this.events = events
      this.server.loop.modify(this.conn, events)
    }
  }

  /** Everything echoed after the client's FIN: send ours, then close. */
  private finish(): void {
    this.conn.shutdown()
    this.close('closed')
  }

  /** Closes at once; output already accepted by send() is still flushed by close(). */
  close(reason: string): void {
    if (this.state === EchoState.CLOSED) return
    this.state = EchoState.CLOSED
    if (this.observer !== null) this.observer.stateChanged(this, this.state)
    if (this.events !== 0 || this.server.loop.isRegistered(this.conn)) this.server.loop.unregister(this.conn)
    this.conn.close()
    this.server.sessionClosed(this, reason)
  }
}

export class SelectorEchoServer implements SessionHost {
  readonly loop: EventLoop
  readonly tracksIdle: boolean
  readonly observer: ServerObserver | null
  private readonly sessions = new Set<EchoSession>()
  private stopping = false
  private readonly refusals = new RateLimitedLog()
  private readonly acceptErrors = new RateLimitedLog()

  constructor(
    readonly listener: Listener,
    private readonly options: EchoOptions,
  ) {
    this.loop = new EventLoop()
    this.loop.register(listener, EVENT_READ, this.onAcceptable)
    this.tracksIdle = options.idleTimeoutMs > 0
    if (this.tracksIdle) this.scheduleIdleSweep()
    this.observer = options.observer ?? null
  }

  /**
   * One timer for all connections rather than one per connection re-armed on every read: a sweep
   * every quarter of the timeout closes the silent ones (at most 25% late).
   */
  private scheduleIdleSweep(): void {
    const timeout = this.options.idleTimeoutMs
    this.loop.callLater(Math.max(10, timeout / 4), () => {
      const now = performance.now()
      for (const session of [...this.sessions]) {
        if (now - session.lastActive >= timeout) session.close(`idle for ${timeout / 1000} s`)
      }
      if (!this.stopping) this.scheduleIdleSweep()
    })
  }

  /** The listener's callback: accept every waiting connection and register it for READ. */
  private readonly onAcceptable = (listener: Listener): void => {
    for (;;) {
      let conn: Connection | null
      try {
        conn = listener.accept()
      } catch (err) {
        // EMFILE/ENFILE: out of descriptors. libuv has already shed the connection it could not
        // take; we keep serving the others and accept again when descriptors are free.
        this.acceptErrors.log(`accept failed: ${(err as Error).message}`)
        return
      }
      if (!conn) return
      if (this.sessions.size >= this.options.maxConnections) {
        this.refusals.log(`refused ${conn.remoteAddress}:${conn.remotePort}: connection limit (${this.options.maxConnections}) reached`)
        conn.close()
        continue
      }
      const session = new EchoSession(conn, this)
      if (this.tracksIdle) session.lastActive = performance.now()
      this.sessions.add(session)
      this.loop.register(conn, EVENT_READ, session.onEvent)
      if (this.observer !== null) {
        this.observer.connectionOpened(session, conn)
        this.observer.stateChanged(session, session.state)
      }
      if (this.options.verbose) log(`connect ${session.peer} (${this.sessions.size} active)`)
    }
  }

  sessionClosed(session: EchoSession, reason: string): void {
    this.sessions.delete(session)
    if (this.observer !== null) this.observer.connectionClosed(session, reason)
    if (this.options.verbose) log(`disconnect ${session.peer}: ${reason} (${this.sessions.size} active)`)
    if (this.stopping && this.sessions.size === 0) this.loop.stop()
  }

  get activeConnections(): number {
    return this.sessions.size
  }

  /**
   * Stops accepting; every connection goes on being echoed until its client half-closes (then
   * DRAINING → CLOSED as always), so nothing a client sent is dropped; whatever is still open when
   * the grace time is over is closed. The loop stops when the last connection has closed.
   * (Stopping reads at once would drop what the client had already sent: bytes in Node's receive
   * buffer and the kernel's, and the echo of earlier bytes too when a close with unread input
   * turns into a RST.)
   */
  stop(): void {
    if (this.stopping) return
    this.stopping = true
    this.loop.unregister(this.listener)
    this.listener.close()
    if (this.sessions.size === 0) {
      this.loop.stop()
      return
    }
    this.loop.callLater(this.options.shutdownGraceMs, () => {
      for (const session of [...this.sessions]) session.close('server stopped')
      this.loop.stop()
    })
  }
}

export async function startSelectorEcho(options: EchoOptions): Promise<RunningServer> {
  const listener = await Listener.listen({ host: options.host, port: options.port, backlog: options.backlog, tls: options.tls ?? undefined })
  const server = new SelectorEchoServer(listener, options)
  options.observer?.serverStarted({ protocol: 'echo', model: 'selector', loop: server.loop, operator: null, lock: null })
  return runOnLoop(listener, server)
}
