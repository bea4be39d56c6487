// `selectloop load --target HOST:PORT [...]`: the echo load generator (or, with --idle N, the
// idle-connection test). Human-readable report by default, one JSON object with --json.
import { UsageError, parseCommandArgs, parseIntegerOption, parseNumberOption } from '../lib/cli/args.js'
import { LOAD_DEFAULTS, runLoad, type LoadResult } from './load.js'
import { runIdle, type IdleResult } from './idle.js'
import { ERROR_KINDS } from './load-errors.js'

const USAGE = `usage: selectloop load --target HOST:PORT [--conns N] [--size BYTES] [--pipeline K]
                       [--duration S] [--warmup S] [--timeout S] [--threads T] [--server-pid PID] [--json]
       selectloop load --target HOST:PORT --idle N [--hold S] [--server-pid PID] [--json]

  --target      the echo server to load (required)
  --conns       connections (default ${LOAD_DEFAULTS.conns})
  --size        bytes per message, k = KiB (default ${LOAD_DEFAULTS.size})
  --pipeline    messages in flight per connection; 1 is ping-pong (default ${LOAD_DEFAULTS.pipeline})
  --duration    measured seconds (default ${LOAD_DEFAULTS.durationMs / 1000})
  --warmup      seconds of load before measuring, not counted; they start once every connection
                has had its first echo (default ${LOAD_DEFAULTS.warmupMs / 1000}; 0 measures from the first message)
  --timeout     seconds a message may wait for its echo before it is a timeout error (default ${LOAD_DEFAULTS.timeoutMs / 1000})
  --threads     load-generator threads sharing the connections (default ${LOAD_DEFAULTS.threads})
  --server-pid  the server's pid: report its CPU, RSS and threads (Linux /proc)
  --idle N      instead: hold N idle connections, report how many were served and the server's
                memory per connection (needs --server-pid for the memory)
  --hold        seconds to hold the idle connections (default 5)
  --json        print one JSON object instead of the report

Every echoed byte is checked against what was sent. Exit status 1 if any connection failed or any
error was seen (the report is printed all the same).`

export interface ParsedLoadArgs {
  mode: 'load' | 'idle'
  json: boolean
  host: string
  port: number
  conns: number
  size: number
  pipeline: number
  warmupMs: number
  durationMs: number
  timeoutMs: number
  threads: number
  holdMs: number
  serverPid?: number
}

export function parseTarget(value: string | undefined): { host: string; port: number } {
  if (value === undefined) throw new UsageError(`--target HOST:PORT is required\n${USAGE}`)
  const m = /^(.*):(\d+)$/.exec(value.trim())
  if (!m) throw new UsageError(`--target must be HOST:PORT, got '${value}'`)
  const port = parseIntegerOption('--target port', m[2], 1, 65535)
  return { host: m[1].replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port }
}

/** A message size: bytes, or with k/KiB or m/MiB. */
export function parseSize(name: string, s: string): number {
  const m = /^(\d+)\s*(k|kib|kb|m|mib|mb)?$/i.exec(s.trim())
  if (!m) throw new UsageError(`${name}: '${s}' is not a size (e.g. 64, 1024, 16k)`)
  const unit = (m[2] ?? '').toLowerCase()
  const n = Number(m[1]) * (unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1)
  if (n < 1 || n > 16 * 1024 * 1024) throw new UsageError(`${name} must be between 1 B and 16 MiB, got '${s}'`)
  return n
}

export function parseLoadArgs(argv: string[]): ParsedLoadArgs | null {
  const parsed = parseCommandArgs(
    argv,
    {
      target: { type: 'string' },
      conns: { type: 'string' },
      size: { type: 'string' },
      pipeline: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      timeout: { type: 'string' },
      threads: { type: 'string' },
      'server-pid': { type: 'string' },
      idle: { type: 'string' },
      hold: { type: 'string' },
      json: { type: 'boolean' },
    },
    USAGE,
  )
  if (!parsed) return null
  const v = parsed.values
  const { host, port } = parseTarget(v.target)
  const seconds = (name: string, value: string | undefined, fallbackMs: number, min: number) =>
    value === undefined ? fallbackMs : Math.round(parseNumberOption(name, value, min, 86_400) * 1000)
  const idle = v.idle === undefined ? undefined : parseIntegerOption('--idle', v.idle, 1, 1_000_000)
  return {
    mode: idle === undefined ? 'load' : 'idle',
    json: Boolean(v.json),
    host,
    port,
    conns: idle ?? (v.conns === undefined ? LOAD_DEFAULTS.conns : parseIntegerOption('--conns', v.conns, 1, 1_000_000)),
    size: v.size === undefined ? LOAD_DEFAULTS.size : parseSize('--size', v.size),
    pipeline: v.pipeline === undefined ? LOAD_DEFAULTS.pipeline : parseIntegerOption('--pipeline', v.pipeline, 1, 4096),
    warmupMs: seconds('--warmup', v.warmup, LOAD_DEFAULTS.warmupMs, 0),
    durationMs: seconds('--duration', v.duration, LOAD_DEFAULTS.durationMs, 0.05),
    timeoutMs: seconds('--timeout', v.timeout, LOAD_DEFAULTS.timeoutMs, 0.01),
    threads: v.threads === undefined ? LOAD_DEFAULTS.threads : parseIntegerOption('--threads', v.threads, 1, 64),
    holdMs: seconds('--hold', v.hold, 5000, 0),
    serverPid: v['server-pid'] === undefined ? undefined : parseIntegerOption('--server-pid', v['server-pid'], 1, 2 ** 22),
  }
}

const int = (n: number) => Math.round(n).toLocaleString('en-US')
const ms = (x: number | null) => (x === null ? '-' : `${x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : Math.round(x)} ms`)
const mb = (kb: number | null) => (kb === null ? '-' : `${(kb / 1024).toFixed(1)} MiB`)

function failuresText(record: Record<string, number>): string {
  const parts = Object.entries(record).map(([k, n]) => `${k} ${n}`)
  return parts.length ? parts.join(', ') : 'none'
}

export function formatLoad(r: LoadResult): string {
  const e = r.errors
  const lines = [
    `load → ${r.target}: ${r.conns} connection${r.conns === 1 ? '' : 's'} × ${r.size} B, ${r.pipeline} in flight each, ` +
      `${r.threads} thread${r.threads === 1 ? '' : 's'}; ` +
      `${r.rampMs === null ? '' : `all answering after ${r.rampMs} ms, then `}warm-up ${r.warmupS} s, measured ${r.windowS.toFixed(2)} s`,
    `  connections  ${r.connected} connected, ${r.conns - r.connected} failed (${failuresText(r.connectFailures)}), ${r.alive} alive at the end`,
    `  throughput   ${int(r.msgsPerSec)} msgs/s   ${r.mbPerSec.toFixed(2)} MB/s echoed   (${int(r.messages)} messages verified)`,
    `  latency      p50 ${ms(r.latencyMs.p50)}   p99 ${ms(r.latencyMs.p99)}   p99.9 ${ms(r.latencyMs.p999)}   max ${ms(r.latencyMs.max)}`,
    `  errors       ${r.errorTotal === 0 ? 'none' : ERROR_KINDS.map(k => `${k} ${e[k]}`).join(', ')}`,
    `  load CPU     ${r.loadCpuPct}% of one core (this generator)`,
  ]
  if (r.server) {
    const s = r.server
    lines.push(`  server       pid ${s.pid}: CPU ${s.cpuPct ?? '-'}% of one core, RSS ${mb(s.rssKb)}, ${s.threads ?? '-'} threads`)
  }
  if (r.otherCpuPct !== null) lines.push(`  other CPU    ${r.otherCpuPct}% of one core (the rest of the machine: noise)`)
  return lines.join('\n')
}

export function formatIdle(r: IdleResult): string {
  const lines = [
    `idle → ${r.target}: ${r.requested} connections requested, held ${r.holdS} s`,
    `  connected    ${r.connected} (failures: ${failuresText(r.connectFailures)})`,
    `  served       ${r.accepted} echoed a probe; ${r.stillServed} still did after the hold (probe failures: ${failuresText(r.probeFailures)})`,
  ]
  if (r.server) {
    const s = r.server
    lines.push(
      `  server       pid ${s.pid}: RSS ${mb(s.rssBeforeKb)} before, ${mb(s.rssAfterKb)} holding; ` +
        `${s.perConnKb === null ? '-' : `${s.perConnKb.toFixed(1)} KiB`} per connection; ${s.threads ?? '-'} threads`,
    )
  } else lines.push('  server       memory not measured (give --server-pid PID)')
  const fd = (l: IdleResult['fdLimit']) => (l ? `${l.soft} (hard ${l.hard})` : 'unknown')
  lines.push(`  fd limits    this generator ${fd(r.fdLimit)}; server ${fd(r.serverFdLimit)}`)
  for (const n of r.notes) lines.push(`  note         ${n}`)
  return lines.join('\n')
}

export async function run(argv: string[]): Promise<void> {
  const a = parseLoadArgs(argv)
  if (!a) return
  if (a.mode === 'idle') {
    const r = await runIdle({ host: a.host, port: a.port, conns: a.conns, holdMs: a.holdMs, timeoutMs: a.timeoutMs, serverPid: a.serverPid })
    process.stdout.write((a.json ? JSON.stringify(r) : formatIdle(r)) + '\n')
    if (r.stillServed < r.requested) process.exitCode = 1
    return
  }
  const r = await runLoad({
    host: a.host,
    port: a.port,
    conns: a.conns,
    size: a.size,
    pipeline: a.pipeline,
    warmupMs: a.warmupMs,
    durationMs: a.durationMs,
    timeoutMs: a.timeoutMs,
    connectTimeoutMs: a.timeoutMs,
    threads: a.threads,
    serverPid: a.serverPid,
  })
  process.stdout.write((a.json ? JSON.stringify(r) : formatLoad(r)) + '\n')
  if (r.errorTotal > 0 || r.connected < r.conns) process.exitCode = 1
}
