// One bar per server: how the kinds that give one figure per server (idle, burst, slow) chart it.
import type { ChartSpec } from '../view.js'
import type { RowBase } from '../cells.js'

/** A bar chart of `value` for each row (one server each), flagged rows ringed, `tip` on hover. */
export function barChart<Row extends RowBase>(
  title: string,
  yLabel: string,
  rows: Row[],
  value: (r: Row) => number | null,
  tip: (r: Row) => string,
  yScale: 'linear' | 'log' = 'linear',
): ChartSpec {
  return {
    title,
    xLabel: 'server',
    yLabel,
    xScale: 'category',
    yScale,
    mark: 'bar',
    series: rows.map((r, i) => ({ server: r.server, points: [{ x: i, y: value(r), flagged: r.flags.length > 0, tip: tip(r) }] })),
  }
}
