// How the idle kind is shown: a table of connections served and memory per connection, and a
// chart of the memory each connection costs, per server.
import type { IdleRow } from './idle.js'
import type { KindView } from '../view.js'
import { flagCodes } from '../flags.js'
import { fixed, int, mib } from '../format.js'

export const idleView: KindView<IdleRow> = {
  title: 'Idle connections: how many are served, and what each costs',
  intro:
    'Many connections opened and left idle: each must echo a probe when opened and again after the hold. ' +
    "Memory per connection is the growth of the server's resident memory over the connections it served.",
  columns: () => [
    { title: 'conns', value: r => int(r.conns) },
    { title: 'server', left: true, value: r => r.server },
    { title: 'served', help: 'connections that echoed a probe when opened', value: r => (r.failure ? 'failed' : int(r.accepted)) },
    { title: 'after hold', help: 'of those, still served after the hold', value: r => int(r.stillServed) },
    { title: 'RSS before', help: 'MiB, before connecting', value: r => mib(r.rssBeforeKb) },
    { title: 'RSS holding', help: 'MiB, while holding them', value: r => mib(r.rssAfterKb) },
    { title: 'KiB/conn', help: 'resident memory per connection served', value: r => fixed(r.perConnKb, 1) },
    { title: 'threads', value: r => int(r.threads) },
    { title: 'flags', left: true, value: r => flagCodes(r.flags) },
  ],
  group: r => String(r.conns),
  charts(rows) {
    const counts = [...new Set(rows.map(r => r.conns))]
    return counts.map(conns => ({
      title: `memory per idle connection, ${int(conns)} connections`,
      xLabel: 'server',
      yLabel: 'KiB per connection',
      xScale: 'category' as const,
      yScale: 'linear' as const,
      mark: 'bar' as const,
      series: rows
        .filter(r => r.conns === conns)
        .map((r, i) => ({
          server: r.server,
          points: [{ x: i, y: r.perConnKb, flagged: r.flags.length > 0, tip: `${r.server}: ${fixed(r.perConnKb, 1)} KiB per connection, ${int(r.accepted)} served` }],
        })),
    }))
  },
}
