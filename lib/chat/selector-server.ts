// The `selector` model of the chat: one thread, one selector, every socket and the operator's
// stdin registered in it. The protocol (who gets what) is the ChatRoom's (room.ts), over a
// MapRoster (map-roster.ts) of this server's connections; this module does the I/O: accept, read
// and frame, queue output per recipient, write when the socket can take it.
//
// No locks. The Python seeds guard their client list with a threading.Lock because several
// threads walk and change it at once; here one thread runs one callback at a time, each to the
// end, so nothing else can touch the list while a broadcast walks it.
//
// Per connection, what the loop watches follows the room's state for it:
//   AWAITING_NAME, CHATTING   READ (unless throttled, below), plus WRITE while output is queued;
//   CLOSING                   WRITE only, until the queue is flushed (at most FLUSH_TIMEOUT_MS, or
//                             the connection is reset); then a lingering close: our FIN, then READ
//                             only, discarding, until the peer closes too (at most LINGER_BYTES
//                             are read; at most LINGER_MS are waited); then the socket is closed.
//
// Output from one round of the loop is coalesced: deliveries only queue bytes, and one timer at
// the end of the round (callLater(0)) writes each recipient's queue with as few sends as it can,
// applies interest changes, and tears down connections that failed or overflowed meanwhile.
//
// Why linger: closing a socket with unread input makes the kernel send a RST and throw away what
// it had not yet transmitted, which could be the goodbye and the last messages of a client that
// was still typing. A peer that keeps sending past LINGER_BYTES (a huge line) is no longer read,
// but still gets the rest of LINGER_MS before the RST: a RST that meets its next write makes its
// socket fail before it has read our last line (`line too long`). Connections refused as "server
// full" skip the linger: they hold a descriptor the flood they belong to needs back, and have
// nothing of theirs to lose but one line.
//
// Flood control (--max-rate, token-bucket.ts): a client over its rate is simply not read for a
// while (TCP slows it down), and one timer re-opens the throttled ones.
//
// With --idle-timeout, one sweep timer (not one per connection) closes the silent ones.
//
// With --redis the room spans servers (bus/redis.ts): the bus's inbox (other servers' messages,
// answers to name claims, Redis lost and back) is one more file object in the selector, so the
// room hears the other servers between its own sockets' events, never from a Node callback.
import type { Readable } from 'node:stream'
import os from 'node:os'
import { Connection, EVENT_READ, EVENT_WRITE, EventLoop, Listener, StreamReader, TlsConnection, type TimerHandle } from '../../reactor/index.js'
import { log, RateLimitedLog } from '../log.js'
import type { ObservedConnection, ServerObserver } from '../observer.js'
import { runOnLoop, type RunningServer } from '../server-lifecycle.js'
import { MessageFramer } from './framing.js'
import { MapRoster } from './map-roster.js'
import { ObservedRoster } from './observed-roster.js'
import { OperatorConsole } from './operator-console.js'
import type { ChatOptions } from './options.js'
import { line, replies } from './replies.js'
import { ChatRoom } from './room.js'
import { SOLO_BUS, type BusEvent, type RoomBus } from './bus/bus.js'
import type { Inbox } from '../inbox.js'
import { SessionState, type Session } from './roster.js'
import { TokenBucket } from './token-bucket.js'
import { describeServerTlsError } from '../tls/errors.js'
import { HANDSHAKE_ABANDONED, handshakeFailure } from '../tls/server.js'

/**
 * One read of at most RECV_SIZE per connection per round: fair to everyone, and it bounds what
 * one round can queue for a recipient (connections × RECV_SIZE) before the queue is flushed.
 */
const RECV_SIZE = 16 * 1024
/** Small queued lines are merged into sends of up to this size. */
const COALESCE_BYTES = 64 * 1024
/** A closing connection whose goodbye is not read within this time is reset. */
const FLUSH_TIMEOUT_MS = 5000
/** How often throttled clients get their allowance back (one timer for all of them). */
const THROTTLE_TICK_MS = 50
/** After our FIN, how long and how much we keep reading (and discarding) for the peer to close. */
const LINGER_MS = 1000
const LINGER_BYTES = 256 * 1024
/** Bus events handled per round of the loop, at most: a burst from the other servers cannot starve the sockets. */
const BUS_EVENTS_PER_ROUND = 256

/** What a connection needs of its server (as the echo's SessionHost): nothing else of it is seen. */
export interface ChatConnectionHost {
  readonly loop: Pick<EventLoop, 'register' | 'modify' | 'unregister' | 'callLater'>
  readonly room: Pick<ChatRoom, 'stateOf' | 'who' | 'receive' | 'tooLong' | 'closed' | 'awaitingClaim'>
  /** --idle-timeout is on: keep `lastActive`. */
  readonly tracksIdle: boolean
  /** Marks it for the end-of-round settle (output, interest, teardown). */
  touch(c: ChatConnection): void
  /** It went over --max-rate: stop reading it until its allowance comes back. */
  throttle(c: ChatConnection): void
  /** Ends it: the room is told (others hear `left` if it was chatting), the socket goes (reset if abrupt). */
  remove(c: ChatConnection, reason: string, abrupt: boolean): void
  /** It ended before its TLS handshake was done: `why`, for the log (rate-limited: a flood is one line a second). */
  handshakeFailed(c: ChatConnection, why: string): void
  /** Who watches (lib/observer.ts); null or absent: nobody. */
  readonly observer?: ServerObserver | null
}

export type ConnectionLimits = Pick<ChatOptions, 'framing' | 'maxLine' | 'maxOutbuf' | 'maxRate'>

export class ChatConnection implements Session, ObservedConnection {
  readonly serial: number
  readonly peer: string
  private readonly framer: MessageFramer
  /** Flood control: what it may send now; not read while throttled. Null without --max-rate. */
  private readonly bucket: TokenBucket | null
  private readonly maxOutbuf: number
  private out: Buffer[] = []
  private outBytes = 0
  private events = EVENT_READ
  /** Why this connection must be torn down at once (send error, overflow), or null. */
  failure: string | null = null
  gone = false
  /** Told "server full": closed as soon as that line is out, with no linger. */
  refused = false
  /** performance.now() of the last bytes received; kept only with --idle-timeout. */
  lastActive = 0
  throttled = false
  /** In CLOSING: our FIN is sent, input is read and discarded until the peer closes. */
  private lingering = false
  private peerDone = false
  private discarded = 0
  /** The bound on CLOSING: first for the flush, then for the linger. */
  private closeTimer: TimerHandle | null = null
  private readonly observer: ServerObserver | null

  constructor(
    readonly id: number,
    readonly conn: Connection,
    private readonly host: ChatConnectionHost,
    limits: ConnectionLimits,
  ) {
    this.serial = id // ids are never reused here
    this.peer = `${conn.remoteAddress}:${conn.remotePort}`
    this.framer = MessageFramer.forConnection(limits.framing, limits.maxLine)
    this.bucket = TokenBucket.forChat(limits.maxRate, limits.maxLine)
    this.maxOutbuf = limits.maxOutbuf
    this.observer = host.observer ?? null
  }

  /** Bytes queued for this client and not yet sent. */
  queuedBytes(): number {
    return this.outBytes
  }

  /** Throttled: true once its allowance has come back. */
  mayRead(): boolean {
    return this.bucket === null || this.bucket.refill() > 0
  }

  /** The loop's callback for this connection. */
  readonly onEvent = (_conn: Connection, mask: number): void => {
    switch (this.host.room.stateOf(this)) {
      case SessionState.AWAITING_NAME:
      case SessionState.CHATTING:
        if (mask & EVENT_WRITE) this.flush()
        if (mask & EVENT_READ) this.read()
        break
      case SessionState.CLOSING:
        if (mask & EVENT_WRITE) this.flush()
        if (mask & EVENT_READ && this.lingering) this.discard()
        break
    }
    this.host.touch(this)
  }

  /** Lingering: reads what the peer still sends, and drops it, until its EOF. */
  private discard(): void {
    let data: Buffer | null
    try {
      data = this.conn.recv(RECV_SIZE)
    } catch {
      data = Buffer.alloc(0) // reset by the peer: it is gone, which is what we were waiting for
    }
    if (data === null) return
    if (data.length === 0) this.peerDone = true
    else this.discarded += data.length
  }

  /** One read per readiness event (level-triggered: more data means another event next round). */
  private read(): void {
    const room = this.host.room
    let data: Buffer | null
    try {
      data = this.conn.recv(this.bucket === null ? RECV_SIZE : this.bucket.readSize(RECV_SIZE))
    } catch (err) {
      if (this.handshaking()) this.host.handshakeFailed(this, handshakeFailure(err as NodeJS.ErrnoException))
      this.fail(describeSocketError(err))
      return
    }
    if (data === null) return
    if (this.host.tracksIdle) this.lastActive = performance.now()
    if (this.observer !== null && data.length > 0) this.observer.received(this, data.length)
    if (this.bucket?.take(data.length)) this.host.throttle(this)
    if (data.length === 0) {
      if (this.handshaking()) this.host.handshakeFailed(this, HANDSHAKE_ABANDONED)
      this.peerDone = true
      for (const message of this.framer.end()) room.receive(this, message)
      room.closed(this, 'end of input')
      return
    }
    const { messages, tooLong } = this.framer.push(data)
    for (const message of messages) {
      room.receive(this, message)
      if (room.stateOf(this) === SessionState.CLOSING) return
    }
    if (tooLong) room.tooLong(this)
  }

  /**
   * Queues one line for this client (the roster's deliver). Written at the end of the round, or
   * at once when much has piled up this round, so that the socket takes what it can before the
   * queue is judged.
   */
  enqueue(line: Buffer): void {
    if (this.gone || this.failure !== null) return
    this.out.push(line)
    this.outBytes += line.length
    if (this.outBytes >= COALESCE_BYTES) {
      this.flush()
      this.checkOverflow()
    }
    this.host.touch(this)
  }

  /**
   * After a flush: more than maxOutbuf still queued means the socket's own buffers (Node's and
   * the kernel's) are full too: the client is not reading. It is dropped, never buffered for.
   */
  private checkOverflow(): void {
    if (this.failure !== null || this.outBytes <= this.maxOutbuf) return
    log(`dropping ${this.host.room.who(this)} (${this.peer}): not reading, ${this.outBytes} bytes queued for it (max ${this.maxOutbuf})`)
    this.fail('dropped: not reading')
  }

  /** Sends what is queued, as much as the connection accepts (partial writes are real). */
  private flush(): void {
    try {
      while (this.out.length > 0) {
        if (this.out.length > 1 && this.out[0].length < COALESCE_BYTES) this.mergeHead()
        const head = this.out[0]
        const sent = this.conn.send(head)
        if (this.observer !== null) this.observer.sent(this, sent, head.length)
        this.outBytes -= sent
        if (sent < head.length) {
          this.out[0] = head.subarray(sent)
          return
        }
        this.out.shift()
      }
    } catch (err) {
      this.fail(describeSocketError(err))
    }
  }

  /** Copies the first few small lines into one buffer, so they go out in one send. */
  private mergeHead(): void {
    let n = 0
    let bytes = 0
    while (n < this.out.length && bytes + this.out[n].length <= COALESCE_BYTES) bytes += this.out[n++].length
    if (n > 1) this.out.splice(0, n, Buffer.concat(this.out.slice(0, n), bytes))
  }

  private fail(reason: string): void {
    if (this.failure === null) this.failure = reason
  }

  /**
   * After a round: flush, then either tear down (failed), close (CLOSING with nothing left to
   * send), or set the interest the state calls for.
   */
  settle(): void {
    if (this.gone) return
    if (this.failure === null && this.outBytes > 0) {
      this.flush()
      this.checkOverflow()
    }
    if (this.failure !== null) return this.host.remove(this, this.failure, true)
    if (this.host.room.stateOf(this) === SessionState.CLOSING) return this.settleClosing()
    // Not read while throttled, nor while its name claim waits for the other servers' answer
    // (what it already sent is held by the room, in order).
    const reading = !this.throttled && !this.host.room.awaitingClaim(this)
    this.setInterest((reading ? EVENT_READ : 0) | (this.outBytes > 0 ? EVENT_WRITE : 0))
  }

  /** CLOSING: flush (bounded), then linger (bounded), then close. */
  private settleClosing(): void {
    const loop = this.host.loop
    const flushed = this.outBytes === 0
    if (flushed && (this.refused || this.peerDone)) return this.host.remove(this, 'closed', false)
    if (this.closeTimer === null) {
      this.closeTimer = loop.callLater(FLUSH_TIMEOUT_MS, () => this.host.remove(this, 'goodbye not read in time', true))
    }
    if (!flushed) return this.setInterest(EVENT_WRITE)
    if (!this.lingering) {
      this.lingering = true
      this.conn.shutdown()
      this.closeTimer.cancel()
      this.closeTimer = loop.callLater(LINGER_MS, () => this.host.remove(this, 'closed', false))
    }
    this.setInterest(this.discarded > LINGER_BYTES ? 0 : EVENT_READ)
  }

  /** What the loop watches; nothing at all (unregistered) once a lingering peer has sent too much. */
  private setInterest(events: number): void {
    if (events === this.events) return
    const loop = this.host.loop
    if (events === 0) loop.unregister(this.conn)
    else if (this.events === 0) loop.register(this.conn, events, this.onEvent)
    else loop.modify(this.conn, events)
    this.events = events
  }

  /** A TLS connection whose handshake is not done: nothing it sent has reached the room. */
  private handshaking(): boolean {
    return this.conn instanceof TlsConnection && !this.conn.handshakeDone
  }

  /** The connection is gone: no timer may act on it any more. */
  forget(): void {
    this.gone = true
    this.closeTimer?.cancel()
  }
}

export class SelectorChatServer implements ChatConnectionHost {
  readonly loop: EventLoop
  readonly room: ChatRoom
  readonly tracksIdle: boolean
  readonly observer: ServerObserver | null
  private readonly roster: MapRoster
  private readonly conns = new Map<number, ChatConnection>()
  private nextId = 1
  /** Connections with queued output, interest changes or failures since the last settle. */
  private dirty = new Set<ChatConnection>()
  private settleScheduled = false
  private readonly operator: OperatorConsole
  private consoleReader: StreamReader | null = null
  private stopping = false
  private readonly throttled = new Set<ChatConnection>()
  private throttleScheduled = false
  private readonly floods = new RateLimitedLog()
  /** A connection flood past --max-clients must not become a flood of log lines. */
  private readonly refusals = new RateLimitedLog()
  private readonly acceptErrors = new RateLimitedLog()
  private readonly handshakeFailures = new RateLimitedLog()

  /**
   * `bus`: the other servers of the room (SOLO_BUS: none). `io.consoleInput`: where operator
   * commands come from (default stdin; a worker gets them from its primary); `io.showChat`: show
   * the conversation on stdout (default true; off for all workers but one, so it shows once).
   */
  constructor(
    readonly listener: Listener,
    readonly options: ChatOptions,
    readonly bus: RoomBus = SOLO_BUS,
    io: ChatIo = {},
  ) {
    this.loop = new EventLoop()
    this.roster = new MapRoster({
      deliver: (id, line) => this.conns.get(id)?.enqueue(line),
      hangUp: id => {
        const c = this.conns.get(id)
        if (c) this.touch(c)
      },
    })
    this.operator = new OperatorConsole(options.maxLine, text => this.room.operator(text), () => this.closeConsole())
    this.observer = options.observer ?? null
    const showChat = io.showChat ?? true
    // Watched, the room's roster tells the watcher who is in which state and what everyone hears.
    const roster = options.observer ? new ObservedRoster(this.roster, options.observer, id => id) : this.roster
    this.room = new ChatRoom(roster, { log, console: text => showChat && this.operator.print(text) }, options, bus)
    this.loop.register(listener, EVENT_READ, this.onAcceptable)
    if (bus.inbox) this.loop.register(bus.inbox, EVENT_READ, this.onBus)
    this.tracksIdle = options.idleTimeoutMs > 0
    if (this.tracksIdle) this.scheduleIdleSweep()
    if (options.console) {
      // The operator's terminal, watched by the same selector as the sockets.
      this.consoleReader = new StreamReader(io.consoleInput ?? process.stdin)
      this.loop.register(this.consoleReader, EVENT_READ, this.onConsole)
    }
  }

  /** The listener's callback: accept every waiting connection; past --max-clients it is turned away. */
  private readonly onAcceptable = (listener: Listener): void => {
    for (;;) {
      let conn: Connection | null
      try {
        conn = listener.accept()
      } catch (err) {
        this.acceptErrors.log(`accept failed: ${describeSocketError(err)}`)
        return
      }
      if (!conn) return
      const c = new ChatConnection(this.nextId++, conn, this, this.options)
      if (this.tracksIdle) c.lastActive = performance.now()
      this.conns.set(c.id, c)
      this.loop.register(conn, EVENT_READ, c.onEvent)
      if (this.observer !== null) this.observer.connectionOpened(c, conn)
      if (this.roster.connectionCount < this.options.maxClients) {
        this.room.open(c)
        continue
      }
      // Never in the room (so CLOSING): told why, and closed once that line is out.
      c.refused = true
      if (this.observer !== null) this.observer.stateChanged(c, 'REFUSED')
      c.enqueue(line(replies.full(this.options.maxClients)))
      this.refusals.log(`refused ${c.peer}: server full (${this.options.maxClients} clients)`)
    }
  }

  /**
   * One timer for all connections rather than one per connection re-armed on every read: a sweep
   * every quarter of the timeout asks the room to close the silent ones (at most 25% late).
   */
  private scheduleIdleSweep(): void {
    this.loop.callLater(Math.max(10, this.options.idleTimeoutMs / 4), this.sweepIdle)
  }

  throttle(c: ChatConnection): void {
    if (c.throttled) return
    c.throttled = true
    this.throttled.add(c)
    this.floods.log(`${this.room.who(c)} (${c.peer}) sends faster than --max-rate ${this.options.maxRate} bytes/s: slowed down`)
    this.touch(c)
    if (!this.throttleScheduled) {
      this.throttleScheduled = true
      this.loop.callLater(THROTTLE_TICK_MS, this.unthrottle)
    }
  }

  private readonly unthrottle = (): void => {
    this.throttleScheduled = false
    for (const c of this.throttled) {
      if (c.gone || c.mayRead()) {
        c.throttled = false
        this.throttled.delete(c)
        if (!c.gone) this.touch(c)
      }
    }
    if (this.throttled.size > 0) {
      this.throttleScheduled = true
      this.loop.callLater(THROTTLE_TICK_MS, this.unthrottle)
    }
  }

  private readonly sweepIdle = (): void => {
    if (this.stopping) return
    const now = performance.now()
    for (const c of this.conns.values()) {
      if (now - c.lastActive >= this.options.idleTimeoutMs) this.room.idle(c) // a no-op once CLOSING
    }
    this.scheduleIdleSweep()
  }

  /** The operator console's callback: stdin's bytes go to the console, which hands the room each line. */
  private readonly onConsole = (reader: StreamReader): void => {
    let data: Buffer | null
    try {
      data = reader.recv()
    } catch {
      data = Buffer.alloc(0) // an unreadable stdin (EIO, ...) is treated as closed
    }
    if (data === null) return
    if (data.length === 0) this.operator.end()
    else this.operator.input(data)
    this.scheduleSettle()
  }

  /** A line for the operator's console from elsewhere (the web console): answers go to `answer`. */
  operatorLine(text: string, answer: (line: string) => void): void {
    this.room.operator(text, answer)
    this.scheduleSettle()
  }

  /** The bus's callback: a batch of what the other servers said (bounded, so sockets get their turn). */
  private readonly onBus = (inbox: Inbox<BusEvent>): void => {
    for (let n = 0; n < BUS_EVENTS_PER_ROUND; n++) {
      const event = inbox.take()
      if (event === null) break
      this.room.fromBus(event)
    }
    this.scheduleSettle()
  }

  private closeConsole(): void {
    if (!this.consoleReader) return
    if (this.loop.isRegistered(this.consoleReader)) this.loop.unregister(this.consoleReader)
    this.consoleReader.close()
    this.consoleReader = null
  }

  touch(c: ChatConnection): void {
    this.dirty.add(c)
    this.scheduleSettle()
  }

  private scheduleSettle(): void {
    if (this.settleScheduled) return
    this.settleScheduled = true
    this.loop.callLater(0, this.settle)
  }

  /** Writes, closes and tears down until nothing changes (a teardown may broadcast `left`). */
  private readonly settle = (): void => {
    while (this.dirty.size > 0) {
      const batch = this.dirty
      this.dirty = new Set()
      for (const c of batch) c.settle()
    }
    this.settleScheduled = false
    if (this.stopping && this.conns.size === 0) this.loop.stop()
  }

  handshakeFailed(c: ChatConnection, why: string): void {
    this.handshakeFailures.log(`${c.peer}: ${why}`)
  }

  remove(c: ChatConnection, reason: string, abrupt: boolean): void {
    if (c.gone) return
    c.forget()
    this.conns.delete(c.id)
    this.dirty.delete(c)
    if (this.loop.isRegistered(c.conn)) this.loop.unregister(c.conn)
    if (abrupt) c.conn.reset()
    else c.conn.close()
    this.room.closed(c, reason)
    if (this.observer !== null) this.observer.connectionClosed(c, reason)
    if (this.stopping) this.scheduleSettle() // the last one gone stops the loop
  }

  /** Stop accepting, tell everyone `server closing`, flush, close; reset what is left after the grace time. */
  stop(): void {
    if (this.stopping) return
    this.stopping = true
    this.loop.unregister(this.listener)
    this.listener.close()
    this.closeConsole()
    // The other servers still hear this one's members leave (room.shutdown()); their chat no longer reaches here.
    if (this.bus.inbox && this.loop.isRegistered(this.bus.inbox)) this.loop.unregister(this.bus.inbox)
    this.room.shutdown()
    this.scheduleSettle()
    this.loop.callLater(this.options.shutdownGraceMs, () => {
      for (const c of [...this.conns.values()]) this.remove(c, 'server stopped', true)
      this.loop.stop()
    })
  }
}

function describeSocketError(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  switch (e?.code) {
    case 'ECONNRESET':
      return 'connection reset'
    case 'EPIPE':
      return 'broken pipe'
    default:
      return (e && describeServerTlsError(e)) ?? e?.code ?? e?.message ?? String(err)
  }
}

/** What a chat server reads and shows besides its sockets (see SelectorChatServer's constructor). */
export interface ChatIo {
  consoleInput?: Readable
  showChat?: boolean
  /** Added to the default server name (a worker's `/w1`). */
  serverSuffix?: string
}

export async function startSelectorChat(options: ChatOptions, io: ChatIo = {}): Promise<RunningServer> {
  const listener = await Listener.listen({
    host: options.host,
    port: options.port,
    backlog: options.backlog,
    lingerMs: options.shutdownGraceMs,
    tls: options.tls ?? undefined,
  })
  let bus: RoomBus = SOLO_BUS
  if (options.redis !== null) {
    const { RedisBus } = await import('./bus/redis.js')
    const serverName = options.serverName ?? `${os.hostname()}:${listener.address().port}${io.serverSuffix ?? ''}`
    try {
      bus = await RedisBus.connect({ url: options.redis, room: options.room, expiryMs: options.nameExpiryMs, serverName })
    } catch (err) {
      listener.close()
      throw err
    }
  }
  const server = new SelectorChatServer(listener, options, bus, io)
  options.observer?.serverStarted({
    protocol: 'chat',
    model: 'selector',
    loop: server.loop,
    operator: async (text, answer) => server.operatorLine(text, answer),
    lock: null,
  })
  const running = runOnLoop(listener, server)
  // The loop ends once every client is gone; then the bus lets go of Redis (and the process can end).
  const done = running.done.then(() => bus.close())
  return {
    ...running,
    done,
    async stop() {
      server.stop()
      await done
    },
  }
}
