// The two load kinds: closed loop (each connection keeps `pipeline` messages in flight) and open
// loop (`rate` messages a second on a fixed schedule). One run is one `selectloop load` process
// against a fresh server; a row is the median of its runs' figures, with every run kept whole.
import type { CellKind, CellRun, ClosedCell, RateCell, RowBase, RunSettings } from '../cells.js'
import type { LoadOptions, LoadResult } from '../load.js'
import { runLoadProcess } from '../load-process.js'
import { addErrors, noErrors, totalErrors, type ErrorCounts } from '../load-errors.js'
import { loadFlags } from '../flags.js'
import { median, spread } from '../stats.js'
import { formatSize, int } from '../format.js'
import type { RunningBenchServer } from '../servers.js'

export type LoadCell = ClosedCell | RateCell

/** How a rate cell's schedule went: medians of its runs, `kept` only if every run kept it. */
export interface ScheduleRow {
  target: number
  sentPerSec: number | null
  kept: boolean
  behind: number | null
  late: number | null
  maxLateMs: number | null
  generatorLagMs: number | null
}

export interface LoadRow extends RowBase {
  kind: LoadCell['kind']
  size: number
  conns: number
  pipeline: number
  /** Messages a second asked for (rate cells), else null. */
  rate: number | null
  msgsPerSec: number | null
  mbPerSec: number | null
  /** Latency percentiles: from when each message was sent (closed) or due (rate: coordinated omission corrected). */
  p50Ms: number | null
  p75Ms: number | null
  p90Ms: number | null
  p99Ms: number | null
  p999Ms: number | null
  p9999Ms: number | null
  maxMs: number | null
  /** Rate cells: service time, from when each message was sent. */
  serviceP50Ms: number | null
  serviceP99Ms: number | null
  serviceP999Ms: number | null
  schedule: ScheduleRow | null
  errors: ErrorCounts
  errorTotal: number
  /** Connections not made, over every run. */
  connectFailures: number
  serverCpuPct: number | null
  /** Server CPU per message echoed, µs: what a message costs the server, whatever else ran. */
  serverCpuUsPerMsg: number | null
  /** Of serverCpuUsPerMsg, the kernel's part (system time), µs: the rest is the server's own code. */
  serverSystemUsPerMsg: number | null
  loadCpuPct: number | null
  /** CPU the rest of the machine used meanwhile (% of one core): the noise meter. */
  otherCpuPct: number | null
  /** Time until every connection had its first echo (the server's ramp-up, e.g. thread starts). */
  rampMs: number | null
  /** Throughput over net's throughput in the same cell of the same run (closed loop). */
  ratioToNet: number | null
  /** (max - min) / median of the runs' msgs/s; null with one run. */
  spread: number | null
  results: LoadResult[]
}

/**
 * The load process's options for one run against `server`: what every kind that runs the load
 * generator shares (the target, the run's timing, the server to watch, TLS), then the cell's own.
 */
export function loadOptionsFor(server: RunningBenchServer, s: RunSettings, cellOptions: Pick<LoadOptions, 'conns' | 'size' | 'pipeline'> & Partial<LoadOptions>): LoadOptions {
  return {
    host: server.host,
    port: server.port,
    warmupMs: s.warmupMs,
    durationMs: s.durationMs,
    timeoutMs: s.timeoutMs,
    threads: s.loadThreads,
    serverPid: server.pid,
    ...(s.tls ? { tls: s.tls } : {}),
    ...cellOptions,
  }
}

/** One run of the load generator in its own process, bounded by a deadline; its JSON result. */
export async function runLoadOnce(options: LoadOptions, server: RunningBenchServer, s: RunSettings): Promise<CellRun<LoadResult>> {
  // Connecting is bounded by the per-connection deadline; the rest by warm-up + window.
  const deadline = s.warmupMs + s.durationMs + s.timeoutMs * 2 + 20_000
  return runLoadProcess<LoadResult>({ mode: 'load', json: true, options }, server.pid, deadline)
}

async function runOnce(cell: LoadCell, server: RunningBenchServer, s: RunSettings): Promise<CellRun<LoadResult>> {
  const cellOptions = { conns: cell.conns, size: cell.size, pipeline: cell.pipeline, ...(cell.kind === 'rate' ? { rate: cell.rate } : {}) }
  return runLoadOnce(loadOptionsFor(server, s, cellOptions), server, s)
}


function sizeText(cell: LoadCell): string {
  return `${formatSize(cell.size)}${cell.pipeline > 1 ? ` × ${cell.pipeline} in flight` : ''}`
}

function toRow(cell: LoadCell, server: string, runs: Array<CellRun<LoadResult>>, s: RunSettings): LoadRow {
  const results = runs.flatMap(r => (r.result ? [r.result] : []))
  const errors = noErrors()
  let connectFailures = 0
  for (const r of results) {
    addErrors(errors, r.errors)
    connectFailures += r.conns - r.connected
  }
  const failure = results.length ? null : (runs.find(r => r.failure)?.failure ?? 'no result')
  const lat = (pick: (r: LoadResult) => number | null) => median(results.map(pick))
  const rated = results.filter(r => r.rate)
  const schedule: ScheduleRow | null =
    cell.kind === 'rate'
      ? {
          target: cell.rate,
          sentPerSec: median(rated.map(r => r.rate!.sentPerSec)),
          kept: rated.length > 0 && rated.every(r => r.rate!.kept),
          behind: median(rated.map(r => r.rate!.behind)),
          late: median(rated.map(r => r.rate!.late)),
          maxLateMs: median(rated.map(r => r.rate!.maxLateMs)),
          generatorLagMs: median(rated.map(r => r.rate!.generatorLagMs)),
        }
      : null
  return {
    type: 'cell',
    ...cell,
    rate: cell.kind === 'rate' ? cell.rate : null,
    server,
    runs: results.length,
    flags: loadFlags(results, failure, s),
    failure,
    notes: [...new Set(runs.flatMap(r => (r.note ? [r.note] : [])))],
    rssPeakKb: median(runs.map(r => r.rssPeakKb)),
    threadsPeak: median(runs.map(r => r.threadsPeak)),
    msgsPerSec: lat(r => r.msgsPerSec),
    mbPerSec: lat(r => r.mbPerSec),
    p50Ms: lat(r => r.latencyMs.p50),
    p75Ms: lat(r => r.latencyMs.p75),
    p90Ms: lat(r => r.latencyMs.p90),
    p99Ms: lat(r => r.latencyMs.p99),
    p999Ms: lat(r => r.latencyMs.p999),
    p9999Ms: lat(r => r.latencyMs.p9999),
    maxMs: lat(r => r.latencyMs.max),
    serviceP50Ms: lat(r => r.serviceMs?.p50 ?? null),
    serviceP99Ms: lat(r => r.serviceMs?.p99 ?? null),
    serviceP999Ms: lat(r => r.serviceMs?.p999 ?? null),
    schedule,
    errors,
    errorTotal: totalErrors(errors),
    connectFailures,
    serverCpuPct: lat(r => r.server?.cpuPct ?? null),
    serverCpuUsPerMsg: lat(r => r.server?.cpuUsPerMsg ?? null),
    serverSystemUsPerMsg: lat(r => r.server?.systemUsPerMsg ?? null),
    loadCpuPct: lat(r => r.loadCpuPct),
    otherCpuPct: lat(r => r.otherCpuPct),
    rampMs: lat(r => r.rampMs),
    ratioToNet: null,
    spread: spread(results.map(r => r.msgsPerSec)),
    results,
  }
}

/** Throughput ratios against the `net` model in the same cell (rows of one kind). */
function addRatios(rows: LoadRow[]): void {
  for (const row of rows) {
    const base = rows.find(r => r.server === 'net' && r.size === row.size && r.conns === row.conns && r.pipeline === row.pipeline && r.rate === row.rate)
    if (base?.msgsPerSec && row.msgsPerSec !== null) row.ratioToNet = Math.round((row.msgsPerSec / base.msgsPerSec) * 100) / 100
  }
}

const base = {
  seconds: (_: LoadCell, s: RunSettings) => (s.warmupMs + s.durationMs) / 1000 + 0.35,
  run: runOnce,
  serverSeenAtEnd: (r: LoadResult) => r.server?.rssKb != null,
  relate: addRatios,
}

export const closedKind: CellKind<ClosedCell, LoadResult, LoadRow> = {
  kind: 'closed',
  ...base,
  label: cell => `${cell.conns} conn${cell.conns === 1 ? '' : 's'} × ${sizeText(cell)}`,
  summary: r =>
    r.failure ??
    `${int(r.msgsPerSec)} msgs/s, p99 ${r.latencyMs.p99 ?? '-'} ms${r.errorTotal ? `, ${r.errorTotal} errors` : ''}`,
  row: (cell, server, runs, s) => toRow(cell, server, runs, s),
}

export const rateKind: CellKind<RateCell, LoadResult, LoadRow> = {
  kind: 'rate',
  ...base,
  label: cell => `${int(cell.rate)} msgs/s over ${cell.conns} conn${cell.conns === 1 ? '' : 's'} × ${sizeText(cell)}`,
  summary: r =>
    r.failure ??
    `${int(r.rate?.sentPerSec ?? 0)} of ${int(r.rate?.target ?? 0)} msgs/s sent${r.rate?.kept ? '' : ' (schedule NOT kept)'}, ` +
      `p99 ${r.latencyMs.p99 ?? '-'} ms (service ${r.serviceMs?.p99 ?? '-'} ms)${r.errorTotal ? `, ${r.errorTotal} errors` : ''}`,
  row: (cell, server, runs, s) => toRow(cell, server, runs, s),
}
