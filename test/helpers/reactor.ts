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

/** A listening socket on an ephemeral loopback port. */
export function listen(backlog?: number): Promise<Listener> {
  return Listener.listen({ host: '127.0.0.1', port: 0, backlog })
}

/** Accepts one connection, waiting for it to arrive. */
export async function acceptOne(listener: Listener): Promise<Connection> {
  await until(() => listener.queued > 0, 'a connection to accept')
  return listener.accept()!
}

/** A Connection (accepted by our Listener) and its peer, a plain Node socket the test drives. */
export async function connectionWithRawPeer(t: Test): Promise<{ conn: Connection; peer: net.Socket; listener: Listener }> {
  const listener = await listen()
  const peer = net.connect({ port: listener.address().port, host: '127.0.0.1', allowHalfOpen: true })
  peer.on('error', () => {})
  await once(peer, 'connect')
  const conn = await acceptOne(listener)
  t.teardown(() => {
    conn.close()
    peer.destroy()
    listener.close()
  })
  return { conn, peer, listener }
}

/** Two Connections talking to each other: `client` made by Connection.connect, `server` accepted. */
export async function connectionPair(t: Test): Promise<{ client: Connection; server: Connection; listener: Listener }> {
  const listener = await listen()
  const client = Connection.connect('127.0.0.1', listener.address().port)
  const server = await acceptOne(listener)
  await until(() => (client.readiness() & EVENT_WRITE) !== 0, 'client connected')
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
