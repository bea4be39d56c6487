// The event loop: dispatch, stop, timers, wake-ups, error handling and trace.
import t from 'tap'
import { Connection, EVENT_READ, EVENT_WRITE, EventLoop, ScanSelector, eventNames, type LoopObserver, type RoundInfo, type SelectorKey } from '../reactor/index.js'
import { TimerHeap } from '../reactor/timers.js'
import { connectionPair } from './helpers/reactor.js'

t.test('dispatches key.data(fileobj, mask) and stops from a callback', async t => {
  const loop = new EventLoop()
  t.teardown(() => loop.close())
  const { client, server } = await connectionPair(t)
  const seen: Array<[Connection, number]> = []
  loop.register(client, EVENT_READ, function onClientReadable(conn, mask) {
    seen.push([conn, mask])
    t.equal(conn.recv()!.toString(), 'hi')
    loop.stop()
  })
  server.send(Buffer.from('hi'))
  await loop.run()
  t.same(seen, [[client, EVENT_READ]])
  t.notOk(loop.isRunning)
  const running = loop.run()
  await t.rejects(loop.run(), /already running/, 'run() twice at once')
  loop.stop()
  await running
})

t.test('stop() from outside wakes a select() that waits for nothing', async t => {
  const loop = new EventLoop()
  t.teardown(() => loop.close())
  setTimeout(() => loop.stop(), 30)
  const t0 = performance.now()
  await loop.run()
  t.ok(performance.now() - t0 < 2000, 'returned promptly')
})

t.test('callLater: runs in deadline order, bounds the select timeout, can be cancelled', async t => {
  const loop = new EventLoop()
  t.teardown(() => loop.close())
  const order: string[] = []
  loop.callLater(40, () => order.push('40'))
  loop.callLater(10, () => order.push('10'))
  loop.callLater(10, () => order.push('10b'))
  const cancelled = loop.callLater(20, () => order.push('cancelled'))
  cancelled.cancel()
  t.ok(cancelled.cancelled)
  loop.callLater(-5, () => order.push('now'))
  loop.callLater(60, () => loop.stop())
  await loop.run()
  t.same(order, ['now', '10', '10b', '40'])
})

t.test('a timer added while select() waits wakes it to recompute the timeout', async t => {
  const loop = new EventLoop()
  t.teardown(() => loop.close())
  loop.callLater(5000, () => order.push('late'))
  const order: string[] = []
  setTimeout(() => loop.callLater(10, () => (order.push('early'), loop.stop())), 20)
  const t0 = performance.now()
  await loop.run()
  t.same(order, ['early'])
  t.ok(performance.now() - t0 < 2000, 'the 10 ms timer did not wait behind the 5 s one')
})

t.test('a timer weeks away does not make the loop spin (select timeouts past 2**31 ms)', async t => {
  const rounds: string[] = []
  const loop = new EventLoop({ trace: line => line.startsWith('select') && rounds.push(line) })
  t.teardown(() => loop.close())
  const { client, server } = await connectionPair(t)
  loop.callLater(30 * 24 * 3600 * 1000, () => t.fail('a timer 30 days away ran'))
  loop.register(client, EVENT_READ, function onReadable(conn) {
    conn.recv()
    loop.stop()
  })
  setTimeout(() => server.send(Buffer.from('x')), 100)
  await loop.run()
  // One round that waits for the data (plus one for a stray wake-up at most); a select(30 days)
  // that overflowed to 1 ms would have gone round about a hundred times meanwhile.
  t.ok(rounds.length <= 2, `${rounds.length} select round(s) in 100 ms (the first: ${rounds[0]})`)
})

t.test('a timer that schedules a 0 ms timer does not spin inside one round', async t => {
  const loop = new EventLoop()
  t.teardown(() => loop.close())
  let runs = 0
  const tick = () => {
    runs++
    if (runs < 50) loop.callLater(0, tick)
    else loop.stop()
  }
  loop.callLater(0, tick)
  await loop.run()
  t.equal(runs, 50)
})

t.test('a failing timer is reported and the loop goes on', async t => {
  const loop = new EventLoop()
  t.teardown(() => loop.close())
  const errors: string[] = []
  const write = process.stderr.write
  process.stderr.write = ((s: string) => (errors.push(String(s)), true)) as typeof process.stderr.write
  try {
    loop.callLater(0, () => {
      throw new Error('timer boom')
    })
    loop.callLater(10, () => loop.stop())
    await loop.run()
  } finally {
    process.stderr.write = write
  }
  t.match(errors.join(''), /timer callback failed.*timer boom/s)
})

t.test('a throwing callback closes only its own file object (default onError)', async t => {
  const loop = new EventLoop()
  t.teardown(() => loop.close())
  const a = await connectionPair(t)
  const b = await connectionPair(t)
  const errors: string[] = []
  const write = process.stderr.write
  process.stderr.write = ((s: string) => (errors.push(String(s)), true)) as typeof process.stderr.write
  let bReads = 0
  try {
    loop.register(a.client, EVENT_READ, function explodes() {
      throw new Error('handler boom')
    })
    loop.register(b.client, EVENT_READ, function fine(conn) {
      const d = conn.recv()
      if (d && d.length) bReads++
      if (bReads === 2) loop.stop()
      else b.server.send(Buffer.from('again'))
    })
    a.server.send(Buffer.from('x'))
    b.server.send(Buffer.from('y'))
    await loop.run()
  } finally {
    process.stderr.write = write
  }
  t.match(errors.join(''), /callback for fd \d+ failed, closing it.*handler boom/s)
  t.ok(a.client.closed, 'the failing connection was closed')
  t.notOk(loop.isRegistered(a.client), 'and unregistered')
  t.equal(bReads, 2, 'the other connection kept being served')
})

t.test('an object unregistered earlier in a round is not dispatched', async t => {
  const loop = new EventLoop({ selector: new ScanSelector() })
  t.teardown(() => loop.close())
  const a = await connectionPair(t)
  const b = await connectionPair(t)
  const calls: string[] = []
  // Both are writable at once; whichever runs first unregisters the other and stops the loop.
  loop.register(a.client, EVENT_WRITE, () => {
    calls.push('a')
    loop.unregister(b.client)
    loop.stop()
  })
  loop.register(b.client, EVENT_WRITE, () => {
    calls.push('b')
    loop.unregister(a.client)
    loop.stop()
  })
  await loop.run()
  t.equal(calls.length, 1, `only one of the two ran (${calls})`)
})

t.test('a custom onError gets the error and the key', async t => {
  const caught: Array<[unknown, number]> = []
  const loop = new EventLoop({ onError: (err, key) => (caught.push([err, key.fd]), loop.stop()) })
  t.teardown(() => loop.close())
  const { client } = await connectionPair(t)
  const key = loop.register(client, EVENT_READ, () => {})
  t.equal(loop.modify(client, EVENT_READ), key, 'modify with nothing new keeps the key')
  loop.modify(client, EVENT_WRITE, () => {
    throw new Error('custom')
  })
  await loop.run()
  t.equal(caught.length, 1)
  t.match(caught[0][0], /custom/)
  t.equal(caught[0][1], key.fd)
  t.notOk(client.closed, 'a custom handler decides what to close')
})

t.test('trace prints each select round and each dispatch', async t => {
  const lines: string[] = []
  const loop = new EventLoop({ trace: line => lines.push(line) })
  t.teardown(() => loop.close())
  const { client, server } = await connectionPair(t)
  loop.register(client, EVENT_READ, function onReadable(conn) {
    conn.recv()
    loop.stop()
  })
  server.send(Buffer.from('z'))
  await loop.run()
  const text = lines.join('\n')
  t.match(text, /select #1 \(timeout ∞\) → fd \d+ R/)
  t.match(text, /dispatch fd \d+ R → onReadable/)
  const looped = new EventLoop({ trace: true })
  const write = process.stderr.write
  const out: string[] = []
  process.stderr.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stderr.write
  try {
    looped.callLater(1, () => looped.stop())
    await looped.run()
  } finally {
    process.stderr.write = write
    looped.close()
  }
  t.match(out.join(''), /select #1 \(timeout \d+\.\dms\) → nothing ready/)
})

/** An observer that writes down what it is told, as lines. */
function recorder(name = ''): LoopObserver & { lines: string[]; rounds: Array<Omit<RoundInfo, 'ready'> & { readyFds: number[] }> } {
  const lines: string[] = []
  const rounds: Array<Omit<RoundInfo, 'ready'> & { readyFds: number[] }> = []
  return {
    lines,
    rounds,
    registered: (key: SelectorKey) => lines.push(`${name}registered fd ${key.fd} ${eventNames(key.events)}`),
    modified: (key: SelectorKey, old: number) => lines.push(`${name}modified fd ${key.fd} ${eventNames(old)} → ${eventNames(key.events)}`),
    unregistered: (key: SelectorKey) => lines.push(`${name}unregistered fd ${key.fd}`),
    roundDone: (r: Readonly<RoundInfo>) => {
      const { ready, ...rest } = r
      rounds.push({ ...rest, readyFds: ready.map(([key]) => key.fd) })
    },
  }
}

t.test('observers are told of registrations, interest changes and rounds; the waker never', async t => {
  const loop = new EventLoop()
  t.teardown(() => loop.close())
  const { client, server } = await connectionPair(t)
  const before = await connectionPair(t)
  const earlier = loop.register(before.client, EVENT_READ, () => {})
  const seen = recorder()
  const stop = loop.observe(seen)
  const key = loop.register(client, EVENT_READ, function onReadable(conn) {
    conn.recv()
    loop.modify(conn, EVENT_READ | EVENT_WRITE)
    loop.modify(conn, EVENT_READ | EVENT_WRITE, () => loop.stop()) // the callback only: not an interest change
  })
  server.send(Buffer.from('x'))
  await loop.run()
  loop.unregister(client)
  t.same(seen.lines, [`registered fd ${key.fd} R`, `modified fd ${key.fd} R → RW`, `unregistered fd ${key.fd}`])
  t.notOk(seen.lines.some(l => l.includes(`fd ${earlier.fd} `)), 'what was registered before observe() is not replayed')
  t.ok(seen.rounds.length >= 2, `${seen.rounds.length} rounds reported`)
  t.same(seen.rounds.map(r => r.round), seen.rounds.map((_, i) => i + 1), 'rounds numbered from 1')
  const first = seen.rounds.find(r => r.dispatched > 0)!
  t.ok(first, 'a round that dispatched')
  t.same(first.readyFds, [key.fd], 'the ready list as select() returned it')
  t.equal(first.timeoutMs, undefined, 'no timer: select() could wait for ever')
  t.ok(first.waitedMs >= 0 && first.busyMs >= 0, 'wait and work timed')
  const wakerRounds = seen.rounds.filter(r => r.dispatched === 0)
  t.ok(wakerRounds.every(r => !r.readyFds.includes(earlier.fd)), 'an idle registration is never ready')

  stop()
  stop() // twice is harmless
  loop.register(client, EVENT_READ, () => {})
  t.equal(seen.lines.length, 3, 'nothing after the observer stopped')
})

t.test('two observers both hear everything; each stops on its own', async t => {
  const loop = new EventLoop()
  t.teardown(() => loop.close())
  const { client } = await connectionPair(t)
  const a = recorder('a ')
  const b = recorder('b ')
  const stopA = loop.observe(a)
  loop.observe(b)
  const key = loop.register(client, EVENT_WRITE, () => loop.stop())
  await loop.run()
  stopA()
  loop.modify(client, EVENT_READ)
  t.same(a.lines, [`a registered fd ${key.fd} W`])
  t.same(b.lines, [`b registered fd ${key.fd} W`, `b modified fd ${key.fd} W → R`])
  t.ok(a.rounds.length >= 1 && a.rounds.length === b.rounds.length, 'the same rounds for both')
})

t.test('eventNames and the timer heap', async t => {
  t.equal(eventNames(EVENT_READ), 'R')
  t.equal(eventNames(EVENT_WRITE), 'W')
  t.equal(eventNames(EVENT_READ | EVENT_WRITE), 'RW')
  t.equal(eventNames(0), '-')
  const heap = new TimerHeap()
  const whens = [50, 10, 30, 20, 40, 10, 0, 60, 5]
  whens.forEach(w => heap.push(w, () => {}))
  const out: number[] = []
  for (let timer = heap.pop(); timer; timer = heap.pop()) out.push(timer.when)
  t.same(out, [...whens].sort((a, b) => a - b))
  t.equal(heap.peek(), undefined)
})
