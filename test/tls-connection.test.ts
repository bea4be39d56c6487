// TLS connections in the reactor: the selector contract over TLS, then what is TLS's own —
// no WRITE before the handshake, READ while decrypted bytes wait, handshake and record errors as
// the connection's error (never a crash), the handshake bound, verification, half-close, reset.
import net from 'node:net'
import tls from 'node:tls'
import { once } from 'node:events'
import t, { type Test } from 'tap'
import {
  EVENT_READ,
  EVENT_WRITE,
  Listener,
  ReadyListSelector,
  ScanSelector,
  TlsConnection,
  serverTlsSocket,
  type Connection,
} from '../reactor/index.js'
import { selectorContract } from './selector-contract.js'
import { RW, acceptOne, connectionPair, expectEvents, expectNoEvents, recvExactly, until } from './helpers/reactor.js'
import { serverTls, testCertificate, tlsPeer, tlsTransport } from './helpers/tls.js'
import { patternBytes } from './helpers/net.js'

t.test('selector contract over TLS: ReadyListSelector', async t => selectorContract(t, () => new ReadyListSelector(), tlsTransport))
t.test('selector contract over TLS: ScanSelector', async t => selectorContract(t, () => new ScanSelector(), tlsTransport))

async function tlsListener(t: Test, handshakeTimeoutMs?: number): Promise<Listener> {
  const listener = await Listener.listen({ host: '127.0.0.1', port: 0, tls: serverTls(handshakeTimeoutMs) })
  t.teardown(() => listener.close())
  return listener
}

function selector(t: Test): ReadyListSelector {
  const sel = new ReadyListSelector()
  t.teardown(() => sel.close())
  return sel
}

/** A plain TCP client (the test writes what it likes: plaintext, garbage, half a ClientHello). */
async function rawClient(t: Test, port: number): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1' })
  s.on('error', () => {})
  t.teardown(() => s.destroy())
  await once(s, 'connect')
  return s
}

/** Selects until `conn` is ready with `mask`, returns the time it took. */
async function readyWithin(t: Test, sel: ReadyListSelector, conn: Connection, mask: number, timeoutMs = 5000): Promise<number> {
  const t0 = performance.now()
  await expectEvents(t, sel, [[conn, mask]], timeoutMs)
  return performance.now() - t0
}

t.test('not writable until the handshake is done; send() before it would block', async t => {
  const sel = selector(t)
  const listener = await tlsListener(t)
  const client = TlsConnection.connect('127.0.0.1', listener.address().port, { ca: testCertificate().cert })
  t.teardown(() => client.close())
  sel.register(client, RW)
  // TCP is connected once queued; the handshake waits for accept() (the server's part).
  await until(() => listener.queued === 1, 'the TCP connection to be queued')
  await expectNoEvents(t, sel, 'TCP connected, handshake not done: neither readable nor writable')
  t.equal(client.send(Buffer.from('early')), 0, 'send() would block before the handshake')
  t.notOk(client.handshakeDone)
  t.equal(client.protocol, null, 'no protocol yet')
  const server = listener.accept()!
  t.teardown(() => server.close())
  t.ok(server instanceof TlsConnection, 'the listener hands out TLS connections')
  t.equal(server.readiness() & EVENT_WRITE, 0, 'accepted: not writable before its handshake')
  await expectEvents(t, sel, [[client, EVENT_WRITE]])
  t.ok(client.handshakeDone)
  t.equal(client.getError(), null)
  t.match(client.protocol, /^TLSv1\.[23]$/)
  t.equal(client.peerFingerprint, testCertificate().fingerprint, "the client sees the server's certificate")
  await until(() => (server.readiness() & EVENT_WRITE) !== 0, 'the server side to finish its handshake')
  t.ok((server as TlsConnection).handshakeDone)
  t.equal((server as TlsConnection).peerFingerprint, null, 'the client has no certificate to show')
  t.equal(client.send(Buffer.from('hola')), 4)
  t.equal((await recvExactly(server, 4)).toString(), 'hola', 'decrypted on the other side')
})

t.test('READ while decrypted bytes wait (pending()), not only when ciphertext arrives', async t => {
  const sel = selector(t)
  const { client, server } = await connectionPair(t, tlsTransport)
  const c = client as TlsConnection
  sel.register(c, EVENT_READ)
  const record = patternBytes(12_000, 3) // one TLS record (< 16 KiB)
  t.equal(server.send(record), record.length)
  await until(() => c.pending() === record.length, 'the whole record decrypted')
  const parts: Buffer[] = []
  for (let i = 0; i < 6; i++) {
    await expectEvents(t, sel, [[c, EVENT_READ]])
    parts.push(c.recv(2000)!)
    t.equal(c.pending(), record.length - 2000 * (i + 1), `pending() after recv #${i + 1}`)
  }
  t.same(Buffer.concat(parts), record, 'recv() took the record in pieces, byte-exact')
  await expectNoEvents(t, sel, 'nothing pending: not readable')
  t.equal(c.recv(), null, 'would block')
})

t.test('a plaintext client on a TLS port: the connection fails its handshake, as its own error', async t => {
  const sel = selector(t)
  const listener = await tlsListener(t)
  const plain = await rawClient(t, listener.address().port)
  const server = await acceptOne(listener)
  t.teardown(() => server.close())
  sel.register(server, EVENT_READ)
  plain.write('ana\nhola a todos\n')
  await expectEvents(t, sel, [[server, EVENT_READ]])
  sel.modify(server, RW)
  await expectEvents(t, sel, [[server, RW]], 1000)
  t.match(server.getError(), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' }, 'getError() says why')
  t.throws(() => server.recv(), { code: 'ERR_SSL_WRONG_VERSION_NUMBER' }, 'recv() throws it once')
  t.equal(server.recv()!.length, 0, 'then reads as EOF')
  t.throws(() => server.send(Buffer.from('x')), { code: 'EPIPE' }, 'and send() says the peer is gone')
  await once(plain, 'close')
  t.pass('the plaintext client was disconnected')
})

t.test('garbage instead of a ClientHello fails the handshake at once', async t => {
  const sel = selector(t)
  const listener = await tlsListener(t)
  const raw = await rawClient(t, listener.address().port)
  const server = await acceptOne(listener)
  t.teardown(() => server.close())
  sel.register(server, RW)
  // A handshake record header, then noise where the ClientHello should be.
  raw.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40]), patternBytes(64, 9)]))
  await expectEvents(t, sel, [[server, RW]])
  t.match(server.getError(), { code: /^ERR_SSL_/ }, `an OpenSSL error: ${server.getError()?.message.split('\n')[0]}`)
  t.throws(() => server.recv(), { code: /^ERR_SSL_/ })
})

t.test('a client that stops mid-handshake is cut off by the handshake timeout', async t => {
  const sel = selector(t)
  const listener = await tlsListener(t, 300)
  const raw = await rawClient(t, listener.address().port)
  const server = await acceptOne(listener)
  t.teardown(() => server.close())
  sel.register(server, RW)
  raw.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])) // the start of a ClientHello, and no more
  await expectNoEvents(t, sel, 'waiting for the rest of the handshake')
  const ms = await readyWithin(t, sel, server, RW)
  t.match(server.getError(), { code: 'ERR_TLS_HANDSHAKE_TIMEOUT' })
  t.ok(ms < 3000, `cut off after ${ms.toFixed(0)} ms`)
  await once(raw, 'close')
  t.pass('its socket is closed')
})

t.test('a bad record after the handshake is the connection\'s error, and closes it', async t => {
  const sel = selector(t)
  const listener = await tlsListener(t)
  const tcp = net.connect({ port: listener.address().port, host: '127.0.0.1' }).on('error', () => {})
  const peer = tls.connect({ socket: tcp, host: '127.0.0.1', ca: testCertificate().cert }).on('error', () => {})
  t.teardown(() => peer.destroy())
  const server = await acceptOne(listener)
  t.teardown(() => server.close())
  await once(peer, 'secureConnect')
  sel.register(server, EVENT_READ)
  peer.write('fine so far')
  await expectEvents(t, sel, [[server, EVENT_READ]])
  t.equal(server.recv()!.toString(), 'fine so far')
  // An application-data record whose bytes were not made by the session's keys.
  tcp.write(Buffer.concat([Buffer.from([0x17, 0x03, 0x03, 0x00, 0x20]), patternBytes(32, 5)]))
  await expectEvents(t, sel, [[server, EVENT_READ]])
  sel.modify(server, RW)
  await expectEvents(t, sel, [[server, RW]])
  t.match(server.getError(), { code: /BAD_RECORD_MAC|DECRYPTION_FAILED/ }, 'decryption failed')
  t.throws(() => server.recv())
  await once(tcp, 'close')
  t.pass('the connection is closed')
})

t.test('clients verify by default: an untrusted or wrong-name certificate is a connect error', async t => {
  const sel = selector(t)
  const listener = await tlsListener(t)
  const port = listener.address().port
  const cases: Array<[string, TlsConnection, RegExp | string]> = [
    ['no CA given: self-signed', TlsConnection.connect('127.0.0.1', port), 'DEPTH_ZERO_SELF_SIGNED_CERT'],
    ['another name', TlsConnection.connect('127.0.0.1', port, { ca: testCertificate().cert, servername: 'example.com' }), 'ERR_TLS_CERT_ALTNAME_INVALID'],
  ]
  const accepted: Connection[] = []
  t.teardown(() => accepted.forEach(c => c.close()))
  for (const [what, client, code] of cases) {
    t.teardown(() => client.close())
    sel.register(client, EVENT_WRITE)
    accepted.push(await acceptOne(listener))
    await expectEvents(t, sel, [[client, EVENT_WRITE]])
    t.match(client.getError(), { code }, what)
    t.throws(() => client.recv(), { code }, `${what}: recv() throws it`)
    sel.unregister(client)
  }
  // (No handshake bound on this one: 0 turns it off.)
  const insecure = TlsConnection.connect('localhost', port, { rejectUnauthorized: false, handshakeTimeoutMs: 0 })
  t.teardown(() => insecure.close())
  sel.register(insecure, EVENT_WRITE)
  accepted.push(await acceptOne(listener))
  await expectEvents(t, sel, [[insecure, EVENT_WRITE]])
  t.equal(insecure.getError(), null, 'rejectUnauthorized: false accepts it')
  t.equal(insecure.peerFingerprint, testCertificate().fingerprint, 'and shows its fingerprint to compare')
})

t.test('a TLS client on a plaintext port: an error, or the handshake timeout', async t => {
  const sel = selector(t)
  const listener = await Listener.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => listener.close())
  const port = listener.address().port
  // A server that answers in plaintext (as the chat does to a name it cannot take).
  const answering = TlsConnection.connect('127.0.0.1', port, { ca: testCertificate().cert })
  t.teardown(() => answering.close())
  const plain = await acceptOne(listener)
  t.teardown(() => plain.close())
  await until(() => plain.bufferedBytes > 0, 'the ClientHello to arrive')
  plain.send(Buffer.from('name refused: this is not a name\n'))
  sel.register(answering, RW)
  await expectEvents(t, sel, [[answering, RW]])
  t.match(answering.getError(), { code: /^ERR_SSL_/ }, `an OpenSSL error: ${answering.getError()?.message.split('\n')[0]}`)
  sel.unregister(answering)
  // A server that says nothing: bounded by the client's handshake timeout.
  const waiting = TlsConnection.connect('127.0.0.1', port, { ca: testCertificate().cert, handshakeTimeoutMs: 200 })
  t.teardown(() => waiting.close())
  const silent = await acceptOne(listener)
  t.teardown(() => silent.close())
  sel.register(waiting, RW)
  await expectEvents(t, sel, [[waiting, RW]])
  t.match(waiting.getError(), { code: 'ERR_TLS_HANDSHAKE_TIMEOUT' })
})

t.test('half-close over TLS: shutdown() ends our side (close_notify, FIN); the peer can still send', async t => {
  const sel = selector(t)
  const listener = await tlsListener(t)
  const connecting = tlsPeer(listener.address().port)
  const server = await acceptOne(listener)
  t.teardown(() => server.close())
  const peer = await connecting
  t.teardown(() => peer.destroy())
  await until(() => (server.readiness() & EVENT_WRITE) !== 0, 'handshake done')
  let got = ''
  peer.setEncoding('utf8').on('data', (d: string) => (got += d))
  const ended = once(peer, 'end')
  t.equal(server.send(Buffer.from('goodbye')), 7)
  server.shutdown()
  await ended
  t.equal(got, 'goodbye', 'everything before the shutdown arrived, then the end')
  sel.register(server, EVENT_READ)
  peer.end('one more thing')
  let text = ''
  for (;;) {
    await expectEvents(t, sel, [[server, EVENT_READ]])
    const d = server.recv()!
    if (d.length === 0) break
    text += d
  }
  t.equal(text, 'one more thing', 'the peer was still heard after our shutdown')
  t.throws(() => server.send(Buffer.from('x')), { code: 'EPIPE' }, 'send after shutdown')
})

t.test('close() delivers what send() accepted, encrypted, then closes', async t => {
  const listener = await tlsListener(t)
  const connecting = tlsPeer(listener.address().port)
  const server = await acceptOne(listener)
  const peer = await connecting
  t.teardown(() => peer.destroy())
  await until(() => (server.readiness() & EVENT_WRITE) !== 0, 'handshake done')
  const data = patternBytes(3 * 1024 * 1024, 11)
  let off = 0
  const chunks: Buffer[] = []
  peer.on('data', (d: Buffer) => chunks.push(d))
  while (off < data.length) {
    const n = server.send(data.subarray(off))
    off += n
    if (n === 0) await new Promise(r => setTimeout(r, 1))
  }
  server.close()
  await once(peer, 'end')
  t.same(Buffer.concat(chunks), data, '3 MiB arrived byte-exact before the end')
})

t.test('reset() resets the TCP connection beneath', async t => {
  const listener = await tlsListener(t)
  const connecting = tlsPeer(listener.address().port)
  const server = await acceptOne(listener)
  const peer = await connecting
  await until(() => (server.readiness() & EVENT_WRITE) !== 0, 'handshake done')
  let error: NodeJS.ErrnoException | null = null
  peer.on('error', e => (error = e))
  const failed = new Promise(resolve => peer.once('close', resolve))
  server.reset()
  server.reset() // idempotent
  await failed
  t.match(error, { code: 'ECONNRESET' }, 'the peer sees a reset')
  t.ok(server.closed)
})

t.test("serverTlsSocket: the threads model's socket; its resetAndDestroy() works", async t => {
  const raw = net.createServer({ pauseOnConnect: true }, tcp => {
    const s = serverTlsSocket(tcp, serverTls())
    s.on('error', () => {})
    s.once('secure', () => s.resetAndDestroy())
  })
  raw.listen(0, '127.0.0.1')
  await once(raw, 'listening')
  t.teardown(() => raw.close())
  const peer = tls.connect({ port: (raw.address() as net.AddressInfo).port, host: '127.0.0.1', ca: testCertificate().cert })
  const errors: NodeJS.ErrnoException[] = []
  peer.on('error', e => errors.push(e))
  await new Promise(resolve => peer.once('close', resolve))
  t.match(errors, [{ code: 'ECONNRESET' }], 'reset, not a clean close')
})

t.test('a peer reset during the handshake is the connection\'s error', async t => {
  const sel = selector(t)
  const listener = await tlsListener(t)
  const raw = await rawClient(t, listener.address().port)
  const server = await acceptOne(listener)
  t.teardown(() => server.close())
  sel.register(server, RW)
  raw.resetAndDestroy()
  await expectEvents(t, sel, [[server, RW]])
  t.match(server.getError(), { code: 'ECONNRESET' })
})
