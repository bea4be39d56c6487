// The idle kind: hold N idle connections on a fresh server (`selectloop load --idle N`), check
// that each is served before and after the hold, and report what each costs the server in memory
// and threads. A server that holds fewer (a thread cap) is reported with what it said, not failed.
import type { CellKind, CellRun, IdleCell, RowBase, RunSettings } from '../cells.js'
import type { IdleOptions, IdleResult } from '../idle.js'
import type { FdLimit } from '../../lib/fd-limit.js'
import { runLoadProcess } from '../load-process.js'
import { FlagKind, type Flag } from '../flags.js'
import { heldFlags, notServedText, refusedCount } from './held.js'
import { median } from '../stats.js'
import { int } from '../format.js'
import type { RunningBenchServer } from '../servers.js'

export interface IdleRow extends RowBase {
  kind: 'idle'
  conns: number
  holdMs: number
  /** Medians over the runs. */
  connected: number | null
  accepted: number | null
  stillServed: number | null
  rssBeforeKb: number | null
  rssAfterKb: number | null
  perConnKb: number | null
  /** The server's threads before connecting, and while holding them (/proc). */
  threadsBefore: number | null
  threads: number | null
  /** Connections refused before any echo (over runs), what the server said, and why fewer were served, in words. */
  refused: number
  refusal: string | null
  notServed: string | null
  fdLimit: FdLimit | null
  serverFdLimit: FdLimit | null
  results: IdleResult[]
}

async function runOnce(cell: IdleCell, server: RunningBenchServer, s: RunSettings): Promise<CellRun<IdleResult>> {
  const options: IdleOptions = {
    host: server.host,
    port: server.port,
    conns: cell.conns,
    holdMs: cell.holdMs,
    // A thread per connection on two cores: taking thousands on can take tens of seconds.
    timeoutMs: Math.max(s.timeoutMs, 30_000),
    serverPid: server.pid,
    ...(s.tls ? { tls: s.tls } : {}),
  }
  return runLoadProcess<IdleResult>({ mode: 'idle', json: true, options }, server.pid, cell.holdMs + 180_000)
}

function idleFlags(results: IdleResult[], failure: string | null): Flag[] {
  if (results.length === 0) return [{ kind: FlagKind.FAILED, reason: failure ?? 'no result' }]
  return heldFlags(results)
}

export const idleKind: CellKind<IdleCell, IdleResult, IdleRow> = {
  kind: 'idle',
  label: cell => `${int(cell.conns)} idle connections held ${cell.holdMs / 1000} s`,
  // Connecting thousands and probing them twice takes a few seconds besides the hold.
  seconds: cell => cell.holdMs / 1000 + 2 + cell.conns / 2000,
  run: runOnce,
  serverSeenAtEnd: r => r.server?.rssAfterKb != null,
  summary: r => `${int(r.accepted)}/${int(r.requested)} served, ${r.server?.perConnKb ?? '-'} KiB per connection`,
  row(cell, server, runs) {
    const results = runs.flatMap(r => (r.result ? [r.result] : []))
    const failure = results.length ? null : (runs.find(r => r.failure)?.failure ?? 'no result')
    const m = (pick: (r: IdleResult) => number | null | undefined) => median(results.map(pick))
    return {
      type: 'cell',
      ...cell,
      server,
      runs: results.length,
      flags: idleFlags(results, failure),
      failure,
      notes: [...new Set([...runs.flatMap(r => (r.note ? [r.note] : [])), ...results.flatMap(r => r.notes)])],
      rssPeakKb: median(runs.map(r => r.rssPeakKb)),
      threadsPeak: median(runs.map(r => r.threadsPeak)),
      connected: m(r => r.connected),
      accepted: m(r => r.accepted),
      stillServed: m(r => r.stillServed),
      rssBeforeKb: m(r => r.server?.rssBeforeKb),
      rssAfterKb: m(r => r.server?.rssAfterKb),
      perConnKb: m(r => r.server?.perConnKb),
      threadsBefore: m(r => r.server?.threadsBefore),
      threads: m(r => r.server?.threads),
      refused: refusedCount(results),
      refusal: results.find(r => r.refusal)?.refusal ?? null,
      notServed: results.length ? notServedText(results[0], results[0].accepted) : null,
      fdLimit: results[0]?.fdLimit ?? null,
      serverFdLimit: results[0]?.serverFdLimit ?? null,
      results,
    }
  },
}
