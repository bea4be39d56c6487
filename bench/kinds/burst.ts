// The burst kind: N new clients connect at the same moment to a fresh server (`selectloop load
// --burst N`); a row is each one's wait for its first echo (median of runs): what it costs the
// server to take a client on. For a thread per client, that is a thread start each, queued on
// the machine's cores.
import type { BurstCell, CellKind, CellRun, RowBase, RunSettings } from '../cells.js'
import type { BurstResult } from '../burst.js'
import { runLoadProcess } from '../load-process.js'
import { FlagKind } from '../flags.js'
import { heldFlags, notServedText, refusedCount } from './held.js'
import { median } from '../stats.js'
import { int, latency } from '../format.js'
import type { RunningBenchServer } from '../servers.js'

export interface BurstRow extends RowBase {
  kind: 'burst'
  clients: number
  /** Medians over the runs. */
  connected: number | null
  served: number | null
  /** From each client's connect() to its first echo. */
  firstEchoP50Ms: number | null
  firstEchoP90Ms: number | null
  /** The last client's wait: the whole burst taken on. */
  lastEchoMs: number | null
  /** The TCP handshake alone (the kernel completes it from the listen backlog). */
  connectP50Ms: number | null
  /** The last wait over the clients served: what each newcomer added, when they queue. */
  msPerClient: number | null
  /** The server's threads before the burst and once it was served (/proc). */
  threadsBefore: number | null
  threadsAfter: number | null
  refused: number
  refusal: string | null
  notServed: string | null
  results: BurstResult[]
}

function runOnce(cell: BurstCell, server: RunningBenchServer, s: RunSettings): Promise<CellRun<BurstResult>> {
  // A thread per client on two cores: a burst of hundreds can take seconds to be served.
  const timeoutMs = Math.max(s.timeoutMs, 10_000 + cell.clients * 50)
  return runLoadProcess<BurstResult>({ mode: 'burst', json: true, options: { host: server.host, port: server.port, clients: cell.clients, timeoutMs, serverPid: server.pid } }, server.pid, timeoutMs * 2 + 20_000)
}

export const burstKind: CellKind<BurstCell, BurstResult, BurstRow> = {
  kind: 'burst',
  label: cell => `a burst of ${int(cell.clients)} new clients`,
  seconds: cell => 1 + cell.clients / 100,
  run: runOnce,
  serverSeenAtEnd: r => r.server?.threadsAfter != null,
  summary: r => `${int(r.served)}/${int(r.requested)} served, first echo p50 ${latency(r.firstEchoMs.p50)} ms, last ${latency(r.firstEchoMs.max)} ms`,
  row(cell, server, runs) {
    const results = runs.flatMap(r => (r.result ? [r.result] : []))
    const failure = results.length ? null : (runs.find(r => r.failure)?.failure ?? 'no result')
    const m = (pick: (r: BurstResult) => number | null | undefined) => median(results.map(pick))
    const served = m(r => r.served)
    const last = m(r => r.firstEchoMs.max)
    return {
      type: 'cell',
      ...cell,
      server,
      runs: results.length,
      flags: results.length ? heldFlags(results) : [{ kind: FlagKind.FAILED, reason: failure ?? 'no result' }],
      failure,
      notes: [...new Set([...runs.flatMap(r => (r.note ? [r.note] : [])), ...results.flatMap(r => r.notes)])],
      rssPeakKb: median(runs.map(r => r.rssPeakKb)),
      threadsPeak: median(runs.map(r => r.threadsPeak)),
      connected: m(r => r.connected),
      served,
      firstEchoP50Ms: m(r => r.firstEchoMs.p50),
      firstEchoP90Ms: m(r => r.firstEchoMs.p90),
      lastEchoMs: last,
      connectP50Ms: m(r => r.connectMs.p50),
      msPerClient: last !== null && served ? Math.round((last / served) * 1000) / 1000 : null,
      threadsBefore: m(r => r.server?.threadsBefore),
      threadsAfter: m(r => r.server?.threadsAfter),
      refused: refusedCount(results),
      refusal: results.find(r => r.refusal)?.refusal ?? null,
      notServed: results.length ? notServedText(results[0], results[0].served) : null,
      results,
    }
  },
}
