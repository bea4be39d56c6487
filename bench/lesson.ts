// `selectloop lesson` (make lesson): the selector-vs-threads lesson, measured. One interleaved run
// of our three models and the Python reference servers of peers/ (a thread per client on real
// operating-system threads, and Python's own selector loop) through the bench's runner: the same
// cells as data, the same fresh server per run, the same JSON lines, charts and HTML report, plus a
// short markdown summary (lesson-summary.ts) with the headline figures, a table per topic.
//
// The plan, in about five minutes on two cores:
//   ping-pong at 1, 10, 100, 1000 connections  where threads keep up, and where they stop
//   10,000 idle connections                    memory per connection, threads held, still echoing after
//   a burst of 100 new clients                 the wait for a first echo: what starting a thread costs
//   1,000 slow clients, a line a second each   where a selector shines
// The threads models cannot all hold 10,000: ours caps its threads (--max-threads, 256 by default,
// ~8 MB each), and says "server busy" to the rest; that is reported as what it held, and why.
import path from 'node:path'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseCommandArgs, parseIntegerOption, parseNumberOption, UsageError } from '../lib/cli/args.js'
import { ECHO_MODELS } from '../lib/echo/options.js'
import type { BenchOptions, BenchRow } from './runner.js'
import type { PlannedCell } from './cells.js'
import type { ServerSpec } from './servers.js'
import { PEERS, peerCommand } from './peers.js'
import { runToFiles } from './run-files.js'
import { formatReport } from './report.js'
import { lessonSummary } from './lesson-summary.js'
import { commandLine } from './load-cli.js'

/** The lesson's plan by default. */
export const LESSON_DEFAULTS = {
  conns: [1, 10, 100, 1000],
  idle: 10_000,
  idleHoldS: 3,
  burst: 100,
  slow: 1000,
  slowHoldS: 5,
  durationS: 2,
  warmupS: 0.5,
} as const

/** The reference echo servers, by the names the report gives them. */
export const LESSON_PEERS = Object.keys(PEERS.echo)

const DEFAULT_OUT = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './results/' : '../../bench/results/', import.meta.url))

const USAGE = `usage: selectloop lesson [--conns 1,10,100,1000] [--idle N] [--burst N] [--slow N] [--duration S]
                         [--warmup S] [--repeat R] [--models a,b] [--peers a,b] [--max-noise PCT] [--out DIR]

One interleaved run of the echo server's models (${ECHO_MODELS.join(', ')}) and the Python reference
servers of peers/ (${LESSON_PEERS.join(', ')}: real threads, Python's selectors), about five minutes:

  --conns      ping-pong at these connection counts (default ${LESSON_DEFAULTS.conns.join(',')})
  --idle       idle connections held ${LESSON_DEFAULTS.idleHoldS} s: memory per connection, threads, still echoing
               after (default ${LESSON_DEFAULTS.idle.toLocaleString('en-US')}; 0 leaves it out)
  --burst      new clients connecting at once: the wait for a first echo (default ${LESSON_DEFAULTS.burst}; 0: none)
  --slow       clients sending a 32-byte line a second each, measured ${LESSON_DEFAULTS.slowHoldS} s (default ${LESSON_DEFAULTS.slow.toLocaleString('en-US')}; 0: none)
  --duration   measured seconds per ping-pong cell (default ${LESSON_DEFAULTS.durationS})
  --warmup     warm-up seconds per ping-pong cell (default ${LESSON_DEFAULTS.warmupS})
  --repeat     run the whole plan R times, each figure the median (default 1)
  --models     our models to run (default ${ECHO_MODELS.join(',')})
  --peers      reference servers to run (default ${LESSON_PEERS.join(',')}; they need python3)
  --max-noise  flag a cell when the rest of the machine used more than PCT% of a core (default 25)
  --out        directory for the files (default bench/results/)

Writes lesson-STAMP.jsonl (every figure), .html (the report: tables, charts, the machine, the
noise), .svg and .md (the summary: the headline figures, a table per topic).`

export interface LessonCommand extends BenchOptions {
  outDir: string
}

function list<T>(name: string, value: string | undefined, fallback: readonly T[], item: (s: string) => T): T[] {
  if (value === undefined) return [...fallback]
  const items = value.split(',').map(s => s.trim()).filter(Boolean)
  if (items.length === 0) throw new UsageError(`${name} needs at least one value`)
  return [...new Set(items.map(item))]
}

/** A word as bash reads it back (the peers' paths may hold spaces). */
function shellWord(w: string): string {
  return commandLine([w])
}

/** The servers: our models, then the reference servers as external commands. */
export function lessonServers(models: string[], peers: string[]): ServerSpec[] {
  return [
    ...models.map(model => ({ name: model, model })),
    ...peers.map(name => ({ name, command: `${peerCommand('echo', name).map(shellWord).join(' ')} --port {port} --quiet` })),
  ]
}

/** The cells, in the order the report tells the lesson. */
export function lessonCells(o: { conns: number[]; idle: number; idleHoldMs: number; burst: number; slow: number; slowHoldMs: number }): PlannedCell[] {
  const cells: PlannedCell[] = o.conns.map(conns => ({ kind: 'closed', size: 1024, conns, pipeline: 1 }))
  if (o.idle > 0) cells.push({ kind: 'idle', conns: o.idle, holdMs: o.idleHoldMs })
  if (o.burst > 0) cells.push({ kind: 'burst', clients: o.burst })
  if (o.slow > 0) cells.push({ kind: 'slow', conns: o.slow, size: 32, intervalMs: 1000, holdMs: o.slowHoldMs })
  return cells
}

export function parseLessonArgs(argv: string[]): LessonCommand | null {
  const parsed = parseCommandArgs(
    argv,
    {
      conns: { type: 'string' },
      idle: { type: 'string' },
      burst: { type: 'string' },
      slow: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      repeat: { type: 'string' },
      models: { type: 'string' },
      peers: { type: 'string' },
      'max-noise': { type: 'string' },
      out: { type: 'string' },
    },
    USAGE,
  )
  if (!parsed) return null
  const v = parsed.values
  const choose = (name: string, allowed: readonly string[]) => (s: string) => {
    if (!allowed.includes(s)) throw new UsageError(`${name}: unknown server '${s}' (${allowed.join(', ')})`)
    return s
  }
  const models = v.models === 'none' ? [] : list('--models', v.models, ECHO_MODELS, choose('--models', ECHO_MODELS))
  const peers = v.peers === 'none' ? [] : list('--peers', v.peers, LESSON_PEERS, choose('--peers', LESSON_PEERS))
  if (models.length + peers.length === 0) throw new UsageError('nothing to run: give at least one model or reference server')
  const count = (name: string, value: string | undefined, fallback: number, max: number) => (value === undefined ? fallback : parseIntegerOption(name, value, 0, max))
  const seconds = (name: string, value: string | undefined, fallback: number, min: number) =>
    Math.round((value === undefined ? fallback : parseNumberOption(name, value, min, 3600)) * 1000)
  return {
    servers: lessonServers(models, peers),
    cells: lessonCells({
      conns: list('--conns', v.conns, LESSON_DEFAULTS.conns, s => parseIntegerOption('--conns', s, 1, 100_000)),
      idle: count('--idle', v.idle, LESSON_DEFAULTS.idle, 1_000_000),
      idleHoldMs: LESSON_DEFAULTS.idleHoldS * 1000,
      burst: count('--burst', v.burst, LESSON_DEFAULTS.burst, 100_000),
      slow: count('--slow', v.slow, LESSON_DEFAULTS.slow, 1_000_000),
      slowHoldMs: LESSON_DEFAULTS.slowHoldS * 1000,
    }),
    durationMs: seconds('--duration', v.duration, LESSON_DEFAULTS.durationS, 0.1),
    warmupMs: seconds('--warmup', v.warmup, LESSON_DEFAULTS.warmupS, 0),
    // A thread per connection takes seconds to take a thousand clients on (and our selector,
    // measured here, about 3 s on a busy machine): longer than the bench's 5 s, so that the
    // ramp-up is measured rather than cut short.
    timeoutMs: 15_000,
    repeat: v.repeat === undefined ? 1 : parseIntegerOption('--repeat', v.repeat, 1, 100),
    loadThreads: 1,
    maxNoisePct: v['max-noise'] === undefined ? 25 : parseNumberOption('--max-noise', v['max-noise'], 0, 100_000),
    command: commandLine(['selectloop', 'lesson', ...argv]),
    outDir: path.resolve(v.out ?? DEFAULT_OUT),
  }
}

const LEAD =
  'One thread with a selector against a thread per client, measured side by side: our three models (selector: one thread and a ' +
  'selector; threads: a thread per client on Node workers, each a V8 isolate; net: idiomatic Node) and the classic Python labs of ' +
  "peers/ (py-threads: a real operating-system thread per client; py-selectors: Python's selectors loop). Each cell runs against a " +
  'fresh server, the servers taking turns cell by cell. The summary beside this file (.md) has the headline figures.'

export async function run(argv: string[]): Promise<void> {
  const o = parseLessonArgs(argv)
  if (!o) return
  const { rows, files, stamp } = await runToFiles(o, o.outDir, null, 'lesson', { title: 'selectloop lesson', lead: LEAD })
  const md = path.join(o.outDir, `lesson-${stamp}.md`)
  writeFileSync(md, lessonSummary(rows as BenchRow[], { jsonl: path.basename(files.jsonl), html: path.basename(files.html) }))
  process.stdout.write(`${formatReport(rows)}\n\nresults: ${files.jsonl}\nchart:   ${files.svg}\nreport:  ${files.html}\nsummary: ${md}\n`)
}
