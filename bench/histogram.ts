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

/** Latency percentiles in milliseconds (null when nothing was recorded). */
export interface LatencySummary {
  count: number
  p50: number | null
  p99: number | null
  p999: number | null
  max: number | null
  mean: number | null
}

export function summarize(h: LatencyHistogram): LatencySummary {
  const count = h.totalCount
  if (count === 0) return { count, p50: null, p99: null, p999: null, max: null, mean: null }
  const ms = (us: number) => Math.round(us) / 1000
  return {
    count,
    p50: ms(h.getValueAtPercentile(50)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  }
}
