// The idle-connection test: open N connections, prove each is served (a small probe echoed back),
// hold them idle for a while, probe again, and report how many the server accepted and how much
// resident memory each one costs it (VmRSS after minus before, over the accepted count).
import { setTimeout as sleep } from 'node:timers/promises'
import { readFdLimit, type FdLimit } from '../lib/fd-limit.js'
import { readStatus } from './proc.js'
import { connectMany, destroyAll, probeAll, type ProbeConn } from './probes.js'
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
  /** Probes not echoed, by why: 'refused' (ended before any echo), 'timeout', 'mismatch', an error code. */
  probeFailures: Record<string, number>
  /** What the server said to a connection it refused ('' when it closed it without a word), if it refused one. */
  refusal: string | null
  holdS: number
  fdLimit: FdLimit | null
  serverFdLimit: FdLimit | null
  /** Why the test could not reach N, when a file-descriptor limit is the reason. */
  notes: string[]
  /** The server's memory and threads before connecting and while holding them (/proc). */
  server: {
    pid: number
    rssBeforeKb: number | null
    rssAfterKb: number | null
    perConnKb: number | null
    threadsBefore: number | null
    threads: number | null
  } | null
}

/** Files a process needs besides its connections (stdio, the event loop's epoll and pipes, ...). */
export const FD_HEADROOM = 64
/** Connects in progress at once. */
export const CONNECT_CONCURRENCY = 200

/** Notes on the open-files limits of this process and of the server, when too low for `conns`. */
export function fdLimitNotes(conns: number, fdLimit: FdLimit | null, serverFdLimit: FdLimit | null): string[] {
  const notes: string[] = []
  if (fdLimit && fdLimit.soft < conns + FD_HEADROOM) {
    notes.push(
      `this load generator may open only ${fdLimit.soft} files (ulimit -n; hard limit ${fdLimit.hard}), ` +
        `too few for ${conns} connections: expect EMFILE failures` +
        (fdLimit.hard >= conns + FD_HEADROOM ? `; run 'ulimit -n ${conns + FD_HEADROOM}' first` : '; the hard limit cannot be raised here'),
    )
  }
  if (serverFdLimit && serverFdLimit.soft < conns + FD_HEADROOM) {
    notes.push(`the server may open only ${serverFdLimit.soft} files (its ulimit -n), too few for ${conns} connections`)
  }
  return notes
}

export async function runIdle(o: IdleOptions): Promise<IdleResult> {
  const fdLimit = readFdLimit()
  const serverFdLimit = o.serverPid ? readFdLimit(o.serverPid) : null
  const notes = fdLimitNotes(o.conns, fdLimit, serverFdLimit)
  const rssBefore = o.serverPid ? readStatus(o.serverPid) : null
  const connectFailures: Record<string, number> = {}
  const probeFailures: Record<string, number> = {}
  let conns: ProbeConn[] = []
  try {
    const secure = o.tls ? tlsClientOptions(o.tls) : null
    conns = await connectMany(o.host, o.port, o.conns, { timeoutMs: o.timeoutMs, concurrency: CONNECT_CONCURRENCY, failures: connectFailures, secure })
    const first = await probeAll(conns, 1, o.timeoutMs, probeFailures)
    const accepted = first.served
    await sleep(o.holdMs)
    const rssAfter = o.serverPid ? readStatus(o.serverPid) : null
    const second = await probeAll(accepted, 2, o.timeoutMs, probeFailures)
    let server: IdleResult['server'] = null
    if (o.serverPid) {
      const grew = rssBefore && rssAfter ? rssAfter.rssKb - rssBefore.rssKb : null
      server = {
        pid: o.serverPid,
        rssBeforeKb: rssBefore?.rssKb ?? null,
        rssAfterKb: rssAfter?.rssKb ?? null,
        perConnKb: grew !== null && accepted.length > 0 ? Math.round((grew / accepted.length) * 100) / 100 : null,
        threadsBefore: rssBefore?.threads ?? null,
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
      stillServed: second.served.length,
      connectFailures,
      probeFailures,
      refusal: first.refusal ?? second.refusal,
      holdS: o.holdMs / 1000,
      fdLimit,
      serverFdLimit,
      notes,
      server,
    }
  } finally {
    destroyAll(conns)
  }
}
