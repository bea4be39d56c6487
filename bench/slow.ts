// Slow clients: N connections, each sending one short line every interval (a person typing, a
// sensor reporting) and waiting for its echo. The server is nearly idle and holds every
// connection all the time: where a selector shines (one thread, a few KiB a client, CPU spent
// only when a line comes) and a thread per client pays for N mostly sleeping threads.
//
// Each client's lines fall due on its own fixed timetable (a random phase, then every interval);
// a line's latency counts from when it was due, so a server that falls behind cannot hide it by
// slowing the clients down. Every echo is checked byte for byte.
import { setTimeout as sleep } from 'node:timers/promises'
import { readFdLimit, type FdLimit } from '../lib/fd-limit.js'
import { createHistogram, summarize, type LatencySummary } from './histogram.js'
import { readCpuMs, readMachineBusyMs, readStatus } from './proc.js'
import { bump, connectMany, destroyAll, probeAll, type ProbeConn } from './probes.js'
import { CONNECT_CONCURRENCY, fdLimitNotes } from './idle.js'

export interface SlowOptions {
  host: string
  port: number
  conns: number
  /** Bytes per line, the newline included. */
  size: number
  /** Each client sends a line this often. */
  intervalMs: number
  /** How long the clients keep sending (the measured window). */
  holdMs: number
  /** Deadline for a connect, and for each line's echo. */
  timeoutMs: number
  serverPid?: number
}

export const SLOW_DEFAULTS = { size: 32, intervalMs: 1000, holdMs: 5000 } as const satisfies Partial<SlowOptions>

export interface SlowResult {
  target: string
  requested: number
  /** Bytes a line, and seconds between a client's lines. */
  size: number
  intervalS: number
  connected: number
  /** Clients that echoed a probe at the start: the server took them on. */
  served: number
  connectFailures: Record<string, number>
  probeFailures: Record<string, number>
  refusal: string | null
  /** Lines sent in the window, and those echoed intact. */
  sent: number
  echoed: number
  /** Lines due in the window by the timetables of the served clients. */
  due: number
  /** Clients lost during the window, by why (timeout, mismatch, an error code). */
  errors: Record<string, number>
  /** Latency from when each line was due to its whole echo. */
  latencyMs: LatencySummary
  windowS: number
  loadCpuPct: number | null
  otherCpuPct: number | null
  fdLimit: FdLimit | null
  serverFdLimit: FdLimit | null
  notes: string[]
  server: { pid: number; cpuPct: number | null; cpuUsPerLine: number | null; rssKb: number | null; threads: number | null } | null
}

/** /proc's CPU times come in 10 ms ticks: a shorter window says nothing about CPU. */
const MIN_CPU_WINDOW_MS = 200

const round1 = (x: number) => Math.round(x * 10) / 10

/** One client's timetable and the line it is waiting on. */
interface SlowClient {
  conn: ProbeConn
  index: number
  /** When its next line falls due (performance.now()). */
  nextDueAt: number
  seq: number
  /** The line in flight and when it fell due; null between lines. */
  inFlight: Buffer | null
  dueAt: number
  sentAt: number
  lost: boolean
  timer: NodeJS.Timeout | null
}

/** Line `seq` of client `index`: readable text, `size` bytes, ending in a newline. */
export function slowLine(index: number, seq: number, size: number): Buffer {
  const head = `client ${index} line ${seq} `
  const body = head.length + 1 >= size ? head.slice(0, size - 1) : head + '.'.repeat(size - 1 - head.length)
  return Buffer.from(body + '\n', 'latin1')
}

export async function runSlow(o: SlowOptions): Promise<SlowResult> {
  const fdLimit = readFdLimit()
  const serverFdLimit = o.serverPid ? readFdLimit(o.serverPid) : null
  const notes = fdLimitNotes(o.conns, fdLimit, serverFdLimit)
  const connectFailures: Record<string, number> = {}
  const probeFailures: Record<string, number> = {}
  const errors: Record<string, number> = {}
  const histogram = createHistogram()
  let conns: ProbeConn[] = []
  const clients: SlowClient[] = []
  let measuring = false
  let sent = 0
  let echoed = 0
  let stopped = false

  const lose = (c: SlowClient, why: string) => {
    if (c.lost) return
    c.lost = true
    if (c.timer) clearTimeout(c.timer)
    bump(errors, why)
    c.conn.socket.destroy()
  }
  const sendNext = (c: SlowClient) => {
    c.timer = null
    if (stopped || c.lost) return
    if (c.conn.failed) return lose(c, c.conn.failed)
    c.inFlight = slowLine(c.index, c.seq++, o.size)
    c.dueAt = c.nextDueAt
    c.sentAt = performance.now()
    c.conn.received = []
    c.conn.receivedBytes = 0
    c.conn.socket.write(c.inFlight)
    if (measuring) sent++
    c.nextDueAt += o.intervalMs
    c.timer = setTimeout(() => c.inFlight && lose(c, 'timeout'), o.timeoutMs)
  }
  const onData = (c: SlowClient) => {
    if (c.lost || stopped) return
    const line = c.inFlight
    if (line === null || c.conn.receivedBytes < line.length) {
      if (c.conn.failed) lose(c, c.conn.failed)
      else if (line === null && c.conn.receivedBytes > 0) lose(c, 'mismatch') // bytes nobody asked for
      return
    }
    const got = Buffer.concat(c.conn.received)
    if (got.length !== line.length || !got.equals(line)) return lose(c, 'mismatch')
    const now = performance.now()
    if (c.timer) clearTimeout(c.timer)
    c.inFlight = null
    c.conn.received = []
    c.conn.receivedBytes = 0
    if (measuring && c.dueAt >= windowStart) {
      echoed++
      histogram.recordValue(Math.max(1, Math.round((now - c.dueAt) * 1000)))
    }
    // The next line when it falls due, or at once if it is already late.
    c.timer = setTimeout(() => sendNext(c), Math.max(0, c.nextDueAt - now))
  }

  let windowStart = 0
  try {
    conns = await connectMany(o.host, o.port, o.conns, { timeoutMs: o.timeoutMs, concurrency: CONNECT_CONCURRENCY, failures: connectFailures })
    const probed = await probeAll(conns, 1, o.timeoutMs, probeFailures)
    const start = performance.now()
    probed.served.forEach((conn, index) => {
      // A random phase: the clients' lines spread over each interval, as independent people's would.
      const c: SlowClient = { conn, index, nextDueAt: start + Math.random() * o.intervalMs, seq: 0, inFlight: null, dueAt: 0, sentAt: 0, lost: false, timer: null }
      conn.received = []
      conn.receivedBytes = 0
      conn.socket.removeAllListeners('data')
      conn.socket.removeAllListeners('close')
      conn.socket.on('data', (d: Buffer) => {
        conn.received.push(d)
        conn.receivedBytes += d.length
        onData(c)
      })
      conn.socket.on('close', () => {
        conn.failed ??= 'closed'
        onData(c)
      })
      clients.push(c)
      c.timer = setTimeout(() => sendNext(c), c.nextDueAt - start)
    })
    // One interval of lines before the window: every client is running when it opens.
    await sleep(o.intervalMs)
    const cpu0 = process.cpuUsage()
    const serverCpu0 = o.serverPid ? readCpuMs(o.serverPid) : null
    const machine0 = readMachineBusyMs()
    windowStart = performance.now()
    measuring = true
    await sleep(o.holdMs)
    measuring = false
    const wallMs = performance.now() - windowStart
    const status = o.serverPid ? readStatus(o.serverPid) : null
    const serverCpu1 = o.serverPid ? readCpuMs(o.serverPid) : null
    const machine1 = readMachineBusyMs()
    const cpu = process.cpuUsage(cpu0)
    stopped = true
    for (const c of clients) if (c.timer) clearTimeout(c.timer)
    const timed = wallMs >= MIN_CPU_WINDOW_MS
    const serverCpuMs = timed && serverCpu0 !== null && serverCpu1 !== null ? serverCpu1 - serverCpu0 : null
    const serverCpuPct = serverCpuMs === null ? null : round1((serverCpuMs / wallMs) * 100)
    const loadCpuPct = timed ? round1(((cpu.user + cpu.system) / 1000 / wallMs) * 100) : null
    const otherCpuPct =
      serverCpuPct !== null && loadCpuPct !== null && machine0 !== null && machine1 !== null
        ? Math.max(0, round1(((machine1 - machine0) / wallMs) * 100 - serverCpuPct - loadCpuPct))
        : null
    const due = Math.round((clients.length * wallMs) / o.intervalMs)
    if (o.serverPid && !status) notes.push(`the server (pid ${o.serverPid}) was gone by the end of the window`)
    return {
      target: `${o.host}:${o.port}`,
      requested: o.conns,
      size: o.size,
      intervalS: o.intervalMs / 1000,
      connected: conns.length,
      served: probed.served.length,
      connectFailures,
      probeFailures,
      refusal: probed.refusal,
      sent,
      echoed,
      due,
      errors,
      latencyMs: summarize(histogram),
      windowS: Math.round(wallMs) / 1000,
      loadCpuPct,
      otherCpuPct,
      fdLimit,
      serverFdLimit,
      notes,
      server: o.serverPid
        ? {
            pid: o.serverPid,
            cpuPct: serverCpuPct,
            cpuUsPerLine: serverCpuMs !== null && echoed > 0 ? round1((serverCpuMs * 1000) / echoed) : null,
            rssKb: status?.rssKb ?? null,
            threads: status?.threads ?? null,
          }
        : null,
    }
  } finally {
    stopped = true
    for (const c of clients) if (c.timer) clearTimeout(c.timer)
    destroyAll(conns)
  }
}
