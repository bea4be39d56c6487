// The primary process of `--workers N`: it serves no client itself. It starts N workers (node:cluster,
// each one the same command with its own reactor), says `listening on HOST:PORT` once every worker
// listens, replaces a worker that dies, forwards the operator's console to worker 0, and on
// SIGINT/SIGTERM asks every worker to stop as one process stops (goodbyes, drain), then exits.
//
//   STARTING ──every worker ready──▶ RUNNING ──SIGINT/SIGTERM──▶ STOPPING ──all exited──▶ STOPPED
//      └──a worker exits before it is ready (bad port, no Redis): the others are stopped, exit 1
//
// A worker that dies while RUNNING takes its own clients' connections with it (they were its
// sockets); nobody else's is touched. Its replacement starts at once, or after a growing pause
// (1 s doubling to 30 s) when workers keep dying young, so a crash loop cannot spin the machine.
//
// Scheduling (--schedule): `rr` (Node's default off Windows) has this process accept every
// connection and deal them to the workers in turn; `os` lets every worker accept from the shared
// listening socket, and the kernel decides who wakes up, which Node's docs warn tends to be very
// unbalanced (most connections landing on a few workers).
import cluster, { type Worker } from 'node:cluster'
import { log } from '../log.js'
import type { WorkerOptions } from './options.js'
import { type FromPrimary, type FromWorker, WORKER_INDEX_ENV } from './messages.js'

export const PrimaryState = {
  STARTING: 'STARTING',
  RUNNING: 'RUNNING',
  STOPPING: 'STOPPING',
  STOPPED: 'STOPPED',
} as const
export type PrimaryState = (typeof PrimaryState)[keyof typeof PrimaryState]

export interface SuperviseOptions extends WorkerOptions {
  /** Forward stdin (the operator's console) to worker 0. */
  console: boolean
  /** How long the workers have to stop cleanly before they are killed (their own grace time and some). */
  stopTimeoutMs: number
  /** Arguments added to the workers' command line (this process's own, repeated). */
  workerArgs: string[]
}

/** A worker that dies within this time of starting counts as dying young (the replacement waits). */
const YOUNG_MS = 10_000
const MAX_RESTART_DELAY_MS = 30_000
/** Console input kept for worker 0 while it is (re)starting. */
const CONSOLE_BUFFER_MAX = 64 * 1024

interface Slot {
  readonly index: number
  worker: Worker | null
  ready: boolean
  startedAt: number
  /** Deaths in a row, each soon after its start. */
  youngDeaths: number
  restartTimer: NodeJS.Timeout | null
}

/**
 * Runs the primary until every worker has stopped. Resolves then (process.exitCode is 1 when the
 * workers could not start); never rejects.
 */
export function supervise(o: SuperviseOptions): Promise<void> {
  return new Promise(resolve => new Primary(o, resolve).start())
}

class Primary {
  private state: PrimaryState = PrimaryState.STARTING
  private readonly slots: Slot[]
  private address: { host: string; port: number } | null = null
  private stopTimer: NodeJS.Timeout | null = null
  private consoleQueue: Buffer[] = []
  private consoleQueued = 0
  private consoleEnded = false

  constructor(
    private readonly o: SuperviseOptions,
    private readonly resolve: () => void,
  ) {
    this.slots = Array.from({ length: o.workers }, (_, index) => ({ index, worker: null, ready: false, startedAt: 0, youngDeaths: 0, restartTimer: null }))
  }

  start(): void {
    // Frozen at the first fork: set before it.
    cluster.schedulingPolicy = this.o.schedule === 'os' ? cluster.SCHED_NONE : cluster.SCHED_RR
    // A later option of the same name wins: what is added here overrides what the command said.
    if (this.o.workerArgs.length) cluster.setupPrimary({ args: [...process.argv.slice(2), ...this.o.workerArgs] })
    process.on('SIGINT', this.onSignal)
    process.on('SIGTERM', this.onSignal)
    if (this.o.console) {
      process.stdin.on('data', this.onConsoleData)
      process.stdin.on('end', this.onConsoleEnd)
      process.stdin.on('error', this.onConsoleEnd)
    }
    for (const slot of this.slots) this.fork(slot)
  }

  private fork(slot: Slot): void {
    slot.restartTimer = null
    slot.ready = false
    slot.startedAt = performance.now()
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(slot.index) })
    slot.worker = worker
    worker.on('message', (m: FromWorker) => this.onMessage(slot, worker, m))
    worker.on('exit', (code, signal) => this.onExit(slot, worker, code, signal))
  }

  private onMessage(slot: Slot, worker: Worker, m: FromWorker): void {
    if (m?.kind !== 'ready' || slot.worker !== worker) return
    // Started while everyone was being stopped: the stop it was sent came before it could listen for one.
    if (this.state === PrimaryState.STOPPING) return this.send(slot, { kind: 'stop' })
    slot.ready = true
    this.address ??= { host: m.host, port: m.port }
    if (slot.index === 0) this.flushConsole()
    if (this.state === PrimaryState.RUNNING) {
      log(`worker ${slot.index + 1} (pid ${worker.process.pid}) ready`)
      return
    }
    if (this.state !== PrimaryState.STARTING || !this.slots.every(s => s.ready)) return
    this.state = PrimaryState.RUNNING
    log(`${this.slots.length} workers ready (pids ${this.slots.map(s => s.worker!.process.pid).join(', ')}; schedule ${this.o.schedule})`)
    process.stdout.write(`listening on ${this.address.host}:${this.address.port}\n`)
  }

  private onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return
    slot.worker = null
    slot.ready = false
    const how = signal ? `killed by ${signal}` : `exit status ${code}`
    switch (this.state) {
      case PrimaryState.STARTING:
        log(`worker ${slot.index + 1} could not start (${how}); stopping`)
        process.exitCode = 1
        return this.stopAll()
      case PrimaryState.RUNNING: {
        const young = performance.now() - slot.startedAt < YOUNG_MS
        slot.youngDeaths = young ? slot.youngDeaths + 1 : 0
        const delay = slot.youngDeaths === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 1000 * 2 ** (slot.youngDeaths - 1))
        log(`worker ${slot.index + 1} (pid ${worker.process.pid}) ended (${how}): its clients were cut; starting another${delay ? ` in ${delay / 1000} s` : ''}`)
        slot.restartTimer = setTimeout(() => this.fork(slot), delay)
        return
      }
      case PrimaryState.STOPPING:
        if (code !== 0) process.exitCode = process.exitCode || 1
        return this.finishIfAllGone()
      case PrimaryState.STOPPED:
        return
    }
  }

  private readonly onSignal = (signal: NodeJS.Signals): void => {
    if (this.state === PrimaryState.STOPPING) {
      process.stderr.write(`${signal} again: killing the workers\n`)
      for (const s of this.slots) s.worker?.process.kill('SIGKILL')
      process.exit(130)
    }
    process.stderr.write(`${signal}: shutting down ${this.live().length} workers\n`)
    this.stopAll()
  }

  /** Asks every worker to stop cleanly; kills those still there after the deadline. */
  private stopAll(): void {
    if (this.state === PrimaryState.STOPPING || this.state === PrimaryState.STOPPED) return
    this.state = PrimaryState.STOPPING
    this.detachConsole()
    for (const slot of this.slots) {
      if (slot.restartTimer) clearTimeout(slot.restartTimer)
      slot.restartTimer = null
      this.send(slot, { kind: 'stop' })
    }
    this.stopTimer = setTimeout(() => {
      for (const w of this.live()) {
        log(`worker pid ${w.process.pid} did not stop within ${this.o.stopTimeoutMs / 1000} s: killing it`)
        w.process.kill('SIGKILL')
      }
    }, this.o.stopTimeoutMs)
    this.finishIfAllGone()
  }

  private finishIfAllGone(): void {
    if (this.live().length > 0 || this.state === PrimaryState.STOPPED) return
    this.state = PrimaryState.STOPPED
    if (this.stopTimer) clearTimeout(this.stopTimer)
    process.off('SIGINT', this.onSignal)
    process.off('SIGTERM', this.onSignal)
    this.resolve()
  }

  private live(): Worker[] {
    return this.slots.flatMap(s => (s.worker ? [s.worker] : []))
  }

  /** Sends over IPC if the worker is still connected (a dying one may not be); SIGTERM otherwise for a stop. */
  private send(slot: Slot, m: FromPrimary): void {
    const w = slot.worker
    if (!w) return
    if (w.isConnected()) w.send(m, undefined, () => {})
    else if (m.kind === 'stop') w.process.kill('SIGTERM')
  }

  // ---- the operator's console: stdin goes to worker 0 (the one that also shows the chat) ----

  private readonly onConsoleData = (chunk: Buffer): void => {
    if (this.consoleQueued + chunk.length > CONSOLE_BUFFER_MAX) return // worker 0 is away for long: typed into the void
    this.consoleQueue.push(chunk)
    this.consoleQueued += chunk.length
    this.flushConsole()
  }

  private readonly onConsoleEnd = (): void => {
    this.consoleEnded = true
    this.flushConsole()
  }

  private flushConsole(): void {
    const slot = this.slots[0]
    if (!slot.ready || this.state === PrimaryState.STOPPING || this.state === PrimaryState.STOPPED) return
    for (const chunk of this.consoleQueue) this.send(slot, { kind: 'console', data: chunk.toString('base64') })
    this.consoleQueue = []
    this.consoleQueued = 0
    if (this.consoleEnded) this.send(slot, { kind: 'console-end' })
  }

  private detachConsole(): void {
    if (!this.o.console) return
    process.stdin.off('data', this.onConsoleData)
    process.stdin.off('end', this.onConsoleEnd)
    process.stdin.off('error', this.onConsoleEnd)
    process.stdin.pause()
  }
}
