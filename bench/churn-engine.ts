// The churn mode of the load generator (`load --churn`): `conns` loops, each doing, over and over,
// connect (with --tls: the handshake, the server's certificate verified), one echo of `size`
// bytes (verified), close. What it measures is connections a second — handshakes a second over
// TLS — and each cycle's latency, from the connect to the echo's last byte. The server's cost of
// a new connection (accept, a handshake, a thread or a session set up and torn down) is what is
// under load, not its steady echo path.
//
// Same steps as LoadEngine (connect, start, measure, finish, close), so load.ts drives either.
import net from 'node:net'
import tls from 'node:tls'
import { randomFillSync } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { createHistogram, exportCounts } from './histogram.js'
import { noErrors, type ErrorKind } from './load-errors.js'
import type { EngineOptions, EngineReport } from './load-engine.js'

/** One loop's connection: CONNECTING → ECHOING → (closed; the next cycle starts) ... STOPPED. */
const CycleState = {
  CONNECTING: 'CONNECTING',
  ECHOING: 'ECHOING',
  STOPPED: 'STOPPED',
} as const
type CycleState = (typeof CycleState)[keyof typeof CycleState]

class Loop {
  state: CycleState = CycleState.STOPPED
  socket: net.Socket | null = null
  startedAt = 0
  received = 0
  /** Finished a cycle at least once. */
  served = false
  /** Counted by start() as waiting for its first cycle. */
  awaitingFirst = false
}

export class ChurnEngine {
  private readonly loops: Loop[] = []
  private readonly message: Buffer
  private readonly histogram = createHistogram()
  private readonly errors = noErrors()
  private readonly connectFailures: Record<string, number> = {}
  private running = false
  private measuring = false
  private cycles = 0
  private windowStart = 0
  private windowMs = 0
  private unanswered = 0
  private onAllAnswered: (() => void) | null = null
  private checker: NodeJS.Timeout | null = null

  constructor(private readonly o: EngineOptions) {
    this.message = randomFillSync(Buffer.allocUnsafe(o.size))
    for (let i = 0; i < o.conns; i++) this.loops.push(new Loop())
  }

  /** Nothing to open ahead: every cycle opens its own connection. */
  connect(): Promise<void> {
    return Promise.resolve()
  }

  /** Starts every loop. */
  start(): void {
    if (this.running) return
    this.running = true
    this.checker = setInterval(() => this.checkDeadlines(), Math.max(10, Math.min(250, this.o.timeoutMs / 4)))
    for (const loop of this.loops) {
      loop.awaitingFirst = true
      this.unanswered++
      this.cycle(loop)
    }
  }

  /** Resolves once every loop has finished (or failed) its first cycle. */
  allAnswered(): Promise<void> {
    if (this.unanswered === 0) return Promise.resolve()
    return new Promise(resolve => (this.onAllAnswered = resolve))
  }

  measure(): void {
    this.histogram.reset()
    this.cycles = 0
    this.windowStart = performance.now()
    this.measuring = true
  }

  finish(): EngineReport {
    if (this.measuring) this.windowMs = performance.now() - this.windowStart
    this.measuring = false
    this.running = false
    this.onAllAnswered?.()
    if (this.checker) clearInterval(this.checker)
    let alive = 0
    for (const loop of this.loops) {
      if (loop.state !== CycleState.STOPPED) alive++
      this.stop(loop)
    }
    return {
      connected: this.loops.filter(loop => loop.served).length,
      connectFailures: { ...this.connectFailures },
      errors: { ...this.errors },
      alive,
      messages: this.cycles,
      windowMs: this.windowMs,
      histogram: exportCounts(this.histogram),
    }
  }

  /** The loops' sockets are destroyed by finish(); nothing is left to close politely. */
  close(): Promise<void> {
    return Promise.resolve()
  }

  /** Opens the next connection of `loop`. */
  private cycle(loop: Loop): void {
    if (!this.running) return
    loop.state = CycleState.CONNECTING
    loop.received = 0
    loop.startedAt = performance.now()
    const o = this.o
    const socket = o.tls
      ? tls.connect({ host: o.host, port: o.port, ...o.tls })
      : net.connect({ host: o.host, port: o.port })
    loop.socket = socket
    socket.setNoDelay(true)
    socket.once(o.tls ? 'secureConnect' : 'connect', () => this.onConnected(loop, socket))
    socket.on('data', (d: Buffer) => this.onData(loop, socket, d))
    socket.on('error', (err: NodeJS.ErrnoException) => this.onFailure(loop, socket, err.code ?? 'error'))
    socket.on('close', () => this.onFailure(loop, socket, 'closed'))
  }

  private onConnected(loop: Loop, socket: net.Socket): void {
    if (loop.socket !== socket || loop.state !== CycleState.CONNECTING) return
    loop.state = CycleState.ECHOING
    socket.write(this.message)
  }

  private onData(loop: Loop, socket: net.Socket, data: Buffer): void {
    if (loop.socket !== socket || loop.state !== CycleState.ECHOING) return
    const at = loop.received
    if (at + data.length > this.message.length || this.message.compare(data, 0, data.length, at, at + data.length) !== 0) {
      return this.cycleFailed(loop, 'mismatch')
    }
    loop.received += data.length
    if (loop.received < this.message.length) return
    // One echo, verified: the cycle is done. Close (our FIN; the server closes its side) and go again.
    if (this.measuring) {
      this.histogram.recordValue(Math.max(1, Math.round((performance.now() - loop.startedAt) * 1000)))
      this.cycles++
    }
    loop.served = true
    this.answered(loop)
    loop.socket = null
    socket.end()
    socket.once('close', () => socket.destroy())
    this.cycle(loop)
  }

  /** An error or close of the loop's current socket before its cycle finished. */
  private onFailure(loop: Loop, socket: net.Socket, code: string): void {
    if (loop.socket !== socket) return // an earlier cycle's socket, closing after its echo
    if (loop.state === CycleState.CONNECTING) {
      this.connectFailures[code] = (this.connectFailures[code] ?? 0) + 1
      this.cycleFailed(loop, null)
    } else if (loop.state === CycleState.ECHOING) {
      this.cycleFailed(loop, code === 'closed' ? 'eof' : code === 'ECONNRESET' || code === 'EPIPE' ? 'reset' : 'other')
    }
  }

  private cycleFailed(loop: Loop, kind: ErrorKind | null): void {
    if (kind) this.errors[kind]++
    this.answered(loop)
    loop.socket?.destroy()
    loop.socket = null
    // Try again, unless the server is not there at all: a failed connect backs off a little.
    if (this.running) setTimeout(() => this.cycle(loop), kind ? 0 : 50)
  }

  private answered(loop: Loop): void {
    if (!loop.awaitingFirst) return
    loop.awaitingFirst = false
    if (--this.unanswered === 0) this.onAllAnswered?.()
  }

  private stop(loop: Loop): void {
    loop.state = CycleState.STOPPED
    loop.socket?.destroy()
    loop.socket = null
  }

  private checkDeadlines(): void {
    const now = performance.now()
    for (const loop of this.loops) {
      if (loop.socket && now - loop.startedAt > this.o.timeoutMs) {
        if (loop.state === CycleState.CONNECTING) {
          this.connectFailures.timeout = (this.connectFailures.timeout ?? 0) + 1
          this.cycleFailed(loop, null)
        } else this.cycleFailed(loop, 'timeout')
      }
    }
  }
}
