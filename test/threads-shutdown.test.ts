// Shutdown of the `threads` model: what it has echoed reaches the client, then a FIN, never a RST.
//
// - A client that sent 2 MiB (no FIN) and reads only once the server has exited: on SIGTERM the
//   echo is all in the kernel's queues, so it must all arrive, then EOF (every model; the threads
//   model used to reset it after the grace, and the kernel dropped what it still held).
// - The grace path, in-process where the server's socket can be seen: everything the server had
//   received when the stop began is echoed in full, then EOF; and when the grace runs out on a
//   handler still blocked (its client not reading), what the kernel holds still arrives, then EOF.
import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import { once } from 'node:events'
import { builtUrl } from '../lib/built.js'
import { ThreadHost, type ThreadHostOptions } from '../lib/threads/host.js'
import { Collector, connect, patternBytes } from './helpers/net.js'
import { startServer } from './helpers/process.js'

const ECHO_HANDLER = builtUrl(new URL('../lib/echo/threads-handler.ts', import.meta.url))

/** Polls `ok` until it holds; fails with `what` (and the last `detail`) after `ms`. No fixed sleep. */
async function until(ok: () => boolean, what: string, ms = 15_000, detail: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + ms
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} ${detail()}`)
    await new Promise(r => setTimeout(r, 20))
  }
}

/**
 * The kernel's queues of the TCP connections on 127.0.0.1, from one read of /proc/net/tcp: bytes
 * sent and not yet acknowledged (tx) and bytes received and not yet read (rx), by "local>remote"
 * port pair. One read, so both ends of a connection are seen at (nearly) one moment.
 */
function tcpQueues(): Map<string, { tx: number; rx: number }> {
  const queues = new Map<string, { tx: number; rx: number }>()
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length < 5) continue
    const [tx, rx] = f[4].split(':').map(x => parseInt(x, 16))
    queues.set(`${parseInt(f[1].split(':')[1], 16)}>${parseInt(f[2].split(':')[1], 16)}`, { tx, rx })
  }
  return queues
}

/**
 * Echo bytes the kernel holds for `client` of a server on `serverPort`: sent by the server and not
 * yet acknowledged, plus received by the client and not yet read (and what Node read ahead of a
 * paused client). -1 while either end is not in /proc/net/tcp.
 */
function echoInKernel(serverPort: number, client: net.Socket): number {
  const queues = tcpQueues()
  const out = queues.get(`${serverPort}>${client.localPort}`)
  const back = queues.get(`${client.localPort}>${serverPort}`)
  return out && back ? out.tx + back.rx + client.readableLength : -1
}

/**
 * echoInKernel once it has stopped moving (three equal readings 20 ms apart): a segment delivered
 * to the client but not yet acknowledged to the server counts at both ends for a moment, so a
 * single reading can exceed what is really there.
 */
async function settledEchoInKernel(serverPort: number, client: net.Socket): Promise<number> {
  let readings = [-2, -3, -4]
  for (let i = 0; i < 500 && !(readings[0] === readings[1] && readings[1] === readings[2]); i++) {
    await new Promise(r => setTimeout(r, 20))
    readings = [readings[1], readings[2], echoInKernel(serverPort, client)]
  }
  return readings[2]
}

/** Reads everything until the end of the stream; resolves with the bytes and how it ended. */
async function drain(socket: net.Socket): Promise<{ data: Buffer; error: string | null }> {
  const rx = new Collector(socket)
  socket.resume()
  await rx.end(20_000)
  return { data: rx.buffer(), error: rx.error ? ((rx.error as NodeJS.ErrnoException).code ?? rx.error.message) : null }
}

/** True when `got` is the first got.length bytes of `sent`. */
function isPrefix(got: Buffer, sent: Buffer): boolean {
  return got.length <= sent.length && sent.subarray(0, got.length).equals(got)
}

for (const model of ['threads', 'selector', 'net']) {
  t.test(`echo --model ${model}: SIGTERM with 2 MiB echoed into the kernel, read only after exit: all of it, then EOF`, async t => {
    const server = await startServer(['echo', '--model', model, '--port', '0'])
    t.teardown(() => server.stop('SIGKILL'))
    const size = 2 * 1024 * 1024
    const sent = patternBytes(size, 42)
    const client = await connect(server.port)
    client.pause() // it reads nothing until the server has gone
    client.write(sent)
    // Wait until the whole echo is in the kernel: in flight from the server, or received by the
    // client. (A reset would not show as an error: Linux then reads what was queued, then EOF.
    // What is lost is what the server's kernel still held: the byte count tells.)
    const inKernel = () => echoInKernel(server.port, client)
    await until(() => inKernel() === size, 'the whole echo to be in the kernel', 15_000, () => `(${inKernel()} of ${size} bytes)`)

    t.equal(await server.stop('SIGTERM', 15_000), 0, 'exit status 0')
    const { data, error } = await drain(client)
    t.equal(error, null, 'the stream ends cleanly')
    t.equal(data.length, size, 'every byte echoed')
    t.ok(data.equals(sent), 'byte for byte')
  })
}

/** A ThreadHost serving the echo handler in this process, behind a listening socket. */
async function echoHost(t: Test, options: Partial<ThreadHostOptions> = {}) {
  const host = new ThreadHost({ handler: ECHO_HANDLER, maxThreads: 4, pool: 0, verbose: false, ...options })
  await host.start()
  const accepted: net.Socket[] = []
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, socket => {
    accepted.push(socket)
    host.serve(socket)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  return { host, accepted, port: (server.address() as net.AddressInfo).port }
}

t.test('grace path: everything received before the stop is echoed in full, then EOF', async t => {
  const { host, accepted, port } = await echoHost(t)
  const sent = patternBytes(8 * 1024 * 1024, 7)
  const client = await connect(port)
  client.pause()
  client.write(sent)
  // The client reads nothing, so the echo backs up: kernel, socket, outbound ring, the handler
  // (blocked in sendall), inbound ring, and the server stops reading (paused) with bytes in each.
  await until(() => accepted.length === 1 && accepted[0].isPaused(), 'the server to stop reading')
  const received = accepted[0].bytesRead

  const stopped = host.stop(15_000)
  const { data, error } = await drain(client)
  t.equal(error, null, 'the stream ends cleanly')
  t.equal(data.length, received, `exactly what the server had received (${received} bytes) came back`)
  t.ok(isPrefix(data, sent), 'byte for byte')
  client.end() // the rest of what it sent is dropped; its FIN lets the server close at once
  await stopped
  t.equal(host.liveThreads, 0, 'no thread left')
  t.equal(host.activeConnections, 0, 'no connection left')
})

t.test('the grace runs out on a handler still blocked: what it echoed is delivered, then FIN, not RST', async t => {
  // Rings large enough that the server takes in all the client sends (so the client is not still
  // sending when the server closes: unread input would make the kernel answer with a reset).
  const { host, accepted, port } = await echoHost(t, { ringBytes: 8 * 1024 * 1024 })
  const size = 6 * 1024 * 1024
  const sent = patternBytes(size, 9)
  const client = await connect(port)
  client.pause()
  client.write(sent)
  await until(() => accepted.length === 1 && accepted[0].bytesRead === size, 'the server to receive everything')
  // It cannot all be echoed: the kernel holds a few MiB at most, and the client does not read;
  // the rest waits in the server (the socket's buffer, the outbound ring, the blocked handler).
  const port0 = accepted[0].localPort!
  await until(() => echoInKernel(port0, client) > 0 && host.activeConnections === 1, 'echo in the kernel')
  const held = await settledEchoInKernel(port0, client)

  await host.stop(300)
  t.equal(host.liveThreads, 0, 'stop returned, every thread gone')
  const { data, error } = await drain(client)
  t.equal(error, null, 'the stream ends cleanly')
  t.ok(data.length >= held, `at least the echo the kernel held when the stop began (${held} bytes) arrived: ${data.length}`)
  t.ok(data.length < size, 'not all of it: the client read nothing while the server could still send')
  t.ok(isPrefix(data, sent), 'byte for byte, in order')
})
