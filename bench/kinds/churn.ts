// The churn kind: `conns` loops, each connecting (with `bench --tls`, a full handshake: no session
// is resumed), echoing one message and closing, over and over (`selectloop load --churn`). What it
// measures is what a new connection costs a server: connections a second (handshakes a second over
// TLS), the latency of a whole cycle, and the server's CPU per connection. One run is one load
// process against a fresh server; a row is the median of its runs' figures, every run kept whole.
import type { CellKind, CellRun, ChurnCell, RowBase, RunSettings } from '../cells.js'
import type { LoadResult } from '../load.js'
import { loadOptionsFor, runLoadOnce } from './load.js'
import { addErrors, noErrors, totalErrors, type ErrorCounts } from '../load-errors.js'
import { churnFlags } from '../flags.js'
import { median, spread } from '../stats.js'
import { formatSize, int } from '../format.js'
import type { RunningBenchServer } from '../servers.js'

export interface ChurnRow extends RowBase {
  kind: 'churn'
  size: number
  /** Loops at once. */
  conns: number
  /** Over TLS: every cycle a handshake. */
  tls: boolean
  /** Cycles (connect, one echo verified, close) a second: handshakes a second over TLS. */
  connsPerSec: number | null
  /** A whole cycle's latency, from the connect to the echo's last byte. */
  p50Ms: number | null
  p99Ms: number | null
  p999Ms: number | null
  maxMs: number | null
  /** Cycles that connected and then failed, by kind. */
  errors: ErrorCounts
  errorTotal: number
  /** Connects (and over TLS, handshakes) that failed, over every run. */
  connectFailures: number
  serverCpuPct: number | null
  /** Server CPU per connection served, µs: accept, handshake, one echo, close. */
  serverCpuUsPerConn: number | null
  loadCpuPct: number | null
  otherCpuPct: number | null
  rampMs: number | null
  /** Connections a second over net's in the same cell of the same run. */
  ratioToNet: number | null
  spread: number | null
  results: LoadResult[]
}

async function runOnce(cell: ChurnCell, server: RunningBenchServer, s: RunSettings): Promise<CellRun<LoadResult>> {
  return runLoadOnce(loadOptionsFor(server, s, { conns: cell.conns, size: cell.size, pipeline: 1, churn: true }), server, s)
}

function toRow(cell: ChurnCell, server: string, runs: Array<CellRun<LoadResult>>, s: RunSettings): ChurnRow {
  const results = runs.flatMap(r => (r.result ? [r.result] : []))
  const errors = noErrors()
  let connectFailures = 0
  for (const r of results) {
    addErrors(errors, r.errors)
    connectFailures += Object.values(r.connectFailures).reduce((a, b) => a + b, 0)
  }
  const failure = results.length ? null : (runs.find(r => r.failure)?.failure ?? 'no result')
  const m = (pick: (r: LoadResult) => number | null | undefined) => median(results.map(pick))
  return {
    type: 'cell',
    ...cell,
    server,
    tls: results.length > 0 ? results.every(r => r.tls) : Boolean(s.tls),
    runs: results.length,
    flags: churnFlags(results, failure, s),
    failure,
    notes: [...new Set(runs.flatMap(r => (r.note ? [r.note] : [])))],
    rssPeakKb: median(runs.map(r => r.rssPeakKb)),
    threadsPeak: median(runs.map(r => r.threadsPeak)),
    connsPerSec: m(r => r.msgsPerSec),
    p50Ms: m(r => r.latencyMs.p50),
    p99Ms: m(r => r.latencyMs.p99),
    p999Ms: m(r => r.latencyMs.p999),
    maxMs: m(r => r.latencyMs.max),
    errors,
    errorTotal: totalErrors(errors),
    connectFailures,
    serverCpuPct: m(r => r.server?.cpuPct),
    serverCpuUsPerConn: m(r => r.server?.cpuUsPerMsg),
    loadCpuPct: m(r => r.loadCpuPct),
    otherCpuPct: m(r => r.otherCpuPct),
    rampMs: m(r => r.rampMs),
    ratioToNet: null,
    spread: spread(results.map(r => r.msgsPerSec)),
    results,
  }
}

/** Connections a second against the `net` model's in the same cell. */
function addRatios(rows: ChurnRow[]): void {
  for (const row of rows) {
    const base = rows.find(r => r.server === 'net' && r.size === row.size && r.conns === row.conns)
    if (base?.connsPerSec && row.connsPerSec !== null) row.ratioToNet = Math.round((row.connsPerSec / base.connsPerSec) * 100) / 100
  }
}

export const churnKind: CellKind<ChurnCell, LoadResult, ChurnRow> = {
  kind: 'churn',
  label: cell => `churn, ${cell.conns} at once: connect, one ${formatSize(cell.size)} echo, close`,
  seconds: (_, s) => (s.warmupMs + s.durationMs) / 1000 + 0.35,
  run: runOnce,
  serverSeenAtEnd: r => r.server?.rssKb != null,
  summary: r =>
    r.failure ??
    `${int(r.msgsPerSec)} ${r.tls ? 'handshakes' : 'connections'}/s, p99 ${r.latencyMs.p99 ?? '-'} ms a cycle` +
      `${r.errorTotal ? `, ${r.errorTotal} errors` : ''}`,
  row: (cell, server, runs, s) => toRow(cell, server, runs, s),
  relate: addRatios,
}
