// The load generator: runs one engine per thread (in this thread when --threads 1, otherwise
// in worker_threads), drives them through connect → ramp-up → warm-up → measured window → finish,
// and merges their counts into one report with the generator's own CPU time and, given the
// server's pid, the server's CPU (in all, and per message), memory and threads over the same window.
//
// It fails fast: no connection made ends the run at once (no warm-up, no window), and a window in
// which every connection has been lost ends there rather than waiting out its time.
import { Worker } from 'node:worker_threads'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { builtSibling } from '../lib/built.js'
import type { Engine, EngineOptions, EngineReport, EngineSnapshot, MismatchSample, ScheduleCounts } from './load-engine.js'
import { createEngine } from './engines.js'
import { addErrors, noErrors, totalErrors, type ErrorCounts } from './load-errors.js'
import { createHistogram, importCounts, summarize, type LatencySummary } from './histogram.js'
import { readCpuTimes, readMachineBusyMs, readStatus } from './proc.js'
import { tlsClientOptions, type TlsClientSettings } from '../lib/tls/options.js'

/** One load run: what `selectloop load` parses its command line into, and what runLoad runs. */
export interface LoadOptions {
  host: string
  port: number
  conns: number
  size: number
  /** Messages in flight per connection: kept there (closed loop), or at most (with a rate). */
  pipeline: number
  warmupMs: number
  durationMs: number
  /** A message not echoed within this long is a timeout error; a connection not made within it, a failed connect. */
  timeoutMs: number
  threads: number
  /** The server's pid, to report its CPU, RSS and threads over the window (Linux /proc). */
  serverPid?: number
  /** Open loop: messages per second in all, on a fixed schedule. Absent: closed loop. */
  rate?: number
  /** Connect with TLS (--tls, --ca, --insecure). */
  tls?: TlsClientSettings
  /**
   * Churn (--churn): each of the `conns` loops connects (with TLS, a handshake), echoes one
   * message, closes, and again; msgs/s is then connections (handshakes) a second. Never with a rate.
   */
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
} as const satisfies Omit<LoadOptions, 'host' | 'port' | 'serverPid' | 'rate' | 'tls' | 'churn'>

/**
 * The open loop's schedule is kept when the backlog did not grow over the window. By the end it
 * may have grown by what a server that keeps up still leaves waiting at any moment: 1% of the
 * messages due, or one per in-flight place of every connection plus what falls due during a p99
 * service time and during the generator's own worst lag (messages due while the last ones were
 * being served, or while this process was not running). Or by no more than it had already grown at
 * some moment of the window's first half (with a little room): a server that stalls now and then
 * and catches up may be caught mid-stall at the end, but its backlog is not growing. A backlog
 * carried over from the warm-up and not growing counts as kept (its latencies say the rest).
 */
export const SCHEDULE_KEPT_BEHIND = 0.01
/** ... the little room over the first half's growth. */
const BACKLOG_GROWTH_ROOM = 1.1

/**
 * Whether a window's schedule was kept (see SCHEDULE_KEPT_BEHIND): `rate` in messages a second,
 * `places` in-flight places over all connections, `serviceP99Ms` from the window's service times.
 */
export function scheduleKept(s: ScheduleCounts, rate: number, places: number, serviceP99Ms: number): boolean {
  if (s.due === 0) return false
  const grew = s.behind - s.behindAtStart
  const grewByHalfway = s.behindHalfway - s.behindAtStart
  const moment = places + (rate * (serviceP99Ms + s.generatorLagMs)) / 1000
  return grew <= Math.max(s.due * SCHEDULE_KEPT_BEHIND, moment) || grew <= grewByHalfway * BACKLOG_GROWTH_ROOM
}

/** CPU figures need a window at least this long (/proc counts in 10 ms ticks). */
export const MIN_CPU_WINDOW_MS = 200

export interface ServerUsage {
  pid: number
  /** CPU over the measured window, in % of one core (200 = two cores busy). */
  cpuPct: number | null
  /** Server CPU time per message echoed in the window, in microseconds. */
  cpuUsPerMsg: number | null
  /** The part of cpuUsPerMsg spent in the kernel (system time: the system calls), in microseconds. */
  systemUsPerMsg: number | null
  rssKb: number | null
  threads: number | null
}

/** The open loop's account of its schedule over the measured window. */
export interface RateResult extends ScheduleCounts {
  /** Messages per second asked for. */
  target: number
  /** Messages per second sent in the window. */
  sentPerSec: number
  /** The server kept up: the backlog at the end was small, or not growing (see scheduleKept). */
  kept: boolean
}

export interface LoadResult {
  target: string
  /**
   * closed: each connection keeps `pipeline` messages in flight; rate: messages on a fixed
   * schedule; churn: a connection per message (connect, one echo, close), so a message is a
   * connection made (over TLS, a handshake) and its latency the whole cycle.
   */
  mode: 'closed' | 'rate' | 'churn'
  /** Over TLS. */
  tls: boolean
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
  /** Latency: from when each message was sent (closed loop) or due (rate: coordinated omission corrected). */
  latencyMs: LatencySummary
  /** Rate only: the service time, from when each message was actually sent. Null in a closed loop (it is latencyMs). */
  serviceMs: LatencySummary | null
  /** Rate only: how the schedule went. */
  rate: RateResult | null
  /** The first reply that was not an echo of what was sent. */
  mismatch: MismatchSample | null
  /** What the server said when it refused a connection ('' when it just closed it), if it did. */
  refusal: string | null
  /** Why the run ended before its time (every connection lost), or null. */
  stoppedEarly: string | null
  /** Why nothing was measured at all (no connection made), or null. */
  failure: string | null
  /** The load generator's own CPU over the window, in % of one core (null for a window under MIN_CPU_WINDOW_MS). */
  loadCpuPct: number | null
  /**
   * CPU the rest of the machine used over the window (every other process, the kernel's own
   * work, hypervisor steal), in % of one core: high values mean a noisy measurement.
   * Null without --server-pid (the server's share cannot be told apart) or without /proc.
   */
  otherCpuPct: number | null
  server: ServerUsage | null
}

/** What the live line shows, once a second while the load runs. */
export interface LiveStatus {
  phase: 'ramp-up' | 'warm-up' | 'measuring'
  /** Seconds since the phase began. */
  seconds: number
  /** Messages echoed per second over the last interval. */
  msgsPerSec: number
  /** p99 of the window so far (null before the window or before any message in it). */
  p99Ms: number | null
  errors: number
  alive: number
}

export interface RunHooks {
  /** Called about once a second with the run's live figures. */
  live?: (status: LiveStatus) => void
}

/** One engine, local or in a worker, seen through the same steps. */
interface EngineHandle {
  /** Resolves with how many connections were made. */
  connect(): Promise<number>
  /** Sends the first messages; resolves once every connection has answered or failed. */
  start(): Promise<void>
  /** Open loop: the schedule begins (no-op in a closed loop). */
  startSchedule(): void
  measure(): void
  snapshot(): Promise<EngineSnapshot>
  /** Resolves once none of its connections is running any more. */
  allDown(): Promise<void>
  finish(): Promise<EngineReport>
  /** Ends the connections politely (bounded), then frees the engine. */
  close(): Promise<void>
}

class LocalEngine implements EngineHandle {
  private readonly engine: Engine
  private readonly down: Promise<void>
  constructor(o: EngineOptions) {
    this.engine = createEngine(o)
    this.down = new Promise(resolve => this.engine.whenAllDown(resolve))
  }
  async connect() {
    await this.engine.connect()
    return this.engine.connectedCount()
  }
  start() {
    this.engine.start()
    return this.engine.allAnswered()
  }
  startSchedule() {
    this.engine.startSchedule()
  }
  measure() {
    this.engine.measure()
  }
  async snapshot() {
    return this.engine.snapshot()
  }
  allDown() {
    return this.down
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

export type WorkerReply =
  | { type: 'connected'; connected: number }
  | { type: 'answered' }
  | { type: 'snapshot'; snapshot: EngineSnapshot }
  | { type: 'down' }
  | { type: 'report'; report: EngineReport }
  | { type: 'closed' }

class WorkerEngine implements EngineHandle {
  private readonly worker: Worker
  private readonly replies: WorkerReply[] = []
  private waiters: Array<() => void> = []
  private failure: Error | null = null
  private readonly down: Promise<void>

  constructor(private readonly options: EngineOptions) {
    // No inherited loaders (a test runner's TypeScript hooks): the worker is plain built JS.
    this.worker = new Worker(WORKER_URL, { workerData: options, execArgv: [] })
    this.worker.on('message', (m: WorkerReply) => (this.replies.push(m), this.poke()))
    this.worker.on('error', e => ((this.failure = e), this.poke()))
    this.worker.on('exit', code => ((this.failure ??= new Error(`load thread exited (${code})`)), this.poke()))
    this.down = this.reply('down', Infinity).then(
      () => {},
      () => new Promise<void>(() => {}), // a thread that failed says so through its other replies
    )
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
        const timer = Number.isFinite(left) ? setTimeout(resolve, left) : null
        this.waiters.push(() => (timer && clearTimeout(timer), resolve()))
      })
    }
  }

  async connect() {
    this.worker.postMessage('connect')
    // The engine bounds each connect; this bounds the thread itself, should it wedge.
    const o = this.options
    return (await this.reply('connected', o.connectTimeoutMs * Math.ceil(o.conns / o.connectConcurrency) + 10_000)).connected
  }
  async start() {
    this.worker.postMessage('start')
    await this.reply('answered', this.options.timeoutMs + 10_000) // bounded by the message deadline
  }
  startSchedule() {
    this.worker.postMessage('schedule')
  }
  measure() {
    this.worker.postMessage('measure')
  }
  async snapshot() {
    this.worker.postMessage('snapshot')
    return (await this.reply('snapshot', 5000)).snapshot
  }
  allDown() {
    return this.down
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

/** Waits `ms`, or less if `cut` settles first; true when cut short. */
async function sleepUnless(ms: number, cut: Promise<unknown>): Promise<boolean> {
  const ac = new AbortController()
  const slept = sleep(ms, false, { signal: ac.signal }).catch(() => false)
  const result = await Promise.race([slept, cut.then(() => true)])
  ac.abort()
  return result
}

/**
 * Runs one load. Never rejects for anything the server does (that is in the result); rejects
 * only if a load thread itself fails.
 */
export async function runLoad(o: LoadOptions, hooks: RunHooks = {}): Promise<LoadResult> {
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
      rate: o.rate === undefined ? null : (o.rate * conns) / o.conns,
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
  const live = hooks.live ? new LiveLine(engines, hooks.live) : null
  try {
    const connected = (await Promise.all(engines.map(e => e.connect()))).reduce((a, b) => a + b, 0)
    if (connected === 0) {
      // Nothing to measure: say so at once, with every connect failure counted.
      const reports = await Promise.all(engines.map(e => e.finish()))
      const failure = `no connection made (${describeFailures(sumFailures(reports))})`
      return { ...merge(o, reports, 0, null, null, null), rampMs: null, stoppedEarly: null, failure }
    }
    const allDown = Promise.all(engines.map(e => e.allDown()))
    let down = false
    // The warm-up starts once every connection has been echoed once: a server that starts
    // something per connection (a thread) is measured up and running, not starting up.
    let rampMs = 0
    if (o.warmupMs > 0) {
      live?.phase('ramp-up')
      const t = performance.now()
      await Promise.race([Promise.all(engines.map(e => e.start())), allDown])
      rampMs = performance.now() - t
      for (const e of engines) e.startSchedule()
      live?.phase('warm-up')
      down = await sleepUnless(o.warmupMs, allDown)
    }
    const cpu0 = process.cpuUsage()
    const serverCpu0 = o.serverPid ? readCpuTimes(o.serverPid) : null
    const machine0 = readMachineBusyMs()
    const t0 = performance.now()
    for (const e of engines) e.measure()
    live?.phase('measuring')
    // Without a warm-up the window opens as the first messages go out.
    // (Nobody waits for their first answers: they are part of what is measured.)
    if (o.warmupMs === 0) {
      for (const e of engines) {
        if (o.rate === undefined) e.start().catch(() => {})
        else e.startSchedule()
      }
    }
    if (!down) down = await sleepUnless(o.durationMs, allDown)
    const serverStatus = o.serverPid ? readStatus(o.serverPid) : null
    const serverCpu1 = o.serverPid ? readCpuTimes(o.serverPid) : null
    const machine1 = readMachineBusyMs()
    live?.stop()
    const reports = await Promise.all(engines.map(e => e.finish()))
    const wallMs = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)

    const windowMs = reports.reduce((s, r) => s + r.windowMs, 0) / reports.length || wallMs
    const messages = reports.reduce((s, r) => s + r.messages, 0)
    // /proc counts CPU time in 10 ms ticks: a shorter window (one cut short) says nothing about CPU.
    const timed = wallMs >= MIN_CPU_WINDOW_MS
    let server: ServerUsage | null = null
    if (o.serverPid) {
      const measured = timed && serverCpu0 !== null && serverCpu1 !== null
      const serverCpuMs = measured ? serverCpu1.userMs + serverCpu1.systemMs - serverCpu0.userMs - serverCpu0.systemMs : null
      const systemMs = measured ? serverCpu1.systemMs - serverCpu0.systemMs : null
      server = {
        pid: o.serverPid,
        cpuPct: serverCpuMs !== null ? round1((serverCpuMs / wallMs) * 100) : null,
        cpuUsPerMsg: serverCpuMs !== null && messages > 0 ? round1((serverCpuMs * 1000) / messages) : null,
        systemUsPerMsg: systemMs !== null && messages > 0 ? round1((systemMs * 1000) / messages) : null,
        rssKb: serverStatus?.rssKb ?? null,
        threads: serverStatus?.threads ?? null,
      }
    }
    const loadCpuPct = timed ? round1(((cpu.user + cpu.system) / 1000 / wallMs) * 100) : null
    let otherCpuPct: number | null = null
    if (server?.cpuPct != null && loadCpuPct !== null && machine0 !== null && machine1 !== null) {
      otherCpuPct = Math.max(0, round1(((machine1 - machine0) / wallMs) * 100 - server.cpuPct - loadCpuPct))
    }
    const stoppedEarly = down ? `every connection was lost; stopped after ${(wallMs / 1000).toFixed(2)} s of the window` : null
    return { ...merge(o, reports, windowMs, loadCpuPct, otherCpuPct, server), rampMs: o.warmupMs > 0 ? Math.round(rampMs) : null, stoppedEarly, failure: null }
  } finally {
    live?.stop()
    await Promise.all(engines.map(e => e.close().catch(() => {})))
  }
}

function sumFailures(reports: EngineReport[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const r of reports) for (const [k, n] of Object.entries(r.connectFailures)) out[k] = (out[k] ?? 0) + n
  return out
}

/** "ECONNREFUSED 10" or "timeout 3, ECONNREFUSED 7". */
export function describeFailures(failures: Record<string, number>): string {
  const parts = Object.entries(failures).map(([k, n]) => `${k} ${n}`)
  return parts.length ? parts.join(', ') : 'none'
}

function merge(
  o: LoadOptions,
  reports: EngineReport[],
  windowMs: number,
  loadCpuPct: number | null,
  otherCpuPct: number | null,
  server: ServerUsage | null,
): Omit<LoadResult, 'rampMs' | 'stoppedEarly' | 'failure'> {
  const histogram = createHistogram()
  const service = o.rate === undefined ? null : createHistogram()
  const errors = noErrors()
  let connected = 0
  let alive = 0
  let messages = 0
  let schedule: ScheduleCounts | null = null
  for (const r of reports) {
    importCounts(histogram, r.histogram)
    if (service && r.service) importCounts(service, r.service)
    addErrors(errors, r.errors)
    connected += r.connected
    alive += r.alive
    messages += r.messages
    if (r.schedule) schedule = addSchedule(schedule, r.schedule)
  }
  const seconds = windowMs / 1000
  const serviceMs = service ? summarize(service) : null
  let rate: RateResult | null = null
  if (o.rate !== undefined) {
    const s = schedule ?? { due: 0, sent: 0, behind: 0, behindAtStart: 0, behindHalfway: 0, late: 0, maxLateMs: 0, generatorLagMs: 0 }
    const kept = scheduleKept(s, o.rate, o.conns * o.pipeline, serviceMs?.p99 ?? 0)
    rate = { target: o.rate, ...s, sentPerSec: seconds > 0 ? Math.round(s.sent / seconds) : 0, kept }
  }
  return {
    target: `${o.host}:${o.port}`,
    mode: o.churn ? 'churn' : o.rate === undefined ? 'closed' : 'rate',
    tls: Boolean(o.tls),
    conns: o.conns,
    size: o.size,
    pipeline: o.pipeline,
    threads: reports.length,
    warmupS: o.warmupMs / 1000,
    windowS: Math.round(seconds * 1000) / 1000,
    connected,
    connectFailures: sumFailures(reports),
    alive,
    errors,
    errorTotal: totalErrors(errors),
    messages,
    msgsPerSec: seconds > 0 ? Math.round(messages / seconds) : 0,
    mbPerSec: seconds > 0 ? Math.round((messages * o.size) / seconds / 1e4) / 100 : 0,
    latencyMs: summarize(histogram),
    serviceMs,
    rate,
    mismatch: reports.find(r => r.mismatch)?.mismatch ?? null,
    refusal: reports.find(r => r.refusal !== null)?.refusal ?? null,
    loadCpuPct,
    otherCpuPct,
    server,
  }
}

function addSchedule(a: ScheduleCounts | null, b: ScheduleCounts): ScheduleCounts {
  if (!a) return { ...b }
  return {
    due: a.due + b.due,
    sent: a.sent + b.sent,
    behind: a.behind + b.behind,
    behindAtStart: a.behindAtStart + b.behindAtStart,
    behindHalfway: a.behindHalfway + b.behindHalfway,
    late: a.late + b.late,
    maxLateMs: Math.max(a.maxLateMs, b.maxLateMs),
    generatorLagMs: Math.max(a.generatorLagMs, b.generatorLagMs),
  }
}

/** Once a second, the engines' snapshots merged into one LiveStatus. */
class LiveLine {
  private readonly timer: NodeJS.Timeout
  private current: LiveStatus['phase'] = 'ramp-up'
  private since = performance.now()
  private lastAnswered = 0
  private lastAt = performance.now()
  private busy = false
  private stopped = false

  constructor(
    private readonly engines: EngineHandle[],
    private readonly report: (status: LiveStatus) => void,
  ) {
    this.timer = setInterval(() => void this.tick(), 1000)
  }

  phase(p: LiveStatus['phase']): void {
    this.current = p
    this.since = performance.now()
  }

  stop(): void {
    this.stopped = true
    clearInterval(this.timer)
  }

  private async tick(): Promise<void> {
    if (this.busy) return // a thread slow to answer: skip a beat rather than pile up
    this.busy = true
    try {
      const snaps = await Promise.all(this.engines.map(e => e.snapshot()))
      if (this.stopped) return
      const now = performance.now()
      const answered = snaps.reduce((s, x) => s + x.answered, 0)
      const h = createHistogram()
      for (const s of snaps) importCounts(h, s.histogram)
      this.report({
        phase: this.current,
        seconds: (now - this.since) / 1000,
        msgsPerSec: ((answered - this.lastAnswered) * 1000) / (now - this.lastAt),
        p99Ms: h.totalCount > 0 ? h.getValueAtPercentile(99) / 1000 : null,
        errors: snaps.reduce((s, x) => s + x.errors, 0),
        alive: snaps.reduce((s, x) => s + x.alive, 0),
      })
      this.lastAnswered = answered
      this.lastAt = now
    } catch {
      // a failed thread: the run itself reports it
    } finally {
      this.busy = false
    }
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10
}
