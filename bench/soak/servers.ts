// The servers under soak: started from the built CLI as real processes (as a user runs them),
// watched (alive? resident memory?) and stopped with SIGTERM, whose exit status is part of the verdict.
import { startCliServer, StartFailure, type CliServer } from '../cli-process.js'
import { hasExited, stopChild } from '../child.js'
import { readFdCount, readStatus } from '../proc.js'

const START_TIMEOUT_MS = 15_000
const STOP_TIMEOUT_MS = 10_000
/** The end of each server's stderr is kept to explain a failure; the rest is dropped (bounded). */
const STDERR_KEPT = 16 * 1024

export interface SoakServer {
  readonly label: string
  readonly host: string
  readonly port: number
  /** Null for a server this program did not start (--chat-server). */
  readonly pid: number | null
  alive(): boolean
  /** Resident memory in bytes; null when it cannot be read. */
  rss(): number | null
  /** Open file descriptors (sockets, mostly); null when they cannot be counted. */
  fds(): number | null
  /** SIGTERM; resolves with the exit status (null: killed by a signal, or not ours). */
  stop(): Promise<number | null>
  stderrTail(): string
}

/**
 * Starts `node [NODE_ARGS...] dist/bin/selectloop.js ARGS...` and resolves once it prints
 * `listening on HOST:PORT`.
 */
export async function startServer(label: string, args: string[], nodeArgs: string[] = []): Promise<SoakServer> {
  let server: CliServer
  try {
    server = await startCliServer(args, { nodeArgs, timeoutMs: START_TIMEOUT_MS, stderrKept: STDERR_KEPT })
  } catch (e) {
    if (!(e instanceof StartFailure)) throw e
    throw new Error(`${label} server: ${e.message}${e.stderr ? `\n${e.stderr.trimEnd()}` : ''}`)
  }
  const { child, host, port } = server
  const pid = child.pid!
  const alive = () => !hasExited(child)
  return {
    label,
    host,
    port,
    pid,
    alive,
    rss: () => (alive() ? rssBytes(pid) : null),
    fds: () => (alive() ? readFdCount(pid) : null),
    stop: () => stopChild(child, { graceMs: STOP_TIMEOUT_MS }),
    stderrTail: server.stderr,
  }
}

/** A server someone else runs (the hidden --chat-server option): no pid, no memory, not stopped. */
export function externalServer(label: string, hostPort: string): SoakServer {
  const m = /^(.+):(\d+)$/.exec(hostPort)
  if (!m) throw new Error(`expected HOST:PORT, got '${hostPort}'`)
  return {
    label,
    host: m[1],
    port: Number(m[2]),
    pid: null,
    alive: () => true,
    rss: () => null,
    fds: () => null,
    stop: async () => null,
    stderrTail: () => '',
  }
}

/** Resident set size in bytes (Linux /proc); null elsewhere or once the process is gone. */
function rssBytes(pid: number): number | null {
  const status = readStatus(pid)
  return status ? status.rssKb * 1024 : null
}

type Sample = { at: number; rss: number; fds: number }

/**
 * Samples each server's RSS and descriptor count every intervalMs, to take medians over windows
 * of the run afterwards.
 */
export class ResourceSampler {
  private readonly samples = new Map<SoakServer, Sample[]>()
  private timer: NodeJS.Timeout | null = null

  constructor(
    private readonly servers: SoakServer[],
    private readonly intervalMs = 500,
  ) {
    for (const s of servers) this.samples.set(s, [])
  }

  start(): void {
    this.sample()
    this.timer = setInterval(() => this.sample(), this.intervalMs)
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  /** The median of `what` for `server` over [fromMs, toMs] (performance.now() times); null if no sample. */
  median(server: SoakServer, what: 'rss' | 'fds', fromMs: number, toMs: number): number | null {
    const values = (this.samples.get(server) ?? []).filter(s => s.at >= fromMs && s.at <= toMs).map(s => s[what])
    if (values.length === 0) return null
    values.sort((a, b) => a - b)
    return values[Math.floor(values.length / 2)]
  }

  private sample(): void {
    const at = performance.now()
    for (const s of this.servers) {
      const rss = s.rss()
      const fds = s.fds()
      if (rss !== null && fds !== null) this.samples.get(s)!.push({ at, rss, fds })
    }
  }
}
