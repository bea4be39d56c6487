// The load generator's engine: one thread's share of the connections, each keeping `pipeline`
// messages of `size` bytes in flight against an echo server, every echoed byte verified.
//
// Efficiency matters here (the generator must not be the bottleneck it measures):
// - one read buffer per thread (net's `onread`), so receiving allocates nothing and skips streams;
// - the bytes sent are slices of one preallocated random pattern, precomputed as Buffers;
// - verification is Buffer#compare on ranges (memcmp), never a per-byte loop;
// - send times live in a Float64Array ring per connection; one interval checks deadlines.
//
// The pattern holds `slots` messages (at least 2, all different), sent in order and cyclically,
// so a dropped, duplicated or reordered message shifts the stream and fails the comparison.
// Connections start at different slots, so bytes crossed between connections fail it too.
import net from 'node:net'
import tls from 'node:tls'
import { randomFillSync } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { createHistogram, exportCounts, type LatencyHistogram } from './histogram.js'
import { noErrors, type ErrorCounts, type ErrorKind } from './load-errors.js'

export interface EngineOptions {
  host: string
  port: number
  conns: number
  size: number
  pipeline: number
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
  /** Churn instead (churn-engine.ts): connect, one echo, close, again. */
  churn: boolean
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
  /** Latency histogram (µs) as [value, count] pairs. */
  histogram: number[]
}

/** One connection: CONNECTING → RUNNING → CLOSED (an error) or STOPPED (the end); FAILED if it never connected. */
const ConnState = {
  CONNECTING: 'CONNECTING',
  RUNNING: 'RUNNING',
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
  /** Send times of the messages in flight, oldest at `head`. */
  readonly sendTimes: Float64Array
  head = 0
  tail = 0

  constructor(
    readonly index: number,
    slots: number,
    size: number,
    pipeline: number,
  ) {
    this.slot = index % slots
    this.recvOff = this.slot * size
    this.sendTimes = new Float64Array(pipeline)
  }
}

export class LoadEngine {
  private phase: Phase = Phase.IDLE
  private readonly conns: Conn[] = []
  private readonly pattern: Buffer
  private readonly messages: Buffer[]
  private readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES)
  private readonly histogram: LatencyHistogram = createHistogram()
  private readonly errors = noErrors()
  private readonly connectFailures: Record<string, number> = {}
  private connected = 0
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

  constructor(private readonly o: EngineOptions) {
    const slots = Math.max(2, Math.min(MAX_SLOTS, Math.floor(MAX_PATTERN_BYTES / o.size)))
    this.pattern = randomFillSync(Buffer.allocUnsafe(o.size * slots))
    this.messages = []
    for (let s = 0; s < slots; s++) this.messages.push(this.pattern.subarray(s * o.size, (s + 1) * o.size))
  }

  /** Opens every connection; resolves when each has connected or failed. */
  connect(): Promise<void> {
    this.phase = Phase.CONNECTING
    const slots = this.messages.length
    for (let i = 0; i < this.o.conns; i++) {
      this.conns.push(new Conn(this.o.firstConnIndex + i, slots, this.o.size, this.o.pipeline))
    }
    this.checker = setInterval(() => this.checkDeadlines(), Math.max(10, Math.min(250, this.o.timeoutMs / 4)))
    return new Promise(resolve => {
      this.onConnectPhaseDone = resolve
      this.connectMore()
    })
  }

  /** Sends the first `pipeline` messages on every connection: the warm-up begins. */
  start(): void {
    if (this.phase === Phase.READY) this.phase = Phase.WARMUP // (or already measuring: no warm-up)
    const now = performance.now()
    for (const c of this.conns) {
      if (c.state !== ConnState.RUNNING) continue
      c.awaitingFirst = true
      this.unanswered++
      this.send(c, this.o.pipeline, now)
    }
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

  /** The first echo came back, or the connection failed: either way it no longer holds up the warm-up. */
  private markAnswered(c: Conn): void {
    if (!c.awaitingFirst) return
    c.awaitingFirst = false
    if (--this.unanswered === 0) this.onAllAnswered?.()
  }

  /** Opens the measured window: latencies and messages count from now on. */
  measure(): void {
    if (this.phase !== Phase.READY && this.phase !== Phase.WARMUP) return
    this.histogram.reset()
    this.measured = 0
    this.windowStart = performance.now()
    this.phase = Phase.MEASURING
  }

  /** Closes the window and stops sending (close() then ends the connections); returns the counts. */
  finish(): EngineReport {
    if (this.phase === Phase.MEASURING) this.windowMs = performance.now() - this.windowStart
    this.phase = Phase.DONE
    this.onAllAnswered?.() // nobody waits for answers past the end
    if (this.checker) clearInterval(this.checker)
    this.checker = null
    let alive = 0
    for (const c of this.conns) {
      if (c.state === ConnState.RUNNING) alive++
      if (c.state === ConnState.CONNECTING) c.socket?.destroy()
      if (c.state === ConnState.RUNNING || c.state === ConnState.CONNECTING) c.state = ConnState.STOPPED
    }
    return {
      connected: this.connected,
      connectFailures: { ...this.connectFailures },
      errors: { ...this.errors },
      alive,
      messages: this.measured,
      windowMs: this.windowMs,
      histogram: exportCounts(this.histogram),
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
    c.socket.on('end', () => this.fail(c, 'eof'))
    c.socket.on('close', () => this.onClose(c))
  }

  private onConnect(c: Conn): void {
    if (c.state !== ConnState.CONNECTING) return
    c.state = ConnState.RUNNING
    this.connected++
    this.pendingConnects--
    // A connection that arrives after the warm-up started joins at once.
    if (this.phase === Phase.WARMUP || this.phase === Phase.MEASURING) this.send(c, this.o.pipeline, performance.now())
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
        this.fail(c, classify(err))
        return
      default:
        return
    }
  }

  private onClose(c: Conn): void {
    if (c.state === ConnState.CONNECTING) this.connectFailed(c, 'closed')
    else if (c.state === ConnState.RUNNING) this.fail(c, 'eof')
  }

  private fail(c: Conn, kind: ErrorKind): void {
    if (c.state !== ConnState.RUNNING) return
    c.state = ConnState.CLOSED
    this.errors[kind]++
    c.socket.destroy()
    this.markAnswered(c)
  }

  /** The hot path: verify a chunk against the pattern, account completed messages, refill the pipeline. */
  private onData(c: Conn, nread: number, buf: Buffer): void {
    if (c.state !== ConnState.RUNNING) return
    if (c.bytesReceived + nread > c.bytesSent) return this.fail(c, 'mismatch') // more than was sent
    const pattern = this.pattern
    const patternLen = pattern.length
    let off = c.recvOff
    for (let pos = 0; pos < nread; ) {
      const n = Math.min(nread - pos, patternLen - off)
      if (pattern.compare(buf, pos, pos + n, off, off + n) !== 0) return this.fail(c, 'mismatch')
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
    if (this.phase === Phase.MEASURING) {
      const h = this.histogram
      const times = c.sendTimes
      for (let i = 0; i < done; i++) {
        h.recordValue(Math.round((now - times[c.head]) * 1000))
        if (++c.head === k) c.head = 0
      }
      this.measured += done
    } else {
      c.head = (c.head + done) % k
    }
    c.inflight -= done
    if (c.awaitingFirst) this.markAnswered(c)
    if (this.phase === Phase.WARMUP || this.phase === Phase.MEASURING) this.send(c, done, now)
  }

  private send(c: Conn, count: number, now: number): void {
    const socket = c.socket
    const messages = this.messages
    const k = this.o.pipeline
    if (count > 1) socket.cork()
    for (let i = 0; i < count; i++) {
      c.sendTimes[c.tail] = now
      if (++c.tail === k) c.tail = 0
      socket.write(messages[c.slot])
      if (++c.slot === messages.length) c.slot = 0
    }
    if (count > 1) socket.uncork()
    c.inflight += count
    c.bytesSent += count * this.o.size
  }

  private checkDeadlines(): void {
    const now = performance.now()
    for (const c of this.conns) {
      if (c.state === ConnState.RUNNING) {
        if (c.inflight > 0 && now - c.sendTimes[c.head] > this.o.timeoutMs) this.fail(c, 'timeout')
      } else if (c.state === ConnState.CONNECTING && c.socket && now - c.startedAt > this.o.connectTimeoutMs) {
        this.connectFailed(c, 'timeout')
      }
    }
  }
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
