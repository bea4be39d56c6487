// `selectloop bench`: compares the echo server's concurrency models (and any external echo server)
// under the same loads; prints a table, writes JSON lines, an SVG chart and an HTML report.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { UsageError, parseCommandArgs, parseIntegerOption, parseNumberOption } from '../lib/cli/args.js'
import { ECHO_MODELS } from '../lib/echo/options.js'
import type { BenchOptions, CellRow } from './runner.js'
import type { PlannedCell } from './cells.js'
import { withWorkers, type ServerSpec } from './servers.js'
import { parseRate, parseSize } from './load-cli.js'
import { formatReport } from './report.js'
import { readRun } from './compare.js'
import { runToFiles } from './run-files.js'
import { benchCertificate } from './tls-certificate.js'

const QUICK = { conns: [1, 10, 100], sizes: [1024], idle: 0, sweep: null }
/** --full: the whole matrix, the idle test, and a latency-vs-rate curve at 100 connections. */
const FULL = { conns: [1, 10, 100, 1000], sizes: [64, 1024, 16384], idle: 10_000, sweep: { conns: 100, size: 1024, rates: [5000, 10_000, 20_000, 40_000] } }
/** Other CPU (% of one core) above which a cell is flagged as measured on a busy machine. */
const DEFAULT_MAX_NOISE = 25
/** bench --tls without --churn: one churn cell, this many loops at once. */
const TLS_CHURN = [10]
/** Models whose flagged cells fail `--strict`: ours and the baseline, not the teaching model or external servers. */
const STRICT_MODELS = ['selector', 'net']

/** bench/results/ in this package (git-ignored). */
const DEFAULT_OUT = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './results/' : '../../bench/results/', import.meta.url))

const USAGE = `usage: selectloop bench [--full] [--models a,b] [--server NAME='COMMAND {port}']... [--workers 1,2]
                        [--conns 1,10,100] [--sizes 1024] [--pipeline 1] [--rate R1,R2,...] [--duration S]
                        [--warmup S] [--timeout S] [--repeat R] [--threads T] [--idle N] [--idle-hold S]
                        [--idle-models a,b] [--max-noise PCT] [--strict] [--compare OLD.jsonl] [--out DIR]
                        [--tls] [--churn N,M]

  --full         connections 1,10,100,1000; sizes 64,1024,16384; ${FULL.idle.toLocaleString('en-US')} idle connections;
                 and rates ${FULL.sweep.rates.map(r => r / 1000 + 'k').join(',')} at ${FULL.sweep.conns} connections × 1 KiB (unless --rate)
  --models       models of 'selectloop echo' to compare (default ${ECHO_MODELS.join(',')})
  --server       an external echo server: {port} becomes a free port; repeatable
  --workers      run the selector and net models as 'echo --workers N' for each N (1,2: the scaling
                 row; the load generator shares the machine's cores with the workers)
  --conns        connection counts (default ${QUICK.conns.join(',')})
  --sizes        message sizes in bytes, k = KiB (default 1024)
  --pipeline     messages in flight per connection, 1 = ping-pong (default 1; a list is fine)
  --rate         open loop: these rates (messages a second in all) at each connection count, size
                 and pipeline, instead of the closed loop (besides it with --full): the latency-vs-load
                 curve, p99 from when each message was due
  --duration     measured seconds per cell (default 2.5)
  --warmup       warm-up seconds per cell, not counted (default 0.5)
  --timeout      seconds a connect, or a message's echo, may take (default 5)
  --repeat       run each cell R times and keep the median (default 1)
  --threads      load-generator threads (default 1)
  --idle         idle connections to hold on each --idle-models server (default 0; ${FULL.idle} with --full)
  --idle-hold    seconds to hold them (default 5)
  --idle-models  servers for the idle test (default selector)
  --max-noise    flag a cell when the rest of the machine used more than PCT% of a core during it
                 (default ${DEFAULT_MAX_NOISE})
  --strict       exit 1 if any cell of the selector or net model is flagged (errors, connections
                 lost or refused, a ramp-up longer than --timeout, noise)
  --compare      put a saved run (its .jsonl) beside this one: ratios, and regressions beyond noise
  --out          directory for the JSON lines, the chart and the HTML report (default bench/results/)
  --tls          every server speaks TLS with one certificate made for the run, which the load
                 verifies (the net model is then Node's own tls.createServer echo); an external
                 --server's command gets its files as {cert} and {key}; adds a churn cell of
                 ${TLS_CHURN.join(',')} at once (handshakes a second) unless --churn says otherwise
  --churn        churn cells: N loops at once, each: connect (with --tls, a full handshake), one
                 echo of the first --sizes, close, and again: connections (handshakes) a second;
                 0 for none

A flagged cell is marked in the table, the charts and the JSON (its 'flags', each with a reason).`

function parseList<T>(name: string, value: string | undefined, fallback: T[], item: (s: string) => T): T[] {
  if (value === undefined) return fallback
  const items = value.split(',').map(s => s.trim()).filter(Boolean)
  if (items.length === 0) throw new UsageError(`${name} needs at least one value`)
  return [...new Set(items.map(item))]
}

function parseServer(value: string): ServerSpec {
  const m = /^([A-Za-z0-9_.-]+)=(.+)$/s.exec(value)
  if (!m) throw new UsageError(`--server must be NAME='COMMAND {port}', got '${value}'`)
  if (!m[2].includes('{port}')) throw new UsageError(`--server ${m[1]}: the command must contain {port}`)
  return { name: m[1], command: m[2] }
}

function parseModel(name: string): ServerSpec {
  if (!(ECHO_MODELS as readonly string[]).includes(name)) {
    throw new UsageError(`unknown model '${name}' (models: ${ECHO_MODELS.join(', ')}; use --server for other servers)`)
  }
  return { name, model: name }
}

export interface BenchCommand extends BenchOptions {
  outDir: string
  strict: boolean
  /** A saved run's JSON lines to compare with. */
  compare: string | null
}

/**
 * The plan: every size × pipeline × connection count, closed loop and/or at each rate (open loop),
 * then the extra rate sweep, then the churn cells (the first size), then the idle test on its servers.
 */
export function planCells(o: {
  sizes: number[]
  pipelines: number[]
  conns: number[]
  closed: boolean
  rates: number[]
  sweep: { conns: number; size: number; rates: number[] } | null
  /** Churn cells: loops at once. */
  churn?: number[]
  /** The servers of the load cells, when not every server runs them (one there for the idle test only). */
  loadServers?: string[]
  idle: number
  idleHoldMs: number
  idleServers: string[]
}): PlannedCell[] {
  const cells: PlannedCell[] = []
  const on = o.loadServers ? { servers: o.loadServers } : {}
  for (const size of o.sizes)
    for (const pipeline of o.pipelines)
      for (const conns of o.conns) {
        if (o.closed) cells.push({ kind: 'closed', size, conns, pipeline, ...on })
        for (const rate of o.rates) cells.push({ kind: 'rate', size, conns, pipeline, rate, ...on })
      }
  for (const rate of o.sweep?.rates ?? []) cells.push({ kind: 'rate', size: o.sweep!.size, conns: o.sweep!.conns, pipeline: 1, rate, ...on })
  for (const conns of o.churn ?? []) cells.push({ kind: 'churn', size: o.sizes[0], conns, ...on })
  if (o.idle > 0) cells.push({ kind: 'idle', conns: o.idle, holdMs: o.idleHoldMs, servers: o.idleServers })
  return cells
}

export function parseBenchArgs(argv: string[]): BenchCommand | null {
  const parsed = parseCommandArgs(
    argv,
    {
      full: { type: 'boolean' },
      models: { type: 'string' },
      workers: { type: 'string' },
      server: { type: 'string', multiple: true },
      conns: { type: 'string' },
      sizes: { type: 'string' },
      pipeline: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      timeout: { type: 'string' },
      repeat: { type: 'string' },
      threads: { type: 'string' },
      idle: { type: 'string' },
      'idle-hold': { type: 'string' },
      'idle-models': { type: 'string' },
      rate: { type: 'string' },
      'max-noise': { type: 'string' },
      strict: { type: 'boolean' },
      compare: { type: 'string' },
      out: { type: 'string' },
      tls: { type: 'boolean' },
      churn: { type: 'string' },
    },
    USAGE,
  )
  if (!parsed) return null
  const v = parsed.values
  const base = v.full ? FULL : QUICK
  const workers = parseList('--workers', v.workers, [], s => parseIntegerOption('--workers', s, 1, 64))
  const churn = parseList('--churn', v.churn, v.tls ? TLS_CHURN : [], s => parseIntegerOption('--churn', s, 0, 10_000)).filter(n => n > 0)
  // One certificate for the run: every server the same handshake with the same key, verified by the load.
  const cert = v.tls ? benchCertificate() : null
  const withTls = (spec: ServerSpec): ServerSpec => (cert ? { ...spec, args: ['--tls', '--cert', cert.certFile, '--key', cert.keyFile] } : spec)
  const withFiles = (spec: ServerSpec): ServerSpec =>
    cert && spec.command ? { ...spec, command: spec.command.replaceAll('{cert}', cert.certFile).replaceAll('{key}', cert.keyFile) } : spec
  const models = withWorkers(parseList<ServerSpec>('--models', v.models, ECHO_MODELS.map(parseModel), parseModel), workers).map(withTls)
  const externals = (v.server ?? []).map(parseServer).map(withFiles)
  const servers = [...models, ...externals]
  const names = servers.map(s => s.name)
  const dup = names.find((n, i) => names.indexOf(n) !== i)
  if (dup) throw new UsageError(`two servers are named '${dup}'`)
  const seconds = (name: string, value: string | undefined, fallback: number, min: number) =>
    Math.round((value === undefined ? fallback : parseNumberOption(name, value, min, 3600)) * 1000)
  const idleNames = parseList('--idle-models', v['idle-models'], ['selector'], s => s)
  const rates = parseList('--rate', v.rate, [], s => parseRate('--rate', s))
  const idle = v.idle === undefined ? base.idle : parseIntegerOption('--idle', v.idle, 0, 1_000_000)
  const idleServers = idleNames.map(n => servers.find(s => s.name === n) ?? withTls(parseModel(n)))
  // A server asked for the idle test only runs that test.
  const idleOnly = idle > 0 ? idleServers.filter(spec => !servers.includes(spec)) : []
  const loadServers = idleOnly.length ? { loadServers: servers.map(s => s.name) } : {}
  servers.push(...idleOnly)
  const cells = planCells({
    ...loadServers,
    conns: parseList('--conns', v.conns, base.conns, s => parseIntegerOption('--conns', s, 1, 100_000)),
    sizes: parseList('--sizes', v.sizes, base.sizes, s => parseSize('--sizes', s)),
    pipelines: parseList('--pipeline', v.pipeline, [1], s => parseIntegerOption('--pipeline', s, 1, 4096)),
    closed: Boolean(v.full) || v.rate === undefined,
    rates,
    sweep: v.rate === undefined ? base.sweep : null,
    churn,
    idle,
    idleHoldMs: seconds('--idle-hold', v['idle-hold'], 5, 0),
    idleServers: idleServers.map(s => s.name),
  })
  return {
    servers,
    cells,
    durationMs: seconds('--duration', v.duration, 2.5, 0.1),
    warmupMs: seconds('--warmup', v.warmup, 0.5, 0),
    timeoutMs: seconds('--timeout', v.timeout, 5, 0.05),
    repeat: v.repeat === undefined ? 1 : parseIntegerOption('--repeat', v.repeat, 1, 100),
    loadThreads: v.threads === undefined ? 1 : parseIntegerOption('--threads', v.threads, 1, 64),
    maxNoisePct: v['max-noise'] === undefined ? DEFAULT_MAX_NOISE : parseNumberOption('--max-noise', v['max-noise'], 0, 100_000),
    command: ['selectloop', 'bench', ...argv].join(' '),
    ...(cert ? { tls: { caFile: cert.certFile, insecure: false } } : {}),
    outDir: path.resolve(v.out ?? DEFAULT_OUT),
    strict: Boolean(v.strict),
    compare: v.compare ?? null,
  }
}

/** The flagged cells that fail --strict. */
export function strictFailures(rows: CellRow[]): CellRow[] {
  return rows.filter(r => r.flags.length > 0 && STRICT_MODELS.includes(r.server))
}

export async function run(argv: string[]): Promise<void> {
  const o = parseBenchArgs(argv)
  if (!o) return
  const saved = o.compare === null ? null : { file: o.compare, rows: readRun(o.compare) } // a bad file fails now, not after the run
  const { rows, comparison, files } = await runToFiles(o, o.outDir, saved)
  process.stdout.write(`${formatReport(rows, comparison)}\n\nresults: ${files.jsonl}\nchart:   ${files.svg}\nreport:  ${files.html}\n`)
  if (o.strict) {
    const failing = strictFailures(rows.filter((r): r is CellRow => r.type === 'cell'))
    if (failing.length > 0) {
      process.stderr.write(`selectloop: --strict: ${failing.length} flagged cell${failing.length === 1 ? '' : 's'} of the ${STRICT_MODELS.join(' or ')} model\n`)
      process.exitCode = 1
    }
  }
}
