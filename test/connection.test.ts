// The non-blocking socket wrappers: Connection and Listener, beyond what the selector contract covers.
import t from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { Connection, EVENT_READ, EVENT_WRITE, Listener } from '../reactor/index.js'
import { RW, acceptOne, assertWouldBlock, connectionPair, connectionWithRawPeer, listen, recvExactly, until } from './helpers/reactor.js'
import { patternBytes } from './helpers/net.js'

t.test('recv returns buffered bytes in order, then would block', async t => {
  const { client, server } = await connectionPair(t)
  assertWouldBlock(t, server)
  const payload = patternBytes(200_000)
  let sent = 0
  while (sent < payload.length) {
    sent += client.send(payload.subarray(sent))
    if (sent < payload.length) await new Promise(r => setTimeout(r, 1))
  }
  const got = await recvExactly(server, payload.length)
  t.ok(got.equals(payload), 'byte-exact')
  assertWouldBlock(t, server)
})

t.test('shutdown half-closes: the peer sees EOF, we can still receive', async t => {
  const { conn, peer } = await connectionWithRawPeer(t)
  let peerGot = ''
  peer.on('data', d => (peerGot += d))
  t.equal(conn.send(Buffer.from('bye')), 3)
  conn.shutdown()
  conn.shutdown() // idempotent
  await once(peer, 'end')
  t.equal(peerGot, 'bye', 'what was sent before shutdown arrives, then EOF')
  t.equal(conn.readiness() & EVENT_WRITE, 0, 'not writable after shutdown')
  t.throws(() => conn.send(Buffer.from('x')), { code: 'EPIPE' })
  peer.end('still talking')
  t.equal((await recvExactly(conn, 13)).toString(), 'still talking')
})

t.test('close flushes what send() accepted, even to a slow reader', async t => {
  const { conn, peer } = await connectionWithRawPeer(t)
  peer.pause()
  // Fill the kernel's buffers (MBs on loopback) until Node itself holds pending output.
  const payload = patternBytes(32 * 1024 * 1024, 7)
  let sent = 0
  const deadline = Date.now() + 10_000
  while (sent < payload.length && conn.pendingOutput === 0 && Date.now() < deadline) {
    sent += conn.send(payload.subarray(sent, sent + 256 * 1024))
    await new Promise(r => setImmediate(r))
  }
  t.ok(sent > 0)
  t.ok(conn.pendingOutput > 0, 'output is still pending in Node')
  conn.close()
  conn.close() // idempotent
  t.ok(conn.closed)
  t.equal(conn.readiness(), 0, 'a closed connection is never ready')
  t.throws(() => conn.recv(), { code: 'EBADF' })
  t.throws(() => conn.send(Buffer.from('x')), { code: 'EBADF' })
  const chunks: Buffer[] = []
  peer.on('data', d => chunks.push(d))
  peer.resume()
  await once(peer, 'end')
  t.ok(Buffer.concat(chunks).equals(payload.subarray(0, sent)), `all ${sent} accepted bytes arrived before EOF`)
})

t.test('close gives up after the linger time when the peer never reads', async t => {
  const listener = await Listener.listen({ port: 0, lingerMs: 100, sendBufferSize: 16 * 1024 })
  t.teardown(() => listener.close())
  const peer = net.connect(listener.address().port, '127.0.0.1')
  peer.on('error', () => {})
  peer.pause()
  t.teardown(() => peer.destroy())
  const conn = await acceptOne(listener)
  const block = Buffer.alloc(256 * 1024)
  const deadline = Date.now() + 10_000
  while (conn.pendingOutput === 0 && Date.now() < deadline) {
    conn.send(block)
    await new Promise(r => setImmediate(r))
  }
  t.ok(conn.pendingOutput > 0, 'output pending')
  conn.close()
  await until(() => conn.socket.destroyed, 'the socket to be destroyed after lingering', 3000)
  t.ok(conn.socket.destroyed)
})

t.test('reset sends RST: the peer sees ECONNRESET', async t => {
  const { conn, peer } = await connectionWithRawPeer(t)
  const errored = once(peer, 'error')
  conn.reset()
  conn.reset() // idempotent
  const [err] = await errored
  t.equal((err as NodeJS.ErrnoException).code, 'ECONNRESET')
  t.equal(conn.readiness(), 0)
})

t.test('the receive buffer is bounded: a fast sender is paused, not buffered without limit', async t => {
  const listener = await Listener.listen({ port: 0, receiveBufferSize: 32 * 1024 })
  t.teardown(() => listener.close())
  const peer = net.connect(listener.address().port, '127.0.0.1')
  peer.on('error', () => {})
  t.teardown(() => peer.destroy())
  const conn = await acceptOne(listener)
  t.teardown(() => conn.close())
  // The peer offers 8 MB at once; we never recv. What the kernel and our bound cannot hold
  // stays on the peer's side.
  const written = 8 * 1024 * 1024
  peer.write(Buffer.alloc(written, 1))
  await new Promise(r => setTimeout(r, 300))
  t.ok(conn.bufferedBytes > 0, 'something was buffered')
  t.ok(conn.bufferedBytes <= 32 * 1024 + 64 * 1024, `buffered ${conn.bufferedBytes} B ≤ bound + one chunk`)
  // reading drains it and resumes the flow
  let received = 0
  const deadline = Date.now() + 20_000
  while (received < written && Date.now() < deadline) {
    const d = conn.recv()
    if (d === null) await new Promise(r => setImmediate(r))
    else received += d.length
  }
  t.equal(received, written, 'every byte arrives once we read')
})

t.test('send details: empty buffers, while connecting', async t => {
  const listener = await listen()
  t.teardown(() => listener.close())
  const client = Connection.connect('127.0.0.1', listener.address().port)
  t.teardown(() => client.close())
  t.equal(client.readiness() & EVENT_WRITE, 0, 'not writable while connecting')
  t.equal(client.send(Buffer.from('early')), 0, 'send while connecting would block')
  await until(() => (client.readiness() & EVENT_WRITE) !== 0, 'connected')
  t.equal(client.send(Buffer.alloc(0)), 0, 'sending nothing accepts nothing')
  const server = await acceptOne(listener)
  t.teardown(() => server.close())
  t.equal(server.remoteAddress, '127.0.0.1')
  t.ok(server.remotePort > 0)
})

t.test('an error reported by send() is thrown once, then the connection reads EOF', async t => {
  const { conn, peer } = await connectionWithRawPeer(t)
  peer.resetAndDestroy()
  await until(() => conn.getError() !== null, 'the reset to arrive')
  t.equal(conn.readiness(), RW)
  t.throws(() => conn.send(Buffer.from('x')), { code: 'ECONNRESET' })
  t.equal(conn.getError(), null)
  t.equal(conn.recv()!.length, 0, 'then EOF')
})

/** True once the kernel has closed `socket` (getpeername fails), read without Node's cache. */
function kernelClosed(socket: net.Socket): boolean {
  const handle = (socket as unknown as { _handle: { getpeername(out: object): number } | null })._handle
  return handle === null || handle.getpeername({}) !== 0
}

t.test('accept() skips connections reset by their peer while queued, and counts them', async t => {
  const listener = await listen()
  t.teardown(() => listener.close())
  const port = listener.address().port
  const open = async () => {
    const peer = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }).on('error', () => {})
    await once(peer, 'connect')
    return peer
  }
  const reset = await open()
  const finished = await open()
  const live = await open()
  t.teardown(() => [reset, finished, live].forEach(p => p.destroy()))
  await until(() => listener.queued === 3, 'three queued connections')
  const queue = (listener as unknown as { queue: net.Socket[] }).queue
  const resetQueued = queue[0]
  reset.resetAndDestroy()
  finished.end('bye') // a FIN is not a reset: this one still has something to be served
  await until(() => kernelClosed(resetQueued), 'the reset to reach the queued connection')
  const first = listener.accept()!
  const second = listener.accept()!
  t.teardown(() => (first.close(), second.close()))
  t.equal(listener.accept(), null, 'then accept would block')
  t.equal(listener.aborted, 1, 'the reset one was counted as aborted')
  t.equal(listener.dropped, 0, 'and not as dropped by a full queue')
  t.same(
    [first.remotePort, second.remotePort],
    [finished.localPort, live.localPort],
    'accept() returned the other two, in order, each with its peer address',
  )
  t.equal(first.remoteAddress, '127.0.0.1')
  t.ok(resetQueued.destroyed, 'the skipped socket was closed')
  t.equal((await recvExactly(first, 3)).toString(), 'bye', 'the half-closed one is still served')
  await until(() => first.recv(1)?.length === 0, 'its EOF')
  t.equal(listener.readiness(), 0, 'nothing left to accept: not readable')
})

t.test('a destroyed socket wrapped in a Connection is hung up with its error', async t => {
  const listener = await listen()
  t.teardown(() => listener.close())
  const socket = net.connect(listener.address().port, '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  const closed = new Promise(resolve => socket.on('close', resolve))
  socket.destroy(Object.assign(new Error('gone'), { code: 'ECONNRESET' }))
  await closed
  const wrapped = new Connection(socket)
  t.teardown(() => wrapped.close())
  t.equal(wrapped.readiness(), RW, 'ready for both: it is an error')
  t.throws(() => wrapped.recv(), { code: 'ECONNRESET' })
  t.equal(wrapped.recv()!.length, 0, 'then EOF')
  t.throws(() => wrapped.send(Buffer.from('x')), { code: 'EPIPE' }, 'and nobody to send to')
})

t.test('listen reports a port in use; the accept queue is bounded by the backlog', async t => {
  const first = await listen(2)
  t.teardown(() => first.close())
  await t.rejects(Listener.listen({ port: first.address().port }), { code: 'EADDRINUSE' })
  const port = first.address().port
  const peers = Array.from({ length: 5 }, () => net.connect(port, '127.0.0.1').on('error', () => {}))
  t.teardown(() => peers.forEach(p => p.destroy()))
  await until(() => first.queued + first.dropped === 5, 'five connections seen')
  t.equal(first.queued, 2, 'two wait for accept()')
  t.equal(first.dropped, 3, 'the rest were reset')
  first.close()
  first.close()
  t.equal(first.queued, 0, 'close resets the queue')
  t.equal(first.readiness(), 0)
  t.ok(first.closed)
})

t.test('an accept error is reported through accept(), and the listener keeps going', async t => {
  const listener = await listen()
  t.teardown(() => listener.close())
  // What Node emits when accept(2) fails (EMFILE: out of file descriptors).
  listener.server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }))
  t.equal(listener.readiness(), EVENT_READ, 'the error makes it readable')
  t.throws(() => listener.accept(), { code: 'EMFILE' })
  t.equal(listener.accept(), null, 'thrown once')
  const peer = net.connect(listener.address().port, '127.0.0.1').on('error', () => {})
  t.teardown(() => peer.destroy())
  const conn = await acceptOne(listener)
  t.ok(conn, 'still accepting')
  conn.close()
})
