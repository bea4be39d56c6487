// `selectloop load --target HOST:PORT [...]`: the echo load generator (or, with --idle N, the
// idle-connection test). Human-readable report by default, one JSON object with --json.
import { UsageError, parseCommandArgs, parseIntegerOption, parseNumberOption } from '../lib/cli/args.js'
import { LOAD_DEFAULTS, runLoad, type LoadOptions, type LoadResult } from './load.js'
import { IDLE_DEFAULTS, runIdle, type IdleOptions, type IdleResult } from './idle.js'
import { ERROR_KINDS } from './load-errors.js'
import { TLS_CLIENT_OPTIONS, TLS_CLIENT_SYNOPSIS, tlsClientArgs, tlsClientSettings, tlsClientUsage } from '../lib/tls/options.js'

const USAGE = `usage: selectloop load --target HOST:PORT [--conns N] [--size BYTES] [--pipeline K]
                       [--duration S] [--warmup S] [--timeout S] [--threads T] [--server-pid PID] [--json]
                       [--churn] ${TLS_CLIENT_SYNOPSIS}
       selectloop load --target HOST:PORT --idle N [--hold S] [--server-pid PID] [--json]

  --target      the echo server to load (required)
  --conns       connections (default ${LOAD_DEFAULTS.conns})
  --size        bytes per message, k = KiB (default ${LOAD_DEFAULTS.size})
  --pipeline    messages in flight per connection; 1 is ping-pong (default ${LOAD_DEFAULTS.pipeline})
  --duration    measured seconds (default ${LOAD_DEFAULTS.durationMs / 1000})
  --warmup      seconds of load before measuring, not counted; they start once every connection
                has had its first echo (default ${LOAD_DEFAULTS.warmupMs / 1000}; 0 measures from the first message)
  --timeout     seconds a connect, or a message's echo, may take before it is an error (default ${LOAD_DEFAULTS.timeoutMs / 1000})
  --threads     load-generator threads sharing the connections (default ${LOAD_DEFAULTS.threads})
  --server-pid  the server's pid: report its CPU, RSS and threads (Linux /proc)
  --idle N      instead: hold N idle connections, report how many were served and the server's
                memory per connection (needs --server-pid for the memory)
  --hold        seconds to hold the idle connections (default ${IDLE_DEFAULTS.holdMs / 1000})
  --json        print one JSON object instead of the report
  --churn       each connection connects, echoes one message, closes, and again: measures
                connections (with --tls, handshakes) per second instead of the echo path
${tlsClientUsage(12)}

Every echoed byte is checked against what was sent. Exit status 1 if any connection failed or any
error was seen (the report is printed all the same).`

/**
 * Everything `selectloop load` can be asked to do: the one contract between its command line
 * (parseLoadArgs) and the programs that run it as a process (the bench runner, through loadArgs).
 */
export type LoadCommand = { mode: 'load'; json: boolean; options: LoadOptions } | { mode: 'idle'; json: boolean; options: IdleOptions }

/** HOST:PORT as --target takes it ([HOST]:PORT for an IPv6 address). */
export function formatTarget(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
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

// Durations are seconds on the command line and milliseconds everywhere else: converted here only.

/** A duration option in seconds (fractions allowed, at most a day), as whole milliseconds. */
function parseSeconds(name: string, value: string, minSeconds: number): number {
  return Math.round(parseNumberOption(name, value, minSeconds, 86_400) * 1000)
}

/** Whole milliseconds as the seconds parseSeconds reads back to the same milliseconds. */
function formatSeconds(ms: number): string {
  return String(ms / 1000)
}

/** Parses `selectloop load` arguments; null when --help was printed. Raises UsageError. */
export function parseLoadArgs(argv: string[]): LoadCommand | null {
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
      churn: { type: 'boolean' },
      ...TLS_CLIENT_OPTIONS,
    },
    USAGE,
  )
  if (!parsed) return null
  const v = parsed.values
  const { host, port } = parseTarget(v.target)
  const tls = tlsClientSettings(v)
  const json = Boolean(v.json)
  const timeoutMs = v.timeout === undefined ? LOAD_DEFAULTS.timeoutMs : parseSeconds('--timeout', v.timeout, 0.01)
  const serverPid = v['server-pid'] === undefined ? {} : { serverPid: parseIntegerOption('--server-pid', v['server-pid'], 1, 2 ** 22) }
  const holdMs = v.hold === undefined ? IDLE_DEFAULTS.holdMs : parseSeconds('--hold', v.hold, 0) // checked in either mode
  if (v.idle !== undefined) {
    const conns = parseIntegerOption('--idle', v.idle, 1, 1_000_000)
    return { mode: 'idle', json, options: { host, port, conns, holdMs, timeoutMs, ...serverPid } }
  }
  return {
    mode: 'load',
    json,
    options: {
      host,
      port,
      conns: v.conns === undefined ? LOAD_DEFAULTS.conns : parseIntegerOption('--conns', v.conns, 1, 1_000_000),
      size: v.size === undefined ? LOAD_DEFAULTS.size : parseSize('--size', v.size),
      pipeline: v.pipeline === undefined ? LOAD_DEFAULTS.pipeline : parseIntegerOption('--pipeline', v.pipeline, 1, 4096),
      warmupMs: v.warmup === undefined ? LOAD_DEFAULTS.warmupMs : parseSeconds('--warmup', v.warmup, 0),
      durationMs: v.duration === undefined ? LOAD_DEFAULTS.durationMs : parseSeconds('--duration', v.duration, 0.05),
      timeoutMs,
      threads: v.threads === undefined ? LOAD_DEFAULTS.threads : parseIntegerOption('--threads', v.threads, 1, 64),
      ...serverPid,
      ...(tls ? { tls } : {}),
      ...(v.churn ? { churn: true } : {}),
    },
  }
}

/**
 * The arguments that make `selectloop load` do `command`: parseLoadArgs(loadArgs(c)) is c. Every
 * option is spelled out, so the run does not depend on the defaults of the process it starts.
 */
export function loadArgs(command: LoadCommand): string[] {
  const { host, port, timeoutMs, serverPid } = command.options
  const args = ['--target', formatTarget(host, port)]
  if (command.mode === 'idle') {
    const o = command.options
    args.push('--idle', String(o.conns), '--hold', formatSeconds(o.holdMs))
  } else {
    const o = command.options
    args.push(
      '--conns', String(o.conns),
      '--size', String(o.size),
      '--pipeline', String(o.pipeline),
      '--warmup', formatSeconds(o.warmupMs),
      '--duration', formatSeconds(o.durationMs),
      '--threads', String(o.threads),
    ) // prettier-ignore
    args.push(...tlsClientArgs(o.tls))
    if (o.churn) args.push('--churn')
  }
  args.push('--timeout', formatSeconds(timeoutMs))
  if (serverPid !== undefined) args.push('--server-pid', String(serverPid))
  if (command.json) args.push('--json')
  return args
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
  if (r.churn) return formatChurn(r)
  const lines = [
    `load → ${r.target}${r.tls ? ' (TLS)' : ''}: ${r.conns} connection${r.conns === 1 ? '' : 's'} × ${r.size} B, ${r.pipeline} in flight each, ` +
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

/** The churn report: connections (handshakes) a second, and the latency of a whole cycle. */
function formatChurn(r: LoadResult): string {
  const what = r.tls ? 'handshakes' : 'connections'
  const lines = [
    `churn → ${r.target}${r.tls ? ' (TLS)' : ''}: ${r.conns} at once, each: connect${r.tls ? ', handshake' : ''}, one ${r.size} B echo, close; ` +
      `warm-up ${r.warmupS} s, measured ${r.windowS.toFixed(2)} s`,
    `  throughput   ${int(r.msgsPerSec)} ${what}/s   (${int(r.messages)} cycles, each echo verified)`,
    `  cycle        p50 ${ms(r.latencyMs.p50)}   p99 ${ms(r.latencyMs.p99)}   p99.9 ${ms(r.latencyMs.p999)}   max ${ms(r.latencyMs.max)}`,
    `  failures     connect: ${failuresText(r.connectFailures)}; echo: ${r.errorTotal === 0 ? 'none' : ERROR_KINDS.map(k => `${k} ${r.errors[k]}`).join(', ')}`,
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
  const command = parseLoadArgs(argv)
  if (!command) return
  if (command.mode === 'idle') {
    const r = await runIdle(command.options)
    process.stdout.write((command.json ? JSON.stringify(r) : formatIdle(r)) + '\n')
    if (r.stillServed < r.requested) process.exitCode = 1
    return
  }
  const r = await runLoad(command.options)
  process.stdout.write((command.json ? JSON.stringify(r) : formatLoad(r)) + '\n')
  if (r.errorTotal > 0 || r.connected < r.conns) process.exitCode = 1
}
