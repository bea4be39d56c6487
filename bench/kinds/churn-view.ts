// How the churn kind is shown: connections (over TLS, handshakes) a second and a cycle's p99
// against the loops at once, with the server's CPU per connection, beside net's.
import type { ChurnRow } from './churn.js'
import type { ChartSpec, KindView } from '../view.js'
import { flagCodes } from '../flags.js'
import { fixed, formatSize, int, latency, mib } from '../format.js'

const servers = (rows: ChurnRow[]) => [...new Set(rows.map(r => r.server))]
/** "handshakes" when every row is over TLS, else "connections". */
const unit = (rows: ChurnRow[]) => (rows.length > 0 && rows.every(r => r.tls) ? 'handshakes' : 'connections')

export const churnView: KindView<ChurnRow> = {
  title: 'Churn: what a new connection costs',
  intro:
    'Each loop connects, echoes one message (verified), closes, and again, as fast as the server lets it: the figure is connections a ' +
    'second, and over TLS each of them is a full handshake (no session is resumed), so it is handshakes a second. The latency is a whole ' +
    'cycle, from the connect to the echo\'s last byte; the CPU is the server\'s per connection: accept, handshake, one echo, close.',
  columns: rows => {
    const what = unit(rows)
    return [
      { title: 'size', left: true, value: r => formatSize(r.size) },
      { title: 'at once', help: 'loops, each with one connection at a time', value: r => String(r.conns) },
      { title: 'server', left: true, value: r => r.server },
      { title: `${what}/s`, help: `${what} made, echoed once and closed per second in the measured window`, value: r => (r.failure ? 'failed' : int(r.connsPerSec)) },
      { title: 'p50 ms', help: 'a whole cycle: connect, handshake, one echo', value: r => latency(r.p50Ms) },
      { title: 'p99 ms', help: 'a whole cycle: connect, handshake, one echo', value: r => latency(r.p99Ms) },
      {
        title: 'CPU µs/conn',
        help: "the server's CPU time per connection served, in microseconds: accept, handshake, one echo, close",
        value: r => (r.serverCpuUsPerConn != null && r.serverCpuUsPerConn >= 1000 ? int(r.serverCpuUsPerConn) : fixed(r.serverCpuUsPerConn, 1)),
      },
      { title: 'RSS MiB', help: "the server's peak resident memory during the run", value: r => mib(r.rssPeakKb) },
      { title: 'threads', help: "the server's peak thread count", value: r => int(r.threadsPeak) },
      { title: 'CPU %', help: "the server's CPU over the window; 100 = one core", value: r => int(r.serverCpuPct) },
      { title: 'load CPU %', help: "the load generator's own CPU", value: r => int(r.loadCpuPct) },
      { title: 'other CPU %', help: 'everything else the machine did meanwhile: the noise meter', value: r => int(r.otherCpuPct) },
      { title: 'errors', help: 'failed connects (and handshakes), and cycles lost after connecting', value: r => (r.failure ? '-' : String(r.errorTotal + r.connectFailures)) },
      { title: 'vs net', help: `${what}/s over the net model's in the same cell of the same run`, value: r => fixed(r.ratioToNet, 2) },
      { title: 'flags', left: true, help: 'why the cell cannot be taken at face value (see the list of flagged cells)', value: r => flagCodes(r.flags) },
    ]
  },
  group: r => `${r.size}/${r.conns}`,
  charts(rows) {
    const what = unit(rows)
    const sizes = [...new Set(rows.map(r => r.size))]
    return sizes.flatMap(size => {
      const inSize = rows.filter(r => r.size === size)
      const series = (value: (r: ChurnRow) => number | null) =>
        servers(inSize).map(server => ({
          server,
          points: inSize
            .filter(r => r.server === server)
            .sort((a, b) => a.conns - b.conns)
            .map(r => ({
              x: r.conns,
              y: value(r),
              flagged: r.flags.length > 0,
              tip: `${server}, ${r.conns} at once: ${int(r.connsPerSec)} ${what}/s, p99 ${latency(r.p99Ms)} ms a cycle${r.flags.length ? `; flagged: ${r.flags.map(f => f.reason).join('; ')}` : ''}`,
            })),
        }))
      const charts: ChartSpec[] = [
        { title: `${what} a second, one ${formatSize(size)} echo each`, xLabel: 'loops at once', yLabel: `${what} / s`, xScale: 'category', yScale: 'linear', series: series(r => r.connsPerSec) },
        { title: `p99 of a whole cycle, one ${formatSize(size)} echo each (log)`, xLabel: 'loops at once', yLabel: 'p99 cycle, ms', xScale: 'category', yScale: 'log', series: series(r => r.p99Ms) },
      ]
      return charts
    })
  },
}
