// A burst of new clients: N clients connect at the same moment, each sends a probe as soon as it
// is connected, and the time from its connect() to its probe's echo is its wait for a first
// answer. A selector server answers a newcomer in the round that accepts it; a thread-per-client
// server must first start a thread for it, so the burst shows what starting a thread costs, and
// the last of the burst shows what those starts cost when they queue for the same cores.
import { setTimeout as sleep } from 'node:timers/promises'
import { readFdLimit, type FdLimit } from '../lib/fd-limit.js'
import { readStatus } from './proc.js'
import { bump, connectOne, destroyAll, judgeProbe, probeBytes, refusalText, type ProbeConn } from './probes.js'
import { fdLimitNotes } from './idle.js'

export interface BurstOptions {
  host: string
  port: number
  /** Clients connecting at once. */
  clients: number
  /** Deadline for a connect and for the first echo. */
  timeoutMs: number
  serverPid?: number
}

export interface BurstResult {
  target: string
  requested: number
  connected: number
  /** Clients whose probe was echoed. */
  served: number
  connectFailures: Record<string, number>
  /** Probes not echoed, by why ('refused', 'timeout', 'mismatch', an error code). */
  probeFailures: Record<string, number>
  /** What the server said to a client it refused ('' when it closed it without a word), if it refused one. */
  refusal: string | null
  /** Each served client's wait from connect() to its first echo, in ms: percentiles and the last. */
  firstEchoMs: { p50: number | null; p90: number | null; max: number | null; mean: number | null }
  /** Of that, the connect itself (the TCP handshake, which the kernel answers from its backlog). */
  connectMs: { p50: number | null; max: number | null }
  fdLimit: FdLimit | null
  serverFdLimit: FdLimit | null
  notes: string[]
  /** The server before the burst and once every client was answered (or had failed). */
  server: { pid: number; threadsBefore: number | null; threadsAfter: number | null; rssBeforeKb: number | null; rssAfterKb: number | null } | null
}

/** The value at `p` (0–100) of sorted `xs`, or null. */
function percentile(xs: number[], p: number): number | null {
  if (xs.length === 0) return null
  return xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]
}

const round2 = (x: number | null) => (x === null ? null : Math.round(x * 100) / 100)

export async function runBurst(o: BurstOptions): Promise<BurstResult> {
  const fdLimit = readFdLimit()
  const serverFdLimit = o.serverPid ? readFdLimit(o.serverPid) : null
  const notes = fdLimitNotes(o.clients, fdLimit, serverFdLimit)
  const before = o.serverPid ? readStatus(o.serverPid) : null
  const connectFailures: Record<string, number> = {}
  const probeFailures: Record<string, number> = {}
  const conns: ProbeConn[] = []
  const firstEcho = new Map<ProbeConn, number>()
  const probes = new Map<ProbeConn, Buffer>()
  let settled = 0
  let wake: (() => void) | null = null
  /** A client is settled once its probe came back whole, or it ended. */
  const onData = (c: ProbeConn) => {
    if (firstEcho.has(c) || !probes.has(c)) return
    if (c.receivedBytes >= 8 || c.failed) {
      firstEcho.set(c, performance.now() - c.startedAt)
      settled++
      if (settled === conns.length) wake?.()
    }
  }
  try {
    // Every connect() is issued in the same turn of the event loop: a burst, not a ramp.
    const attempts = Array.from({ length: o.clients }, (_, i) =>
      connectOne(o.host, o.port, o.timeoutMs, onData).then(c => {
        if (typeof c === 'string') return bump(connectFailures, c)
        const probe = probeBytes(i, 1)
        probes.set(c, probe)
        conns.push(c)
        if (!c.failed) c.socket.write(probe)
        onData(c) // settles one that has already ended
      }),
    )
    await Promise.all(attempts)
    const deadline = performance.now() + o.timeoutMs
    while (settled < conns.length && performance.now() < deadline) {
      await Promise.race([new Promise<void>(r => (wake = r)), sleep(Math.max(1, deadline - performance.now()))])
    }
    // Let those that answered something else close, so that they count as refused.
    const closeBy = performance.now() + 2000
    while (conns.some(c => !c.failed && c.receivedBytes > 0 && judgeProbe(c, probes.get(c)!) !== 'served') && performance.now() < closeBy) await sleep(20)
    const after = o.serverPid ? readStatus(o.serverPid) : null
    const waits: number[] = []
    const connects: number[] = []
    let refusal: string | null = null
    for (const c of conns) {
      const outcome = judgeProbe(c, probes.get(c)!)
      if (outcome === 'served') {
        waits.push(firstEcho.get(c)!)
        connects.push(c.connectedAt - c.startedAt)
      } else {
        bump(probeFailures, outcome)
        if (outcome === 'refused' && !refusal) refusal = refusalText(c)
      }
    }
    waits.sort((a, b) => a - b)
    connects.sort((a, b) => a - b)
    return {
      target: `${o.host}:${o.port}`,
      requested: o.clients,
      connected: conns.length,
      served: waits.length,
      connectFailures,
      probeFailures,
      refusal,
      firstEchoMs: {
        p50: round2(percentile(waits, 50)),
        p90: round2(percentile(waits, 90)),
        max: round2(waits.at(-1) ?? null),
        mean: round2(waits.length ? waits.reduce((a, b) => a + b, 0) / waits.length : null),
      },
      connectMs: { p50: round2(percentile(connects, 50)), max: round2(connects.at(-1) ?? null) },
      fdLimit,
      serverFdLimit,
      notes,
      server: o.serverPid
        ? { pid: o.serverPid, threadsBefore: before?.threads ?? null, threadsAfter: after?.threads ?? null, rssBeforeKb: before?.rssKb ?? null, rssAfterKb: after?.rssKb ?? null }
        : null,
    }
  } finally {
    destroyAll(conns)
  }
}
