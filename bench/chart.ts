// A self-contained SVG chart of a bench run: for each message size (and pipeline depth), throughput
// and p99 latency against the connection count, one line per server. Opens in any browser; hovering
// a point shows its exact figures.
import type { BenchRow, CellRow, HeaderRow } from './runner.js'
import { formatSize } from './report.js'

const PANEL_W = 440
const PANEL_H = 260
const MARGIN = { left: 70, right: 20, top: 36, bottom: 46 }
const GAP_X = 30
const TITLE_H = 64
const LEGEND_H = 30

const FIXED_COLORS: Record<string, string> = { net: '#555555', selector: '#1f77b4', threads: '#d62728' }
const PALETTE = ['#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#bcbd22']

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, c => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!)
}

function colorFor(servers: string[]): Map<string, string> {
  const map = new Map<string, string>()
  let next = 0
  for (const s of servers) map.set(s, FIXED_COLORS[s] ?? PALETTE[next++ % PALETTE.length])
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

function compact(n: number): string {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(2)}M`
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`
  return String(+n.toFixed(3))
}

interface Panel {
  x: number
  y: number
  title: string
  rows: CellRow[]
  conns: number[]
  value(r: CellRow): number | null
  log: boolean
  unit: string
}

function drawPanel(p: Panel, colors: Map<string, string>): string {
  const w = PANEL_W - MARGIN.left - MARGIN.right
  const h = PANEL_H - MARGIN.top - MARGIN.bottom
  const x0 = p.x + MARGIN.left
  const y0 = p.y + MARGIN.top
  const out: string[] = []
  out.push(`<text x="${x0}" y="${p.y + 20}" class="panel-title">${escapeXml(p.title)}</text>`)
  out.push(`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" class="plot"/>`)

  const values = p.rows.map(p.value).filter((v): v is number => v !== null && v > 0)
  let yOf: (v: number) => number
  const ticks: Array<[number, string]> = []
  if (p.log) {
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
    const y = yOf(v)
    out.push(`<line x1="${x0}" x2="${x0 + w}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" class="grid"/>`)
    out.push(`<text x="${x0 - 8}" y="${(y + 4).toFixed(1)}" class="tick" text-anchor="end">${text}</text>`)
  }
  out.push(`<text transform="translate(${p.x + 16},${y0 + h / 2}) rotate(-90)" class="axis" text-anchor="middle">${escapeXml(p.unit)}</text>`)

  // Connection counts spread evenly (1, 10, 100, 1000 read as a log axis).
  const n = p.conns.length
  const xOf = (c: number) => x0 + (n === 1 ? w / 2 : (p.conns.indexOf(c) / (n - 1)) * (w - 40) + 20)
  for (const c of p.conns) {
    out.push(`<text x="${xOf(c).toFixed(1)}" y="${y0 + h + 18}" class="tick" text-anchor="middle">${c}</text>`)
  }
  out.push(`<text x="${x0 + w / 2}" y="${y0 + h + 38}" class="axis" text-anchor="middle">connections</text>`)

  for (const [server, color] of colors) {
    const points = p.rows
      .filter(r => r.server === server)
      .sort((a, b) => a.conns - b.conns)
      .map(r => ({ r, v: p.value(r) }))
    let path = ''
    for (const { r, v } of points) {
      if (v === null || v <= 0) {
        path += ' '
        continue
      }
      path += `${path.endsWith(' ') || path === '' ? 'M' : 'L'}${xOf(r.conns).toFixed(1)},${yOf(v).toFixed(1)}`
    }
    const d = path.trim().split(/\s+/).filter(Boolean).join(' ')
    if (d) out.push(`<path d="${d}" stroke="${color}" class="series"/>`)
    for (const { r, v } of points) {
      if (v === null || v <= 0) continue
      const tip = `${server}, ${r.conns} conns: ${Math.round(r.msgsPerSec ?? 0).toLocaleString('en-US')} msgs/s, p99 ${r.p99Ms} ms`
      out.push(
        `<circle cx="${xOf(r.conns).toFixed(1)}" cy="${yOf(v).toFixed(1)}" r="4" fill="${color}"><title>${escapeXml(tip)}</title></circle>`,
      )
    }
  }
  return out.join('\n')
}

export function renderChart(rows: BenchRow[]): string {
  const header = rows.find((r): r is HeaderRow => r.type === 'header')
  const cells = rows.filter((r): r is CellRow => r.type === 'cell')
  const servers = [...new Set(cells.map(r => r.server))]
  const colors = colorFor(servers)
  const groups = [...new Set(cells.map(r => `${r.size}/${r.pipeline}`))]
  const width = MARGIN.left + 2 * PANEL_W + GAP_X
  const height = TITLE_H + LEGEND_H + Math.max(1, groups.length) * PANEL_H + 20

  const body: string[] = []
  const title = 'selectloop bench: echo throughput and p99 latency by connection count'
  const facts = header
    ? `${header.cpus} CPUs (${header.cpuModel}), Node ${header.node}, ${header.date.slice(0, 16).replace('T', ' ')} UTC; ` +
      `${header.options.durationMs / 1000} s per cell${header.options.repeat > 1 ? `, median of ${header.options.repeat}` : ''}; ` +
      `load average ${header.loadAverage[0]}`
    : ''
  body.push(`<text x="20" y="28" class="title">${escapeXml(title)}</text>`)
  body.push(`<text x="20" y="50" class="facts">${escapeXml(facts)}</text>`)
  let lx = 20
  for (const [server, color] of colors) {
    body.push(`<rect x="${lx}" y="${TITLE_H + 6}" width="14" height="14" fill="${color}"/>`)
    body.push(`<text x="${lx + 20}" y="${TITLE_H + 18}" class="legend">${escapeXml(server)}</text>`)
    lx += 40 + server.length * 8
  }
  groups.forEach((g, gi) => {
    const [size, pipeline] = g.split('/').map(Number)
    const groupRows = cells.filter(r => r.size === size && r.pipeline === pipeline)
    const conns = [...new Set(groupRows.map(r => r.conns))].sort((a, b) => a - b)
    const what = `${formatSize(size)} messages${pipeline > 1 ? `, ${pipeline} in flight` : ', ping-pong'}`
    const y = TITLE_H + LEGEND_H + gi * PANEL_H
    body.push(
      drawPanel({ x: 0, y, title: `throughput, ${what}`, rows: groupRows, conns, value: r => r.msgsPerSec, log: false, unit: 'messages / s' }, colors),
    )
    body.push(
      drawPanel(
        { x: PANEL_W + GAP_X, y, title: `p99 latency, ${what} (log)`, rows: groupRows, conns, value: r => r.p99Ms, log: true, unit: 'p99 latency, ms' },
        colors,
      ),
    )
  })

  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">
<style>
  .title { font-size: 18px; font-weight: bold; fill: #222 }
  .facts { font-size: 12px; fill: #555 }
  .panel-title { font-size: 14px; font-weight: bold; fill: #333 }
  .legend { font-size: 13px; fill: #222 }
  .tick { font-size: 11px; fill: #555 }
  .axis { font-size: 12px; fill: #333 }
  .plot { fill: #fcfcfc; stroke: #bbb }
  .grid { stroke: #e4e4e4 }
  .series { fill: none; stroke-width: 2.5 }
</style>
<rect width="100%" height="100%" fill="white"/>
${body.join('\n')}
</svg>
`
}
