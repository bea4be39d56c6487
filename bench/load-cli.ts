// `selectloop load --target HOST:PORT [...]`: the echo load generator (or, with --idle N, the
// idle-connection test). Human-readable report by default, one JSON object with --json.
import { UsageError, parseCommandArgs, parseIntegerOption, parseNumberOption } from '../lib/cli/args.js'
import { packageVersion } from '../lib/cli/version.js'
import { LOAD_DEFAULTS, describeFailures, runLoad, type LiveStatus, type LoadOptions, type LoadResult } from './load.js'
import { IDLE_DEFAULTS, runIdle, type IdleOptions, type IdleResult } from './idle.js'
import { runBurst, type BurstOptions, type BurstResult } from './burst.js'
import { SLOW_DEFAULTS, runSlow, type SlowOptions, type SlowResult } from './slow.js'
import { describeErrors } from './load-errors.js'
import type { LatencySummary } from './histogram.js'
import { describeMachine, type Machine } from './machine.js'
import { printableByte } from './printable.js'
import { TLS_CLIENT_OPTIONS, TLS_CLIENT_SYNOPSIS, tlsClientArgs, tlsClientSettings, tlsClientUsage } from '../lib/tls/options.js'

const USAGE = `usage: selectloop load --target HOST:PORT [--conns N] [--size BYTES] [--pipeline K] [--rate R]
                       [--duration S] [--warmup S] [--timeout S] [--threads T] [--server-pid PID] [--json]
                       [--churn] ${TLS_CLIENT_SYNOPSIS}
       selectloop load --target HOST:PORT --idle N [--hold S] [--server-pid PID] [--json] ${TLS_CLIENT_SYNOPSIS}
       selectloop load --target HOST:PORT --burst N [--server-pid PID] [--json]
       selectloop load --target HOST:PORT --slow N [--interval S] [--size BYTES] [--hold S] [--server-pid PID] [--json]

  --target      the echo server to load (required)
  --conns       connections (default ${LOAD_DEFAULTS.conns})
  --size        bytes per message, k = KiB (default ${LOAD_DEFAULTS.size})
  --pipeline    messages in flight per connection; 1 is ping-pong (default ${LOAD_DEFAULTS.pipeline});
                with --rate, the most in flight per connection
  --rate        open loop: R messages a second in all, on a fixed schedule spread over the
                connections, whatever the server does; latency counts from when each message was
                due (coordinated omission corrected), service time from when it was sent.
                Without it, a closed loop: each answer lets the next message go
  --duration    measured seconds (default ${LOAD_DEFAULTS.durationMs / 1000})
  --warmup      seconds of load before measuring, not counted; they start once every connection
                has had its first echo (default ${LOAD_DEFAULTS.warmupMs / 1000}; 0 measures from the first message)
  --timeout     seconds a connect, or a message's echo, may take before it is an error (default ${LOAD_DEFAULTS.timeoutMs / 1000})
  --threads     load-generator threads sharing the connections (default ${LOAD_DEFAULTS.threads})
  --server-pid  the server's pid: report its CPU, RSS and threads (Linux /proc)
  --idle N      instead: hold N idle connections, report how many were served and the server's
                memory per connection (needs --server-pid for the memory)
  --hold        seconds to hold the idle connections, or to measure the slow clients
                (default ${IDLE_DEFAULTS.holdMs / 1000})
  --burst N     instead: N new clients connect at the same moment; each one's wait for its
                first echo (what the server pays to take on a client: a thread start?)
  --slow N      instead: N clients each send a line every --interval seconds (default
                ${SLOW_DEFAULTS.intervalMs / 1000}) and wait for its echo: latency from when each line was due,
                the server's CPU, memory and threads (--size: bytes a line, default ${SLOW_DEFAULTS.size})
  --json        print one JSON object instead of the report
  --churn       instead of the echo path: each of --conns loops connects, echoes one message,
                closes, and again; measures connections (with --tls, handshakes) a second and
                the latency of a whole cycle (no --rate, no --pipeline)
${tlsClientUsage(12)}

Every echoed byte is checked against what was sent. On a terminal, a live line each second.
Exit status 1 if any connection failed or any error was seen (the report is printed all the same);
at once, with one line, if no connection could be made.`

/**
 * Everything `selectloop load` can be asked to do: the one contract between its command line
 * (parseLoadArgs) and the programs that run it as a process (the bench runner, through loadArgs).
 */
export type LoadCommand =
  | { mode: 'load'; json: boolean; options: LoadOptions }
  | { mode: 'idle'; json: boolean; options: IdleOptions }
  | { mode: 'burst'; json: boolean; options: BurstOptions }
  | { mode: 'slow'; json: boolean; options: SlowOptions }

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

/** A rate in messages per second: a positive number, fractions allowed (0.5 is one every 2 s). */
export function parseRate(name: string, value: string): number {
  return parseNumberOption(name, value, 0.001, 10_000_000)
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
      rate: { type: 'string' },
      idle: { type: 'string' },
      hold: { type: 'string' },
      burst: { type: 'string' },
      slow: { type: 'string' },
      interval: { type: 'string' },
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
  const modes = (['idle', 'burst', 'slow'] as const).filter(m => v[m] !== undefined)
  if (modes.length > 1) throw new UsageError(`--${modes[0]} and --${modes[1]} are different tests: give one`)
  if (v.idle !== undefined) {
    if (v.churn) throw new UsageError('--churn and --idle: one or the other')
    const conns = parseIntegerOption('--idle', v.idle, 1, 1_000_000)
    return { mode: 'idle', json, options: { host, port, conns, holdMs, timeoutMs, ...serverPid, ...(tls ? { tls } : {}) } }
  }
  if (v.churn && (v.rate !== undefined || v.pipeline !== undefined)) {
    throw new UsageError(`--churn sends one message per connection and goes as fast as the server lets it: no ${v.rate !== undefined ? '--rate' : '--pipeline'}`)
  }
  if (tls && (v.burst !== undefined || v.slow !== undefined)) {
    throw new UsageError(`--${v.burst !== undefined ? 'burst' : 'slow'} runs over plain TCP: no --tls (the churn and idle tests measure TLS)`)
  }
  if (v.burst !== undefined) {
    const clients = parseIntegerOption('--burst', v.burst, 1, 100_000)
    return { mode: 'burst', json, options: { host, port, clients, timeoutMs, ...serverPid } }
  }
  if (v.slow !== undefined) {
    const conns = parseIntegerOption('--slow', v.slow, 1, 1_000_000)
    const size = v.size === undefined ? SLOW_DEFAULTS.size : parseSize('--size', v.size)
    const intervalMs = v.interval === undefined ? SLOW_DEFAULTS.intervalMs : parseSeconds('--interval', v.interval, 0.01)
    const slowHoldMs = v.hold === undefined ? SLOW_DEFAULTS.holdMs : holdMs
    return { mode: 'slow', json, options: { host, port, conns, size, intervalMs, holdMs: slowHoldMs, timeoutMs, ...serverPid } }
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
      ...(v.rate === undefined ? {} : { rate: parseRate('--rate', v.rate) }),
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
  } else if (command.mode === 'burst') {
    args.push('--burst', String(command.options.clients))
  } else if (command.mode === 'slow') {
    const o = command.options
    args.push('--slow', String(o.conns), '--size', String(o.size), '--interval', formatSeconds(o.intervalMs), '--hold', formatSeconds(o.holdMs))
  } else {
    const o = command.options
    args.push(
      '--conns', String(o.conns),
      '--size', String(o.size),
      ...(o.churn ? ['--churn'] : ['--pipeline', String(o.pipeline)]),
      '--warmup', formatSeconds(o.warmupMs),
      '--duration', formatSeconds(o.durationMs),
      '--threads', String(o.threads),
    ) // prettier-ignore
  }
  args.push('--timeout', formatSeconds(timeoutMs))
  if (command.mode === 'load' && command.options.rate !== undefined) args.push('--rate', String(command.options.rate))
  args.push(...tlsClientArgs('tls' in command.options ? command.options.tls : undefined))
  if (serverPid !== undefined) args.push('--server-pid', String(serverPid))
  if (command.json) args.push('--json')
  return args
}

const int = (n: number) => Math.round(n).toLocaleString('en-US')
const ms = (x: number | null) => (x === null ? '-' : `${x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : Math.round(x)} ms`)
const mb = (kb: number | null) => (kb === null ? '-' : `${(kb / 1024).toFixed(1)} MiB`)
const plural = (n: number, word: string) => `${int(n)} ${word}${n === 1 ? '' : 's'}`

function percentiles(l: LatencySummary): string {
  return `p50 ${ms(l.p50)}   p75 ${ms(l.p75)}   p90 ${ms(l.p90)}   p99 ${ms(l.p99)}   p99.9 ${ms(l.p999)}   p99.99 ${ms(l.p9999)}   max ${ms(l.max)}`
}

/** 0x48 'H', or 0x00 '\x00'. */
function describeByte(b: number): string {
  return `0x${b.toString(16).padStart(2, '0')} '${printableByte(b)}'`
}

/** The line that says how the open loop's schedule went, and by how much the server fell behind. */
function scheduleText(r: LoadResult): string {
  const s = r.rate!
  const sent = `${int(s.sent)} of ${int(s.due)} due messages sent (${int(s.sentPerSec)} msgs/s of ${int(s.target)} asked)`
  const late = s.late === 0 ? 'none late' : `${int(s.late)} late (waited for their connection), up to ${ms(s.maxLateMs)}`
  const lag = s.generatorLagMs >= 5 ? `; this generator ran up to ${ms(s.generatorLagMs)} behind its own timetable` : ''
  const carried = s.behindAtStart > s.due * 0.01 ? `; ${int(s.behindAtStart)} were still waiting from the warm-up when the window opened` : ''
  const waiting = s.behind > s.due * 0.01 ? `; ${int(s.behind)} waiting at the end, not a growing backlog (a stall it recovers from)` : ''
  if (s.kept) return `kept: ${sent}${carried}${waiting}; ${late}${lag}`
  const share = s.due > 0 ? ` (${Math.round((s.sent / s.due) * 100)}%)` : ''
  return `NOT kept, the server fell behind: ${sent}${share}${carried}; ${int(s.behind)} still waiting at the end, up to ${ms(s.maxLateMs)} late${lag}`
}

/** When replies were not the echo: where the first wrong byte was, and what came instead. */
function mismatchText(r: LoadResult): string | null {
  const m = r.mismatch
  if (!m) return null
  const what = m.expected === null ? `came beyond what was sent` : `was ${describeByte(m.got)} where ${describeByte(m.expected)} was sent`
  const got = m.expected === null ? ` (${describeByte(m.got)})` : ''
  return `the target does not echo what it is sent: byte ${int(m.offset)} of connection ${m.conn}'s replies ${what}${got}; from there it sent "${m.said}"`
}

export function formatLoad(r: LoadResult): string {
  if (r.mode === 'churn') return formatChurn(r)
  const flight = r.mode === 'rate' ? `rate ${int(r.rate!.target)} msgs/s, at most ${r.pipeline} in flight each` : `${r.pipeline} in flight each`
  const lines = [
    `load → ${r.target}${r.tls ? ' (TLS)' : ''}: ${plural(r.conns, 'connection')} × ${r.size} B, ${flight}, ` +
      `${plural(r.threads, 'thread')}; ` +
      `${r.rampMs === null ? '' : `all answering after ${r.rampMs} ms, then `}warm-up ${r.warmupS} s, measured ${r.windowS.toFixed(2)} s`,
    `  connections  ${r.connected} connected, ${r.conns - r.connected} failed (${describeFailures(r.connectFailures)}), ${r.alive} alive at the end`,
  ]
  if (r.rate) lines.push(`  schedule     ${scheduleText(r)}`)
  lines.push(
    `  throughput   ${int(r.msgsPerSec)} msgs/s   ${r.mbPerSec.toFixed(2)} MB/s echoed   (${int(r.messages)} messages verified)`,
    `  latency      ${percentiles(r.latencyMs)}${r.serviceMs ? '   (from when each message was due)' : ''}`,
  )
  if (r.serviceMs) lines.push(`  service      ${percentiles(r.serviceMs)}   (from when each was sent)`)
  lines.push(`  errors       ${describeErrors(r.errors)}`)
  if (r.errors.refused > 0) {
    const said = r.refusal ? `; it said "${r.refusal}"` : '; it closed them without a word'
    lines.push(`  refused      ${plural(r.errors.refused, 'connection')} ended by the server before any echo${said}`)
  }
  const hint = mismatchText(r)
  if (hint) lines.push(`  hint         ${hint}`)
  if (r.stoppedEarly) lines.push(`  stopped      ${r.stoppedEarly}`)
  lines.push(`  load CPU     ${r.loadCpuPct === null ? '- (the window was too short to tell)' : `${r.loadCpuPct}% of one core`} (this generator)`)
  if (r.server) {
    const s = r.server
    const perMsg = s.cpuUsPerMsg === null ? '' : ` (${s.cpuUsPerMsg} µs per message, ${s.systemUsPerMsg} of them in the kernel)`
    lines.push(`  server       pid ${s.pid}: CPU ${s.cpuPct ?? '-'}% of one core${perMsg}, RSS ${mb(s.rssKb)}, ${s.threads ?? '-'} threads`)
  }
  if (r.otherCpuPct !== null) lines.push(`  other CPU    ${r.otherCpuPct}% of one core (the rest of the machine: noise)`)
  return lines.join('\n')
}

/** The churn report: connections (handshakes) a second, and the latency of a whole cycle. */
function formatChurn(r: LoadResult): string {
  const what = r.tls ? 'handshakes' : 'connections'
  const made = Object.values(r.connectFailures).reduce((a, b) => a + b, 0)
  const lines = [
    `churn → ${r.target}${r.tls ? ' (TLS)' : ''}: ${r.conns} at once, each: connect${r.tls ? ', handshake' : ''}, one ${r.size} B echo, close, again; ` +
      `${plural(r.threads, 'thread')}; ${r.rampMs === null ? '' : `all answering after ${r.rampMs} ms, then `}warm-up ${r.warmupS} s, measured ${r.windowS.toFixed(2)} s`,
    `  throughput   ${int(r.msgsPerSec)} ${what}/s   (${int(r.messages)} cycles, each echo verified)`,
    `  cycle        ${percentiles(r.latencyMs)}   (connect to the echo's last byte)`,
    `  connects     ${made === 0 ? 'none failed' : `${int(made)} failed (${describeFailures(r.connectFailures)})`}; ${r.conns - r.connected} of ${r.conns} loops never connected`,
    `  errors       ${describeErrors(r.errors)}`,
  ]
  if (r.errors.refused > 0) {
    const said = r.refusal ? `; it said "${r.refusal}"` : '; it closed them without a word'
    lines.push(`  refused      ${plural(r.errors.refused, 'connection')} ended by the server before any echo${said}`)
  }
  const hint = mismatchText(r)
  if (hint) lines.push(`  hint         ${hint}`)
  if (r.stoppedEarly) lines.push(`  stopped      ${r.stoppedEarly}`)
  lines.push(`  load CPU     ${r.loadCpuPct === null ? '- (the window was too short to tell)' : `${r.loadCpuPct}% of one core`} (this generator)`)
  if (r.server) {
    const s = r.server
    const per = s.cpuUsPerMsg === null ? '' : ` (${s.cpuUsPerMsg} µs per ${r.tls ? 'handshake' : 'connection'})`
    lines.push(`  server       pid ${s.pid}: CPU ${s.cpuPct ?? '-'}% of one core${per}, RSS ${mb(s.rssKb)}, ${s.threads ?? '-'} threads`)
  }
  if (r.otherCpuPct !== null) lines.push(`  other CPU    ${r.otherCpuPct}% of one core (the rest of the machine: noise)`)
  return lines.join('\n')
}

/** `selectloop load` found no server to load: one line, as a fatal error reads. */
export function noConnectionLine(r: LoadResult): string {
  const failures = Object.entries(r.connectFailures).sort((a, b) => b[1] - a[1])
  const why = CONNECT_FAILURES[failures[0]?.[0] ?? ''] ?? failures[0]?.[0] ?? 'no answer'
  return `cannot connect to ${r.target}: ${why} (none of ${plural(r.conns, 'connection')} made: ${describeFailures(r.connectFailures)})`
}

const CONNECT_FAILURES: Record<string, string> = {
  ECONNREFUSED: 'connection refused: is the server running?',
  timeout: 'no answer within --timeout',
  EMFILE: 'too many open files (ulimit -n)',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'unknown host',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  closed: 'closed while connecting',
}

/** The live line (a terminal only): what the load is doing this second. */
export function formatLive(s: LiveStatus, unit = 'msgs/s'): string {
  const p99 = s.p99Ms === null ? '' : `   p99 so far ${ms(s.p99Ms)}`
  return `  ${s.phase} ${Math.floor(s.seconds)} s   ${int(s.msgsPerSec)} ${unit}${p99}   errors ${int(s.errors)}   ${s.alive} alive`
}

/** What `load --json` carries besides the result: which program, asked what, where, when. */
export interface LoadMeta {
  version: string
  command: string
  date: string
  machine: Machine
}

/** The command line as a shell would take it back (arguments with spaces or quotes quoted). */
export function commandLine(words: string[]): string {
  return words.map(w => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ')
}

export function formatIdle(r: IdleResult): string {
  const lines = [
    `idle → ${r.target}${r.tls ? ' (TLS)' : ''}: ${r.requested} connections requested, held ${r.holdS} s`,
    `  connected    ${r.connected} (failures: ${describeFailures(r.connectFailures)})`,
    `  served       ${r.accepted} echoed a probe; ${r.stillServed} still did after the hold (probe failures: ${describeFailures(r.probeFailures)})${refusedText(r.probeFailures, r.refusal)}`,
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

/** "3 refused: it said \"server busy: thread limit (256) reached\"", or ''. */
function refusedText(failures: Record<string, number>, refusal: string | null): string {
  const n = failures.refused ?? 0
  if (n === 0) return ''
  return `; ${int(n)} refused before any echo${refusal ? `: it said "${refusal}"` : ', closed without a word'}`
}

export function formatBurst(r: BurstResult): string {
  const e = r.firstEchoMs
  const lines = [
    `burst → ${r.target}: ${plural(r.requested, 'client')} connecting at the same moment`,
    `  connected    ${r.connected} (failures: ${describeFailures(r.connectFailures)}); connect p50 ${ms(r.connectMs.p50)}, max ${ms(r.connectMs.max)}`,
    `  served       ${r.served} echoed their first message (failures: ${describeFailures(r.probeFailures)})${refusedText(r.probeFailures, r.refusal)}`,
    `  first echo   p50 ${ms(e.p50)}   p90 ${ms(e.p90)}   last ${ms(e.max)}   mean ${ms(e.mean)}   (from each client's connect)`,
  ]
  if (r.server) {
    const s = r.server
    lines.push(`  server       pid ${s.pid}: ${s.threadsBefore ?? '-'} threads before, ${s.threadsAfter ?? '-'} after; RSS ${mb(s.rssBeforeKb)} → ${mb(s.rssAfterKb)}`)
  }
  for (const n of r.notes) lines.push(`  note         ${n}`)
  return lines.join('\n')
}

export function formatSlow(r: SlowResult): string {
  const lines = [
    `slow → ${r.target}: ${plural(r.requested, 'client')}, each sending a ${r.size}-byte line every ${r.intervalS} s; measured ${r.windowS} s`,
    `  connected    ${r.connected} (failures: ${describeFailures(r.connectFailures)})`,
    `  served       ${r.served} echoed a probe (failures: ${describeFailures(r.probeFailures)})${refusedText(r.probeFailures, r.refusal)}`,
    `  lines        ${int(r.echoed)} echoed of ${int(r.sent)} sent (${int(r.due)} due); lost clients: ${describeFailures(r.errors)}`,
    `  latency      ${percentiles(r.latencyMs)}   (from when each line was due)`,
    `  load CPU     ${r.loadCpuPct ?? '-'}% of one core (this generator)`,
  ]
  if (r.server) {
    const s = r.server
    lines.push(`  server       pid ${s.pid}: CPU ${s.cpuPct ?? '-'}% of one core (${s.cpuUsPerLine ?? '-'} µs per line), RSS ${mb(s.rssKb)}, ${s.threads ?? '-'} threads`)
  }
  if (r.otherCpuPct !== null) lines.push(`  other CPU    ${r.otherCpuPct}% of one core (the rest of the machine: noise)`)
  for (const n of r.notes) lines.push(`  note         ${n}`)
  return lines.join('\n')
}

export async function run(argv: string[]): Promise<void> {
  const command = parseLoadArgs(argv)
  if (!command) return
  const meta = (): LoadMeta => ({ version: packageVersion(), command: commandLine(['selectloop', 'load', ...argv]), date: new Date().toISOString(), machine: describeMachine() })
  if (command.mode === 'idle') {
    const r = await runIdle(command.options)
    process.stdout.write((command.json ? JSON.stringify({ meta: meta(), ...r }) : formatIdle(r)) + '\n')
    if (r.stillServed < r.requested) process.exitCode = 1
    return
  }
  if (command.mode === 'burst') {
    const r = await runBurst(command.options)
    process.stdout.write((command.json ? JSON.stringify({ meta: meta(), ...r }) : formatBurst(r)) + '\n')
    if (r.served < r.requested) process.exitCode = 1
    return
  }
  if (command.mode === 'slow') {
    const r = await runSlow(command.options)
    process.stdout.write((command.json ? JSON.stringify({ meta: meta(), ...r }) : formatSlow(r)) + '\n')
    if (r.served < r.requested || Object.keys(r.errors).length > 0) process.exitCode = 1
    return
  }
  const tty = !command.json && process.stderr.isTTY
  const o = command.options
  const unit = o.churn ? (o.tls ? 'handshakes/s' : 'connections/s') : 'msgs/s'
  const live = tty ? (s: LiveStatus) => process.stderr.write(`\r\x1b[K${formatLive(s, unit)}`) : undefined
  const r = await runLoad(command.options, { live })
  if (tty) process.stderr.write('\r\x1b[K')
  // (Churn makes connections all along: one that failed at any time counts.)
  const failedConnects = Object.values(r.connectFailures).some(n => n > 0)
  process.exitCode = r.failure || r.errorTotal > 0 || r.connected < r.conns || failedConnects ? 1 : 0
  if (command.json) process.stdout.write(JSON.stringify({ meta: meta(), ...r }) + '\n')
  else if (r.failure) process.stderr.write(`selectloop: ${noConnectionLine(r)}\n`)
  else process.stdout.write(formatLoad(r) + '\n')
}
