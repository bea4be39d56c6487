// The load generator: runs one LoadEngine per thread (in this thread when --threads 1, otherwise
// in worker_threads), drives them through connect → warm-up → measured window → finish, and
// merges their counts into one report with the generator's own CPU time and, given the server's
// pid, the server's CPU, memory and threads over the same window.
import { Worker } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { builtSibling } from '../lib/built.js'
import { LoadEngine, type EngineOptions, type EngineReport } from './load-engine.js'
import { addErrors, noErrors, totalErrors, type ErrorCounts } from './load-errors.js'
import { createHistogram, importCounts, summarize, type LatencySummary } from './histogram.js'
import { readCpuMs, readMachineBusyMs, readStatus } from './proc.js'
import { ChurnEngine } from './churn-engine.js'
import { tlsClientOptions, type TlsClientSettings } from '../lib/tls/options.js'

/** One load run: what `selectloop load` parses its command line into, and what runLoad runs. */
export interface LoadOptions {
  host: string
  port: number
  conns: number
  size: number
  pipeline: number
  warmupMs: number
  durationMs: number
  /** A message not echoed within this long is a timeout error; a connection not made within it, a failed connect. */
  timeoutMs: number
  threads: number
  /** The server's pid, to report its CPU, RSS and threads over the window (Linux /proc). */
  serverPid?: number
  /** Connect with TLS (--tls, --ca, --insecure). */
  tls?: TlsClientSettings
  /** Churn (--churn): each connection connects, echoes one message, closes, again; msgs/s is then connections/s. */
  churn?: boolean
}

export const LOAD_DEFAULTS = {
  conns: 10,
  size: 1024,
  pipeline: 1,
  warmupMs: 1000,
  durationMs: 5000,
  timeoutMs: 5000,
  threads: 1,
} as const satisfies Omit<LoadOptions, 'host' | 'port' | 'serverPid'>

export interface ServerUsage {
  pid: number
  /** CPU over the measured window, in % of one core (200 = two cores busy). */
  cpuPct: number | null
  rssKb: number | null
  threads: number | null
}

export interface LoadResult {
  target: string
  /** Over TLS. */
  tls: boolean
  /** Churn: each message was a connection of its own (connect, handshake, one echo, close). */
  churn: boolean
  conns: number
  size: number
  pipeline: number
  threads: number
  warmupS: number
  /**
   * Time from the first messages until every connection had its first echo (null without a
   * warm-up): the server's ramp-up, e.g. starting a thread per connection. The warm-up
   * proper (warmupS) begins after it.
   */
  rampMs: number | null
  /** The measured window as it really was (timers run late on a busy machine). */
  windowS: number
  connected: number
  connectFailures: Record<string, number>
  /** Connections still running at the end of the window. */
  alive: number
  errors: ErrorCounts
  errorTotal: number
  messages: number
  msgsPerSec: number
  /** Echoed payload, MB (10^6 bytes) a second, one direction. */
  mbPerSec: number
  latencyMs: LatencySummary
  /** The load generator's own CPU over the window, in % of one core. */
  loadCpuPct: number
  /**
   * CPU the rest of the machine used over the window (every other process, the kernel's own
   * work, hypervisor steal), in % of one core: high values mean a noisy measurement.
   * Null without --server-pid (the server's share cannot be told apart) or without /proc.
   */
  otherCpuPct: number | null
  server: ServerUsage | null
}

/** One engine, local or in a worker, seen through the same four steps. */
interface EngineHandle {
  connect(): Promise<void>
  /** Sends the first messages; resolves once every connection has answered or failed. */
  start(): Promise<void>
  measure(): void
  finish(): Promise<EngineReport>
  /** Ends the connections politely (bounded), then frees the engine. */
  close(): Promise<void>
}

class LocalEngine implements EngineHandle {
  private readonly engine: LoadEngine | ChurnEngine
  constructor(o: EngineOptions) {
    this.engine = o.churn ? new ChurnEngine(o) : new LoadEngine(o)
  }
  connect() {
    return this.engine.connect()
  }
  start() {
    this.engine.start()
    return this.engine.allAnswered()
  }
  measure() {
    this.engine.measure()
  }
  async finish() {
    return this.engine.finish()
  }
  close() {
    return this.engine.close()
  }
}

/** Worker entry files must be plain .js: from the sources (tests), the built copy. */
const WORKER_URL = builtSibling(import.meta.url, './load-worker.js')

type WorkerReply = { type: 'connected' } | { type: 'answered' } | { type: 'report'; report: EngineReport } | { type: 'closed' }

class WorkerEngine implements EngineHandle {
  private readonly worker: Worker
  private readonly replies: WorkerReply[] = []
  private waiters: Array<() => void> = []
  private failure: Error | null = null

  constructor(private readonly options: EngineOptions) {
    // No inherited loaders (a test runner's TypeScript hooks): the worker is plain built JS.
    this.worker = new Worker(WORKER_URL, { workerData: options, execArgv: [] })
    this.worker.on('message', (m: WorkerReply) => (this.replies.push(m), this.poke()))
    this.worker.on('error', e => ((this.failure = e), this.poke()))
    this.worker.on('exit', code => ((this.failure ??= new Error(`load thread exited (${code})`)), this.poke()))
  }

  private poke() {
    for (const w of this.waiters.splice(0)) w()
  }

  /** Waits for the thread's reply of this type, at most deadlineMs. */
  private async reply<T extends WorkerReply['type']>(type: T, deadlineMs: number): Promise<Extract<WorkerReply, { type: T }>> {
    const deadline = performance.now() + deadlineMs
    for (;;) {
      const i = this.replies.findIndex(r => r.type === type)
      if (i >= 0) return this.replies.splice(i, 1)[0] as Extract<WorkerReply, { type: T }>
      if (this.failure) throw this.failure
      const left = deadline - performance.now()
      if (left <= 0) throw new Error(`a load thread did not answer '${type}' within ${Math.round(deadlineMs)} ms`)
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => (clearTimeout(timer), resolve()))
      })
    }
  }

  async connect() {
    this.worker.postMessage('connect')
    // The engine bounds each connect; this bounds the thread itself, should it wedge.
    const o = this.options
    await this.reply('connected', o.connectTimeoutMs * Math.ceil(o.conns / o.connectConcurrency) + 10_000)
  }
  async start() {
    this.worker.postMessage('start')
    await this.reply('answered', this.options.timeoutMs + 10_000) // bounded by the message deadline
  }
  measure() {
    this.worker.postMessage('measure')
  }
  async finish() {
    this.worker.postMessage('finish')
    return (await this.reply('report', 10_000)).report
  }
  async close() {
    try {
      this.worker.postMessage('close')
      await this.reply('closed', 3000)
    } finally {
      await this.worker.terminate()
    }
  }
}

/** Splits `total` into `parts` near-equal positive shares. */
function shares(total: number, parts: number): number[] {
  const out: number[] = []
  for (let i = 0; i < parts; i++) out.push(Math.floor(total / parts) + (i < total % parts ? 1 : 0))
  return out.filter(n => n > 0)
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const counts = shares(o.conns, Math.max(1, Math.min(o.threads, o.conns)))
  const tls = o.tls ? tlsClientOptions(o.tls) : null
  let first = 0
  const engines: EngineHandle[] = counts.map(conns => {
    const eo: EngineOptions = {
      host: o.host,
      port: o.port,
      conns,
      size: o.size,
      pipeline: o.pipeline,
      timeoutMs: o.timeoutMs,
      connectTimeoutMs: o.timeoutMs,
      connectConcurrency: Math.max(1, Math.ceil(1000 / counts.length)),
      firstConnIndex: first,
      tls: tls && { ca: typeof tls.ca === 'string' ? tls.ca : undefined, rejectUnauthorized: tls.rejectUnauthorized ?? true },
      churn: Boolean(o.churn),
    }
    first += conns
    return counts.length === 1 ? new LocalEngine(eo) : new WorkerEngine(eo)
  })
  try {
    await Promise.all(engines.map(e => e.connect()))
    // The warm-up starts once every connection has been echoed once: a server that starts
    // something per connection (a thread) is measured up and running, not starting up.
    let rampMs = 0
    if (o.warmupMs > 0) {
      const t = performance.now()
      await Promise.all(engines.map(e => e.start()))
      rampMs = performance.now() - t
      await sleep(o.warmupMs)
    }
    const cpu0 = process.cpuUsage()
    const serverCpu0 = o.serverPid ? readCpuMs(o.serverPid) : null
    const machine0 = readMachineBusyMs()
    const t0 = performance.now()
    for (const e of engines) e.measure()
    // Without a warm-up the window opens as the first messages go out.
    // (Nobody waits for their first answers: they are part of what is measured.)
    if (o.warmupMs === 0) for (const e of engines) e.start().catch(() => {})
    await sleep(o.durationMs)
    const serverStatus = o.serverPid ? readStatus(o.serverPid) : null
    const serverCpu1 = o.serverPid ? readCpuMs(o.serverPid) : null
    const machine1 = readMachineBusyMs()
    const reports = await Promise.all(engines.map(e => e.finish()))
    const wallMs = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)

    const windowMs = reports.reduce((s, r) => s + r.windowMs, 0) / reports.length || wallMs
    let server: ServerUsage | null = null
    if (o.serverPid) {
      server = {
        pid: o.serverPid,
        cpuPct: serverCpu0 !== null && serverCpu1 !== null ? round1(((serverCpu1 - serverCpu0) / wallMs) * 100) : null,
        rssKb: serverStatus?.rssKb ?? null,
        threads: serverStatus?.threads ?? null,
      }
    }
    const loadCpuPct = round1(((cpu.user + cpu.system) / 1000 / wallMs) * 100)
    let otherCpuPct: number | null = null
    if (server?.cpuPct != null && machine0 !== null && machine1 !== null) {
      otherCpuPct = Math.max(0, round1(((machine1 - machine0) / wallMs) * 100 - server.cpuPct - loadCpuPct))
    }
    return { ...merge(o, reports, windowMs, loadCpuPct, otherCpuPct, server), rampMs: o.warmupMs > 0 ? Math.round(rampMs) : null }
  } finally {
    await Promise.all(engines.map(e => e.close().catch(() => {})))
  }
}

function merge(
  o: LoadOptions,
  reports: EngineReport[],
  windowMs: number,
  loadCpuPct: number,
  otherCpuPct: number | null,
  server: ServerUsage | null,
): Omit<LoadResult, 'rampMs'> {
  const histogram = createHistogram()
  const errors = noErrors()
  const connectFailures: Record<string, number> = {}
  let connected = 0
  let alive = 0
  let messages = 0
  for (const r of reports) {
    importCounts(histogram, r.histogram)
    addErrors(errors, r.errors)
    for (const [k, n] of Object.entries(r.connectFailures)) connectFailures[k] = (connectFailures[k] ?? 0) + n
    connected += r.connected
    alive += r.alive
    messages += r.messages
  }
  const seconds = windowMs / 1000
  return {
    target: `${o.host}:${o.port}`,
    tls: Boolean(o.tls),
    churn: Boolean(o.churn),
    conns: o.conns,
    size: o.size,
    pipeline: o.pipeline,
    threads: reports.length,
    warmupS: o.warmupMs / 1000,
    windowS: Math.round(seconds * 1000) / 1000,
    connected,
    connectFailures,
    alive,
    errors,
    errorTotal: totalErrors(errors),
    messages,
    msgsPerSec: seconds > 0 ? Math.round(messages / seconds) : 0,
    mbPerSec: seconds > 0 ? Math.round((messages * o.size) / seconds / 1e4) / 100 : 0,
    latencyMs: summarize(histogram),
    loadCpuPct,
    otherCpuPct,
    server,
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10
}
