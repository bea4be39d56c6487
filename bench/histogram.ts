// Latency histograms: hdr-histogram-js's pure-JS Int32Histogram, imported directly so that its
// WebAssembly build (and the base64 blob that carries it) is never loaded.
// Values are microseconds; 3 significant digits keep every percentile within 0.1%.
import Int32HistogramModule from 'hdr-histogram-js/dist/Int32Histogram.js'
import type { JsHistogram } from 'hdr-histogram-js/dist/JsHistogram.js'

const Int32Histogram = Int32HistogramModule.default

/** The highest latency tracked without resizing: 10 minutes, far above any per-message deadline. */
const HIGHEST_US = 600_000_000

export type LatencyHistogram = JsHistogram

export function createHistogram(): LatencyHistogram {
  return new Int32Histogram(1, HIGHEST_US, 3)
}

/**
 * A histogram as plain numbers, to cross a worker_threads boundary:
 * [value, count, value, count, ...] for every non-empty bucket.
 */
export function exportCounts(h: LatencyHistogram): number[] {
  const out: number[] = []
  for (let i = 0; i < h.countsArrayLength; i++) {
    const count = h.getCountAtIndex(i)
    if (count > 0) out.push(h.valueFromIndex(i), count)
  }
  return out
}

/** Adds exported counts into `h` (each value lands in the same bucket it came from). */
export function importCounts(h: LatencyHistogram, pairs: readonly number[]): void {
  for (let i = 0; i + 1 < pairs.length; i += 2) h.recordValueWithCount(pairs[i], pairs[i + 1])
}

/**
 * Latency percentiles in milliseconds (null when nothing was recorded), and the histogram they
 * come from: [milliseconds, count] for every non-empty bucket, lowest first (a bucket's value is
 * the lowest it holds, to 3 significant digits).
 */
export interface LatencySummary {
  count: number
  p50: number | null
  p75: number | null
  p90: number | null
  p99: number | null
  p999: number | null
  p9999: number | null
  max: number | null
  mean: number | null
  histogram: Array<[number, number]>
}

/** The percentiles a summary holds, in order, with the names people print them under. */
export const PERCENTILES = [
  ['p50', 50],
  ['p75', 75],
  ['p90', 90],
  ['p99', 99],
  ['p999', 99.9],
  ['p9999', 99.99],
] as const satisfies ReadonlyArray<readonly [keyof LatencySummary, number]>

export function summarize(h: LatencyHistogram): LatencySummary {
  const count = h.totalCount
  const ms = (us: number) => Math.round(us) / 1000
  const summary: LatencySummary = { count, p50: null, p75: null, p90: null, p99: null, p999: null, p9999: null, max: null, mean: null, histogram: [] }
  if (count === 0) return summary
  // A percentile is its bucket's highest value, which may lie above the largest value recorded:
  // no percentile is said to be above the max.
  for (const [name, p] of PERCENTILES) summary[name] = ms(Math.min(h.getValueAtPercentile(p), h.maxValue))
  summary.max = ms(h.maxValue)
  summary.mean = ms(h.mean)
  const pairs = exportCounts(h)
  for (let i = 0; i < pairs.length; i += 2) summary.histogram.push([pairs[i] / 1000, pairs[i + 1]])
  return summary
}
