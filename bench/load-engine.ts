// The load generator's engine: one thread's share of the connections against an echo server,
// every echoed byte verified. Two ways to load it:
// - closed loop (no rate): each connection keeps `pipeline` messages in flight, sending the next
//   as soon as one comes back: the server's speed sets the pace;
// - open loop (a rate): messages fall due on a fixed schedule (schedule.ts) whatever the server
//   does; a connection keeps at most `pipeline` in flight, and a message due while its connection
//   is full waits (it is late). Its latency counts from when it was due (coordinated omission
//   corrected, as wrk2 does); its service time, from when it was sent.
//
// Efficiency matters here (the generator must not be the bottleneck it measures):
// - one read buffer per thread (net's `onread`), so receiving allocates nothing and skips streams;
// - the bytes sent are slices of one preallocated random pattern, precomputed as Buffers;
// - verification is Buffer#compare on ranges (memcmp), never a per-byte loop;
// - send (and due) times live in Float64Array rings per connection; one interval checks deadlines.
//
// The pattern holds `slots` messages (at least 2, all different), sent in order and cyclically,
// so a dropped, duplicated or reordered message shifts the stream and fails the comparison.
// Connections start at different slots, so bytes crossed between connections fail it too.
import net from 'node:net'
import tls from 'node:tls'
import { randomFillSync } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { createHistogram, exportCounts, type LatencyHistogram } from './histogram.js'
import { noErrors, totalErrors, type ErrorCounts, type ErrorKind } from './load-errors.js'
import { printable } from './printable.js'
import { RateSchedule } from './schedule.js'

export interface EngineOptions {
  host: string
  port: number
  conns: number
  size: number
  pipeline: number
  /** Open loop: this engine's share of the messages per second; null: closed loop. */
  rate: number | null
  /** A message not echoed within this long is a `timeout` error (its connection is closed). */
  timeoutMs: number
  /** A connection not established within this long is a failed connect (`timeout`). */
  connectTimeoutMs: number
  /** Connects in progress at once (a flood of SYNs past the backlog only adds retransmit delays). */
  connectConcurrency: number
  /** Offsets each connection's starting slot, so engines in different threads differ. */
  firstConnIndex: number
  /** Connect with TLS: whom to trust (plain data: it crosses to load threads); null for TCP. */
  tls: { ca?: string; rejectUnauthorized: boolean } | null
  /** Churn instead (churn-engine.ts): each connection, one echo, closed, again; no rate. */
  churn: boolean
}

/**
 * The steps every engine is driven through, in this thread or in a load thread (load.ts,
 * load-worker.ts): connect → start (→ startSchedule) → measure → finish → close.
 */
export interface Engine {
  /** Makes the first connections; resolves when each has connected or failed. */
  connect(): Promise<void>
  /** How many connections were made (valid once connect() has resolved). */
  connectedCount(): number
  /** The warm-up begins: the first messages go out. */
  start(): void
  /** Open loop: the schedule begins (a no-op otherwise). */
  startSchedule(): void
  /** Resolves once every connection has had its first echo or failed. */
  allAnswered(): Promise<void>
  /** Calls `callback` once the engine can no longer load the server (every connection lost). */
  whenAllDown(callback: () => void): void
  /** Opens the measured window. */
  measure(): void
  /** The live line's look, once a second. */
  snapshot(): EngineSnapshot
  /** Closes the window and stops sending; returns the counts. */
  finish(): EngineReport
  /** Ends the connections politely, bounded by `graceMs`. */
  close(graceMs?: number): Promise<void>
}

/** The first reply byte that was not the echo: where, what was expected, what came instead. */
export interface MismatchSample {
  /** The connection's number (0 .. conns-1 over every thread). */
  conn: number
  /** Offset of the byte in everything that connection received. */
  offset: number
  /** The byte that should have come, or null where nothing was expected (more came back than was sent). */
  expected: number | null
  got: number
  /** What the server sent from that byte on (a few dozen bytes, escaped). */
  said: string
}

/** How the open loop's schedule went in the measured window (plain data; merged across threads). */
export interface ScheduleCounts {
  /** Messages that fell due in the window. */
  due: number
  /** Messages sent in the window (on time or late). */
  sent: number
  /** Messages due but not sent when the window closed: the backlog. */
  behind: number
  /** The backlog when the window opened (carried over from the warm-up). */
  behindAtStart: number
  /** The largest backlog at any moment of the window's first half (a server that stalls and catches up has one too). */
  behindHalfway: number
  /** Messages sent in the window that had to wait because their connection still had `pipeline` unanswered. */
  late: number
  /** The longest any message sent in the window, or still waiting at its end, was past its due time. */
  maxLateMs: number
  /** The longest the generator's own timer ran behind the schedule (a busy machine, or a generator at its limit). */
  generatorLagMs: number
}

/** What one engine reports when it finishes (plain data: it crosses thread boundaries). */
export interface EngineReport {
  connected: number
  connectFailures: Record<string, number>
  errors: ErrorCounts
  /** Connections still running when the window closed. */
  alive: number
  /** Messages fully echoed and verified inside the measured window. */
  messages: number
  windowMs: number
  /** Latency histogram (µs) as [value, count] pairs: from when each message was due (open loop) or sent. */
  histogram: number[]
  /** Open loop only: service time (µs, from when each message was sent). */
  service: number[] | null
  schedule: ScheduleCounts | null
  /** The first reply that was not an echo, if any. */
  mismatch: MismatchSample | null
  /** What the server said when it refused a connection (escaped; '' when it closed without a word), if it did. */
  refusal: string | null
}

/** A look at a running engine, once a second, for the live line. */
export interface EngineSnapshot {
  /** Messages echoed and verified since start, warm-up included. */
  answered: number
  errors: number
  alive: number
  /** The window's latency histogram so far ([µs, count] pairs), empty before the window. */
  histogram: number[]
}

/**
 * One connection: CONNECTING → RUNNING → CLOSED (an error) or STOPPED (the end); FAILED if it never
 * connected. NOT_ECHOING: its very first reply bytes were not the echo, and it waits a moment to
 * see whether the server closes it (a refusal, such as "server busy") or not (a mismatch).
 */
const ConnState = {
  CONNECTING: 'CONNECTING',
  RUNNING: 'RUNNING',
  NOT_ECHOING: 'NOT_ECHOING',
  FAILED: 'FAILED', // never connected
  CLOSED: 'CLOSED', // closed by an error after connecting
  STOPPED: 'STOPPED', // closed by us at the end
} as const
type ConnState = (typeof ConnState)[keyof typeof ConnState]

/** The engine: IDLE → CONNECTING → READY → (WARMUP →) MEASURING → DONE. */
const Phase = {
  IDLE: 'IDLE',
  CONNECTING: 'CONNECTING',
  READY: 'READY', // every connection connected or failed; nothing sent yet
  WARMUP: 'WARMUP',
  MEASURING: 'MEASURING',
  DONE: 'DONE',
} as const
type Phase = (typeof Phase)[keyof typeof Phase]

/** Most pattern slots: more catches more reorderings, but costs size × slots bytes. */
const MAX_SLOTS = 8
const MAX_PATTERN_BYTES = 64 * 1024 * 1024
const READ_BUFFER_BYTES = 64 * 1024
/** The backlog is sampled at most this often (the largest value in each interval is kept). */
const BACKLOG_SAMPLE_MS = 10
/** How long a connection whose first reply was not an echo may take to close, to count as refused. */
const REFUSAL_WAIT_MS = 500
/** What is kept of a refusal's words. */
const REFUSAL_BYTES = 120

class Conn {
  state: ConnState = ConnState.CONNECTING
  socket!: net.Socket
  startedAt = 0
  /** Next slot to send. */
  slot: number
  /** Offset in the pattern of the next byte expected back. */
  recvOff: number
  /** Bytes of the current message received so far. */
  inMsg = 0
  bytesSent = 0
  bytesReceived = 0
  inflight = 0
  /** Counted by start() as waiting for its first echo (proof the server is really serving it). */
  awaitingFirst = false
  /** Send times (and, open loop, due times) of the messages in flight, oldest at `head`. */
  readonly sendTimes: Float64Array
  readonly dueTimes: Float64Array
  head = 0
  tail = 0
  /** Open loop: this connection's messages fallen due so far, and those sent (the rest wait). */
  assigned = 0
  sentOnSchedule = 0
  /** NOT_ECHOING: since when, and what the server sent instead of the echo. */
  notEchoingSince = 0
  said: Buffer[] = []
  saidBytes = 0

  constructor(
    readonly index: number,
    /** Its place among this engine's connections (the schedule's connection number). */
    readonly local: number,
    slots: number,
    size: number,
    pipeline: number,
  ) {
    this.slot = index % slots
    this.recvOff = this.slot * size
    this.sendTimes = new Float64Array(pipeline)
    this.dueTimes = new Float64Array(pipeline)
  }
}

export class LoadEngine implements Engine {
  private phase: Phase = Phase.IDLE
  private readonly conns: Conn[] = []
  private readonly pattern: Buffer
  private readonly messages: Buffer[]
  private readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES)
  private readonly histogram: LatencyHistogram = createHistogram()
  private readonly service: LatencyHistogram | null
  private readonly errors = noErrors()
  private readonly connectFailures: Record<string, number> = {}
  private connected = 0
  private alive = 0
  private answered = 0
  private measured = 0
  private windowStart = 0
  private windowMs = 0
  private checker: NodeJS.Timeout | null = null
  private nextToConnect = 0
  private pendingConnects = 0
  private onConnectPhaseDone: (() => void) | null = null
  /** Running connections still waiting for their first echo, and who waits for them. */
  private unanswered = 0
  private onAllAnswered: (() => void) | null = null
  private onAllDown: (() => void) | null = null
  private mismatch: MismatchSample | null = null
  private refusal: string | null = null
  // The open loop: its schedule (from startSchedule()), the messages fallen due so far, its timer,
  // and the window's counts.
  private schedule: RateSchedule | null = null
  private assignedTotal = 0
  /** When the next message falls due (Infinity without a schedule). */
  private nextDueMs = Infinity
  private ticker: NodeJS.Timeout | null = null
  private readonly window = { dueAtStart: 0, behindAtStart: 0, sent: 0, late: 0, maxLateMs: 0, generatorLagMs: 0 }
  /** Messages sent on the schedule so far, and the backlog over the window: [time, backlog] pairs, every BACKLOG_SAMPLE_MS at most. */
  private sentTotal = 0
  private backlog: number[] = []

  constructor(private readonly o: EngineOptions) {
    const slots = Math.max(2, Math.min(MAX_SLOTS, Math.floor(MAX_PATTERN_BYTES / o.size)))
    this.pattern = randomFillSync(Buffer.allocUnsafe(o.size * slots))
    this.messages = []
    for (let s = 0; s < slots; s++) this.messages.push(this.pattern.subarray(s * o.size, (s + 1) * o.size))
    this.service = o.rate === null ? null : createHistogram()
  }

  /** Opens every connection; resolves when each has connected or failed. */
  connect(): Promise<void> {
    this.phase = Phase.CONNECTING
    const slots = this.messages.length
    for (let i = 0; i < this.o.conns; i++) {
      this.conns.push(new Conn(this.o.firstConnIndex + i, i, slots, this.o.size, this.o.pipeline))
    }
    this.checker = setInterval(() => this.checkDeadlines(), Math.max(10, Math.min(250, this.o.timeoutMs / 4)))
    return new Promise(resolve => {
      this.onConnectPhaseDone = resolve
      this.connectMore()
    })
  }

  /** How many connections were made (valid once connect() has resolved). */
  connectedCount(): number {
    return this.connected
  }

  /**
   * The warm-up begins: closed loop, every connection sends its first `pipeline` messages; open
   * loop, one probe each (outside the schedule), so that allAnswered() can tell every connection
   * is served before startSchedule().
   */
  start(): void {
    if (this.phase === Phase.READY) this.phase = Phase.WARMUP // (or already measuring: no warm-up)
    const now = performance.now()
    for (const c of this.conns) {
      if (c.state !== ConnState.RUNNING) continue
      c.awaitingFirst = true
      this.unanswered++
      this.send(c, this.o.rate === null ? this.o.pipeline : 1, now, now)
    }
  }

  /** Open loop: message 0 of the schedule falls due now (no-op in a closed loop). */
  startSchedule(): void {
    if (this.o.rate === null || this.schedule) return
    if (this.phase === Phase.READY) this.phase = Phase.WARMUP
    this.schedule = new RateSchedule(this.o.rate, this.conns.length, performance.now())
    this.tick()
  }

  /**
   * Resolves once every connection has had its first echo or failed (bounded by the message
   * deadline): a server that starts something per connection (a thread) is then fully up,
   * and the warm-up proper can begin.
   */
  allAnswered(): Promise<void> {
    if (this.unanswered === 0) return Promise.resolve()
    return new Promise(resolve => (this.onAllAnswered = resolve))
  }

  /** Calls `callback` once no connection is running or connecting any more (all failed or closed). */
  whenAllDown(callback: () => void): void {
    this.onAllDown = callback
    this.checkAllDown()
  }

  /** The first echo came back, or the connection failed: either way it no longer holds up the warm-up. */
  private markAnswered(c: Conn): void {
    if (!c.awaitingFirst) return
    c.awaitingFirst = false
    if (--this.unanswered === 0) this.onAllAnswered?.()
  }

  /** Opens the measured window: latencies and messages count from now on. */
  measure(): void {
    if (this.phase !== Phase.READY && this.phase !== Phase.WARMUP) return
    if (this.schedule) this.tick()
    this.histogram.reset()
    this.service?.reset()
    this.measured = 0
    const behindAtStart = this.assignedTotal - this.sentTotal
    Object.assign(this.window, { dueAtStart: this.assignedTotal, behindAtStart, sent: 0, late: 0, maxLateMs: 0, generatorLagMs: 0 })
    this.backlog = []
    this.windowStart = performance.now()
    this.phase = Phase.MEASURING
  }

  /** The live line's look: cheap enough for once a second. */
  snapshot(): EngineSnapshot {
    return {
      answered: this.answered,
      errors: totalErrors(this.errors),
      alive: this.alive,
      histogram: this.phase === Phase.MEASURING ? exportCounts(this.histogram) : [],
    }
  }

  /** Closes the window and stops sending (close() then ends the connections); returns the counts. */
  finish(): EngineReport {
    const now = performance.now()
    let schedule: ScheduleCounts | null = null
    if (this.schedule && this.phase === Phase.MEASURING) {
      this.tick()
      let behind = 0
      let maxLateMs = this.window.maxLateMs
      for (const c of this.conns) {
        const waiting = c.assigned - c.sentOnSchedule
        if (waiting === 0) continue
        behind += waiting
        maxLateMs = Math.max(maxLateMs, now - this.schedule.connDueMs(c.local, c.sentOnSchedule))
      }
      const w = this.window
      const halfway = this.windowStart + (now - this.windowStart) / 2
      let behindHalfway = w.behindAtStart
      for (let i = 0; i < this.backlog.length && this.backlog[i] <= halfway; i += 2) behindHalfway = Math.max(behindHalfway, this.backlog[i + 1])
      schedule = {
        due: this.assignedTotal - w.dueAtStart,
        sent: w.sent,
        behind,
        behindAtStart: w.behindAtStart,
        behindHalfway,
        late: w.late,
        maxLateMs: round3(maxLateMs),
        generatorLagMs: round3(w.generatorLagMs),
      }
    }
    if (this.phase === Phase.MEASURING) this.windowMs = now - this.windowStart
    this.phase = Phase.DONE
    this.onAllAnswered?.() // nobody waits for answers past the end
    if (this.checker) clearInterval(this.checker)
    if (this.ticker) clearTimeout(this.ticker)
    this.checker = this.ticker = null
    let alive = 0
    for (const c of this.conns) {
      if (c.state === ConnState.RUNNING) alive++
      if (c.state === ConnState.CONNECTING || c.state === ConnState.NOT_ECHOING) c.socket?.destroy()
      if (c.state === ConnState.RUNNING || c.state === ConnState.CONNECTING || c.state === ConnState.NOT_ECHOING) c.state = ConnState.STOPPED
    }
    return {
      connected: this.connected,
      connectFailures: { ...this.connectFailures },
      errors: { ...this.errors },
      alive,
      messages: this.measured,
      windowMs: this.windowMs,
      histogram: exportCounts(this.histogram),
      service: this.service ? exportCounts(this.service) : null,
      schedule,
      mismatch: this.mismatch,
      refusal: this.refusal,
    }
  }

  /**
   * Ends every connection politely: FIN, then read (and drop) the echoes still in flight until
   * the server closes its side; what is still open after graceMs is destroyed. Closing with
   * unread bytes would send a reset instead, and some echo servers die of that.
   */
  close(graceMs = 1000): Promise<void> {
    const open = this.conns.filter(c => c.socket && !c.socket.destroyed)
    if (open.length === 0) return Promise.resolve()
    return new Promise(resolve => {
      let left = open.length
      const timer = setTimeout(() => {
        for (const c of open) c.socket.destroy()
        resolve()
      }, graceMs)
      const closed = () => {
        if (--left > 0) return
        clearTimeout(timer)
        resolve()
      }
      for (const c of open) {
        c.socket.once('close', closed)
        c.socket.end()
      }
    })
  }

  private connectMore(): void {
    while (this.pendingConnects < this.o.connectConcurrency && this.nextToConnect < this.conns.length) {
      this.openConnection(this.conns[this.nextToConnect++])
    }
    if (this.pendingConnects === 0 && this.nextToConnect === this.conns.length && this.phase === Phase.CONNECTING) {
      this.phase = Phase.READY
      this.onConnectPhaseDone?.()
      this.checkAllDown()
    }
  }

  private openConnection(c: Conn): void {
    this.pendingConnects++
    c.startedAt = performance.now()
    const options = {
      host: this.o.host,
      port: this.o.port,
      noDelay: true,
      onread: { buffer: this.readBuffer, callback: (n: number, buf: Uint8Array) => (this.onData(c, n, buf as Buffer), true) },
    }
    // Over TLS the connection is up once the handshake is done and the certificate verified.
    c.socket = this.o.tls ? tls.connect({ ...options, ...this.o.tls }) : net.connect(options)
    c.socket.once(this.o.tls ? 'secureConnect' : 'connect', () => this.onConnect(c))
    c.socket.on('error', (err: NodeJS.ErrnoException) => this.onError(c, err))
    c.socket.on('end', () => this.onEnd(c))
    c.socket.on('close', () => this.onEnd(c))
  }

  private onConnect(c: Conn): void {
    if (c.state !== ConnState.CONNECTING) return
    c.state = ConnState.RUNNING
    this.connected++
    this.alive++
    this.pendingConnects--
    // A connection that arrives after the warm-up started joins at once.
    if (this.phase === Phase.WARMUP || this.phase === Phase.MEASURING) {
      const now = performance.now()
      if (this.o.rate === null) this.send(c, this.o.pipeline, now, now)
      else this.sendWaiting(c, now, true)
    }
    this.connectMore()
  }

  private connectFailed(c: Conn, kind: string): void {
    c.state = ConnState.FAILED
    c.socket.destroy()
    this.connectFailures[kind] = (this.connectFailures[kind] ?? 0) + 1
    this.pendingConnects--
    this.connectMore()
  }

  private onError(c: Conn, err: NodeJS.ErrnoException): void {
    switch (c.state) {
      case ConnState.CONNECTING:
        this.connectFailed(c, err.code ?? 'error')
        return
      case ConnState.RUNNING:
      case ConnState.NOT_ECHOING:
        this.fail(c, classify(err))
        return
      default:
        return
    }
  }

  /** The server ended the connection (FIN), or the socket closed. */
  private onEnd(c: Conn): void {
    if (c.state === ConnState.CONNECTING) this.connectFailed(c, 'closed')
    else this.fail(c, 'eof')
  }

  /**
   * Closes a running connection for an error of this kind. A connection ended by the server
   * before a single byte came back echoed was refused, whatever the way it ended.
   */
  private fail(c: Conn, kind: ErrorKind): void {
    if (c.state !== ConnState.RUNNING && c.state !== ConnState.NOT_ECHOING) return
    if (kind === 'eof' || kind === 'reset') {
      if (c.state === ConnState.NOT_ECHOING || c.bytesReceived === 0) {
        this.refusal ??= c.saidBytes ? printable(Buffer.concat(c.said), REFUSAL_BYTES) : ''
        kind = 'refused'
      }
    }
    if (kind === 'mismatch' && c.state === ConnState.NOT_ECHOING) this.recordMismatch(c, 0, Buffer.concat(c.said), 0)
    if (c.state === ConnState.RUNNING) this.alive--
    c.state = ConnState.CLOSED
    this.errors[kind]++
    c.socket.destroy()
    this.markAnswered(c)
    this.checkAllDown()
  }

  private checkAllDown(): void {
    if (!this.onAllDown || this.phase === Phase.CONNECTING || this.phase === Phase.IDLE) return
    if (this.alive > 0 || this.conns.some(c => c.state === ConnState.NOT_ECHOING)) return
    const callback = this.onAllDown
    this.onAllDown = null
    callback()
  }

  /** The hot path: verify a chunk against the pattern, account completed messages, refill the pipeline. */
  private onData(c: Conn, nread: number, buf: Buffer): void {
    if (c.state !== ConnState.RUNNING) {
      if (c.state === ConnState.NOT_ECHOING) this.keepSaid(c, buf.subarray(0, nread))
      return
    }
    if (c.bytesReceived + nread > c.bytesSent) return this.notAnEcho(c, buf, nread) // more than was sent
    const pattern = this.pattern
    const patternLen = pattern.length
    let off = c.recvOff
    for (let pos = 0; pos < nread; ) {
      const n = Math.min(nread - pos, patternLen - off)
      if (pattern.compare(buf, pos, pos + n, off, off + n) !== 0) return this.notAnEcho(c, buf, nread)
      pos += n
      off += n
      if (off === patternLen) off = 0
    }
    c.recvOff = off
    c.bytesReceived += nread
    const size = this.o.size
    const whole = c.inMsg + nread
    const done = Math.floor(whole / size)
    c.inMsg = whole - done * size
    if (done === 0) return
    const now = performance.now()
    const k = this.o.pipeline
    this.answered += done
    if (this.phase === Phase.MEASURING) {
      const h = this.histogram
      const sendTimes = c.sendTimes
      const service = this.service
      if (service === null) {
        for (let i = 0; i < done; i++) {
          h.recordValue(Math.round((now - sendTimes[c.head]) * 1000))
          if (++c.head === k) c.head = 0
        }
      } else {
        const dueTimes = c.dueTimes
        for (let i = 0; i < done; i++) {
          h.recordValue(Math.round((now - dueTimes[c.head]) * 1000))
          service.recordValue(Math.round((now - sendTimes[c.head]) * 1000))
          if (++c.head === k) c.head = 0
        }
      }
      this.measured += done
    } else {
      c.head = (c.head + done) % k
    }
    c.inflight -= done
    if (c.awaitingFirst) this.markAnswered(c)
    if (this.phase !== Phase.WARMUP && this.phase !== Phase.MEASURING) return
    if (this.o.rate === null) this.send(c, done, now, now)
    else {
      this.sendWaiting(c, now, true)
      // Echoes come more often than the timer fires at high rates: each is a chance to be on time.
      if (now >= this.nextDueMs) this.tick()
    }
  }

  /**
   * The bytes that came did not match what was sent (or were more than that). When not one byte
   * of this connection was echoed yet, the server may be refusing it with a message: wait a
   * moment for it to close (checkDeadlines decides); otherwise it is a mismatch.
   */
  private notAnEcho(c: Conn, buf: Buffer, nread: number): void {
    const chunk = buf.subarray(0, nread)
    const at = this.firstDifference(c, chunk)
    if (c.bytesReceived + at === 0) {
      c.state = ConnState.NOT_ECHOING
      this.alive--
      c.notEchoingSince = performance.now()
      this.keepSaid(c, chunk)
      this.markAnswered(c)
      return
    }
    this.recordMismatch(c, c.bytesReceived + at, chunk, at)
    this.fail(c, 'mismatch')
  }

  /** Index in `chunk` of the first byte that is not the expected echo (or is beyond what was sent). */
  private firstDifference(c: Conn, chunk: Buffer): number {
    const pattern = this.pattern
    const room = c.bytesSent - c.bytesReceived
    let off = c.recvOff
    for (let i = 0; i < chunk.length; i++) {
      if (i >= room || chunk[i] !== pattern[off]) return i
      if (++off === pattern.length) off = 0
    }
    return chunk.length
  }

  private recordMismatch(c: Conn, offset: number, chunk: Buffer, at: number): void {
    if (this.mismatch || at >= chunk.length) return
    const expected = offset < c.bytesSent ? this.pattern[(c.recvOff + at) % this.pattern.length] : null
    this.mismatch = { conn: c.index, offset, expected, got: chunk[at], said: printable(chunk.subarray(at), 48) }
  }

  private keepSaid(c: Conn, chunk: Buffer): void {
    if (c.saidBytes >= REFUSAL_BYTES) return
    const part = Buffer.from(chunk.subarray(0, REFUSAL_BYTES - c.saidBytes)) // a copy: the read buffer is reused
    c.said.push(part)
    c.saidBytes += part.length
  }

  /** Writes `count` messages, each sent at `now` and due at `due`. */
  private send(c: Conn, count: number, now: number, due: number): void {
    const socket = c.socket
    const messages = this.messages
    const k = this.o.pipeline
    if (count > 1) socket.cork()
    for (let i = 0; i < count; i++) {
      c.sendTimes[c.tail] = now
      c.dueTimes[c.tail] = due
      if (++c.tail === k) c.tail = 0
      socket.write(messages[c.slot])
      if (++c.slot === messages.length) c.slot = 0
    }
    if (count > 1) socket.uncork()
    c.inflight += count
    c.bytesSent += count * this.o.size
  }

  /**
   * Open loop: sends this connection's messages that have fallen due, as far as its pipeline
   * allows. `late`: they waited for the server (sent as echoes free the connection, or as it
   * connects), rather than going out from tick() the moment they fell due.
   */
  private sendWaiting(c: Conn, now: number, late: boolean): void {
    const schedule = this.schedule
    if (!schedule || c.state !== ConnState.RUNNING) return
    const measuring = this.phase === Phase.MEASURING
    while (c.inflight < this.o.pipeline && c.sentOnSchedule < c.assigned) {
      const due = schedule.connDueMs(c.local, c.sentOnSchedule++)
      this.send(c, 1, now, due)
      this.sentTotal++
      if (!measuring) continue
      this.window.sent++
      if (late) {
        this.window.late++
        if (now - due > this.window.maxLateMs) this.window.maxLateMs = now - due
      }
    }
  }

  /** Open loop: every message that has fallen due is given to its connection; then waits for the next. */
  private tick(): void {
    const schedule = this.schedule
    if (!schedule || this.phase === Phase.DONE) return
    if (this.ticker) clearTimeout(this.ticker)
    this.ticker = null
    const now = performance.now()
    const total = schedule.dueBy(now)
    if (total > this.assignedTotal && this.phase === Phase.MEASURING) {
      const lag = now - schedule.dueMs(this.assignedTotal)
      if (lag > this.window.generatorLagMs) this.window.generatorLagMs = lag
    }
    const conns = this.conns
    // A connection with messages still waiting is full (sendWaiting drains it whenever it is
    // not): what falls due for it now waits too, and goes out late from onData.
    for (let m = this.assignedTotal; m < total; m++) {
      const c = conns[schedule.connOf(m)]
      c.assigned++
      this.sendWaiting(c, now, false)
    }
    this.assignedTotal = total
    if (this.phase === Phase.MEASURING) {
      const last = this.backlog.length - 2
      if (last < 0 || now - this.backlog[last] >= BACKLOG_SAMPLE_MS) this.backlog.push(now, total - this.sentTotal)
      else this.backlog[last + 1] = Math.max(this.backlog[last + 1], total - this.sentTotal)
    }
    this.nextDueMs = schedule.dueMs(total)
    const wait = this.nextDueMs - performance.now()
    this.ticker = setTimeout(() => this.tick(), Math.max(0, wait))
  }

  private checkDeadlines(): void {
    const now = performance.now()
    for (const c of this.conns) {
      switch (c.state) {
        case ConnState.RUNNING:
          if (c.inflight > 0 && now - c.sendTimes[c.head] > this.o.timeoutMs) this.fail(c, 'timeout')
          break
        case ConnState.CONNECTING:
          if (c.socket && now - c.startedAt > this.o.connectTimeoutMs) this.connectFailed(c, 'timeout')
          break
        case ConnState.NOT_ECHOING:
          // Still open: not a refusal, a server that does not echo.
          if (now - c.notEchoingSince > Math.min(REFUSAL_WAIT_MS, this.o.timeoutMs)) this.fail(c, 'mismatch')
          break
        default:
          break
      }
    }
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000
}

function classify(err: NodeJS.ErrnoException): ErrorKind {
  switch (err.code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset'
    case 'ETIMEDOUT':
      return 'timeout'
    default:
      return 'other'
  }
}
