// The selector contract, in the spirit of CPython's Lib/test/test_selectors.py: every selector
// implementation runs this same suite (see selector.test.ts). A new implementation passes it or
// is not a selector.
import type { Test } from 'tap'
import {
  BaseSelector,
  Connection,
  EVENT_READ,
  EVENT_WRITE,
  KeyError,
  SelectorClosedError,
  ValueError,
} from '../reactor/index.js'
import {
  RW,
  acceptOne,
  assertWouldBlock,
  connectionPair as pairOver,
  connectionWithRawPeer as rawPeerOver,
  expectEvents,
  expectNoEvents,
  plainTransport,
  until,
  type Transport,
} from './helpers/reactor.js'

/**
 * Runs the contract with `makeSelector`'s selectors over `transport`'s connections: plain TCP by
 * default; TLS (tls-connection.test.ts) holds TLS connections to the same contract.
 */
export function selectorContract(t: Test, makeSelector: () => BaseSelector, transport: Transport = plainTransport): void {
  const fresh = (t: Test) => {
    const sel = makeSelector()
    t.teardown(() => sel.close())
    return sel
  }
  const connectionPair = (t: Test) => pairOver(t, transport)
  const connectionWithRawPeer = (t: Test) => rawPeerOver(t, transport)
  const listen = () => transport.listen()

  t.test('register returns an immutable key with a small integer fd', async t => {
    const sel = fresh(t)
    const { client, server } = await connectionPair(t)
    const key = sel.register(client, EVENT_READ, 'data')
    t.equal(key.fileobj, client)
    t.equal(key.events, EVENT_READ)
    t.equal(key.data, 'data')
    t.ok(Number.isInteger(key.fd) && key.fd >= 0, 'fd is a small integer')
    t.ok(Object.isFrozen(key), 'key is frozen')
    t.throws(() => ((key as { events: number }).events = 2), TypeError, 'assigning to a key throws')
    const other = sel.register(server, EVENT_WRITE)
    t.not(other.fd, key.fd, 'each registration has its own fd')
    t.equal(other.data, undefined, 'data defaults to undefined')
    t.equal(sel.getKey(client), key)
  })

  t.test('register rejects bad events, bad objects and closed sockets with ValueError', async t => {
    const sel = fresh(t)
    const { client, server } = await connectionPair(t)
    // 2**32 + 1 and its kin are 1, 2 or 3 to a 32-bit `&`: the check must not truncate.
    for (const events of [0, 4, EVENT_READ | 8, -1, 1.5, NaN, Infinity, 2 ** 32 + 1, 2 ** 32 + 3, 2 ** 53 + 2, -(2 ** 32) + 1]) {
      t.throws(() => sel.register(client, events), ValueError, `events ${events}`)
    }
    t.throws(() => sel.register({} as never, EVENT_READ), ValueError, 'a plain object')
    t.throws(() => sel.register(null as never, EVENT_READ), ValueError, 'null')
    server.close()
    t.throws(() => sel.register(server, EVENT_READ), ValueError, 'a closed connection')
    t.equal(sel.getMap().size, 0, 'nothing was registered')
  })

  t.test('registering twice is a KeyError', async t => {
    const sel = fresh(t)
    const { client } = await connectionPair(t)
    sel.register(client, EVENT_READ)
    t.throws(() => sel.register(client, EVENT_WRITE), KeyError)
    t.equal(sel.getKey(client).events, EVENT_READ, 'the first registration stands')
  })

  t.test('unregister returns the key; unknown objects are a KeyError', async t => {
    const sel = fresh(t)
    const { client, server } = await connectionPair(t)
    const key = sel.register(client, EVENT_READ)
    t.equal(sel.unregister(client), key)
    t.throws(() => sel.unregister(client), KeyError, 'a second unregister')
    t.throws(() => sel.unregister(server), KeyError, 'never registered')
    t.throws(() => sel.getKey(client), KeyError, 'getKey after unregister')
    t.equal(sel.getMap().size, 0)
    // re-registering after unregister is allowed
    t.equal(sel.register(client, EVENT_WRITE).events, EVENT_WRITE)
  })

  t.test('a socket closed after registering unregisters without error', async t => {
    const sel = fresh(t)
    const { client } = await connectionPair(t)
    const key = sel.register(client, RW)
    client.close()
    t.equal(sel.unregister(client), key)
  })

  t.test('a closed registered socket is never reported ready', async t => {
    const sel = fresh(t)
    const { client, server } = await connectionPair(t)
    sel.register(client, RW)
    server.send(Buffer.from('x'))
    await expectEvents(t, sel, [[client, RW]])
    client.close()
    await expectNoEvents(t, sel)
  })

  t.test('modify changes events, keeps the fd; a data-only change re-arms nothing', async t => {
    const sel = fresh(t)
    const { client } = await connectionPair(t)
    const key = sel.register(client, EVENT_READ, 'a')
    await expectNoEvents(t, sel, 'connected client, READ only: nothing to read')
    const data = sel.modify(client, EVENT_READ, 'b')
    t.not(data, key, 'a new key')
    t.equal(data.fd, key.fd)
    t.equal(data.events, EVENT_READ)
    t.equal(data.data, 'b')
    t.equal(sel.getKey(client), data)
    await expectNoEvents(t, sel, 'still nothing ready after a data-only modify')
    const rw = sel.modify(client, RW)
    t.equal(rw.fd, key.fd)
    t.equal(rw.data, undefined)
    await expectEvents(t, sel, [[client, EVENT_WRITE]])
    t.throws(() => sel.modify(client, 0), ValueError, 'events 0')
    t.throws(() => sel.modify(client, 16), ValueError, 'unknown bit')
    t.throws(() => sel.modify(client, 2 ** 32 + 1), ValueError, 'a mask past 32 bits')
    t.equal(sel.getKey(client), rw, 'a rejected modify changes nothing')
    sel.unregister(client)
    t.throws(() => sel.modify(client, EVENT_READ), KeyError, 'not registered')
  })

  t.test('getMap is a live, read-only view', async t => {
    const sel = fresh(t)
    const { client, server } = await connectionPair(t)
    const map = sel.getMap()
    t.equal(map.size, 0)
    const key = sel.register(client, EVENT_READ)
    t.equal(map.size, 1, 'the view follows registrations')
    t.equal(map.get(client), key)
    t.ok(map.has(client))
    t.notOk(map.has(server))
    t.same([...map.keys()], [client])
    t.same([...map.values()], [key])
    t.same([...map], [[client, key]])
    t.same([...map.entries()], [[client, key]])
    let seen = 0
    map.forEach((k, f, m) => {
      t.equal(k, key)
      t.equal(f, client)
      t.equal(m, map)
      seen++
    })
    t.equal(seen, 1)
    t.equal((map as unknown as { set?: unknown }).set, undefined, 'no set()')
    t.equal((map as unknown as { delete?: unknown }).delete, undefined, 'no delete()')
    t.equal((map as unknown as { clear?: unknown }).clear, undefined, 'no clear()')
    t.throws(() => ((map as unknown as { extra: number }).extra = 1), TypeError, 'frozen')
    // Read-only at run time, not only by type: nothing reachable from the view is the live Map.
    const reachable = [
      ...Reflect.ownKeys(map).map(k => (map as unknown as Record<PropertyKey, unknown>)[k]),
      ...Reflect.ownKeys(Object.getPrototypeOf(map))
        .filter(k => k !== 'size')
        .map(k => (map as unknown as Record<PropertyKey, unknown>)[k]),
    ]
    t.notOk(
      reachable.some(v => v instanceof Map),
      'no property of the view holds the selector\'s Map',
    )
    t.notOk(map instanceof Map, 'the view is not a Map (Map.prototype.set cannot be applied to it)')
    t.throws(() => Map.prototype.set.call(map, server, key), TypeError, 'Map.prototype.set on the view throws')
    t.equal(map.size, 1, 'and the registrations are unchanged')
    sel.unregister(client)
    t.equal(map.size, 0)
  })

  t.test('close: every call afterwards says the selector is closed', async t => {
    const sel = makeSelector()
    const { client } = await connectionPair(t)
    sel.register(client, EVENT_READ)
    sel.close()
    t.ok(sel.closed)
    t.throws(() => sel.register(client, EVENT_READ), SelectorClosedError)
    t.throws(() => sel.unregister(client), SelectorClosedError)
    t.throws(() => sel.modify(client, EVENT_READ), SelectorClosedError)
    t.throws(() => sel.getKey(client), SelectorClosedError)
    t.throws(() => sel.getMap(), SelectorClosedError)
    // select() reports every error the same way, as a rejected promise: never a synchronous throw.
    let selecting: Promise<unknown> | undefined
    t.doesNotThrow(() => (selecting = sel.select(0)), 'select() after close does not throw synchronously')
    await t.rejects(selecting!, SelectorClosedError, 'it rejects with SelectorClosedError')
    await t.rejects(sel.select(), SelectorClosedError, 'also with no timeout')
    t.match(new SelectorClosedError().message, /selector is closed/)
    sel.close() // idempotent
    // the connection can be registered elsewhere: close forgot it
    const other = makeSelector()
    t.teardown(() => other.close())
    t.ok(other.register(client, EVENT_READ))
  })

  t.test('close resolves a select() that is waiting with an empty list', async t => {
    const sel = makeSelector()
    const waiting = sel.select()
    setTimeout(() => sel.close(), 20)
    t.same(await waiting, [])
  })

  t.test('only one select() may wait at a time', async t => {
    const sel = fresh(t)
    const first = sel.select(30)
    await t.rejects(sel.select(0), /already waiting/)
    t.same(await first, [])
  })

  t.test('select timeouts: 0 and negative poll; positive waits, also with nothing registered', async t => {
    const sel = fresh(t)
    for (const timeout of [0, -1, -1000]) {
      const t0 = performance.now()
      t.same(await sel.select(timeout), [], `select(${timeout}) with no keys`)
      t.ok(performance.now() - t0 < 500, `select(${timeout}) returned without waiting`)
    }
    let t0 = performance.now()
    t.same(await sel.select(120), [], 'select(120) with no keys returns []')
    t.ok(performance.now() - t0 >= 110, `select(120) waited (${(performance.now() - t0).toFixed(0)} ms)`)

    const { client } = await connectionPair(t)
    sel.register(client, EVENT_READ)
    t0 = performance.now()
    t.same(await sel.select(0), [], 'poll with a key that is not ready')
    t0 = performance.now()
    t.same(await sel.select(100), [], 'select(100) with a key that is not ready')
    t.ok(performance.now() - t0 >= 90, 'it waited for the timeout')
    await t.rejects(sel.select(NaN), ValueError, 'NaN is not a timeout')
  })

  t.test('select timeouts of 2**31 ms and more wait, as any other timeout (no 1 ms overflow)', async t => {
    // setTimeout turns a delay past 2**31 - 1 ms into 1 ms: a select(2**31) that returned [] at
    // once would make a loop with a far-off timer spin. Each must still be waiting when the data
    // comes, 50 ms later, and return it.
    const sel = fresh(t)
    const { client, server } = await connectionPair(t)
    sel.register(client, EVENT_READ)
    for (const timeout of [2 ** 31 - 1, 2 ** 31, 2 ** 32 + 5, 1e15, Number.MAX_SAFE_INTEGER, Infinity]) {
      const timer = setTimeout(() => server.send(Buffer.from('late')), 50)
      const t0 = performance.now()
      const ready = await sel.select(timeout)
      clearTimeout(timer)
      t.same(
        ready.map(([k, m]) => [k.fileobj === client, m]),
        [[true, EVENT_READ]],
        `select(${timeout}) waited for the data (${(performance.now() - t0).toFixed(0)} ms)`,
      )
      t.equal(client.recv()!.toString(), 'late')
    }
    const waiting = sel.select(2 ** 40)
    setTimeout(() => sel.close(), 30)
    t.same(await waiting, [], 'close() ends a long wait too')
  })

  t.test('select with no timeout (undefined or null) waits until something is ready', async t => {
    const sel = fresh(t)
    const { client, server } = await connectionPair(t)
    sel.register(client, EVENT_READ)
    for (const timeout of [undefined, null]) {
      const timer = setTimeout(() => server.send(Buffer.from('ping')), 60)
      const t0 = performance.now()
      const ready = await sel.select(timeout)
      clearTimeout(timer)
      t.ok(performance.now() - t0 >= 40, `select(${timeout}) waited for the data`)
      t.same(
        ready.map(([k, m]) => [k.fileobj === client, m]),
        [[true, EVENT_READ]],
      )
      t.equal(client.recv()!.toString(), 'ping')
    }
  })

  t.test('select resolves on a macrotask, never in a microtask-only chain', async t => {
    const sel = fresh(t)
    const { client } = await connectionPair(t)
    sel.register(client, EVENT_WRITE)
    let immediate = false
    setImmediate(() => (immediate = true))
    const ready = await sel.select(0)
    t.ok(immediate, 'an earlier setImmediate ran before select() resolved')
    t.equal(ready.length, 1, 'and the ready key was reported')
    immediate = false
    setImmediate(() => (immediate = true))
    await sel.select(0)
    t.ok(immediate, 'again on a poll')
  })

  t.test('level-triggered: a key stays ready until its state changes, masked by interest', async t => {
    const sel = fresh(t)
    const { client, server } = await connectionPair(t)
    sel.register(client, EVENT_READ)
    server.send(Buffer.from('hello'))
    await expectEvents(t, sel, [[client, EVENT_READ]])
    await expectEvents(t, sel, [[client, EVENT_READ]]) // not consumed: still ready
    t.equal(client.recv(2)!.toString(), 'he', 'recv(max) returns at most max bytes')
    await expectEvents(t, sel, [[client, EVENT_READ]])
    t.equal(client.recv()!.toString(), 'llo')
    assertWouldBlock(t, client)
    await expectNoEvents(t, sel)
    sel.modify(client, RW)
    await expectEvents(t, sel, [[client, EVENT_WRITE]])
    await expectEvents(t, sel, [[client, EVENT_WRITE]])
  })

  t.test('EOF makes a key readable and recv() returns an empty buffer', async t => {
    const sel = fresh(t)
    const { conn, peer } = await connectionWithRawPeer(t)
    sel.register(conn, EVENT_READ)
    peer.end('last words')
    let text = ''
    let eof = false
    while (!eof) {
      await expectEvents(t, sel, [[conn, EVENT_READ]])
      const d = conn.recv()!
      if (d.length === 0) eof = true
      else text += d
    }
    t.equal(text, 'last words', 'bytes before EOF arrive first, then recv() is empty')
    t.equal(conn.recv()!.length, 0, 'and stays empty')
    await expectEvents(t, sel, [[conn, EVENT_READ]])
    // half-close: after the peer's FIN we can still send
    t.equal(conn.send(Buffer.from('reply')), 5)
    peer.resume()
  })

  t.test('a reset by the peer is an error ready for READ and WRITE; recv throws it once', async t => {
    const sel = fresh(t)
    const { conn, peer } = await connectionWithRawPeer(t)
    sel.register(conn, EVENT_READ)
    transport.resetPeer(peer)
    await expectEvents(t, sel, [[conn, EVENT_READ]])
    sel.modify(conn, RW)
    await expectEvents(t, sel, [[conn, RW]])
    t.throws(() => conn.recv(), { code: 'ECONNRESET' })
    t.equal(conn.recv()!.length, 0, 'after the error: EOF')
    t.throws(() => conn.send(Buffer.from('x')), { code: 'EPIPE' }, 'sending to a gone peer')
  })

  t.test('partial send: a peer that does not read fills the buffer, WRITE readiness ends', async t => {
    const sel = fresh(t)
    const { conn, peer } = await connectionWithRawPeer(t)
    peer.pause()
    sel.register(conn, EVENT_WRITE)
    const block = Buffer.alloc(256 * 1024, 0x61)
    let total = 0
    let partial = false
    for (let round = 0; round < 400; round++) {
      const ready = await sel.select(200)
      if (ready.length === 0) break // not writable any more
      const n = conn.send(block)
      total += n
      if (n > 0 && n < block.length) partial = true
    }
    t.ok(partial, 'a send accepted only part of its buffer')
    t.equal(conn.send(block), 0, 'send would block')
    await expectNoEvents(t, sel, 'not writable while the peer does not read')
    t.ok(total > 0, `accepted ${total} bytes before blocking`)
    // the peer reads everything: writable again
    let received = 0
    peer.on('data', d => (received += d.length))
    peer.resume()
    await expectEvents(t, sel, [[conn, EVENT_WRITE]], 10_000)
    await until(() => received === total, `peer to receive ${total} bytes`, 10_000)
    t.equal(received, total, 'every accepted byte arrived')
  })

  t.test('accept bursts: every queued connection is accepted, then accept would block', async t => {
    const sel = fresh(t)
    const listener = await listen()
    t.teardown(() => listener.close())
    sel.register(listener, EVENT_READ)
    await expectNoEvents(t, sel, 'no connection yet')
    t.equal(listener.accept(), null, 'accept would block')
    const port = listener.address().port
    const N = 60
    // (A TLS peer's handshake needs its connection accepted: its promise is awaited after accept.)
    const connecting = Array.from({ length: N }, () => transport.peer(port))
    // Node accepts on its own loop; wait until all of them are queued, then take them in one burst.
    await until(() => listener.queued === N, `${N} queued connections`)
    await expectEvents(t, sel, [[listener, EVENT_READ]])
    const accepted: Connection[] = []
    for (let c = listener.accept(); c; c = listener.accept()) accepted.push(c)
    t.teardown(() => accepted.forEach(c => c.close()))
    const peers = await Promise.all(connecting)
    t.teardown(() => peers.forEach(p => p.destroy()))
    t.equal(accepted.length, N, `all ${N} accepted`)
    await expectNoEvents(t, sel, 'queue empty: not readable')
    // A TLS connection is accepted with its handshake under way: writable once it is done.
    if (transport.handshakes) await until(() => accepted.every(c => c.readiness() & EVENT_WRITE), 'every handshake done')
    for (const c of accepted) t.equal(c.readiness() & EVENT_WRITE, EVENT_WRITE)
  })

  t.test('connect completes as WRITE readiness; a refused connect is an error', async t => {
    const sel = fresh(t)
    const listener = await listen()
    const port = listener.address().port
    const ok = transport.connect(port)
    t.teardown(() => ok.close())
    sel.register(ok, RW)
    // TCP's connect completes before accept() (the kernel's doing); a TLS handshake needs the
    // server to have accepted the connection and to take part.
    const early = transport.handshakes ? await acceptOne(listener) : null
    await expectEvents(t, sel, [[ok, EVENT_WRITE]])
    t.equal(ok.getError(), null)
    const accepted = early ?? (await acceptOne(listener))
    accepted.close()
    let serverClosed = false
    listener.server.once('close', () => (serverClosed = true))
    listener.close()
    sel.unregister(ok)
    // Nobody listens on `port` once the server has closed (its handle, and with it the port).
    await until(() => serverClosed && !listener.server.listening, 'the listening socket to close')
    const refused = transport.connect(port)
    t.teardown(() => refused.close())
    sel.register(refused, EVENT_WRITE)
    await expectEvents(t, sel, [[refused, EVENT_WRITE]])
    t.match(refused.getError(), { code: 'ECONNREFUSED' }, 'getError() tells why (SO_ERROR)')
    t.throws(() => refused.recv(), { code: 'ECONNREFUSED' })
  })

  t.test('readiness of many keys at once, each masked by its own interest', async t => {
    const sel = fresh(t)
    const pairs = await Promise.all(Array.from({ length: 20 }, () => connectionPair(t)))
    pairs.forEach(({ client }, i) => sel.register(client, i % 2 ? RW : EVENT_READ))
    pairs.forEach(({ server }, i) => i % 3 === 0 && server.send(Buffer.from('x')))
    const expected: Array<[Connection, number]> = []
    pairs.forEach(({ client }, i) => {
      const mask = (i % 3 === 0 ? EVENT_READ : 0) | (i % 2 ? EVENT_WRITE : 0)
      if (mask) expected.push([client, mask])
    })
    await expectEvents(t, sel, expected)
  })
}
