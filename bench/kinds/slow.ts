// The slow kind: N clients each sending a short line every interval to a fresh server
// (`selectloop load --slow N`). A row is how many it served, the latency of their lines (from
// when each was due), and what holding them cost the server: CPU, memory, threads.
import type { CellKind, CellRun, RowBase, RunSettings, SlowCell } from '../cells.js'
import type { SlowResult } from '../slow.js'
import { runLoadProcess } from '../load-process.js'
import { FlagKind, type Flag } from '../flags.js'
import { describeFailures } from '../load.js'
import { heldFlags, notServedText, refusedCount } from './held.js'
import { median } from '../stats.js'
import { formatSize, int, latency } from '../format.js'
import type { RunningBenchServer } from '../servers.js'

export interface SlowRow extends RowBase {
  kind: 'slow'
  conns: number
  size: number
  intervalMs: number
  holdMs: number
  /** Medians over the runs. */
  connected: number | null
  served: number | null
  /** Lines echoed a second in the window. */
  linesPerSec: number | null
  p50Ms: number | null
  p99Ms: number | null
  maxMs: number | null
  /** Clients lost during the window (over runs). */
  lost: number
  serverCpuPct: number | null
  cpuUsPerLine: number | null
  /** The server's memory and threads at the end of the window, holding the clients. */
  rssKb: number | null
  threads: number | null
  loadCpuPct: number | null
  otherCpuPct: number | null
  refused: number
  refusal: string | null
  notServed: string | null
  results: SlowResult[]
}

function runOnce(cell: SlowCell, server: RunningBenchServer, s: RunSettings): Promise<CellRun<SlowResult>> {
  const options = {
    host: server.host,
    port: server.port,
    conns: cell.conns,
    size: cell.size,
    intervalMs: cell.intervalMs,
    holdMs: cell.holdMs,
    // As idle: a thread per connection on two cores takes its time to take them all on.
    timeoutMs: Math.max(s.timeoutMs, 30_000),
    serverPid: server.pid,
  }
  return runLoadProcess<SlowResult>({ mode: 'slow', json: true, options }, server.pid, cell.holdMs + cell.intervalMs + 180_000)
}

function slowFlags(results: SlowResult[], failure: string | null, s: RunSettings): Flag[] {
  if (results.length === 0) return [{ kind: FlagKind.FAILED, reason: failure ?? 'no result' }]
  const flags = heldFlags(results)
  const errors: Record<string, number> = {}
  for (const r of results) for (const [k, n] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + n
  const lost = Object.values(errors).reduce((a, b) => a + b, 0)
  if (lost > 0) flags.push({ kind: FlagKind.ERRORS, reason: `${lost} clients lost during the window (${describeFailures(errors)})` })
  const noisy = results.map(r => r.otherCpuPct).filter((x): x is number => x !== null && x > s.maxNoisePct)
  if (noisy.length > 0) flags.push({ kind: FlagKind.NOISE, reason: `the rest of the machine used ${Math.round(Math.max(...noisy))}% of a core (limit ${s.maxNoisePct}%): measured on a busy machine` })
  return flags
}

export const slowKind: CellKind<SlowCell, SlowResult, SlowRow> = {
  kind: 'slow',
  label: cell => `${int(cell.conns)} slow clients, a ${formatSize(cell.size)} line every ${cell.intervalMs / 1000} s`,
  // Connecting and probing, one interval before the window, the window.
  seconds: cell => cell.holdMs / 1000 + cell.intervalMs / 1000 + 1 + cell.conns / 2000,
  run: runOnce,
  serverSeenAtEnd: r => r.server?.rssKb != null,
  summary: r => `${int(r.served)}/${int(r.requested)} served, p99 ${latency(r.latencyMs.p99)} ms, server CPU ${r.server?.cpuPct ?? '-'}%`,
  row(cell, server, runs, s) {
    const results = runs.flatMap(r => (r.result ? [r.result] : []))
    const failure = results.length ? null : (runs.find(r => r.failure)?.failure ?? 'no result')
    const m = (pick: (r: SlowResult) => number | null | undefined) => median(results.map(pick))
    return {
      type: 'cell',
      ...cell,
      server,
      runs: results.length,
      flags: slowFlags(results, failure, s),
      failure,
      notes: [...new Set([...runs.flatMap(r => (r.note ? [r.note] : [])), ...results.flatMap(r => r.notes)])],
      rssPeakKb: median(runs.map(r => r.rssPeakKb)),
      threadsPeak: median(runs.map(r => r.threadsPeak)),
      connected: m(r => r.connected),
      served: m(r => r.served),
      linesPerSec: m(r => (r.windowS > 0 ? Math.round(r.echoed / r.windowS) : null)),
      p50Ms: m(r => r.latencyMs.p50),
      p99Ms: m(r => r.latencyMs.p99),
      maxMs: m(r => r.latencyMs.max),
      lost: results.reduce((n, r) => n + Object.values(r.errors).reduce((a, b) => a + b, 0), 0),
      serverCpuPct: m(r => r.server?.cpuPct),
      cpuUsPerLine: m(r => r.server?.cpuUsPerLine),
      rssKb: m(r => r.server?.rssKb),
      threads: m(r => r.server?.threads),
      loadCpuPct: m(r => r.loadCpuPct),
      otherCpuPct: m(r => r.otherCpuPct),
      refused: refusedCount(results),
      refusal: results.find(r => r.refusal)?.refusal ?? null,
      notServed: results.length ? notServedText(results[0], results[0].served) : null,
      results,
    }
  },
}
