// How the burst kind is shown: each server's wait for a first echo (the median client and the
// last), with what it said to the clients it refused.
import type { BurstRow } from './burst.js'
import type { KindView } from '../view.js'
import { flagCodes } from '../flags.js'
import { fixed, int, latency, mib } from '../format.js'
import { barChart } from './bars.js'

export const burstView: KindView<BurstRow> = {
  title: 'A burst of new clients: the wait for a first answer',
  intro:
    'Many clients connect at the same moment, and each sends a message as soon as it is connected. Its wait is from its connect() ' +
    'to the echo of that first message: a selector takes a newcomer on in the round that accepts it; a thread per client must first ' +
    'start a thread, and a burst of thread starts queues for the same cores, so the last client waits for all of them. ' +
    '"ms per client" is the last wait over the clients served: what each newcomer added.',
  columns: () => [
    { title: 'clients', value: r => int(r.clients) },
    { title: 'server', left: true, value: r => r.server },
    { title: 'served', help: 'clients whose first message was echoed', value: r => (r.failure ? 'failed' : int(r.served)) },
    { title: 'refused', help: 'clients the server ended before any echo (what it said: hover the row)', value: r => int(r.refused) },
    { title: 'connect p50', help: "ms: the TCP handshake alone (the kernel's, from the listen backlog)", value: r => latency(r.connectP50Ms) },
    { title: 'first echo p50', help: "ms from a client's connect() to its first echo: the median client", value: r => latency(r.firstEchoP50Ms) },
    { title: 'p90', help: 'ms: nine clients in ten waited at most this long', value: r => latency(r.firstEchoP90Ms) },
    { title: 'last', help: 'ms: the last client of the burst, when the whole burst had been taken on', value: r => latency(r.lastEchoMs) },
    { title: 'ms per client', help: 'the last wait over the clients served', value: r => fixed(r.msPerClient, 2) },
    { title: 'threads', help: "the server's threads before the burst → once it was served", value: r => `${int(r.threadsBefore)} → ${int(r.threadsAfter)}` },
    { title: 'RSS MiB', help: "the server's peak resident memory", value: r => mib(r.rssPeakKb) },
    { title: 'flags', left: true, value: r => flagCodes(r.flags) },
  ],
  group: r => String(r.clients),
  charts(rows) {
    const counts = [...new Set(rows.map(r => r.clients))]
    return counts.flatMap(clients => {
      const of = rows.filter(r => r.clients === clients)
      const tip = (r: BurstRow) =>
        `${r.server}: ${int(r.served)} of ${int(r.clients)} served; first echo p50 ${latency(r.firstEchoP50Ms)} ms, last ${latency(r.lastEchoMs)} ms` +
        (r.notServed ? `; ${r.notServed}` : '')
      return [
        barChart(`first echo, median client, burst of ${int(clients)} (log)`, 'ms', of, r => r.firstEchoP50Ms, tip, 'log'),
        barChart(`first echo, last client, burst of ${int(clients)} (log)`, 'ms', of, r => r.lastEchoMs, tip, 'log'),
      ]
    })
  },
}
