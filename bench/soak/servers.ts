// The servers under soak: started from the built CLI as real processes (as a user runs them),
// watched (alive? resident memory?) and stopped with SIGTERM, whose exit status is part of the verdict.
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** dist/bin/selectloop.js, next to this module's build output (dist/bench/soak/). */
const CLI = fileURLToPath(new URL('../../bin/selectloop.js', import.meta.url))
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
export function startServer(label: string, args: string[], nodeArgs: string[] = []): Promise<SoakServer> {
  const child = spawn(process.execPath, [...nodeArgs, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-STDERR_KEPT)
  })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  return new Promise((resolve, reject) => {
    let out = ''
    const fail = (why: string) => {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(new Error(`${label} server: ${why}${stderr ? `\n${stderr.trimEnd()}` : ''}`))
    }
    const timer = setTimeout(() => fail('did not start listening in time'), START_TIMEOUT_MS)
    const onEarlyExit = (code: number | null) => fail(`exited (${code}) before listening`)
    child.once('exit', onEarlyExit)
    const onData = (d: string) => {
      out += d
      const m = /^listening on (\S+):(\d+)$/m.exec(out)
      if (!m) return
      clearTimeout(timer)
      child.off('exit', onEarlyExit)
      child.stdout!.off('data', onData)
      child.stdout!.resume() // keep draining stdout so a chatty server never blocks on it
      resolve(processServer(label, child, m[1], Number(m[2]), exited, () => stderr))
    }
    child.stdout!.setEncoding('utf8').on('data', onData)
  })
}

function processServer(
  label: string,
  child: ChildProcess,
  host: string,
  port: number,
  exited: Promise<number | null>,
  stderr: () => string,
): SoakServer {
  const alive = () => child.exitCode === null && child.signalCode === null
  return {
    label,
    host,
    port,
    pid: child.pid ?? null,
    alive,
    rss: () => (alive() && child.pid ? rssOf(child.pid) : null),
    fds: () => (alive() && child.pid ? fdsOf(child.pid) : null),
    async stop() {
      if (!alive()) return exited
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
      const code = await exited
      clearTimeout(timer)
      return code
    },
    stderrTail: stderr,
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

/** Resident set size from /proc (Linux); null elsewhere or once the process is gone. */
export function rssOf(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : null
  } catch {
    return null
  }
}

/** Open descriptors of `pid` (Linux); null elsewhere or once the process is gone. */
export function fdsOf(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return null
  }
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
