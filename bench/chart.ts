// Charts as self-contained SVG, drawn from ChartSpecs (bench/view.ts): lines (or bars) per server,
// flagged points in a dotted ring (a cross on the axis when there is no figure), hollow points for figures that are only bounds, the exact figures
// on hover. `chartSvg` draws one chart (the HTML report inlines them); `renderChart` draws a whole
// run as one SVG file that any browser opens.
import type { BenchRow, HeaderRow } from './runner.js'
import type { ChartSpec } from './view.js'
import { compact } from './format.js'
import { KIND_ORDER, viewOf, type CellRow } from './kinds/index.js'

export const CHART_W = 440
export const CHART_H = 270
const MARGIN = { left: 70, right: 20, top: 36, bottom: 50 }
const GAP_X = 30
const TITLE_H = 64
const LEGEND_H = 30

const FIXED_COLORS: Record<string, string> = { net: '#555555', selector: '#1f77b4', threads: '#d62728' }
const PALETTE = ['#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22']
/** Flag marks are black: every series colour (the threads model's red too) stays distinct from them. */
const FLAG_COLOR = '#111111'

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, c => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!)
}

/** A colour per server: the models keep theirs across runs, others take the palette in turn. */
export function colorsFor(servers: string[]): Map<string, string> {
  const map = new Map<string, string>()
  let next = 0
  for (const s of servers) if (!map.has(s)) map.set(s, FIXED_COLORS[s] ?? PALETTE[next++ % PALETTE.length])
  return map
}

/** A "nice" upper bound and step for a linear axis from 0. */
function niceLinear(max: number): { top: number; step: number } {
  if (!(max > 0)) return { top: 1, step: 0.25 }
  const rough = max / 5
  const mag = 10 ** Math.floor(Math.log10(rough))
  const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => s >= rough)!
  return { top: Math.ceil(max / step) * step, step }
}

/** One chart's drawing at (x, y), CHART_W × CHART_H: an SVG fragment. */
function drawChart(spec: ChartSpec, x: number, y: number, colors: Map<string, string>): string {
  const w = CHART_W - MARGIN.left - MARGIN.right
  const h = CHART_H - MARGIN.top - MARGIN.bottom
  const x0 = x + MARGIN.left
  const y0 = y + MARGIN.top
  const out: string[] = []
  out.push(`<text x="${x0}" y="${y + 20}" class="panel-title">${escapeXml(spec.title)}</text>`)
  out.push(`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" class="plot"/>`)
  const bars = spec.mark === 'bar'

  // y axis
  const values = spec.series.flatMap(s => s.points.map(p => p.y)).filter((v): v is number => v !== null && v > 0)
  let yOf: (v: number) => number
  const ticks: Array<[number, string]> = []
  if (spec.yScale === 'log') {
    const lo = Math.floor(Math.log10(Math.min(...values, 1)))
    const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...values, 1))))
    yOf = v => y0 + h - ((Math.log10(v) - lo) / (hi - lo)) * h
    const steps = hi - lo > 3 ? [1] : [1, 2, 5] // many decades: label only the powers of ten
    for (let e = lo; e <= hi; e++) for (const m of steps) if (e + Math.log10(m) <= hi) ticks.push([m * 10 ** e, compact(m * 10 ** e)])
  } else {
    const { top, step } = niceLinear(Math.max(...values, 0))
    yOf = v => y0 + h - (v / top) * h
    for (let v = 0; v <= top + step / 2; v += step) ticks.push([v, compact(v)])
  }
  for (const [v, text] of ticks) {
    const ty = yOf(v)
    out.push(`<line x1="${x0}" x2="${x0 + w}" y1="${ty.toFixed(1)}" y2="${ty.toFixed(1)}" class="grid"/>`)
    out.push(`<text x="${x0 - 8}" y="${(ty + 4).toFixed(1)}" class="tick" text-anchor="end">${text}</text>`)
  }
  out.push(`<text transform="translate(${x + 16},${y0 + h / 2}) rotate(-90)" class="axis" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`)

  // x axis: categories spread evenly (1, 10, 100, 1000 read as a log axis), or to scale from 0
  const xs = [...new Set(spec.series.flatMap(s => s.points.map(p => p.x)))].sort((a, b) => a - b)
  let xOf: (v: number) => number
  const xTicks: Array<[number, string]> = []
  if (spec.xScale === 'category' || bars) {
    const n = xs.length
    xOf = v => x0 + (n === 1 ? w / 2 : (xs.indexOf(v) / (n - 1)) * (w - 60) + 30)
    for (const v of xs) xTicks.push([v, bars ? (spec.series.find(s => s.points.some(p => p.x === v))?.server ?? '') : compact(v)])
  } else {
    const { top, step } = niceLinear(Math.max(...xs, 0))
    xOf = v => x0 + 10 + (v / top) * (w - 20)
    for (let v = 0; v <= top + step / 2; v += step) xTicks.push([v, compact(v)])
  }
  for (const [v, text] of xTicks) {
    out.push(`<text x="${xOf(v).toFixed(1)}" y="${y0 + h + 18}" class="tick" text-anchor="middle">${escapeXml(text)}</text>`)
  }
  out.push(`<text x="${x0 + w / 2}" y="${y0 + h + 38}" class="axis" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`)

  for (const series of spec.series) {
    const color = colors.get(series.server) ?? '#000'
    const name = `${series.server}${series.variant ? ` (${series.variant})` : ''}`
    const drawn = series.points.filter(p => p.y !== null && p.y > 0)
    if (bars) {
      for (const p of drawn) {
        const bx = xOf(p.x)
        const by = yOf(p.y!)
        out.push(
          `<rect x="${(bx - 18).toFixed(1)}" y="${by.toFixed(1)}" width="36" height="${(y0 + h - by).toFixed(1)}" fill="${color}" ` +
            `data-server="${escapeXml(series.server)}"${p.flagged ? ` stroke="${FLAG_COLOR}" stroke-width="3"` : ''}><title>${escapeXml(p.tip)}</title></rect>`,
        )
      }
      continue
    }
    // A gap in the line where a point has no figure.
    let d = ''
    let pen = 'M'
    for (const p of series.points) {
      if (p.y === null || p.y <= 0) {
        pen = 'M'
        continue
      }
      d += `${pen}${xOf(p.x).toFixed(1)},${yOf(p.y).toFixed(1)} `
      pen = 'L'
    }
    if (d) out.push(`<path d="${d.trim()}" stroke="${color}" class="series${series.dashed ? ' dashed' : ''}" data-server="${escapeXml(series.server)}"><title>${escapeXml(name)}</title></path>`)
    // A flagged cell with no figure (every connection lost before the window) still shows: a
    // cross on the axis, with its reason.
    for (const p of series.points) {
      if (!p.flagged || (p.y !== null && p.y > 0) || series.dashed) continue
      const cx = xOf(p.x)
      const cy = y0 + h - 6
      out.push(
        `<path d="M${(cx - 5).toFixed(1)},${cy - 5} L${(cx + 5).toFixed(1)},${cy + 5} M${(cx - 5).toFixed(1)},${cy + 5} L${(cx + 5).toFixed(1)},${cy - 5}" ` +
          `class="flag-cross" data-server="${escapeXml(series.server)}" data-flagged="1"><title>${escapeXml(`⚑ no figure: ${p.tip}`)}</title></path>`,
      )
    }
    for (const p of drawn) {
      const cx = xOf(p.x).toFixed(1)
      const cy = yOf(p.y!).toFixed(1)
      if (p.flagged && !series.dashed) out.push(`<circle cx="${cx}" cy="${cy}" r="8" class="flag-ring"/>`) // one ring per cell
      const fill = p.hollow ? 'white' : color
      const r = series.dashed ? 3 : 4.5
      out.push(
        `<circle cx="${cx}" cy="${cy}" r="${r}" fill="${fill}" stroke="${color}" stroke-width="2" data-server="${escapeXml(series.server)}"${p.flagged ? ' data-flagged="1"' : ''}>` +
          `<title>${escapeXml(`${p.flagged ? '⚑ ' : ''}${p.tip}`)}</title></circle>`,
      )
    }
  }
  if (values.length === 0) out.push(`<text x="${x0 + w / 2}" y="${y0 + h / 2}" class="axis" text-anchor="middle">no figures</text>`)
  if (spec.note) out.push(`<text x="${x0}" y="${y + CHART_H - 2}" class="note">${escapeXml(spec.note)}</text>`)
  return out.join('\n')
}

export const CHART_STYLE = `
  .title { font-size: 18px; font-weight: bold; fill: #222 }
  .facts { font-size: 12px; fill: #555 }
  .panel-title { font-size: 13px; font-weight: bold; fill: #333 }
  .legend { font-size: 13px; fill: #222 }
  .tick { font-size: 11px; fill: #555 }
  .axis { font-size: 12px; fill: #333 }
  .note { font-size: 10px; fill: #666 }
  .plot { fill: #fcfcfc; stroke: #bbb }
  .grid { stroke: #e4e4e4 }
  .series { fill: none; stroke-width: 2.5 }
  .series.dashed { stroke-dasharray: 6 4; stroke-width: 1.8 }
  .flag-ring { fill: none; stroke: ${FLAG_COLOR}; stroke-width: 1.8; stroke-dasharray: 2.5 2 }
  .flag-cross { fill: none; stroke: ${FLAG_COLOR}; stroke-width: 3 }
`

/** One chart as an <svg> element (its own style, nothing outside it needed). */
export function chartSvg(spec: ChartSpec, colors: Map<string, string>): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${CHART_W}" height="${CHART_H}" viewBox="0 0 ${CHART_W} ${CHART_H}" ` +
    `font-family="Helvetica, Arial, sans-serif" role="img" aria-label="${escapeXml(spec.title)}">` +
    `<style>${CHART_STYLE}</style>${drawChart(spec, 0, 0, colors)}</svg>`
  )
}

/** Every chart of every kind in the run, in report order. */
export function runCharts(cells: CellRow[]): ChartSpec[] {
  return KIND_ORDER.flatMap(kind => {
    const rows = cells.filter(r => r.kind === kind)
    return rows.length ? viewOf(kind).charts(rows) : []
  })
}

/** A whole run as one standalone SVG file: a title, the legend, the charts two by two. */
export function renderChart(rows: BenchRow[]): string {
  const header = rows.find((r): r is HeaderRow => r.type === 'header')
  const cells = rows.filter((r): r is CellRow => r.type === 'cell')
  const colors = colorsFor(cells.map(r => r.server))
  const charts = runCharts(cells)
  const width = MARGIN.left + 2 * CHART_W + GAP_X
  const height = TITLE_H + LEGEND_H + Math.max(1, Math.ceil(charts.length / 2)) * CHART_H + 20

  const body: string[] = []
  const facts = header
    ? `${header.cpus} CPUs (${header.cpuModel}), Node ${header.node}, ${header.date.slice(0, 16).replace('T', ' ')} UTC; ` +
      `${header.options.durationMs / 1000} s per cell${header.options.repeat > 1 ? `, median of ${header.options.repeat}` : ''}; ` +
      `load average ${header.loadAverage[0]}; dotted rings: flagged cells`
    : ''
  body.push(`<text x="20" y="28" class="title">selectloop bench: echo servers under load</text>`)
  body.push(`<text x="20" y="50" class="facts">${escapeXml(facts)}</text>`)
  let lx = 20
  for (const [server, color] of colors) {
    body.push(`<rect x="${lx}" y="${TITLE_H + 6}" width="14" height="14" fill="${color}"/>`)
    body.push(`<text x="${lx + 20}" y="${TITLE_H + 18}" class="legend">${escapeXml(server)}</text>`)
    lx += 40 + server.length * 8
  }
  charts.forEach((spec, i) => {
    body.push(drawChart(spec, (i % 2) * (CHART_W + GAP_X), TITLE_H + LEGEND_H + Math.floor(i / 2) * CHART_H, colors))
  })

  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">
<style>${CHART_STYLE}</style>
<rect width="100%" height="100%" fill="white"/>
${body.join('\n')}
</svg>
`
}
