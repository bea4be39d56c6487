// How the slow kind is shown: clients served, the latency of their lines, and what holding them
// cost each server (CPU, memory, threads).
import type { SlowRow } from './slow.js'
import type { KindView } from '../view.js'
import { flagCodes } from '../flags.js'
import { fixed, formatSize, int, latency, mib } from '../format.js'
import { barChart } from './bars.js'

export const slowView: KindView<SlowRow> = {
  title: 'Slow clients: many connections, each sending a line a second',
  intro:
    'Every client sends a short line on its own timetable (once an interval, at a random phase) and waits for the echo; latency counts ' +
    'from when the line was due. The server does little work but must hold every client all the time: this is where one thread with a ' +
    'selector shines (a few KiB a client, CPU only when a line comes), and where a thread per client pays for many sleeping threads.',
  columns: () => [
    { title: 'clients', value: r => int(r.conns) },
    { title: 'line', left: true, value: r => `${formatSize(r.size)} / ${r.intervalMs / 1000} s` },
    { title: 'server', left: true, value: r => r.server },
    { title: 'served', help: 'clients the server took on (a probe echoed)', value: r => (r.failure ? 'failed' : int(r.served)) },
    { title: 'refused', help: 'clients ended before any echo (what the server said: hover the row)', value: r => int(r.refused) },
    { title: 'lines/s', help: 'lines echoed a second in the window', value: r => int(r.linesPerSec) },
    { title: 'p50 ms', help: 'from when each line was due', value: r => latency(r.p50Ms) },
    { title: 'p99 ms', help: 'from when each line was due', value: r => latency(r.p99Ms) },
    { title: 'max ms', value: r => latency(r.maxMs) },
    { title: 'CPU %', help: "the server's CPU over the window; 100 = one core", value: r => fixed(r.serverCpuPct, 1) },
    { title: 'CPU µs/line', help: "the server's CPU time per line echoed", value: r => fixed(r.cpuUsPerLine, 1) },
    { title: 'RSS MiB', help: "the server's resident memory holding the clients", value: r => mib(r.rssKb) },
    { title: 'threads', help: "the server's threads holding the clients (/proc)", value: r => int(r.threads) },
    { title: 'other CPU %', help: 'everything else the machine did meanwhile: the noise meter', value: r => int(r.otherCpuPct) },
    { title: 'flags', left: true, value: r => flagCodes(r.flags) },
  ],
  group: r => `${r.conns}/${r.size}/${r.intervalMs}`,
  charts(rows) {
    const groups = [...new Set(rows.map(r => `${r.conns}/${r.size}/${r.intervalMs}`))]
    return groups.flatMap(g => {
      const of = rows.filter(r => `${r.conns}/${r.size}/${r.intervalMs}` === g)
      const what = `${int(of[0].conns)} slow clients`
      const tip = (r: SlowRow) =>
        `${r.server}: ${int(r.served)} served, p99 ${latency(r.p99Ms)} ms, CPU ${fixed(r.serverCpuPct, 1)}%, RSS ${mib(r.rssKb)} MiB, ${int(r.threads)} threads` +
        (r.notServed ? `; ${r.notServed}` : '')
      return [
        barChart(`resident memory, ${what}`, 'MiB', of, r => (r.rssKb === null ? null : r.rssKb / 1024), tip),
        barChart(`server CPU, ${what}`, '% of one core', of, r => r.serverCpuPct, tip),
        barChart(`p99 latency of a line, ${what} (log)`, 'ms', of, r => r.p99Ms, tip, 'log'),
      ]
    })
  },
}
