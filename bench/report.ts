// The runner's text report: the header, one table per kind of cell (its view's columns), then
// every flagged cell with its reasons, the notes, the servers that were not available, and the
// comparison with a saved run. Plain text, aligned columns, numbers right-aligned.
import type { BenchRow, HeaderRow, UnavailableRow } from './runner.js'
import { KIND_ORDER, kindOf, viewOf, type CellRow } from './kinds/index.js'
import { cellOf, type BurstCell, type Cell, type ChurnCell, type ClosedCell, type IdleCell, type RateCell, type SlowCell } from './cells.js'
import type { Column } from './view.js'
import type { Comparison } from './compare.js'
import { FlagKind } from './flags.js'
import { machineLine } from './machine.js'
import { fixed, formatSize } from './format.js'
import type { TlsClientSettings } from '../lib/tls/options.js'


/** A plain-text table: aligned columns, a blank line between groups. */
export function textTable<Row>(rows: Row[], cols: Array<Column<Row>>, group: (r: Row) => string = () => ''): string[] {
  const cells = rows.map(r => cols.map(c => c.value(r)))
  const widths = cols.map((c, i) => Math.max(c.title.length, ...cells.map(row => row[i].length)))
  const line = (values: string[]) =>
    values
      .map((v, i) => (cols[i].left ? v.padEnd(widths[i]) : v.padStart(widths[i])))
      .join('  ')
      .trimEnd()
  const out = [line(cols.map(c => c.title))]
  let previous: string | null = null
  rows.forEach((r, i) => {
    const g = group(r)
    if (previous !== null && g !== previous) out.push('')
    previous = g
    out.push(line(cells[i]))
  })
  return out
}

/** Cells flagged for noise and nothing else, when there are more than this, are listed as one line. */
const NOISE_LIST_MAX = 3

/**
 * The flagged cells, a line each (what, the flag's kind, why): each flag of each cell, except that many cells
 * flagged only for noise (a busy machine: often every cell) make one line, so the other reasons
 * stand out.
 */
export function flagLines(cells: CellRow[]): Array<{ what: string; kind: string; reason: string }> {
  const flagged = cells.filter(r => r.flags.length > 0)
  const noiseOnly = flagged.filter(r => r.flags.every(f => f.kind === FlagKind.NOISE))
  const grouped = noiseOnly.length > NOISE_LIST_MAX
  const lines: Array<{ what: string; kind: string; reason: string }> = []
  if (grouped) {
    const other = noiseOnly.flatMap(r => ('otherCpuPct' in r && r.otherCpuPct !== null ? [r.otherCpuPct] : []))
    const range = other.length ? ` (the rest of the machine used ${Math.round(Math.min(...other))}–${Math.round(Math.max(...other))}% of a core)` : ''
    lines.push({ what: `${noiseOnly.length} cells`, kind: 'noise only', reason: `measured on a busy machine${range}; see the flags column` })
  }
  for (const r of flagged) {
    if (grouped && noiseOnly.includes(r)) continue
    for (const f of r.flags) lines.push({ what: rowName(r), kind: f.kind, reason: f.reason })
  }
  return lines
}

/** "selector, 100 conns × 1 KiB": a row named for lists. */
export function rowName(r: CellRow): string {
  const cell = cellOf(r)
  return `${r.server}, ${kindOf(cell).label(cell)}`
}

/** "closed loop (ping-pong) at 1, 10, 100 connections × 1 KiB; open loop at 5,000, 10,000 msgs/s; 10,000 idle connections". */
export function planText(cells: Cell[]): string {
  const list = (xs: number[], f: (x: number) => string = String) => [...new Set(xs)].sort((a, b) => a - b).map(f).join(', ')
  const parts: string[] = []
  const closed = cells.filter((c): c is ClosedCell => c.kind === 'closed')
  if (closed.length) {
    const flight = list(closed.map(c => c.pipeline))
    parts.push(`closed loop (${flight === '1' ? 'ping-pong' : `${flight} in flight`}) at ${list(closed.map(c => c.conns))} connections × ${list(closed.map(c => c.size), formatSize)}`)
  }
  const rated = cells.filter((c): c is RateCell => c.kind === 'rate')
  if (rated.length) parts.push(`open loop at ${list(rated.map(c => c.rate), x => x.toLocaleString('en-US'))} msgs/s over ${list(rated.map(c => c.conns))} connections`)
  const churn = cells.filter((c): c is ChurnCell => c.kind === 'churn')
  if (churn.length) parts.push(`churn (connect, one echo, close, again) at ${list(churn.map(c => c.conns))} at once × ${list(churn.map(c => c.size), formatSize)}`)
  const idle = cells.filter((c): c is IdleCell => c.kind === 'idle')
  if (idle.length) parts.push(`${list(idle.map(c => c.conns), x => x.toLocaleString('en-US'))} idle connections`)
  const bursts = cells.filter((c): c is BurstCell => c.kind === 'burst')
  if (bursts.length) parts.push(`bursts of ${list(bursts.map(c => c.clients), x => x.toLocaleString('en-US'))} new clients`)
  const slow = cells.filter((c): c is SlowCell => c.kind === 'slow')
  if (slow.length) parts.push(`${list(slow.map(c => c.conns), x => x.toLocaleString('en-US'))} slow clients (a line every ${list(slow.map(c => c.intervalMs / 1000))} s)`)
  return parts.join('; ')
}

export function formatHeader(h: HeaderRow): string {
  const o = h.options
  return [
    `selectloop bench: ${machineLine(h)}`,
    planText(o.cells),
    `each cell ${o.durationMs / 1000} s measured after ${o.warmupMs / 1000} s warm-up` +
      (o.repeat > 1 ? `, median of ${o.repeat} runs` : '') +
      `, a fresh server each time; flagged when the rest of the machine used more than ${o.maxNoisePct}% of a core`,
    ...(o.tls ? [tlsText(o.tls)] : []),
  ].join('\n')
}

/** What `bench --tls` ran over, in words (the header's line, the HTML report's fact). */
export function tlsText(tls: TlsClientSettings): string {
  const trust = tls.insecure ? 'not verified (--insecure)' : tls.caFile ? 'verified by every client against it' : "verified against the system's roots"
  return `over TLS: every server has the one certificate made for the run, ${trust}; the net model is Node's own tls.createServer echo`
}

export function formatComparison(c: Comparison): string[] {
  const out: string[] = []
  const when = c.old ? ` (${c.old.date.slice(0, 16).replace('T', ' ')} UTC, ${c.old.cpus} CPUs, Node ${c.old.node})` : ''
  out.push(`compared with ${c.file}${when}: ratio = new / old; a change counts beyond the noise band of both runs`)
  if (c.rows.length === 0) {
    out.push('  no cell in common')
    return out
  }
  const names = [...new Set(c.rows.flatMap(r => r.metrics.map(m => m.name)))]
  const cols: Array<Column<Comparison['rows'][number]>> = [
    { title: 'cell', left: true, value: r => `${r.kind} ${r.label}` },
    { title: 'server', left: true, value: r => r.server },
    ...names.map(name => ({
      title: `${name} ratio`,
      value: (r: Comparison['rows'][number]) => {
        const m = r.metrics.find(x => x.name === name)
        if (!m || m.ratio === null) return '-'
        return `${fixed(m.ratio, 2)}${m.verdict === 'regression' ? ' !' : m.verdict === 'improvement' ? ' +' : '  '}`
      },
    })),
    { title: 'verdict', left: true, value: r => `${r.verdict}${r.flagged ? ' (flagged cell)' : ''}` },
  ]
  out.push(...textTable(c.rows, cols).map(l => `  ${l}`))
  const regressions = c.rows.filter(r => r.verdict === 'regression')
  out.push(
    regressions.length === 0
      ? '  no regression beyond noise'
      : `  regressions beyond noise: ${regressions
          .map(r => {
            const worse = r.metrics.filter(m => m.verdict === 'regression').map(m => `${m.name} ×${fixed(m.ratio, 2)} (noise ±${Math.round(m.band * 100)}%)`)
            return `${r.server} ${r.kind} ${r.label}: ${worse.join(', ')}`
          })
          .join('; ')}`,
  )
  if (c.onlyOld.length || c.onlyNew.length) out.push(`  not compared: ${c.onlyOld.length} only in the saved run, ${c.onlyNew.length} only in this one`)
  return out
}

export function formatReport(rows: BenchRow[], comparison: Comparison | null = null): string {
  const h = rows.find((r): r is HeaderRow => r.type === 'header')
  const cells = rows.filter((r): r is CellRow => r.type === 'cell')
  const unavailable = rows.filter((r): r is UnavailableRow => r.type === 'unavailable')
  const out: string[] = []
  if (h) out.push(formatHeader(h))
  for (const kind of KIND_ORDER) {
    const ofKind = cells.filter(r => r.kind === kind)
    if (ofKind.length === 0) continue
    const view = viewOf(kind)
    out.push('', `${view.title}:`, ...textTable(ofKind, view.columns(ofKind), view.group))
  }
  const flagged = cells.filter(r => r.flags.length > 0)
  if (flagged.length) {
    out.push('', `flagged cells (${flagged.length} of ${cells.length}):`)
    for (const l of flagLines(cells)) out.push(`  ! ${l.what}: ${l.kind}: ${l.reason}`)
  }
  const noted = cells.filter(r => r.notes.length)
  if (noted.length) {
    out.push('')
    for (const r of noted) for (const n of r.notes) out.push(`note: ${rowName(r)}: ${n}`)
  }
  if (unavailable.length) {
    out.push('')
    for (const u of unavailable) out.push(`not available: ${u.server}: ${u.reason}`)
  }
  if (comparison) out.push('', ...formatComparison(comparison))
  return out.join('\n')
}
