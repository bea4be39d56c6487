// The churn engine (`load --churn`, the bench's churn cells): `conns` loops, each doing, over and
// over, connect (with --tls: the handshake, the server's certificate verified), one echo of `size`
// bytes (verified), close. What it measures is connections a second (handshakes a second over
// TLS) and each cycle's latency, from the connect to the echo's last byte: the server's cost of a
// new connection (accept, a handshake, a thread or a session set up and torn down), not its
// steady echo path.
//
// It is driven through the same steps as LoadEngine (load-engine.ts's Engine): connect() makes
// each loop's first connection, start() sends its echo and from then on the loops go round by
// themselves, measure() opens the window, finish() closes it. A loop whose connects keep failing
// (the server is gone) is down; once every loop is down the run ends early, as it does when a
// closed loop has lost every connection.
import net from 'node:net'
import tls from 'node:tls'
import { randomFillSync } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { createHistogram, exportCounts } from './histogram.js'
import { noErrors, totalErrors, type ErrorKind } from './load-errors.js'
import { printable } from './printable.js'
import type { Engine, EngineOptions, EngineReport, EngineSnapshot, MismatchSample } from './load-engine.js'

/**
 * One loop's current cycle: CONNECTING → (CONNECTED: the first one only, until start()) →
 * ECHOING → closed, and the next cycle begins; NOT_ECHOING: its first reply bytes were not the
 * echo, and it waits a moment to see whether the server closes it (a refusal) or not (a
 * mismatch); WAITING: a pause after a failed connect; STOPPED: the end.
 */
const CycleState = {
  CONNECTING: 'CONNECTING',
  CONNECTED: 'CONNECTED',
  ECHOING: 'ECHOING',
  NOT_ECHOING: 'NOT_ECHOING',
  WAITING: 'WAITING',
  STOPPED: 'STOPPED',
} as const
type CycleState = (typeof CycleState)[keyof typeof CycleState]

/** The engine: IDLE → CONNECTING → READY → RUNNING (the warm-up) → MEASURING → DONE. */
const Phase = {
  IDLE: 'IDLE',
  CONNECTING: 'CONNECTING',
  READY: 'READY',
  RUNNING: 'RUNNING',
  MEASURING: 'MEASURING',
  DONE: 'DONE',
} as const
type Phase = (typeof Phase)[keyof typeof Phase]

/** A loop whose connects failed this many times in a row is down (its server is not there). */
const DOWN_AFTER_FAILED_CONNECTS = 3
/** The pause after a failed connect, so a server that is not there is not hammered. */
const RETRY_PAUSE_MS = 50
/** How long a cycle whose first reply was not an echo may take to close, to count as refused. */
const REFUSAL_WAIT_MS = 500
const REFUSAL_BYTES = 120

class Loop {
  state: CycleState = CycleState.STOPPED
  socket: net.Socket | null = null
  /** When the current cycle (or the pause) began. */
  startedAt = 0
  received = 0
  /** Made a connection at least once. */
  connected = false
  failedConnects = 0
  /** Counted by start() as waiting for its first cycle. */
  awaitingFirst = false
  said: Buffer[] = []
  saidBytes = 0
  retry: NodeJS.Timeout | null = null

  constructor(readonly index: number) {}
}

export class ChurnEngine implements Engine {
  private phase: Phase = Phase.IDLE
  private readonly loops: Loop[] = []
  private readonly message: Buffer
  private readonly histogram = createHistogram()
  private readonly errors = noErrors()
  private readonly connectFailures: Record<string, number> = {}
  private cycles = 0
  private answered = 0
  private windowStart = 0
  private windowMs = 0
  private pendingConnects = 0
  private nextToConnect = 0
  private onConnectPhaseDone: (() => void) | null = null
  private unanswered = 0
  private onAllAnswered: (() => void) | null = null
  private onAllDown: (() => void) | null = null
  private checker: NodeJS.Timeout | null = null
  private mismatch: MismatchSample | null = null
  private refusal: string | null = null
  /** Sockets of finished cycles, still closing: close() waits for them too. */
  private readonly closing = new Set<net.Socket>()

  constructor(private readonly o: EngineOptions) {
    this.message = randomFillSync(Buffer.allocUnsafe(o.size))
    for (let i = 0; i < o.conns; i++) this.loops.push(new Loop(o.firstConnIndex + i))
  }

  connect(): Promise<void> {
    this.phase = Phase.CONNECTING
    this.checker = setInterval(() => this.checkDeadlines(), Math.max(10, Math.min(250, this.o.timeoutMs / 4)))
    return new Promise(resolve => {
      this.onConnectPhaseDone = resolve
      this.connectMore()
    })
  }

  connectedCount(): number {
    return this.loops.filter(loop => loop.connected).length
  }

  /** Every loop sends its first echo (or, its first connect failed, tries again), and goes round from then on. */
  start(): void {
    if (this.phase === Phase.READY) this.phase = Phase.RUNNING
    for (const loop of this.loops) {
      loop.awaitingFirst = true
      this.unanswered++
      if (loop.state === CycleState.CONNECTED) this.echo(loop)
      else if (loop.state === CycleState.STOPPED) this.cycle(loop)
    }
  }

  /** Churn has no schedule: each loop goes as fast as the server lets it. */
  startSchedule(): void {}

  allAnswered(): Promise<void> {
    if (this.unanswered === 0) return Promise.resolve()
    return new Promise(resolve => (this.onAllAnswered = resolve))
  }

  whenAllDown(callback: () => void): void {
    this.onAllDown = callback
    this.checkAllDown()
  }

  measure(): void {
    if (this.phase !== Phase.READY && this.phase !== Phase.RUNNING) return
    this.histogram.reset()
    this.cycles = 0
    this.windowStart = performance.now()
    this.phase = Phase.MEASURING
  }

  snapshot(): EngineSnapshot {
    return {
      answered: this.answered,
      errors: totalErrors(this.errors),
      alive: this.loops.filter(loop => !this.isDown(loop)).length,
      histogram: this.phase === Phase.MEASURING ? exportCounts(this.histogram) : [],
    }
  }

  finish(): EngineReport {
    if (this.phase === Phase.MEASURING) this.windowMs = performance.now() - this.windowStart
    this.phase = Phase.DONE
    this.onAllAnswered?.() // nobody waits for answers past the end
    if (this.checker) clearInterval(this.checker)
    this.checker = null
    let alive = 0
    for (const loop of this.loops) {
      if (loop.state !== CycleState.STOPPED && !this.isDown(loop)) alive++
      if (loop.retry) clearTimeout(loop.retry)
      loop.retry = null
      // A cycle cut short mid-handshake or mid-echo: nothing of it is counted, its socket is closed by close().
      if (loop.socket && loop.state !== CycleState.ECHOING && loop.state !== CycleState.CONNECTED) loop.socket.destroy()
      loop.state = CycleState.STOPPED
    }
    return {
      connected: this.connectedCount(),
      connectFailures: { ...this.connectFailures },
      errors: { ...this.errors },
      alive,
      messages: this.cycles,
      windowMs: this.windowMs,
      histogram: exportCounts(this.histogram),
      service: null,
      schedule: null,
      mismatch: this.mismatch,
      refusal: this.refusal,
    }
  }

  /**
   * Ends what is still open politely (FIN; the echo still in flight read and dropped until the
   * server closes), destroying what is left after graceMs: closing with unread bytes would reset.
   */
  close(graceMs = 1000): Promise<void> {
    const open = [...this.closing, ...this.loops.flatMap(loop => (loop.socket && !loop.socket.destroyed ? [loop.socket] : []))]
    for (const loop of this.loops) loop.socket = null
    if (open.length === 0) return Promise.resolve()
    return new Promise(resolve => {
      let left = open.length
      const timer = setTimeout(() => {
        for (const socket of open) socket.destroy()
        resolve()
      }, graceMs)
      const closed = () => {
        if (--left > 0) return
        clearTimeout(timer)
        resolve()
      }
      for (const socket of open) {
        if (socket.destroyed) closed()
        else {
          socket.once('close', closed)
          socket.end()
        }
      }
    })
  }

  /** The first connections, at most connectConcurrency at once. */
  private connectMore(): void {
    while (this.pendingConnects < this.o.connectConcurrency && this.nextToConnect < this.loops.length) {
      this.pendingConnects++
      this.cycle(this.loops[this.nextToConnect++])
    }
    if (this.pendingConnects === 0 && this.nextToConnect === this.loops.length && this.phase === Phase.CONNECTING) {
      this.phase = Phase.READY
      this.onConnectPhaseDone?.()
      this.checkAllDown()
    }
  }

  /** The first connect of `loop` is over (made or failed). */
  private firstConnectDone(): void {
    if (this.phase !== Phase.CONNECTING) return
    this.pendingConnects--
    this.connectMore()
  }

  /** Opens the next connection of `loop`. */
  private cycle(loop: Loop): void {
    loop.retry = null
    if (this.phase === Phase.DONE) return
    loop.state = CycleState.CONNECTING
    loop.received = 0
    loop.said = []
    loop.saidBytes = 0
    loop.startedAt = performance.now()
    const o = this.o
    const socket = o.tls ? tls.connect({ host: o.host, port: o.port, ...o.tls }) : net.connect({ host: o.host, port: o.port })
    socket.setNoDelay(true)
    loop.socket = socket
    // Over TLS the connection is up once the handshake is done and the certificate verified.
    socket.once(o.tls ? 'secureConnect' : 'connect', () => this.onConnected(loop, socket))
    socket.on('data', (d: Buffer) => this.onData(loop, socket, d))
    socket.on('error', (err: NodeJS.ErrnoException) => this.onFailure(loop, socket, err.code ?? 'error'))
    socket.on('end', () => this.onFailure(loop, socket, 'eof'))
    socket.on('close', () => this.onFailure(loop, socket, 'eof'))
  }

  private onConnected(loop: Loop, socket: net.Socket): void {
    if (loop.socket !== socket || loop.state !== CycleState.CONNECTING) return
    loop.connected = true
    loop.failedConnects = 0
    if (this.phase === Phase.CONNECTING) {
      loop.state = CycleState.CONNECTED // its echo waits for start()
      return this.firstConnectDone()
    }
    this.echo(loop)
  }

  private echo(loop: Loop): void {
    loop.state = CycleState.ECHOING
    loop.socket!.write(this.message)
  }

  private onData(loop: Loop, socket: net.Socket, data: Buffer): void {
    if (loop.socket !== socket || this.phase === Phase.DONE) return // a finished cycle's socket, or past the end
    if (loop.state === CycleState.NOT_ECHOING) return this.keepSaid(loop, data)
    if (loop.state !== CycleState.ECHOING) return this.notAnEcho(loop, data, 0) // spoke before it was asked anything
    const at = loop.received
    const room = this.message.length - at
    const n = Math.min(data.length, room)
    if (this.message.compare(data, 0, n, at, at + n) !== 0 || data.length > room) {
      let i = 0
      while (i < n && data[i] === this.message[at + i]) i++
      return this.notAnEcho(loop, data, i)
    }
    loop.received += data.length
    if (loop.received < this.message.length) return
    // One echo, verified: the cycle is done. Close (our FIN; the server closes its side) and go again.
    if (this.phase === Phase.MEASURING) {
      this.histogram.recordValue(Math.max(1, Math.round((performance.now() - loop.startedAt) * 1000)))
      this.cycles++
    }
    this.answered++
    this.markAnswered(loop)
    loop.socket = null
    this.closing.add(socket)
    socket.once('close', () => this.closing.delete(socket))
    socket.end()
    this.cycle(loop)
  }

  /**
   * The bytes that came are not the echo; `at` is where in `data` they stop matching. Before the
   * first echoed byte of the cycle, the server may be refusing it with a message ("server busy"):
   * wait a moment for it to close (checkDeadlines decides); otherwise it is a mismatch.
   */
  private notAnEcho(loop: Loop, data: Buffer, at: number): void {
    if (loop.received + at === 0) {
      loop.state = CycleState.NOT_ECHOING
      loop.startedAt = performance.now()
      return this.keepSaid(loop, data)
    }
    this.mismatch ??= {
      conn: loop.index,
      offset: loop.received + at,
      expected: loop.received + at < this.message.length ? this.message[loop.received + at] : null,
      got: data[at],
      said: printable(data.subarray(at), 48),
    }
    this.cycleFailed(loop, 'mismatch')
  }

  private keepSaid(loop: Loop, data: Buffer): void {
    if (loop.saidBytes >= REFUSAL_BYTES) return
    const part = Buffer.from(data.subarray(0, REFUSAL_BYTES - loop.saidBytes))
    loop.said.push(part)
    loop.saidBytes += part.length
  }

  /** An error, or the end, of the loop's current socket before its cycle finished. */
  private onFailure(loop: Loop, socket: net.Socket, code: string): void {
    if (loop.socket !== socket) return // a finished cycle's socket, closing
    switch (loop.state) {
      case CycleState.CONNECTING:
        this.connectFailures[code === 'eof' ? 'closed' : code] = (this.connectFailures[code === 'eof' ? 'closed' : code] ?? 0) + 1
        return this.connectFailed(loop)
      case CycleState.CONNECTED:
      case CycleState.ECHOING:
      case CycleState.NOT_ECHOING:
        // Ended by the server before a single byte came back echoed: refused, whatever the way it ended.
        if ((code === 'eof' || code === 'ECONNRESET' || code === 'EPIPE') && loop.received === 0) {
          this.refusal ??= loop.saidBytes ? printable(Buffer.concat(loop.said), REFUSAL_BYTES) : ''
          return this.cycleFailed(loop, 'refused')
        }
        if (loop.state === CycleState.NOT_ECHOING) return this.cycleFailed(loop, 'mismatch')
        return this.cycleFailed(loop, code === 'eof' ? 'eof' : code === 'ECONNRESET' || code === 'EPIPE' ? 'reset' : 'other')
      default:
        return
    }
  }

  private connectFailed(loop: Loop): void {
    loop.socket?.destroy()
    loop.socket = null
    loop.failedConnects++
    const first = this.phase === Phase.CONNECTING
    if (first) {
      loop.state = CycleState.STOPPED // start() tries it again
      return this.firstConnectDone()
    }
    this.markAnswered(loop)
    this.pause(loop)
    this.checkAllDown()
  }

  /** A cycle that connected and then failed: counted, and the loop goes round again at once. */
  private cycleFailed(loop: Loop, kind: ErrorKind): void {
    if (this.phase !== Phase.DONE) this.errors[kind]++
    this.markAnswered(loop)
    loop.socket?.destroy()
    loop.socket = null
    this.cycle(loop)
  }

  private pause(loop: Loop): void {
    loop.state = CycleState.WAITING
    loop.startedAt = performance.now()
    if (this.phase !== Phase.DONE) loop.retry = setTimeout(() => this.cycle(loop), RETRY_PAUSE_MS)
  }

  private markAnswered(loop: Loop): void {
    if (!loop.awaitingFirst) return
    loop.awaitingFirst = false
    if (--this.unanswered === 0) this.onAllAnswered?.()
  }

  private isDown(loop: Loop): boolean {
    return loop.failedConnects >= DOWN_AFTER_FAILED_CONNECTS
  }

  private checkAllDown(): void {
    if (!this.onAllDown || this.phase === Phase.CONNECTING || this.phase === Phase.IDLE) return
    if (!this.loops.every(loop => this.isDown(loop))) return
    const callback = this.onAllDown
    this.onAllDown = null
    callback()
  }

  private checkDeadlines(): void {
    const now = performance.now()
    for (const loop of this.loops) {
      const age = now - loop.startedAt
      switch (loop.state) {
        case CycleState.CONNECTING:
          if (age > this.o.connectTimeoutMs) {
            this.connectFailures.timeout = (this.connectFailures.timeout ?? 0) + 1
            this.connectFailed(loop)
          }
          break
        case CycleState.ECHOING:
          if (age > this.o.timeoutMs) this.cycleFailed(loop, 'timeout')
          break
        case CycleState.NOT_ECHOING:
          // Still open: not a refusal, a server that does not echo.
          if (age > Math.min(REFUSAL_WAIT_MS, this.o.timeoutMs)) {
            const said = Buffer.concat(loop.said)
            this.mismatch ??= { conn: loop.index, offset: 0, expected: this.message[0], got: said[0], said: printable(said, 48) }
            this.cycleFailed(loop, 'mismatch')
          }
          break
        default:
          break
      }
    }
  }
}
