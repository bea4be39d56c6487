// `selectloop bench`: compares the echo server's concurrency models (and any external echo server)
// under the same loads; prints a table, writes JSON lines and an SVG chart.
import { mkdirSync, appendFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { UsageError, parseCommandArgs, parseIntegerOption, parseNumberOption } from '../lib/cli/args.js'
import { ECHO_MODELS } from '../lib/echo/options.js'
import { runBench, matrix, secondsPerRun, type BenchOptions } from './runner.js'
import { withWorkers, type ServerSpec } from './servers.js'
import { createProgress } from './progress.js'
import { parseSize } from './load-cli.js'
import { formatReport } from './report.js'
import { renderChart } from './chart.js'

const QUICK = { conns: [1, 10, 100], sizes: [1024], idle: 0 }
const FULL = { conns: [1, 10, 100, 1000], sizes: [64, 1024, 16384], idle: 10_000 }

/** bench/results/ in this package (git-ignored). */
const DEFAULT_OUT = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './results/' : '../../bench/results/', import.meta.url))

const USAGE = `usage: selectloop bench [--full] [--models a,b] [--server NAME='COMMAND {port}']... [--workers 1,2]
                        [--conns 1,10,100] [--sizes 1024] [--pipeline 1] [--duration S] [--warmup S]
                        [--repeat R] [--threads T] [--idle N] [--idle-hold S] [--idle-models a,b] [--out DIR]

  --full         connections 1,10,100,1000; sizes 64,1024,16384; plus ${FULL.idle.toLocaleString('en-US')} idle connections
  --models       models of 'selectloop echo' to compare (default ${ECHO_MODELS.join(',')})
  --server       an external echo server: {port} becomes a free port; repeatable
  --workers      run the selector and net models as 'echo --workers N' for each N (1,2: the scaling
                 row; the load generator shares the machine's cores with the workers)
  --conns        connection counts (default ${QUICK.conns.join(',')})
  --sizes        message sizes in bytes, k = KiB (default 1024)
  --pipeline     messages in flight per connection, 1 = ping-pong (default 1; a list is fine)
  --duration     measured seconds per cell (default 2.5)
  --warmup       warm-up seconds per cell, not counted (default 0.5)
  --timeout      seconds a connect, or a message's echo, may take (default 5)
  --repeat       run each cell R times and keep the median (default 1)
  --threads      load-generator threads (default 1)
  --idle         idle connections to hold on each --idle-models server (default 0; ${FULL.idle} with --full)
  --idle-hold    seconds to hold them (default 5)
  --idle-models  servers for the idle test (default selector)
  --out          directory for the JSON lines and the chart (default bench/results/)`

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

export function parseBenchArgs(argv: string[]): BenchOptions & { outDir: string } | null {
  const parsed = parseCommandArgs(
    argv,
    {
      full: { type: 'boolean' },
      models: { type: 'string' },
      server: { type: 'string', multiple: true },
      workers: { type: 'string' },
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
      out: { type: 'string' },
    },
    USAGE,
  )
  if (!parsed) return null
  const v = parsed.values
  const base = v.full ? FULL : QUICK
  const workers = parseList('--workers', v.workers, [], s => parseIntegerOption('--workers', s, 1, 64))
  const models = withWorkers(parseList<ServerSpec>('--models', v.models, ECHO_MODELS.map(parseModel), parseModel), workers)
  const externals = (v.server ?? []).map(parseServer)
  const servers = [...models, ...externals]
  const names = servers.map(s => s.name)
  const dup = names.find((n, i) => names.indexOf(n) !== i)
  if (dup) throw new UsageError(`two servers are named '${dup}'`)
  const seconds = (name: string, value: string | undefined, fallback: number, min: number) =>
    Math.round((value === undefined ? fallback : parseNumberOption(name, value, min, 3600)) * 1000)
  const idleNames = parseList('--idle-models', v['idle-models'], ['selector'], s => s)
  const idleServers = idleNames.map(n => servers.find(s => s.name === n) ?? parseModel(n))
  return {
    servers,
    conns: parseList('--conns', v.conns, base.conns, s => parseIntegerOption('--conns', s, 1, 100_000)),
    sizes: parseList('--sizes', v.sizes, base.sizes, s => parseSize('--sizes', s)),
    pipelines: parseList('--pipeline', v.pipeline, [1], s => parseIntegerOption('--pipeline', s, 1, 4096)),
    durationMs: seconds('--duration', v.duration, 2.5, 0.1),
    warmupMs: seconds('--warmup', v.warmup, 0.5, 0),
    timeoutMs: seconds('--timeout', v.timeout, 5, 0.05),
    repeat: v.repeat === undefined ? 1 : parseIntegerOption('--repeat', v.repeat, 1, 100),
    loadThreads: v.threads === undefined ? 1 : parseIntegerOption('--threads', v.threads, 1, 64),
    idle: v.idle === undefined ? base.idle : parseIntegerOption('--idle', v.idle, 0, 1_000_000),
    idleHoldMs: seconds('--idle-hold', v['idle-hold'], 5, 0),
    idleServers,
    command: ['selectloop', 'bench', ...argv].join(' '),
    outDir: path.resolve(v.out ?? DEFAULT_OUT),
  }
}

export async function run(argv: string[]): Promise<void> {
  const o = parseBenchArgs(argv)
  if (!o) return
  mkdirSync(o.outDir, { recursive: true })
  const stamp = new Date().toISOString().slice(0, 19).replace(/:/g, '-')
  const jsonPath = path.join(o.outDir, `bench-${stamp}.jsonl`)
  const chartPath = path.join(o.outDir, `bench-${stamp}.svg`)
  writeFileSync(jsonPath, '')

  const steps = o.repeat * matrix(o).length * o.servers.length + (o.idle > 0 ? o.idleServers.length : 0)
  const progress = createProgress(steps, secondsPerRun(o))
  const rows = await runBench(o, progress, row => appendFileSync(jsonPath, JSON.stringify(row) + '\n'))
  writeFileSync(chartPath, renderChart(rows))
  process.stdout.write(`${formatReport(rows)}\n\nresults: ${jsonPath}\nchart:   ${chartPath}\n`)
}
