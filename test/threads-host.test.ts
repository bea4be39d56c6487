// The thread host in-process, with handler modules other than echo: the seam chat will plug into
// (shared memory behind the mutex, writes into other connections' rings), and fault isolation
// (a handler that throws, a thread that dies) costing only its own connection.
import t from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { builtUrl } from '../lib/built.js'
import { ThreadHost } from '../lib/threads/host.js'
import { Mutex } from '../lib/threads/mutex.js'
import { Collector, connect } from './helpers/net.js'
import type { BroadcastShared } from './fixtures/broadcast-handler.js'

async function listen(host: ThreadHost): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer({ allowHalfOpen: true }, socket => host.serve(socket))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, port: (server.address() as net.AddressInfo).port }
}

/** Captures what the host logs (it writes to stderr) while `fn` runs. */
async function captureLog<T>(fn: () => Promise<T>): Promise<{ result: T; text: string }> {
  const original = process.stderr.write.bind(process.stderr)
  let text = ''
  process.stderr.write = ((chunk: string | Uint8Array) => ((text += String(chunk)), true)) as typeof process.stderr.write
  try {
    return { result: await fn(), text }
  } finally {
    process.stderr.write = original
  }
}

t.test('a handler module with shared state: a client table behind the mutex, writes into other connections', async t => {
  const lock = Mutex.create()
  const maxThreads = 4
  const shared: BroadcastShared = { lock: lock.sab, table: new SharedArrayBuffer(4 * (1 + 2 * maxThreads)) }
  const members = new Int32Array(shared.table)
  const host = new ThreadHost({
    handler: builtUrl(new URL('./fixtures/broadcast-handler.ts', import.meta.url)),
    shared,
    maxThreads,
    pool: 0,
    verbose: false,
  })
  await host.start()
  const { server, port } = await listen(host)
  t.teardown(() => server.close())

  const [a, b, c] = await Promise.all([connect(port), connect(port), connect(port)])
  const [ra, rb, rc] = [a, b, c].map(s => new Collector(s))
  // Wait (on the main thread, without blocking) until the three threads have joined the table.
  const deadline = Date.now() + 15_000
  while (Atomics.load(members, 0) < 3 && Date.now() < deadline) await new Promise(r => setTimeout(r, 10))
  t.equal(Atomics.load(members, 0), 3, 'three members in the shared table')

  a.write('from a\n')
  await rb.match(/from a\n/)
  await rc.match(/from a\n/)
  b.write('from b\n')
  await ra.match(/from b\n/)
  await rc.match(/from a\nfrom b\n/)
  t.equal(ra.text(), 'from b\n', 'a got only what others sent')
  t.equal(rb.text(), 'from a\n', 'b got only what others sent')

  // a leaves (half-close): its thread takes it out of the table, then a gets its EOF.
  a.end()
  await ra.end()
  while (Atomics.load(members, 0) > 2 && Date.now() < deadline) await new Promise(r => setTimeout(r, 10))
  c.write('from c\n')
  await rb.match(/from c\n/)
  t.equal(rb.text(), 'from a\nfrom c\n')
  t.equal(ra.text(), 'from b\n', 'nothing more reached the one who left')

  b.end()
  c.end()
  await Promise.all([rb.end(), rc.end()])
  t.equal(Atomics.load(members, 0), 0, 'everyone left the table')
  t.notOk(lock.locked, 'and nobody holds the lock')
  await host.stop(2000)
  t.equal(host.liveThreads, 0, 'no thread left after stop')
  t.equal(host.activeConnections, 0)
})

t.test('a handler that throws, or a thread that dies, costs only its own connection', async t => {
  const host = new ThreadHost({
    handler: builtUrl(new URL('./fixtures/faulty-handler.ts', import.meta.url)),
    maxThreads: 4,
    pool: 1,
    verbose: false,
  })
  await host.start()
  const { server, port } = await listen(host)
  t.teardown(() => server.close())

  const ask = async (text: string) => {
    const s = await connect(port)
    s.on('error', () => {})
    const got = new Collector(s)
    s.write(text)
    await got.end(15_000)
    s.destroy()
    return got
  }
  const bystander = await connect(port) // holds a thread all along, never served a message yet

  const { result, text } = await captureLog(async () => ({
    ok: await ask('hello'),
    boom: await ask('boom'),
    exit: await ask('exit'),
    after: await ask('again'),
  }))
  t.equal(result.ok.text(), 'hello', 'a normal client is served')
  t.equal(result.boom.text(), '', 'the throwing handler’s client is closed, with nothing sent')
  t.notOk(result.boom.error, 'closed cleanly (FIN), not reset')
  t.match(text, /handler failed for 127\.0\.0\.1:\d+, connection closed: Error: boom: a bug in the handler/, 'the error is logged')
  t.equal(result.exit.text(), '', 'the dead thread’s client gets nothing')
  t.match(text, /ended while serving 127\.0\.0\.1:\d+: connection reset/, 'the thread’s death is logged')
  t.equal(result.after.text(), 'again', 'the server goes on serving new clients')

  const got = new Collector(bystander)
  bystander.write('still there')
  await got.end(15_000)
  t.equal(got.text(), 'still there', 'the client already connected was never disturbed')
  bystander.destroy()
  await host.stop(2000)
  t.equal(host.liveThreads, 0)
})
