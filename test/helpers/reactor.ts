// Shared helpers for the reactor's test files (in the manner of mio's test utilities):
// real sockets on 127.0.0.1, a connected pair, and assertions about readiness.
import net from 'node:net'
import { once } from 'node:events'
import type { Test } from 'tap'
import { BaseSelector, Connection, EVENT_READ, EVENT_WRITE, Listener, type Selectable } from '../../reactor/index.js'

export const RW = EVENT_READ | EVENT_WRITE

/** Resolves once `predicate()` holds, checking on every macrotask; rejects after timeoutMs. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(r => setTimeout(r, 2))
  }
}

/**
 * How connections are made: plain TCP, or TLS (test/helpers/tls.ts). The selector contract and
 * these helpers run over either, so a TLS connection is held to the same contract.
 */
export interface Transport {
  readonly name: string
  /** A listening socket on an ephemeral loopback port. */
  listen(backlog?: number): Promise<Listener>
  /** A reactor connection to 127.0.0.1:port (Connection.connect or its TLS twin). */
  connect(port: number): Connection
  /** A plain Node socket the test drives, connected (its handshake done, with TLS) to 127.0.0.1:port. */
  peer(port: number): Promise<net.Socket>
  /** Aborts the peer with a TCP RST. */
  resetPeer(peer: net.Socket): void
  /** True when a connection is writable only after a handshake, some time after accept(). */
  readonly handshakes: boolean
}

export const plainTransport: Transport = {
  name: 'TCP',
  listen: backlog => Listener.listen({ host: '127.0.0.1', port: 0, backlog }),
  connect: port => Connection.connect('127.0.0.1', port),
  async peer(port) {
    const peer = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true })
    peer.on('error', () => {})
    await once(peer, 'connect')
    return peer
  },
  resetPeer: peer => void peer.resetAndDestroy(),
  handshakes: false,
}

/** A listening socket on an ephemeral loopback port. */
export function listen(backlog?: number, transport: Transport = plainTransport): Promise<Listener> {
  return transport.listen(backlog)
}

/** Accepts one connection, waiting for it to arrive. */
export async function acceptOne(listener: Listener): Promise<Connection> {
  await until(() => listener.queued > 0, 'a connection to accept')
  return listener.accept()!
}

/** A Connection (accepted by our Listener) and its peer, a plain Node socket the test drives. */
export async function connectionWithRawPeer(
  t: Test,
  transport: Transport = plainTransport,
): Promise<{ conn: Connection; peer: net.Socket; listener: Listener }> {
  const listener = await transport.listen()
  // Not awaited yet: a TLS peer's handshake needs its connection accepted first.
  const connecting = transport.peer(listener.address().port)
  const conn = await acceptOne(listener)
  const peer = await connecting
  await until(() => (conn.readiness() & EVENT_WRITE) !== 0, 'the accepted connection to be up')
  t.teardown(() => {
    conn.close()
    peer.destroy()
    listener.close()
  })
  return { conn, peer, listener }
}

/** Two Connections talking to each other: `client` made by Connection.connect, `server` accepted. */
export async function connectionPair(
  t: Test,
  transport: Transport = plainTransport,
): Promise<{ client: Connection; server: Connection; listener: Listener }> {
  const listener = await transport.listen()
  const client = transport.connect(listener.address().port)
  const server = await acceptOne(listener)
  await until(() => (client.readiness() & EVENT_WRITE) !== 0, 'client connected')
  await until(() => (server.readiness() & EVENT_WRITE) !== 0, 'server side up')
  t.teardown(() => {
    client.close()
    server.close()
    listener.close()
  })
  return { client, server, listener }
}

type Expected = Array<[Selectable, number]>

function describe(sel: BaseSelector, ready: Expected): string {
  return JSON.stringify(ready.map(([f, m]) => [sel.lookup(f)?.fd ?? '?', m]))
}

/**
 * Selects until the ready list is exactly `expected` (object and mask), or fails after timeoutMs.
 * Readiness arrives through Node's events, so a few rounds may pass first.
 */
export async function expectEvents(t: Test, sel: BaseSelector, expected: Expected, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  let last: Expected = []
  for (;;) {
    const remaining = deadline - performance.now()
    const ready = await sel.select(Math.max(1, Math.min(remaining, 50)))
    last = ready.map(([key, mask]) => [key.fileobj, mask])
    const same =
      last.length === expected.length &&
      expected.every(([f, m]) => last.some(([lf, lm]) => lf === f && lm === m))
    if (same) {
      t.pass(`ready: ${describe(sel, expected)}`)
      return
    }
    if (performance.now() >= deadline) {
      t.fail(`expected ready ${describe(sel, expected)}, got ${describe(sel, last)}`)
      return
    }
  }
}

/** Asserts a poll reports nothing ready for these objects. */
export async function expectNoEvents(t: Test, sel: BaseSelector, msg = 'nothing ready'): Promise<void> {
  const ready = await sel.select(0)
  t.same(ready.map(([key, mask]) => [key.fd, mask]), [], msg)
}

/** Asserts recv() would block (Python: BlockingIOError). */
export function assertWouldBlock(t: Test, conn: { recv(max?: number): Buffer | null }): void {
  t.equal(conn.recv(), null, 'recv would block')
}

/** Reads everything currently buffered and more until `n` bytes arrived (by polling readiness). */
export async function recvExactly(conn: Connection, n: number, timeoutMs = 5000): Promise<Buffer> {
  const parts: Buffer[] = []
  let got = 0
  const deadline = Date.now() + timeoutMs
  while (got < n) {
    const d = conn.recv(n - got)
    if (d === null) {
      if (Date.now() > deadline) throw new Error(`timed out after ${got}/${n} bytes`)
      await new Promise(r => setTimeout(r, 1))
      continue
    }
    if (d.length === 0) throw new Error(`EOF after ${got}/${n} bytes`)
    parts.push(d)
    got += d.length
  }
  return Buffer.concat(parts)
}
