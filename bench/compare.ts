// `bench --compare OLD.jsonl`: a saved run beside this one, cell by cell and server by server,
// with the ratio of each figure and a verdict: a regression or an improvement only beyond the
// noise of the two runs (the spread of their repeated runs, and never less than a floor per
// figure: a single run cannot measure its own noise).
import { readFileSync } from 'node:fs'
import { cellKey, cellOf, type Cell } from './cells.js'
import type { BenchRow, HeaderRow } from './runner.js'
import { kindOf, type BurstRow, type CellRow, type ChurnRow, type IdleRow, type LoadRow, type SlowRow } from './kinds/index.js'
import type { LoadResult } from './load.js'
import { spread } from './stats.js'
import { UsageError } from '../lib/cli/args.js'

/** One figure compared: which way is better, and the least change that is not noise. */
interface Metric {
  name: string
  unit: string
  higherIsBetter: boolean
  /** The smallest relative change called a regression or an improvement. */
  floor: number
  value(row: CellRow): number | null
  /** The same figure in each of the row's runs, to measure their spread. */
  perRun(row: CellRow): Array<number | null>
}

const loadResults = (row: CellRow): LoadResult[] => (row.kind === 'closed' || row.kind === 'rate' ? ((row as LoadRow).results ?? []) : [])

const THROUGHPUT: Metric = {
  name: 'msgs/s',
  unit: '',
  higherIsBetter: true,
  floor: 0.1,
  value: r => (r as LoadRow).msgsPerSec ?? null,
  perRun: r => loadResults(r).map(x => x.msgsPerSec),
}
const P99: Metric = {
  name: 'p99',
  unit: 'ms',
  higherIsBetter: false,
  floor: 0.25, // tail latency moves more than throughput from run to run
  value: r => (r as LoadRow).p99Ms ?? null,
  perRun: r => loadResults(r).map(x => x.latencyMs?.p99 ?? null),
}
const CPU_PER_MSG: Metric = {
  name: 'CPU µs/msg',
  unit: 'µs',
  higherIsBetter: false,
  floor: 0.1,
  value: r => (r as LoadRow).serverCpuUsPerMsg ?? null,
  perRun: r => loadResults(r).map(x => x.server?.cpuUsPerMsg ?? null),
}
const PER_CONN: Metric = {
  name: 'KiB/conn',
  unit: 'KiB',
  higherIsBetter: false,
  floor: 0.1,
  value: r => (r as IdleRow).perConnKb ?? null,
  perRun: r => (r as IdleRow).results?.map(x => x.server?.perConnKb ?? null) ?? [],
}

const CONNS_PER_SEC: Metric = {
  name: 'conns/s',
  unit: '',
  higherIsBetter: true,
  floor: 0.1,
  value: r => (r as ChurnRow).connsPerSec ?? null,
  perRun: r => loadResults(r).map(x => x.msgsPerSec),
}
const CPU_PER_CONN: Metric = {
  name: 'CPU µs/conn',
  unit: 'µs',
  higherIsBetter: false,
  floor: 0.1,
  value: r => (r as ChurnRow).serverCpuUsPerConn ?? null,
  perRun: r => loadResults(r).map(x => x.server?.cpuUsPerMsg ?? null),
}
const FIRST_ECHO: Metric = {
  name: 'first echo p50',
  unit: 'ms',
  higherIsBetter: false,
  floor: 0.25,
  value: r => (r as BurstRow).firstEchoP50Ms ?? null,
  perRun: r => (r as BurstRow).results?.map(x => x.firstEchoMs.p50) ?? [],
}
const LAST_ECHO: Metric = {
  name: 'last echo',
  unit: 'ms',
  higherIsBetter: false,
  floor: 0.25,
  value: r => (r as BurstRow).lastEchoMs ?? null,
  perRun: r => (r as BurstRow).results?.map(x => x.firstEchoMs.max) ?? [],
}
const SLOW_P99: Metric = {
  name: 'p99',
  unit: 'ms',
  higherIsBetter: false,
  floor: 0.25,
  value: r => (r as SlowRow).p99Ms ?? null,
  perRun: r => (r as SlowRow).results?.map(x => x.latencyMs.p99) ?? [],
}
const SLOW_CPU: Metric = {
  name: 'CPU µs/line',
  unit: 'µs',
  higherIsBetter: false,
  floor: 0.1,
  value: r => (r as SlowRow).cpuUsPerLine ?? null,
  perRun: r => (r as SlowRow).results?.map(x => x.server?.cpuUsPerLine ?? null) ?? [],
}

const METRICS: Record<Cell['kind'], Metric[]> = {
  closed: [THROUGHPUT, P99, CPU_PER_MSG],
  rate: [P99, CPU_PER_MSG],
  idle: [PER_CONN],
  churn: [CONNS_PER_SEC, P99, CPU_PER_CONN],
  burst: [FIRST_ECHO, LAST_ECHO],
  slow: [SLOW_P99, SLOW_CPU],
}

export interface MetricComparison {
  name: string
  old: number | null
  new: number | null
  /** new / old. */
  ratio: number | null
  /** The relative change that counted as noise for this figure in this cell. */
  band: number
  verdict: 'regression' | 'improvement' | 'within noise' | 'not comparable'
}

export interface CompareRow {
  key: string
  kind: Cell['kind']
  server: string
  label: string
  metrics: MetricComparison[]
  verdict: 'regression' | 'improvement' | 'within noise' | 'not comparable'
  /** A flagged cell in either run: its comparison is weaker evidence. */
  flagged: boolean
}

export interface Comparison {
  /** The saved run's file, and its header (its machine, its date) when it has one. */
  file: string
  old: Pick<HeaderRow, 'date' | 'command' | 'cpus' | 'cpuModel' | 'node'> | null
  rows: CompareRow[]
  /** Cells and servers in one run only. */
  onlyOld: string[]
  onlyNew: string[]
}

/**
 * Reads a bench JSON-lines file (this version's, or the first edition's). Raises UsageError when
 * it cannot be read or holds no cell.
 */
export function readRun(file: string): BenchRow[] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new UsageError(`--compare: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
  }
  const rows: BenchRow[] = []
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return
    let row: Record<string, unknown>
    try {
      row = JSON.parse(line)
    } catch {
      throw new UsageError(`--compare: ${file} line ${i + 1} is not JSON: is it a bench .jsonl file?`)
    }
    // The first edition's cells had no kind: they were all closed loop.
    if (row.type === 'cell' && row.kind === undefined) row.kind = 'closed'
    if (row.type === 'header' || row.type === 'cell') rows.push(row as unknown as BenchRow)
  })
  if (!rows.some(r => r.type === 'cell')) throw new UsageError(`--compare: ${file} holds no bench cell`)
  return rows
}

function rowKey(row: CellRow): string {
  return `${cellKey(cellOf(row))} ${row.server}`
}

function compareMetric(m: Metric, oldRow: CellRow, newRow: CellRow): MetricComparison {
  const o = m.value(oldRow)
  const n = m.value(newRow)
  const band = Math.max(m.floor, spread(m.perRun(oldRow)) ?? 0, spread(m.perRun(newRow)) ?? 0)
  if (o === null || n === null || o <= 0) return { name: m.name, old: o, new: n, ratio: null, band, verdict: 'not comparable' }
  const ratio = n / o
  const change = m.higherIsBetter ? ratio - 1 : 1 - ratio // > 0: better
  const verdict = change < -band ? 'regression' : change > band ? 'improvement' : 'within noise'
  return { name: m.name, old: o, new: n, ratio: Math.round(ratio * 1000) / 1000, band: Math.round(band * 1000) / 1000, verdict }
}

/** The new run's cells beside the old run's, matched by kind, parameters and server. */
export function compareRuns(file: string, oldRows: BenchRow[], newRows: BenchRow[]): Comparison {
  const oldCells = new Map(oldRows.filter((r): r is CellRow => r.type === 'cell').map(r => [rowKey(r), r]))
  const newCells = newRows.filter((r): r is CellRow => r.type === 'cell')
  const rows: CompareRow[] = []
  for (const row of newCells) {
    const before = oldCells.get(rowKey(row))
    if (!before) continue
    const metrics = METRICS[row.kind].map(m => compareMetric(m, before, row))
    const verdicts = metrics.map(m => m.verdict)
    const verdict = verdicts.includes('regression')
      ? 'regression'
      : verdicts.includes('improvement')
        ? 'improvement'
        : verdicts.every(v => v === 'not comparable')
          ? 'not comparable'
          : 'within noise'
    const cell = cellOf(row)
    rows.push({
      key: rowKey(row),
      kind: row.kind,
      server: row.server,
      label: kindOf(cell).label(cell),
      metrics,
      verdict,
      flagged: row.flags.length > 0 || (before.flags?.length ?? 0) > 0,
    })
  }
  const newKeys = new Set(newCells.map(rowKey))
  const h = oldRows.find((r): r is HeaderRow => r.type === 'header')
  return {
    file,
    old: h ? { date: h.date, command: h.command, cpus: h.cpus, cpuModel: h.cpuModel, node: h.node } : null,
    rows,
    onlyOld: [...oldCells.keys()].filter(k => !newKeys.has(k)),
    onlyNew: [...newKeys].filter(k => !oldCells.has(k)),
  }
}
