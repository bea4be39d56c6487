// The echo protocol's behaviour suite, run against every concurrency model as a real process,
// and against the reference servers of peers/ (the classic Python labs), which promise the same.
import t from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { type ServerProcess } from './helpers/process.js'
import { canRun, peerNames, startSubject, subject } from './helpers/peers.js'
import { Collector, connect, patternBytes } from './helpers/net.js'
import { rssBytes } from './helpers/proc-stats.js'

const OURS = ['selector', 'threads', 'net']
const MODELS = [...OURS, ...peerNames('echo')]

/** Sends `payload` (in pieces, with backpressure), then half-closes; resolves with all echoed bytes. */
async function echoRoundTrip(port: number, payload: Buffer, timeoutMs = 30_000): Promise<Buffer> {
  const socket = await connect(port)
  const got = new Collector(socket)
  for (let off = 0; off < payload.length; off += 256 * 1024) {
    if (!socket.write(payload.subarray(off, off + 256 * 1024))) await once(socket, 'drain')
  }
  socket.end()
  await got.end(timeoutMs)
  socket.destroy()
  return got.buffer()
}

for (const model of MODELS) {
  t.test(`echo ${subject('echo', model)}`, async t => {
    if (!canRun(t, 'echo', model)) return
    let server: ServerProcess
    t.before(async () => {
      server = await startSubject('echo', model, ['--port', '0'])
    })
    t.teardown(() => server.stop('SIGKILL'))

    t.test('listens on the address it prints', async t => {
      t.equal(server.host, '127.0.0.1')
      t.ok(server.port > 0, `port ${server.port}`)
      t.match(server.stdout(), /^listening on 127\.0\.0\.1:\d+\n/, 'the first stdout line')
    })

    t.test('byte-exact echo of binary payloads from 1 B to several MB', async t => {
      for (const size of [1, 7, 1024, 65_537, 1_000_000, 4 * 1024 * 1024]) {
        const payload = patternBytes(size, size)
        const echoed = await echoRoundTrip(server.port, payload)
        t.equal(echoed.length, size, `${size} B: length`)
        t.ok(echoed.equals(payload), `${size} B: every byte`)
      }
    })

    t.test('every byte value, NULs and invalid UTF-8 come back untouched', async t => {
      const payload = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from([0xff, 0xfe, 0, 0, 0xc3])])
      t.ok((await echoRoundTrip(server.port, payload)).equals(payload))
    })

    t.test('200 concurrent clients, each with its own stream, all echoed exactly', async t => {
      const clients = await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const payload = patternBytes(1000 + i * 37, i + 1)
          return { payload, echoed: await echoRoundTrip(server.port, payload) }
        }),
      )
      const bad = clients.filter(c => !c.echoed.equals(c.payload)).length
      t.equal(bad, 0, 'no client got anything but its own bytes')
    })

    t.test('ping-pong: each message is echoed before the next is sent', async t => {
      const socket = await connect(server.port)
      const got = new Collector(socket)
      let wrong = 0
      for (let i = 1; i <= 50; i++) {
        const msg = patternBytes(100, i)
        socket.write(msg)
        await got.bytes(i * 100)
        if (!got.buffer().subarray((i - 1) * 100).equals(msg)) wrong++
      }
      t.equal(got.length, 5000, 'nothing more than was sent')
      t.equal(wrong, 0, 'each reply was its own message')
      socket.destroy()
    })

    t.test('half-close: the server finishes echoing after our FIN, then closes', async t => {
      const socket = await connect(server.port)
      const got = new Collector(socket)
      const payload = patternBytes(2 * 1024 * 1024, 99)
      // Wait for part of the echo before sending FIN, so the FIN arrives mid-echo.
      socket.write(payload)
      await got.bytes(64 * 1024)
      socket.end()
      await got.end()
      t.ok(got.buffer().equals(payload), 'everything sent before the FIN was echoed')
      t.ok(got.ended, 'then the server closed')
      socket.destroy()
    })

    t.test('abrupt resets cost nobody else anything', async t => {
      const since = server.mark()
      const steady = await connect(server.port)
      const steadyGot = new Collector(steady)
      for (let i = 0; i < 20; i++) {
        const rude = await connect(server.port)
        rude.on('error', () => {})
        rude.write(patternBytes(200_000, i))
        if (i % 2) await new Promise(r => setTimeout(r, 2))
        rude.resetAndDestroy()
      }
      const msg = Buffer.from('still here\n')
      steady.write(msg)
      await steadyGot.bytes(msg.length)
      t.ok(steadyGot.buffer().equals(msg), 'a well-behaved client is still served')
      await server.waitForOutput(/disconnect .*\(1 active\)/, 10_000, since)
      steady.destroy()
      await server.waitForOutput(/disconnect .*\(0 active\)/, 10_000, since)
      t.pass('the resets were logged as disconnects and the count came back to 0')
    })

    t.test('a client that sends but never reads cannot grow server memory', async t => {
      const before = rssBytes(server.child.pid!)
      const hog = net.connect(server.port, '127.0.0.1')
      hog.on('error', () => {})
      hog.pause() // never read
      const block = Buffer.alloc(1024 * 1024, 0x41)
      let offered = 0
      // Offer 64 MB; only what the server's bounded buffers and the kernel hold is taken.
      for (let i = 0; i < 64; i++) {
        offered += block.length
        hog.write(block)
      }
      await new Promise(r => setTimeout(r, 1500))
      const taken = offered - hog.writableLength
      const after = rssBytes(server.child.pid!)
      t.ok(taken < 40 * 1024 * 1024, `the server stopped taking data (${(taken / 1048576).toFixed(1)} MB of 64 MB)`)
      t.ok(after - before < 48 * 1024 * 1024, `server RSS grew ${((after - before) / 1048576).toFixed(1)} MB`)
      // others are still served
      const other = await echoRoundTrip(server.port, Buffer.from('hello'))
      t.equal(other.toString(), 'hello', 'another client is echoed meanwhile')
      // Gone before the next case counts connections: a server may take a moment to see the reset
      // (a thread blocked in sendall, for the threaded servers).
      const since = server.mark()
      hog.destroy()
      await server.waitForOutput(/disconnect .*\(0 active\)/, 10_000, since)
    })

    t.test('connects and disconnects are logged with the active count', async t => {
      // Only log lines written after each step count: earlier tests logged the same patterns.
      let since = server.mark()
      const a = await connect(server.port)
      a.on('error', () => {})
      await server.waitForOutput(/connect 127\.0\.0\.1:\d+ \(1 active\)/, 10_000, since)
      since = server.mark()
      const b = await connect(server.port)
      b.on('error', () => {})
      await server.waitForOutput(/connect 127\.0\.0\.1:\d+ \(2 active\)/, 10_000, since)
      since = server.mark()
      a.end()
      await server.waitForOutput(/disconnect 127\.0\.0\.1:\d+.*\(1 active\)/, 10_000, since)
      since = server.mark()
      b.end()
      await server.waitForOutput(/disconnect 127\.0\.0\.1:\d+.*\(0 active\)/, 10_000, since)
      t.pass('each connect and disconnect was logged with the count after it')
    })

    t.test('SIGTERM stops it cleanly with status 0', async t => {
      const busy = await connect(server.port)
      busy.on('error', () => {})
      t.equal(await server.stop('SIGTERM'), 0)
      t.match(server.stderr(), /SIGTERM: shutting down/)
      busy.destroy()
    })
  })
}

t.test('command-line errors are one line and a non-zero exit', async t => {
  const { spawnSync } = await import('node:child_process')
  const { CLI } = await import('./helpers/process.js')
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 10_000 })
  const badModel = run('echo', '--model', 'fibers')
  t.equal(badModel.status, 2)
  t.match(badModel.stderr, /^selectloop: --model must be one of selector, threads, net, got 'fibers'/)
  const badPort = run('echo', '--port', '70000')
  t.equal(badPort.status, 2)
  t.match(badPort.stderr, /--port must be between 0 and 65535/)
  const unknown = run('echo', '--colour')
  t.equal(unknown.status, 2)
  t.match(unknown.stderr, /Unknown option '--colour'/)
  const blocker = net.createServer().listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  const port = (blocker.address() as net.AddressInfo).port
  for (const model of OURS) {
    const inUse = run('echo', '--model', model, '--port', String(port))
    t.equal(inUse.status, 1, `${model}: port in use exits 1`)
    t.match(inUse.stderr, /^selectloop: address already in use \(127\.0\.0\.1:\d+\)\n$/, `${model}: one line, no stack`)
  }
  blocker.close()
  const help = run('echo', '--help')
  t.equal(help.status, 0)
  t.match(help.stdout, /usage: selectloop echo/)
})
