// The runner's table: one line per (cell, server), then servers that were not available and
// the idle-connection results. Plain text, aligned columns, numbers right-aligned.
import type { BenchRow, CellRow, HeaderRow, IdleRow, UnavailableRow } from './runner.js'

export function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / 1024 / 1024} MiB`
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`
  return `${bytes} B`
}

const int = (n: number | null) => (n === null ? '-' : Math.round(n).toLocaleString('en-US'))
const fixed = (n: number | null, digits: number) => (n === null ? '-' : n.toFixed(digits))
const latency = (n: number | null) => (n === null ? '-' : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : Math.round(n).toString())
const mib = (kb: number | null) => (kb === null ? '-' : (kb / 1024).toFixed(1))

interface Column {
  title: string
  left?: boolean
  value(r: CellRow): string
}

function columns(rows: CellRow[]): Column[] {
  const cols: Column[] = [
    { title: 'size', left: true, value: r => formatSize(r.size) + (r.churn ? ' churn' : '') },
    { title: 'conns', value: r => String(r.conns) },
  ]
  if (rows.some(r => r.pipeline > 1)) cols.push({ title: 'in flight', value: r => String(r.pipeline) })
  cols.push(
    { title: 'server', left: true, value: r => r.server },
    { title: 'msgs/s', value: r => (r.failure ? 'failed' : int(r.msgsPerSec)) },
    { title: 'MB/s', value: r => fixed(r.mbPerSec, 1) },
    { title: 'p50 ms', value: r => latency(r.p50Ms) },
    { title: 'p99 ms', value: r => latency(r.p99Ms) },
    { title: 'RSS MiB', value: r => mib(r.rssPeakKb) },
    { title: 'threads', value: r => int(r.threadsPeak) },
    { title: 'CPU %', value: r => int(r.serverCpuPct) },
    { title: 'load CPU %', value: r => int(r.loadCpuPct) },
    { title: 'other CPU %', value: r => int(r.otherCpuPct) },
    { title: 'errors', value: r => (r.failure ? '-' : String(r.errorTotal + r.connectFailures)) },
    { title: 'vs net', value: r => fixed(r.ratioToNet, 2) },
  )
  return cols
}

function table(rows: CellRow[]): string[] {
  const cols = columns(rows)
  const cells = rows.map(r => cols.map(c => c.value(r)))
  const widths = cols.map((c, i) => Math.max(c.title.length, ...cells.map(row => row[i].length)))
  const line = (values: string[]) =>
    values
      .map((v, i) => (cols[i].left ? v.padEnd(widths[i]) : v.padStart(widths[i])))
      .join('  ')
      .trimEnd()
  const out = [line(cols.map(c => c.title))]
  let previous = ''
  for (let i = 0; i < rows.length; i++) {
    const group = `${rows[i].size}/${rows[i].conns}/${rows[i].pipeline}/${rows[i].churn ?? false}`
    if (previous && group !== previous) out.push('')
    previous = group
    out.push(line(cells[i]))
  }
  return out
}

function idleLine(row: IdleRow): string {
  if (!row.result) return `  ${row.server}: failed: ${row.failure}`
  const r = row.result
  const s = r.server
  const parts = [
    `  ${row.server}: ${r.accepted.toLocaleString('en-US')} of ${r.requested.toLocaleString('en-US')} connections served, ` +
      `${r.stillServed.toLocaleString('en-US')} still served after ${r.holdS} s idle`,
  ]
  if (s) parts.push(`; server RSS ${mib(s.rssBeforeKb)} → ${mib(s.rssAfterKb)} MiB = ${s.perConnKb === null ? '-' : s.perConnKb.toFixed(1)} KiB per connection, ${s.threads ?? '-'} threads`)
  const lines = [parts.join('')]
  const limit = (l: typeof r.fdLimit) => (l ? `${l.soft}${l.soft === l.hard ? ' (its hard limit: the most allowed here)' : ` (hard ${l.hard})`}` : 'unknown')
  lines.push(`    open-file limits: load generator ${limit(r.fdLimit)}, server ${limit(r.serverFdLimit)}`)
  for (const n of r.notes) lines.push(`    note: ${n}`)
  if (row.failure) lines.push(`    note: ${row.failure}`)
  return lines.join('\n')
}

export function formatHeader(h: HeaderRow): string {
  const o = h.options
  const flight = o.pipelines.length === 1 && o.pipelines[0] === 1 ? 'ping-pong (1 message in flight per connection)' : `${o.pipelines.join(', ')} messages in flight`
  return [
    `selectloop bench: ${h.cpus} CPU${h.cpus === 1 ? '' : 's'} (${h.cpuModel}), Node ${h.node}, load average ${h.loadAverage.join(' ')}`,
    `${flight}; each cell ${o.durationMs / 1000} s measured after ${o.warmupMs / 1000} s warm-up` +
      (o.repeat > 1 ? `, median of ${o.repeat} runs` : ''),
  ].join('\n')
}

export function formatReport(rows: BenchRow[]): string {
  const h = rows.find((r): r is HeaderRow => r.type === 'header')
  const cells = rows.filter((r): r is CellRow => r.type === 'cell')
  const unavailable = rows.filter((r): r is UnavailableRow => r.type === 'unavailable')
  const idle = rows.filter((r): r is IdleRow => r.type === 'idle')
  const out: string[] = []
  if (h) out.push(formatHeader(h), '')
  if (cells.length) out.push(...table(cells))
  if (cells.some(c => c.churn)) {
    out.push('', `churn rows: msgs/s is connections a second (each: connect,${h?.options.tls ? ' TLS handshake,' : ''} one echo, close); p50/p99 are whole cycles`)
  }
  const failures = cells.filter(r => r.failure)
  if (failures.length) {
    out.push('')
    for (const f of failures) out.push(`failed: ${f.server} at ${f.conns} conns × ${formatSize(f.size)}: ${f.failure}`)
  }
  const noted = cells.filter(r => r.notes.length)
  if (noted.length) {
    out.push('')
    for (const r of noted) for (const n of r.notes) out.push(`note: ${r.server} at ${r.conns} conns × ${formatSize(r.size)}: ${n}`)
  }
  if (unavailable.length) {
    out.push('')
    for (const u of unavailable) out.push(`not available: ${u.server}: ${u.reason}`)
  }
  if (idle.length) {
    out.push('', 'idle connections:')
    for (const row of idle) out.push(idleLine(row))
  }
  return out.join('\n')
}
