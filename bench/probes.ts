// Connections that are opened, probed and held, for the tests that are not a load: idle
// connections (idle.ts), a burst of new clients (burst.ts), slow clients (slow.ts). A probe is a
// small message the server must echo back exactly; a connection the server ended before echoing
// a byte was refused, and what it said then ("server busy: thread limit (256) reached") is kept,
// so a report can say why a server held fewer connections than it was offered.
import net from 'node:net'
import tls from 'node:tls'
import { setTimeout as sleep } from 'node:timers/promises'
import { printable } from './printable.js'

/** What is kept of a refusal's words. */
const REFUSAL_BYTES = 120
/** How long a connection that answered something else may take to close, to count as refused. */
const REFUSAL_CLOSE_MS = 2000

export interface ProbeConn {
  readonly socket: net.Socket
  /** What arrived since the last probe was sent. */
  received: Buffer[]
  receivedBytes: number
  /** Why it ended (an error code, or 'closed' for a FIN), null while open. */
  failed: string | null
  /** performance.now() when connect() was called, and when it connected. */
  readonly startedAt: number
  connectedAt: number
}

/** Adds one to `record[key]`. */
export function bump(record: Record<string, number>, key: string): void {
  record[key] = (record[key] ?? 0) + 1
}

/**
 * Connects one socket (TCP_NODELAY); resolves with it once connected (with `secure`, once its TLS
 * handshake is done), or with why it failed ('timeout', 'ECONNREFUSED', ...). `onData` is called
 * with whatever arrives, after it is recorded.
 */
export function connectOne(
  host: string,
  port: number,
  timeoutMs: number,
  onData?: (c: ProbeConn) => void,
  secure: tls.ConnectionOptions | null = null,
): Promise<ProbeConn | string> {
  return new Promise(resolve => {
    const socket = secure ? tls.connect({ host, port, ...secure }) : net.connect({ host, port, noDelay: true })
    if (secure) socket.setNoDelay(true)
    const conn: ProbeConn = { socket, received: [], receivedBytes: 0, failed: null, startedAt: performance.now(), connectedAt: 0 }
    const timer = setTimeout(() => (socket.destroy(), resolve('timeout')), timeoutMs)
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer)
      conn.connectedAt = performance.now()
      resolve(conn)
    })
    socket.on('data', (d: Buffer) => {
      conn.received.push(d)
      conn.receivedBytes += d.length
      onData?.(conn)
    })
    socket.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      conn.failed ??= e.code ?? 'error'
      resolve(conn.failed)
    })
    socket.on('close', () => {
      conn.failed ??= 'closed'
      onData?.(conn)
    })
  })
}

/**
 * Opens `count` connections, at most `concurrency` connecting at once; failures are counted by
 * reason into `failures`. Resolves with those that connected.
 */
export async function connectMany(
  host: string,
  port: number,
  count: number,
  o: { timeoutMs: number; concurrency: number; failures: Record<string, number>; secure?: tls.ConnectionOptions | null },
): Promise<ProbeConn[]> {
  const conns: ProbeConn[] = []
  let next = 0
  async function connector(): Promise<void> {
    while (next < count) {
      next++
      const c = await connectOne(host, port, o.timeoutMs, undefined, o.secure ?? null)
      if (typeof c === 'string') bump(o.failures, c)
      else conns.push(c)
    }
  }
  await Promise.all(Array.from({ length: Math.min(o.concurrency, count) }, connector))
  return conns
}

/** The 8-byte probe of connection `i` in round `round`: distinct, so a crossed echo shows. */
export function probeBytes(i: number, round: number): Buffer {
  const p = Buffer.alloc(8)
  p.writeUInt32BE(i >>> 0)
  p.writeUInt32BE(round >>> 0, 4)
  return p
}

/** How a probed connection fared: 'served', or why not ('refused', 'timeout', 'mismatch', an error code). */
export type ProbeOutcome = 'served' | 'refused' | 'timeout' | 'mismatch' | string

/**
 * Judges one probe: served when exactly the probe came back; refused when the connection ended
 * before any of it was echoed (the server closed it, said something else and closed, or reset
 * it); timeout while it is still open and short; mismatch when other bytes came and it stays open.
 */
export function judgeProbe(c: ProbeConn, probe: Buffer): ProbeOutcome {
  const got = c.receivedBytes === 0 ? Buffer.alloc(0) : Buffer.concat(c.received)
  const echoed = got.length > 0 && got.subarray(0, Math.min(got.length, probe.length)).equals(probe.subarray(0, Math.min(got.length, probe.length)))
  if (got.length >= probe.length && got.subarray(0, probe.length).equals(probe)) return 'served'
  if (c.failed) return echoed ? c.failed : 'refused'
  return got.length > 0 && !echoed ? 'mismatch' : 'timeout'
}

/** What a refused connection was told, as one printable line ('' when it was closed without a word). */
export function refusalText(c: ProbeConn): string {
  return c.receivedBytes ? printable(Buffer.concat(c.received), REFUSAL_BYTES) : ''
}

export interface ProbeRound {
  /** The connections that echoed their probe. */
  served: ProbeConn[]
  /** What the first refused connection was told, if one was refused. */
  refusal: string | null
}

/**
 * Sends a distinct probe on every open connection and waits (bounded by `timeoutMs`) until each
 * has echoed it or ended; outcomes other than 'served' are counted into `failures`.
 */
export async function probeAll(conns: ProbeConn[], round: number, timeoutMs: number, failures: Record<string, number>): Promise<ProbeRound> {
  const probes = conns.map((c, i) => {
    const p = probeBytes(i, round)
    c.received = []
    c.receivedBytes = 0
    if (!c.failed) c.socket.write(p)
    return p
  })
  const deadline = Date.now() + timeoutMs
  const settled = () => conns.every(c => c.failed || c.receivedBytes >= 8)
  while (!settled() && Date.now() < deadline) await sleep(20)
  // A refusal is a line and then a FIN: give those that said something else a moment to close.
  const spoke = conns.filter((c, i) => !c.failed && c.receivedBytes > 0 && judgeProbe(c, probes[i]) !== 'served')
  const closeBy = Date.now() + REFUSAL_CLOSE_MS
  while (spoke.some(c => !c.failed) && Date.now() < closeBy) await sleep(20)
  const served: ProbeConn[] = []
  let refusal: string | null = null
  conns.forEach((c, i) => {
    const outcome = judgeProbe(c, probes[i])
    if (outcome === 'served') served.push(c)
    else {
      bump(failures, outcome)
      // Words rather than silence: a server past its cap may say why to some and close on others.
      if (outcome === 'refused' && !refusal) refusal = refusalText(c)
    }
  })
  return { served, refusal }
}

/** Ends every connection at once (a reset: what they held is of no interest any more). */
export function destroyAll(conns: ProbeConn[]): void {
  for (const c of conns) c.socket.destroy()
}
