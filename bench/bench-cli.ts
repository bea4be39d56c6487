// `selectloop bench`: compares the echo server's concurrency models (and any external echo server)
// under the same loads; prints a table, writes JSON lines and an SVG chart.
import { mkdirSync, appendFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { UsageError, parseCommandArgs, parseIntegerOption, parseNumberOption } from '../lib/cli/args.js'
import { ECHO_MODELS } from '../lib/echo/options.js'
import { runBench, matrix, secondsPerRun, type BenchOptions } from './runner.js'
import type { ServerSpec } from './servers.js'
import { createProgress } from './progress.js'
import { parseSize } from './load-cli.js'
import { formatReport } from './report.js'
import { renderChart } from './chart.js'
import { benchCertificate } from './tls-certificate.js'

const QUICK = { conns: [1, 10, 100], sizes: [1024], idle: 0 }
const FULL = { conns: [1, 10, 100, 1000], sizes: [64, 1024, 16384], idle: 10_000 }

/** bench/results/ in this package (git-ignored). */
const DEFAULT_OUT = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './results/' : '../../bench/results/', import.meta.url))

const USAGE = `usage: selectloop bench [--full] [--models a,b] [--server NAME='COMMAND {port}']...
                        [--conns 1,10,100] [--sizes 1024] [--pipeline 1] [--duration S] [--warmup S]
                        [--repeat R] [--threads T] [--idle N] [--idle-hold S] [--idle-models a,b] [--out DIR]
                        [--tls] [--churn N,M]

  --full         connections 1,10,100,1000; sizes 64,1024,16384; plus ${FULL.idle.toLocaleString('en-US')} idle connections
  --models       models of 'selectloop echo' to compare (default ${ECHO_MODELS.join(',')})
  --server       an external echo server: {port} becomes a free port; repeatable
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
  --out          directory for the JSON lines and the chart (default bench/results/)
  --tls          every server speaks TLS with one certificate made for the run (the net model is
                 then Node's own tls.createServer echo); an external --server's command gets its
                 files as {cert} and {key}; adds a churn cell of 10 connections at once
  --churn        churn cells: N connections at once, each: connect (with --tls, handshake), one
                 echo, close, again; msgs/s is then connections (handshakes) a second`

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
      tls: { type: 'boolean' },
      churn: { type: 'string' },
    },
    USAGE,
  )
  if (!parsed) return null
  const v = parsed.values
  const base = v.full ? FULL : QUICK
  const cert = v.tls ? benchCertificate() : null
  const tlsArgs = cert ? ['--tls', '--cert', cert.certFile, '--key', cert.keyFile] : []
  const models = parseList<ServerSpec>('--models', v.models, ECHO_MODELS.map(parseModel), parseModel).map(s => (cert ? { ...s, args: tlsArgs } : s))
  const withFiles = (command: string) => (cert ? command.replaceAll('{cert}', cert.certFile).replaceAll('{key}', cert.keyFile) : command)
  const externals = (v.server ?? []).map(parseServer).map(s => ({ ...s, command: withFiles(s.command!) }))
  const servers = [...models, ...externals]
  const names = servers.map(s => s.name)
  const dup = names.find((n, i) => names.indexOf(n) !== i)
  if (dup) throw new UsageError(`two servers are named '${dup}'`)
  const seconds = (name: string, value: string | undefined, fallback: number, min: number) =>
    Math.round((value === undefined ? fallback : parseNumberOption(name, value, min, 3600)) * 1000)
  const idleNames = parseList('--idle-models', v['idle-models'], ['selector'], s => s)
  const idleServers = idleNames.map(n => servers.find(s => s.name === n) ?? { ...parseModel(n), args: tlsArgs })
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
    ...(cert ? { tls: { caFile: cert.certFile, insecure: false } } : {}),
    churn: parseList('--churn', v.churn, cert ? [10] : [], s => parseIntegerOption('--churn', s, 0, 10_000)).filter(n => n > 0),
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
