// How the idle kind is shown: a table of connections served and memory per connection, and a
// chart of the memory each connection costs, per server.
import type { IdleRow } from './idle.js'
import type { KindView } from '../view.js'
import { flagCodes } from '../flags.js'
import { fixed, int, mib } from '../format.js'
import { barChart } from './bars.js'

export const idleView: KindView<IdleRow> = {
  title: 'Idle connections: how many are served, and what each costs',
  intro:
    'Many connections opened and left idle: each must echo a probe when opened and again after the hold. ' +
    "Memory per connection is the growth of the server's resident memory over the connections it served; threads are the server's, from /proc. " +
    'A server that holds fewer than it is offered (a thread cap) is shown with what it told the others.',
  columns: () => [
    { title: 'conns', value: r => int(r.conns) },
    { title: 'server', left: true, value: r => r.server },
    { title: 'served', help: 'connections that echoed a probe when opened', value: r => (r.failure ? 'failed' : int(r.accepted)) },
    { title: 'refused', help: 'connections the server ended before any echo (what it said: hover the row)', value: r => int(r.refused ?? 0) },
    { title: 'after hold', help: 'of those served, still echoing after the hold', value: r => int(r.stillServed) },
    { title: 'RSS before', help: 'MiB, before connecting', value: r => mib(r.rssBeforeKb) },
    { title: 'RSS holding', help: 'MiB, while holding them', value: r => mib(r.rssAfterKb) },
    { title: 'KiB/conn', help: 'resident memory per connection served', value: r => fixed(r.perConnKb, 1) },
    { title: 'threads', help: "the server's threads before connecting → while holding them (/proc)", value: r => `${int(r.threadsBefore)} → ${int(r.threads)}` },
    { title: 'flags', left: true, value: r => flagCodes(r.flags) },
  ],
  group: r => String(r.conns),
  charts(rows) {
    const counts = [...new Set(rows.map(r => r.conns))]
    return counts.flatMap(conns => {
      const of = rows.filter(r => r.conns === conns)
      const tip = (r: IdleRow) =>
        `${r.server}: ${fixed(r.perConnKb, 1)} KiB per connection, ${int(r.accepted)} served, ${int(r.threads)} threads` + (r.notServed ? `; ${r.notServed}` : '')
      return [
        barChart(`memory per idle connection, ${int(conns)} offered (log)`, 'KiB per connection', of, r => r.perConnKb, tip, 'log'),
        barChart(`idle connections held, of ${int(conns)}`, 'connections served', of, r => r.stillServed, tip),
        barChart(`threads while holding them, ${int(conns)} offered (log)`, 'threads', of, r => r.threads, tip, 'log'),
      ]
    })
  },
}
