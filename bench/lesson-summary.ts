// The lesson's short summary: markdown, a table per topic, every figure from the run's rows, and
// where they came from (the JSON lines' file, the date, the command), so that the README's lesson
// can quote it and a later run can replace it table for table.
import type { BenchRow, EndRow, HeaderRow, UnavailableRow } from './runner.js'
import type { BurstRow, CellRow, IdleRow, LoadRow, SlowRow } from './kinds/index.js'
import { flagLines } from './report.js'
import { fixed, int, latency, mib } from './format.js'
import { machineLine } from './machine.js'
import { median } from './stats.js'

/** What each server is, in a few words. */
const WHAT: Record<string, string> = {
  selector: 'ours: one thread, one selector',
  threads: 'ours: a thread per client (a Node worker each)',
  net: "ours: idiomatic Node ('data' callbacks)",
  'py-threads': 'Python: a real OS thread per client',
  'py-selectors': "Python: one thread, the selectors module",
}

/** A markdown table. */
function table(head: string[], rows: string[][], right: boolean[] = head.map((_, i) => i > 0)): string[] {
  const esc = (s: string) => s.replace(/\|/g, '\\|')
  return [`| ${head.map(esc).join(' | ')} |`, `|${right.map(r => (r ? '---:' : ':---')).join('|')}|`, ...rows.map(r => `| ${r.map(esc).join(' | ')} |`)]
}

const servedOf = (served: number | null, offered: number) => (served === null ? '-' : served >= offered ? `all ${int(offered)}` : `${int(served)} of ${int(offered)}`)
/** KiB per connection: 4.8 KiB, 8.7 MiB. */
const perConn = (kb: number | null) => (kb === null ? '-' : kb >= 1024 ? `${(kb / 1024).toFixed(1)} MiB` : `${kb.toFixed(1)} KiB`)
const flagMark = (r: CellRow) => (r.flags.length ? ` (${[...new Set(r.flags.map(f => f.kind))].join(', ')})` : '')

/** The summary of a lesson run, as markdown. */
export function lessonSummary(rows: BenchRow[], files: { jsonl: string; html: string }): string {
  const h = rows.find((r): r is HeaderRow => r.type === 'header')
  const end = rows.find((r): r is EndRow => r.type === 'end')
  const cells = rows.filter((r): r is CellRow => r.type === 'cell')
  const unavailable = rows.filter((r): r is UnavailableRow => r.type === 'unavailable')
  const servers = [...new Set(cells.map(r => r.server))]
  const closed = cells.filter((r): r is LoadRow => r.kind === 'closed')
  const idle = cells.filter((r): r is IdleRow => r.kind === 'idle')
  const burst = cells.filter((r): r is BurstRow => r.kind === 'burst')
  const slow = cells.filter((r): r is SlowRow => r.kind === 'slow')
  const out: string[] = []
  const date = h ? `${h.date.slice(0, 16).replace('T', ' ')} UTC` : 'undated'
  out.push(`# selectloop lesson, ${date}`, '')
  if (h) {
    out.push(`- command: \`${h.command}\``)
    out.push(`- machine: ${machineLine(h)}`)
  }
  out.push(`- figures: \`${files.jsonl}\` (every run whole); report: \`${files.html}\``)
  const other = cells.flatMap(r => ('otherCpuPct' in r && r.otherCpuPct != null ? [r.otherCpuPct] : []))
  if (other.length) {
    out.push(`- noise: the rest of the machine used ${fixed(median(other), 0)}% of a core in the median cell, ${fixed(Math.max(...other), 0)}% at most`)
  }
  if (end) out.push(`- took ${Math.round(end.seconds)} s; load average at the end ${end.loadAverage.join(' ')}`)
  for (const u of unavailable) out.push(`- not available: ${u.server}: ${u.reason}`)
  out.push('')

  // The headline: one row per server, the figures the lesson turns on.
  const biggest = Math.max(0, ...closed.map(r => r.conns))
  const idleRow = (s: string) => idle.find(r => r.server === s)
  const burstRow = (s: string) => burst.find(r => r.server === s)
  const closedAt = (s: string, conns: number) => closed.find(r => r.server === s && r.conns === conns)
  out.push('## The headline', '')
  out.push(
    ...table(
      [
        'server',
        'what it is',
        `memory per idle connection`,
        `idle connections held (of ${int(idle[0]?.conns)})`,
        'threads while holding them',
        `first echo in a burst of ${int(burst[0]?.clients)} (median / last)`,
        `ping-pong msgs/s at ${int(biggest)} connections`,
      ],
      servers.map(s => {
        const i = idleRow(s)
        const b = burstRow(s)
        const c = closedAt(s, biggest)
        return [
          s,
          WHAT[s] ?? 'external server',
          i ? perConn(i.perConnKb) : '-',
          i ? servedOf(i.stillServed, i.conns) : '-',
          i ? int(i.threads) : '-',
          b ? `${latency(b.firstEchoP50Ms)} / ${latency(b.lastEchoMs)} ms` : '-',
          c ? `${c.failure ? 'failed' : int(c.msgsPerSec)}${flagMark(c)}` : '-',
        ]
      }),
      [false, false, true, true, true, true, true],
    ),
    '',
  )

  if (closed.length) {
    const counts = [...new Set(closed.map(r => r.conns))].sort((a, b) => a - b)
    out.push('## Ping-pong, 1 KiB: messages a second (p99 ms)', '')
    out.push(
      ...table(
        ['server', ...counts.map(c => `${int(c)} conn${c === 1 ? '' : 's'}`), `RSS / threads at ${int(biggest)}`],
        servers.map(s => [
          s,
          ...counts.map(c => {
            const r = closedAt(s, c)
            return r ? (r.failure ? 'failed' : `${int(r.msgsPerSec)} (${latency(r.p99Ms)})${flagMark(r)}`) : '-'
          }),
          (r => (r ? `${mib(r.rssPeakKb)} MiB / ${int(r.threadsPeak)}` : '-'))(closedAt(s, biggest)),
        ]),
      ),
      '',
    )
  }
  if (idle.length) {
    out.push(`## ${int(idle[0].conns)} idle connections, held ${idle[0].holdMs / 1000} s`, '')
    out.push(
      ...table(
        ['server', 'served', 'still echoing after', 'RSS before → holding', 'per connection', 'threads', 'why not all'],
        idle.map(r => [
          r.server,
          r.failure ? 'failed' : int(r.accepted),
          int(r.stillServed),
          `${mib(r.rssBeforeKb)} → ${mib(r.rssAfterKb)} MiB`,
          perConn(r.perConnKb),
          `${int(r.threadsBefore)} → ${int(r.threads)}`,
          r.failure ?? r.notServed ?? '',
        ]),
        [false, true, true, true, true, true, false],
      ),
      '',
    )
  }
  if (burst.length) {
    out.push(`## A burst of ${int(burst[0].clients)} new clients: from connect to first echo`, '')
    out.push(
      ...table(
        ['server', 'served', 'median', 'p90', 'last', 'per client', 'threads before → after'],
        burst.map(r => [
          r.server,
          r.failure ? 'failed' : int(r.served),
          `${latency(r.firstEchoP50Ms)} ms`,
          `${latency(r.firstEchoP90Ms)} ms`,
          `${latency(r.lastEchoMs)} ms`,
          `${fixed(r.msPerClient, 2)} ms`,
          `${int(r.threadsBefore)} → ${int(r.threadsAfter)}`,
        ]),
      ),
      '',
    )
  }
  if (slow.length) {
    const s0 = slow[0]
    out.push(`## ${int(s0.conns)} slow clients, a ${s0.size}-byte line every ${s0.intervalMs / 1000} s each, measured ${s0.holdMs / 1000} s`, '')
    out.push(
      ...table(
        ['server', 'served', 'lines/s', 'p50', 'p99', 'server CPU', 'CPU per line', 'RSS', 'threads', 'why not all'],
        slow.map(r => [
          r.server,
          r.failure ? 'failed' : int(r.served),
          int(r.linesPerSec),
          `${latency(r.p50Ms)} ms`,
          `${latency(r.p99Ms)} ms`,
          `${fixed(r.serverCpuPct, 1)}%`,
          `${fixed(r.cpuUsPerLine, 0)} µs`,
          `${mib(r.rssKb)} MiB`,
          int(r.threads),
          r.failure ?? r.notServed ?? '',
        ]),
        [false, true, true, true, true, true, true, true, true, false],
      ),
      '',
    )
  }
  const flagged = flagLines(cells)
  if (flagged.length) {
    out.push('## Flagged cells', '')
    for (const l of flagged) out.push(`- ${l.what}: **${l.kind}** ${l.reason}`)
    out.push('')
  }
  return out.join('\n')
}
