// The idle-connection test: open N connections, prove each is served (a small probe echoed back),
// hold them idle for a while, probe again, and report how many the server accepted and how much
// resident memory each one costs it (VmRSS after minus before, over the accepted count).
import net from 'node:net'
import tls from 'node:tls'
import { setTimeout as sleep } from 'node:timers/promises'
import { readFdLimit, type FdLimit } from '../lib/fd-limit.js'
import { readStatus } from './proc.js'
import { tlsClientOptions, type TlsClientSettings } from '../lib/tls/options.js'

/** One idle test: what `selectloop load --idle N` parses its command line into, and what runIdle runs. */
export interface IdleOptions {
  host: string
  port: number
  conns: number
  holdMs: number
  /** Deadline for a connect and for each probe's echo. */
  timeoutMs: number
  serverPid?: number
  /** Connect with TLS (--tls, --ca, --insecure): a connection is made once its handshake is. */
  tls?: TlsClientSettings
}

export const IDLE_DEFAULTS = { holdMs: 5000 } as const satisfies Partial<IdleOptions>

export interface IdleResult {
  target: string
  /** Over TLS. */
  tls: boolean
  requested: number
  connected: number
  /** Connections whose probe was echoed: the server accepted and served them. */
  accepted: number
  /** Accepted connections that still echoed a probe after the hold. */
  stillServed: number
  connectFailures: Record<string, number>
  probeFailures: Record<string, number>
  holdS: number
  fdLimit: FdLimit | null
  serverFdLimit: FdLimit | null
  /** Why the test could not reach N, when a file-descriptor limit is the reason. */
  notes: string[]
  server: { pid: number; rssBeforeKb: number | null; rssAfterKb: number | null; perConnKb: number | null; threads: number | null } | null
}

/** Files a process needs besides its connections (stdio, the event loop's epoll and pipes, ...). */
const FD_HEADROOM = 64
/** Connects in progress at once. */
const CONNECT_CONCURRENCY = 200

interface IdleConn {
  socket: net.Socket
  received: Buffer[]
  receivedBytes: number
  failed: string | null
}

function bump(record: Record<string, number>, key: string): void {
  record[key] = (record[key] ?? 0) + 1
}

/** Connects one socket; resolves with it, or with the reason it failed. */
function connectOne(o: IdleOptions, secure: tls.ConnectionOptions | null): Promise<IdleConn | string> {
  return new Promise(resolve => {
    const socket = secure ? tls.connect({ host: o.host, port: o.port, ...secure }) : net.connect({ host: o.host, port: o.port })
    socket.setNoDelay(true)
    const conn: IdleConn = { socket, received: [], receivedBytes: 0, failed: null }
    const timer = setTimeout(() => (socket.destroy(), resolve('timeout')), o.timeoutMs)
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer)
      resolve(conn)
    })
    socket.on('data', (d: Buffer) => {
      conn.received.push(d)
      conn.receivedBytes += d.length
    })
    socket.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      conn.failed ??= e.code ?? 'error'
      resolve(conn.failed)
    })
    socket.on('close', () => (conn.failed ??= 'closed'))
  })
}

/** Sends a distinct 8-byte probe on every connection and waits (bounded) for every echo. */
async function probeAll(conns: IdleConn[], round: number, timeoutMs: number, failures: Record<string, number>): Promise<IdleConn[]> {
  const probes = conns.map((c, i) => {
    const p = Buffer.alloc(8)
    p.writeUInt32BE(i)
    p.writeUInt32BE(round, 4)
    c.received = []
    c.receivedBytes = 0
    if (!c.failed) c.socket.write(p)
    return p
  })
  const deadline = Date.now() + timeoutMs
  const settled = () => conns.every(c => c.failed || c.receivedBytes >= 8)
  while (!settled() && Date.now() < deadline) await sleep(20)
  const served: IdleConn[] = []
  conns.forEach((c, i) => {
    if (c.failed) bump(failures, c.failed)
    else if (c.receivedBytes < 8) bump(failures, 'timeout')
    else if (!Buffer.concat(c.received).equals(probes[i])) bump(failures, 'mismatch')
    else served.push(c)
  })
  return served
}

export async function runIdle(o: IdleOptions): Promise<IdleResult> {
  const notes: string[] = []
  const secure = o.tls ? tlsClientOptions(o.tls) : null
  const fdLimit = readFdLimit()
  const serverFdLimit = o.serverPid ? readFdLimit(o.serverPid) : null
  if (fdLimit && fdLimit.soft < o.conns + FD_HEADROOM) {
    notes.push(
      `this load generator may open only ${fdLimit.soft} files (ulimit -n; hard limit ${fdLimit.hard}), ` +
        `too few for ${o.conns} connections: expect EMFILE failures` +
        (fdLimit.hard >= o.conns + FD_HEADROOM ? `; run 'ulimit -n ${o.conns + FD_HEADROOM}' first` : '; the hard limit cannot be raised here'),
    )
  }
  if (serverFdLimit && serverFdLimit.soft < o.conns + FD_HEADROOM) {
    notes.push(`the server may open only ${serverFdLimit.soft} files (its ulimit -n), too few for ${o.conns} connections`)
  }

  const rssBefore = o.serverPid ? readStatus(o.serverPid) : null
  const connectFailures: Record<string, number> = {}
  const probeFailures: Record<string, number> = {}
  const conns: IdleConn[] = []
  let next = 0
  async function connector(): Promise<void> {
    while (next < o.conns) {
      next++
      const c = await connectOne(o, secure)
      if (typeof c === 'string') bump(connectFailures, c)
      else conns.push(c)
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, o.conns) }, connector))
    const accepted = await probeAll(conns, 1, o.timeoutMs, probeFailures)
    await sleep(o.holdMs)
    const rssAfter = o.serverPid ? readStatus(o.serverPid) : null
    const stillServed = await probeAll(accepted, 2, o.timeoutMs, probeFailures)
    let server: IdleResult['server'] = null
    if (o.serverPid) {
      const grew = rssBefore && rssAfter ? rssAfter.rssKb - rssBefore.rssKb : null
      server = {
        pid: o.serverPid,
        rssBeforeKb: rssBefore?.rssKb ?? null,
        rssAfterKb: rssAfter?.rssKb ?? null,
        perConnKb: grew !== null && accepted.length > 0 ? Math.round((grew / accepted.length) * 100) / 100 : null,
        threads: rssAfter?.threads ?? null,
      }
      if (!rssAfter) notes.push(`the server (pid ${o.serverPid}) was gone by the end of the hold`)
    }
    return {
      target: `${o.host}:${o.port}`,
      tls: Boolean(o.tls),
      requested: o.conns,
      connected: conns.length,
      accepted: accepted.length,
      stillServed: stillServed.length,
      connectFailures,
      probeFailures,
      holdS: o.holdMs / 1000,
      fdLimit,
      serverFdLimit,
      notes,
      server,
    }
  } finally {
    for (const c of conns) c.socket.destroy()
  }
}
