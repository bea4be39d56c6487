// How the load kinds are shown: closed loop as throughput and p99 against the connection count,
// open loop as the latency-vs-rate curve (corrected p99 solid, service p99 dashed).
import type { LoadRow } from './load.js'
import type { ChartSpec, Column, KindView } from '../view.js'
import { flagCodes } from '../flags.js'
import { fixed, formatSize, int, latency, mib } from '../format.js'

const servers = (rows: LoadRow[]) => [...new Set(rows.map(r => r.server))]
const flagged = (r: LoadRow) => r.flags.length > 0

function errorsText(r: LoadRow): string {
  return r.failure ? '-' : String(r.errorTotal + r.connectFailures)
}

const SERVER_CPU_PER_MSG: Column<LoadRow> = {
  title: 'CPU µs/msg',
  help: "the server's CPU time per message echoed, in microseconds: what a message costs the server, whatever else the machine did",
  value: r => (r.serverCpuUsPerMsg != null && r.serverCpuUsPerMsg >= 1000 ? int(r.serverCpuUsPerMsg) : fixed(r.serverCpuUsPerMsg, 1)),
}
const SERVER_SYSTEM_PER_MSG: Column<LoadRow> = {
  title: 'of it kernel',
  help: "the part of the server's CPU per message spent in the kernel (system time: reads, writes, epoll, loopback TCP); the rest is the server's own code",
  value: r => fixed(r.serverSystemUsPerMsg, 1),
}
const FLAGS: Column<LoadRow> = { title: 'flags', left: true, help: 'why the cell cannot be taken at face value (see the list of flagged cells)', value: r => flagCodes(r.flags) }

function cellColumns(rows: LoadRow[]): Array<Column<LoadRow>> {
  const cols: Array<Column<LoadRow>> = [
    { title: 'size', left: true, value: r => formatSize(r.size) },
    { title: 'conns', value: r => String(r.conns) },
  ]
  if (rows.some(r => r.pipeline > 1)) cols.push({ title: 'in flight', help: 'messages in flight per connection (at most, with a rate)', value: r => String(r.pipeline) })
  return cols
}

export const closedView: KindView<LoadRow> = {
  title: 'Closed loop: throughput and latency by connection count',
  intro:
    'Each connection keeps its messages in flight and sends the next as soon as one comes back, so the server sets the pace: ' +
    'msgs/s is what it sustains, and latency is from sending a message to receiving its last echoed byte.',
  columns: rows => [
    ...cellColumns(rows),
    { title: 'server', left: true, value: r => r.server },
    { title: 'msgs/s', help: 'messages echoed and verified per second in the measured window', value: r => (r.failure ? 'failed' : int(r.msgsPerSec)) },
    { title: 'MB/s', help: 'echoed payload, 10^6 bytes a second, one direction', value: r => fixed(r.mbPerSec, 1) },
    { title: 'p50 ms', value: r => latency(r.p50Ms) },
    { title: 'p99 ms', value: r => latency(r.p99Ms) },
    SERVER_CPU_PER_MSG,
    SERVER_SYSTEM_PER_MSG,
    { title: 'RSS MiB', help: "the server's peak resident memory during the run", value: r => mib(r.rssPeakKb) },
    { title: 'threads', help: "the server's peak thread count", value: r => int(r.threadsPeak) },
    { title: 'CPU %', help: "the server's CPU over the window; 100 = one core", value: r => int(r.serverCpuPct) },
    { title: 'load CPU %', help: "the load generator's own CPU", value: r => int(r.loadCpuPct) },
    { title: 'other CPU %', help: 'everything else the machine did meanwhile: the noise meter', value: r => int(r.otherCpuPct) },
    { title: 'errors', help: 'timeouts, resets, early closes, wrong bytes, refusals and failed connects', value: errorsText },
    { title: 'vs net', help: "msgs/s over the net model's in the same cell of the same run", value: r => fixed(r.ratioToNet, 2) },
    FLAGS,
  ],
  group: r => `${r.size}/${r.pipeline}/${r.conns}`,
  charts(rows) {
    const groups = [...new Set(rows.map(r => `${r.size}/${r.pipeline}`))]
    return groups.flatMap(g => {
      const inGroup = rows.filter(r => `${r.size}/${r.pipeline}` === g)
      const { size, pipeline } = inGroup[0]
      const what = `${formatSize(size)} messages${pipeline > 1 ? `, ${pipeline} in flight` : ', ping-pong'}`
      const series = (value: (r: LoadRow) => number | null) =>
        servers(inGroup).map(server => ({
          server,
          points: inGroup
            .filter(r => r.server === server)
            .sort((a, b) => a.conns - b.conns)
            .map(r => ({
              x: r.conns,
              y: value(r),
              flagged: flagged(r),
              tip: `${server}, ${r.conns} conns: ${int(r.msgsPerSec)} msgs/s, p99 ${latency(r.p99Ms)} ms${r.flags.length ? `; flagged: ${r.flags.map(f => f.reason).join('; ')}` : ''}`,
            })),
        }))
      const charts: ChartSpec[] = [
        { title: `throughput, ${what}`, xLabel: 'connections', yLabel: 'messages / s', xScale: 'category', yScale: 'linear', series: series(r => r.msgsPerSec) },
        { title: `p99 latency, ${what} (log)`, xLabel: 'connections', yLabel: 'p99 latency, ms', xScale: 'category', yScale: 'log', series: series(r => r.p99Ms) },
      ]
      return charts
    })
  },
}

function scheduleText(r: LoadRow): string {
  if (!r.schedule || r.failure) return '-'
  return r.schedule.kept ? 'kept' : 'BEHIND'
}

export const rateView: KindView<LoadRow> = {
  title: 'Open loop: latency against the rate asked for',
  intro:
    'Messages fall due on a fixed schedule, whatever the server does; a connection keeps at most its in-flight messages, and one due while ' +
    'its connection is full waits. Latency counts from when each message was due (coordinated omission corrected, as wrk2 does); service time ' +
    'from when it was actually sent. The gap between them is the queueing a closed-loop test hides. A server that falls behind shows ' +
    '"BEHIND": it did not send (and echo) the messages it was asked to, and its latencies only bound the truth from below.',
  columns: rows => [
    ...cellColumns(rows),
    { title: 'rate', help: 'messages a second asked for, in all', value: r => int(r.rate) },
    { title: 'server', left: true, value: r => r.server },
    { title: 'sent/s', help: 'messages sent a second in the window', value: r => (r.failure ? 'failed' : int(r.schedule?.sentPerSec)) },
    { title: 'schedule', left: true, help: 'kept: the backlog of messages due but unsent did not grow over the window; BEHIND: it did, the server fell behind', value: scheduleText },
    { title: 'p50 ms', help: 'from when each message was due', value: r => latency(r.p50Ms) },
    { title: 'p99 ms', help: 'from when each message was due (coordinated omission corrected)', value: r => latency(r.p99Ms) },
    { title: 'service p99', help: 'from when each message was sent (what a closed loop would report)', value: r => latency(r.serviceP99Ms) },
    { title: 'late', help: 'messages that waited for their connection (it still had its in-flight messages unanswered)', value: r => int(r.schedule?.late) },
    SERVER_CPU_PER_MSG,
    { title: 'CPU %', value: r => int(r.serverCpuPct) },
    { title: 'other CPU %', value: r => int(r.otherCpuPct) },
    { title: 'errors', value: errorsText },
    FLAGS,
  ],
  group: r => `${r.size}/${r.pipeline}/${r.conns}/${r.rate}`,
  charts(rows) {
    const groups = [...new Set(rows.map(r => `${r.size}/${r.pipeline}/${r.conns}`))]
    return groups.map(g => {
      const inGroup = rows.filter(r => `${r.size}/${r.pipeline}/${r.conns}` === g)
      const { size, pipeline, conns } = inGroup[0]
      const what = `${conns} conn${conns === 1 ? '' : 's'} × ${formatSize(size)}${pipeline > 1 ? `, ≤ ${pipeline} in flight` : ''}`
      const line = (server: string, service: boolean) => ({
        server,
        variant: service ? 'service' : undefined,
        dashed: service,
        points: inGroup
          .filter(r => r.server === server)
          .sort((a, b) => a.rate! - b.rate!)
          .map(r => ({
            x: r.rate!,
            y: service ? r.serviceP99Ms : r.p99Ms,
            flagged: flagged(r),
            hollow: !r.schedule?.kept,
            tip:
              `${server}, ${int(r.rate)} msgs/s asked, ${int(r.schedule?.sentPerSec)} sent${r.schedule?.kept ? '' : ' (BEHIND)'}: ` +
              `p99 ${latency(r.p99Ms)} ms from due, ${latency(r.serviceP99Ms)} ms service` +
              `${r.flags.length ? `; flagged: ${r.flags.map(f => f.reason).join('; ')}` : ''}`,
          })),
      })
      const chart: ChartSpec = {
        title: `p99 latency against rate, ${what} (log)`,
        xLabel: 'messages / s asked for',
        yLabel: 'p99 latency, ms',
        xScale: 'linear',
        yScale: 'log',
        series: servers(inGroup).flatMap(s => [line(s, false), line(s, true)]),
        note: 'solid: p99 from due · dashed: service p99 · hollow: fell behind',
      }
      return chart
    })
  },
}
