// The comparison runner: starts every server under test, runs the same matrix of loads against
// each, samples each server's memory and threads while it is loaded, and gathers one row per
// (cell, server) with throughput ratios against the `net` baseline measured in the same run.
//
// Fairness on a small, noisy machine: each load runs in its own process against a server started
// for it (nothing carried over between runs), servers take turns cell by cell (with a rotating
// first server) rather than model by model, and a cell can be repeated R times keeping the median
// of each figure.
import os from 'node:os'
import type { LoadOptions, LoadResult } from './load.js'
import type { IdleOptions, IdleResult } from './idle.js'
import { loadArgs, type LoadCommand } from './load-cli.js'
import { readFdLimit, type FdLimit } from '../lib/fd-limit.js'
import { readStatus } from './proc.js'
import { NotAvailable, startServerSpec, type RunningBenchServer, type ServerSpec } from './servers.js'
import { RAISE_FD_LIMIT, bashWrapper, lastLine, outputTail } from './child.js'
import { spawnCli } from './cli-process.js'
import type { Progress } from './progress.js'
import type { TlsClientSettings } from '../lib/tls/options.js'
import { addErrors, noErrors, totalErrors, type ErrorCounts } from './load-errors.js'

export interface BenchOptions {
  servers: ServerSpec[]
  conns: number[]
  sizes: number[]
  pipelines: number[]
  warmupMs: number
  durationMs: number
  timeoutMs: number
  repeat: number
  loadThreads: number
  /** Idle-connection test: how many connections (0 = none), for how long, on which servers. */
  idle: number
  idleHoldMs: number
  idleServers: ServerSpec[]
  /** The command line, for the header. */
  command: string
  /** Over TLS (bench --tls): how the load trusts the servers' certificate. */
  tls?: TlsClientSettings
  /** Churn cells (connect, handshake, one echo, close), one per count of loops at once. */
  churn?: number[]
}

export interface Cell {
  size: number
  conns: number
  pipeline: number
  /** A churn cell: msgs/s is connections (handshakes) a second. */
  churn?: boolean
}

export interface HeaderRow {
  type: 'header'
  date: string
  command: string
  cpus: number
  cpuModel: string
  memoryMiB: number
  node: string
  platform: string
  kernel: string
  loadAverage: number[]
  fdLimit: FdLimit | null
  options: Omit<BenchOptions, 'servers' | 'idleServers' | 'command'> & { servers: string[]; idleServers: string[] }
}

export interface CellRow extends Cell {
  type: 'cell'
  server: string
  /** Runs that produced a result (of `repeat`). */
  runs: number
  msgsPerSec: number | null
  mbPerSec: number | null
  p50Ms: number | null
  p99Ms: number | null
  p999Ms: number | null
  maxMs: number | null
  errors: ErrorCounts
  errorTotal: number
  connectFailures: number
  serverCpuPct: number | null
  loadCpuPct: number | null
  /** CPU the rest of the machine used meanwhile (% of one core): the noise meter. */
  otherCpuPct: number | null
  rssPeakKb: number | null
  threadsPeak: number | null
  /** Time until every connection had its first echo (the server's ramp-up, e.g. thread starts). */
  rampMs: number | null
  /** Throughput over net's throughput in the same cell of the same run. */
  ratioToNet: number | null
  /** Why no figures, when no run produced any. */
  failure: string | null
  /** Remarks from individual runs. */
  notes: string[]
  results: LoadResult[]
}

export interface UnavailableRow {
  type: 'unavailable'
  server: string
  reason: string
}

export interface IdleRow {
  type: 'idle'
  server: string
  result: IdleResult | null
  failure: string | null
}

export type BenchRow = HeaderRow | CellRow | UnavailableRow | IdleRow

export function matrix(o: Pick<BenchOptions, 'sizes' | 'conns' | 'pipelines' | 'churn'>): Cell[] {
  const cells: Cell[] = []
  for (const size of o.sizes) for (const pipeline of o.pipelines) for (const conns of o.conns) cells.push({ size, conns, pipeline })
  for (const conns of o.churn ?? []) cells.push({ size: o.sizes[0], conns, pipeline: 1, churn: true })
  return cells
}

export function header(o: BenchOptions): HeaderRow {
  const cpus = os.cpus()
  const { servers, idleServers, command, ...rest } = o
  return {
    type: 'header',
    date: new Date().toISOString(),
    command,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryMiB: Math.round(os.totalmem() / 2 ** 20),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    loadAverage: os.loadavg().map(x => Math.round(x * 100) / 100),
    fdLimit: readFdLimit(),
    options: { ...rest, servers: servers.map(s => s.name), idleServers: idleServers.map(s => s.name) },
  }
}

/** Seconds one load run is expected to take, for the progress estimate. */
export function secondsPerRun(o: Pick<BenchOptions, 'warmupMs' | 'durationMs'>): number {
  return (o.warmupMs + o.durationMs) / 1000 + 0.35
}

interface LoadRun {
  result: LoadResult | null
  failure: string | null
  /** Something worth saying that does not void the figures (a server that died after the window). */
  note?: string
  rssPeakKb: number | null
  threadsPeak: number | null
}

/**
 * Runs `selectloop load` in its own process (with the fd limit raised), sampling the server's RSS
 * and threads every 200 ms; bounded by a deadline well past the load's own.
 */
function runLoadProcess(command: LoadCommand, serverPid: number, deadlineMs: number): Promise<{ stdout: string; failure: string | null; rssPeakKb: number | null; threadsPeak: number | null }> {
  return new Promise(resolve => {
    const child = spawnCli(['load', ...loadArgs(command)], { wrapper: bashWrapper(RAISE_FD_LIMIT) })
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', d => (stdout += d))
    const stderr = outputTail(child.stderr)
    let rssPeakKb: number | null = null
    let threadsPeak: number | null = null
    const sample = () => {
      const s = readStatus(serverPid)
      if (!s) return
      rssPeakKb = Math.max(rssPeakKb ?? 0, s.rssKb)
      threadsPeak = Math.max(threadsPeak ?? 0, s.threads)
    }
    const sampler = setInterval(sample, 200)
    let timedOut = false
    const killer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, deadlineMs)
    child.on('close', (code, signal) => {
      clearInterval(sampler)
      clearTimeout(killer)
      sample()
      let failure: string | null = null
      if (timedOut) failure = `the load generator did not finish within ${Math.round(deadlineMs / 1000)} s`
      else if (code !== 0 && code !== 1) {
        const last = lastLine(stderr())
        failure = `the load generator failed (${signal ?? `status ${code}`})${last ? `: ${last}` : ''}`
      }
      resolve({ stdout, failure, rssPeakKb, threadsPeak })
    })
  })
}

async function runCellOnce(o: BenchOptions, cell: Cell, server: RunningBenchServer): Promise<LoadRun> {
  const options: LoadOptions = {
    host: server.host,
    port: server.port,
    conns: cell.conns,
    size: cell.size,
    pipeline: cell.pipeline,
    warmupMs: o.warmupMs,
    durationMs: o.durationMs,
    timeoutMs: o.timeoutMs,
    threads: o.loadThreads,
    serverPid: server.pid,
    ...(o.tls ? { tls: o.tls } : {}),
    ...(cell.churn ? { churn: true } : {}),
  }
  // Connecting is bounded by the per-connection deadline; the rest by warm-up + window.
  const deadline = o.warmupMs + o.durationMs + o.timeoutMs * 2 + 20_000
  const run = await runLoadProcess({ mode: 'load', json: true, options }, server.pid, deadline)
  if (run.failure) return { result: null, failure: run.failure, rssPeakKb: run.rssPeakKb, threadsPeak: run.threadsPeak }
  try {
    const result = JSON.parse(run.stdout) as LoadResult
    return { result, failure: null, rssPeakKb: run.rssPeakKb, threadsPeak: run.threadsPeak }
  } catch {
    return { result: null, failure: `unreadable load report: ${run.stdout.slice(0, 200)}`, rssPeakKb: null, threadsPeak: null }
  }
}

export function median(values: Array<number | null | undefined>): number | null {
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return null
  const mid = v.length >> 1
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2
}

function toRow(cell: Cell, server: string, runs: LoadRun[]): CellRow {
  const results = runs.flatMap(r => (r.result ? [r.result] : []))
  const errors = noErrors()
  let connectFailures = 0
  for (const r of results) {
    addErrors(errors, r.errors)
    connectFailures += r.conns - r.connected
  }
  return {
    type: 'cell',
    server,
    ...cell,
    runs: results.length,
    msgsPerSec: median(results.map(r => r.msgsPerSec)),
    mbPerSec: median(results.map(r => r.mbPerSec)),
    p50Ms: median(results.map(r => r.latencyMs.p50)),
    p99Ms: median(results.map(r => r.latencyMs.p99)),
    p999Ms: median(results.map(r => r.latencyMs.p999)),
    maxMs: median(results.map(r => r.latencyMs.max)),
    errors,
    errorTotal: totalErrors(errors),
    connectFailures,
    serverCpuPct: median(results.map(r => r.server?.cpuPct)),
    loadCpuPct: median(results.map(r => r.loadCpuPct)),
    otherCpuPct: median(results.map(r => r.otherCpuPct)),
    rssPeakKb: median(runs.map(r => r.rssPeakKb)),
    threadsPeak: median(runs.map(r => r.threadsPeak)),
    rampMs: median(results.map(r => r.rampMs)),
    ratioToNet: null,
    failure: results.length ? null : (runs.find(r => r.failure)?.failure ?? 'no result'),
    notes: [...new Set(runs.flatMap(r => (r.note ? [r.note] : [])))],
    results,
  }
}

function addRatios(rows: CellRow[]): void {
  for (const row of rows) {
    const base = rows.find(
      r => r.server === 'net' && r.size === row.size && r.conns === row.conns && r.pipeline === row.pipeline && !r.churn === !row.churn,
    )
    if (base?.msgsPerSec && row.msgsPerSec !== null) row.ratioToNet = Math.round((row.msgsPerSec / base.msgsPerSec) * 100) / 100
  }
}

function label(cell: Cell): string {
  const size = cell.size >= 1024 && cell.size % 1024 === 0 ? `${cell.size / 1024} KiB` : `${cell.size} B`
  if (cell.churn) return `churn: ${cell.conns} at once, connect + one ${size} echo + close`
  return `${cell.conns} conn${cell.conns === 1 ? '' : 's'} × ${size}${cell.pipeline > 1 ? ` × ${cell.pipeline} in flight` : ''}`
}

async function runIdleOn(o: BenchOptions, spec: ServerSpec, progress: Progress): Promise<IdleRow | UnavailableRow> {
  progress.begin(`${spec.name}: ${o.idle} idle connections`)
  let server: RunningBenchServer
  try {
    server = await startServerSpec(spec) // a fresh server: its memory before the test is the baseline
  } catch (e) {
    progress.end('not available')
    return { type: 'unavailable', server: spec.name, reason: (e as Error).message }
  }
  try {
    const options: IdleOptions = {
      host: server.host,
      port: server.port,
      conns: o.idle,
      holdMs: o.idleHoldMs,
      timeoutMs: Math.max(o.timeoutMs, 10_000),
      serverPid: server.pid,
    }
    const run = await runLoadProcess({ mode: 'idle', json: true, options }, server.pid, o.idleHoldMs + 180_000)
    if (run.failure) {
      progress.end('failed')
      return { type: 'idle', server: spec.name, result: null, failure: run.failure }
    }
    const result = JSON.parse(run.stdout) as IdleResult
    progress.end(`${result.accepted}/${result.requested} served, ${result.server?.perConnKb ?? '-'} KiB per connection`)
    return { type: 'idle', server: spec.name, result, failure: server.exitInfo() ? `server ${server.exitInfo()}` : null }
  } finally {
    await server.stop()
  }
}

/**
 * Runs the whole benchmark. `emit` receives every row as soon as it is known (the header first,
 * then unavailable servers, cells when all their repeats are done, idle results).
 */
export async function runBench(o: BenchOptions, progress: Progress, emit: (row: BenchRow) => void): Promise<BenchRow[]> {
  const rows: BenchRow[] = []
  const push = (row: BenchRow) => (rows.push(row), emit(row))
  push(header(o))

  // Which servers start at all (each is stopped again: every run gets a fresh one).
  const available: ServerSpec[] = []
  for (const spec of o.servers) {
    progress.note(`checking ${spec.name}`)
    try {
      const server = await startServerSpec(spec)
      await server.stop()
      available.push(spec)
    } catch (e) {
      const reason = e instanceof NotAvailable ? e.message : String(e)
      progress.note(`${spec.name} not available: ${reason}`)
      push({ type: 'unavailable', server: spec.name, reason })
    }
  }

  const cells = matrix(o)
  progress.setTotal(o.repeat * cells.length * available.length + (o.idle > 0 ? o.idleServers.length : 0))
  const runs = new Map<string, LoadRun[]>() // `${cellIndex}/${server}` → runs
  for (let round = 0; round < o.repeat; round++) {
    for (let ci = 0; ci < cells.length; ci++) {
      const cell = cells[ci]
      for (let k = 0; k < available.length; k++) {
        // Rotate which server goes first, so none always runs right after another's load.
        const spec = available[(ci + round + k) % available.length]
        const key = `${ci}/${spec.name}`
        const list = runs.get(key) ?? []
        runs.set(key, list)
        progress.begin(`${spec.name}: ${label(cell)}${o.repeat > 1 ? ` (run ${round + 1}/${o.repeat})` : ''}`)
        const run = await runOnFreshServer(o, cell, spec)
        list.push(run)
        const r = run.result
        progress.end(
          r
            ? `${Math.round(r.msgsPerSec).toLocaleString('en-US')} msgs/s, p99 ${r.latencyMs.p99 ?? '-'} ms${r.errorTotal ? `, ${r.errorTotal} errors` : ''}`
            : `failed: ${run.failure}`,
        )
      }
    }
  }

  const cellRows: CellRow[] = []
  cells.forEach((cell, ci) => {
    for (const spec of o.servers) {
      const list = runs.get(`${ci}/${spec.name}`)
      if (list) cellRows.push(toRow(cell, spec.name, list))
    }
  })
  addRatios(cellRows)
  for (const row of cellRows) push(row)

  if (o.idle > 0) for (const spec of o.idleServers) push(await runIdleOn(o, spec, progress))
  progress.done()
  return rows
}

/**
 * One run on a server started for it and stopped (and gone) after it: nothing a previous cell
 * left behind (a thousand threads still exiting, grown heaps) weighs on this one or on the next
 * server's turn, and RSS is the memory of this load alone.
 */
async function runOnFreshServer(o: BenchOptions, cell: Cell, spec: ServerSpec): Promise<LoadRun> {
  let server: RunningBenchServer
  try {
    server = await startServerSpec(spec)
  } catch (e) {
    return { result: null, failure: `server did not start: ${(e as Error).message}`, rssPeakKb: null, threadsPeak: null }
  }
  try {
    const run = await runCellOnce(o, cell, server)
    const exit = server.exitInfo()
    if (!exit) return run
    // The load read the server's /proc entry as the window closed: alive then, the figures stand.
    if (run.result?.server?.rssKb != null) return { ...run, note: `the server ${exit} after the measured window` }
    return { ...run, failure: `server ${exit} during the run`, result: null }
  } finally {
    await server.stop()
  }
}
