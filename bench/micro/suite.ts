// What every micro-benchmark suite provides, and how its results are printed.
import { Bench } from 'tinybench'

export interface SuiteOptions {
  /** Time budget per task, ms. */
  timeMs: number
}

export interface Suite {
  name: string
  /** One line on what is measured. */
  about: string
  run(options: SuiteOptions): Promise<void>
}

/** A Bench with the suite's time budget and a short warm-up. */
export function createBench(options: SuiteOptions): Bench {
  return new Bench({ time: options.timeMs, warmupTime: Math.min(200, options.timeMs / 2), throws: true })
}

/**
 * Prints one line per task: operations a second, mean time per operation and, when a task does
 * `units` items per operation (keys dispatched, bytes verified), the mean time per item.
 */
export function printResults(bench: Bench, units: Record<string, { count: number; unit: string }> = {}): void {
  const rows = bench.tasks.map(task => {
    const r = task.result as { latency?: { mean: number; rme: number }; throughput?: { mean: number } } | undefined
    const meanMs = r?.latency?.mean ?? NaN
    const per = units[task.name]
    return {
      task: task.name,
      'ops/s': Math.round(r?.throughput?.mean ?? 0).toLocaleString('en-US'),
      'mean/op': formatTime(meanMs),
      '±%': r?.latency ? r.latency.rme.toFixed(1) : '-',
      'per item': per ? `${formatTime(meanMs / per.count)} per ${per.unit}` : '',
    }
  })
  const cols = Object.keys(rows[0] ?? {}) as Array<keyof (typeof rows)[number]>
  const widths = cols.map(c => Math.max(c.length, ...rows.map(r => String(r[c]).length)))
  const line = (values: string[]) => values.map((v, i) => (i === 0 || i === cols.length - 1 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ').trimEnd()
  console.log(line(cols))
  for (const r of rows) console.log(line(cols.map(c => String(r[c]))))
}

function formatTime(ms: number): string {
  if (!Number.isFinite(ms)) return '-'
  if (ms >= 1) return `${ms.toFixed(2)} ms`
  if (ms >= 1e-3) return `${(ms * 1e3).toFixed(2)} µs`
  return `${(ms * 1e6).toFixed(1)} ns`
}
