// Hostile clients and faults against the echo server, per model: floods past the connection cap,
// descriptor exhaustion, idle timeouts, slow senders, shutdown under load, bad command lines.
import t from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { CLI, startServer } from './helpers/process.js'
import { Collector, connect, patternBytes } from './helpers/net.js'

const MODELS = ['selector', 'threads', 'net']

async function echoOnce(port: number, text: string, timeoutMs = 5000): Promise<string> {
  const s = await connect(port)
  const got = new Collector(s)
  s.write(text)
  await got.bytes(Buffer.byteLength(text), timeoutMs)
  s.destroy()
  return got.text()
}

/** Opens a connection and reports whether the server serves it (echo) or sheds it (EOF/reset). */
async function probe(port: number): Promise<{ socket: net.Socket; served: boolean }> {
  const socket = new net.Socket({ allowHalfOpen: true })
  socket.on('error', () => {})
  socket.connect(port, '127.0.0.1')
  const got = new Collector(socket)
  socket.write('x')
  try {
    await got.bytes(1, 3000)
    return { socket, served: true }
  } catch {
    return { socket, served: false }
  }
}

/**
 * True while the kernel holds a TCP connection from 127.0.0.1:`remotePort` to local port
 * `localPort` (/proc/net/tcp; a connection reset before it was accepted leaves it at once).
 */
function kernelHasConnection(localPort: number, remotePort: number): boolean {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, '0')
  const local = `0100007F:${hex(localPort)}`
  const remote = `0100007F:${hex(remotePort)}`
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .some(line => {
      const [, l, r] = line.trim().split(/\s+/)
      return l === local && r === remote
    })
}

async function until(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(r => setTimeout(r, 5))
  }
}

// The threads model's accept path is lib/threads (its own helper's); these two share the reactor's.
for (const model of ['selector', 'net']) {
  t.test(`echo --model ${model}: connections reset before they are accepted are not served or logged as connects`, async t => {
    const server = await startServer(['echo', '--model', model, '--port', '0'])
    t.teardown(() => server.stop('SIGKILL'))
    // Frozen, the server cannot accept: the kernel completes the handshakes and queues them.
    server.child.kill('SIGSTOP')
    t.teardown(() => server.child.kill('SIGCONT'))
    const doomed = await Promise.all(Array.from({ length: 5 }, () => connect(server.port)))
    for (const s of doomed) {
      s.on('error', () => {})
      const port = s.localPort!
      s.resetAndDestroy()
      await until(() => !kernelHasConnection(server.port, port), `the reset of :${port} to reach the server's kernel`)
    }
    const good = await connect(server.port)
    const goodPort = good.localPort!
    const got = new Collector(good)
    server.child.kill('SIGCONT')
    const payload = patternBytes(64 * 1024, 11)
    good.write(payload)
    await got.bytes(payload.length)
    t.ok(got.buffer().equals(payload), 'the live connection queued behind them is echoed exactly')
    good.end()
    await got.end()
    await server.waitForOutput(/disconnect .*\(0 active\)/)
    const lines = server.stderr().split('\n').filter(line => /\b(connect|disconnect) /.test(line))
    t.same(
      lines.filter(line => !/(connect|disconnect) 127\.0\.0\.1:\d+[ :]/.test(line)),
      [],
      'every connect and disconnect line names a real address (no ":0", no "undefined:undefined")',
    )
    const connects = lines.filter(line => / connect /.test(line))
    t.equal(connects.length, 1, `one connect logged, the live one's: ${connects.join(' | ')}`)
    t.match(connects[0], new RegExp(`connect 127\\.0\\.0\\.1:${goodPort} \\(1 active\\)`))
    good.destroy()
  })
}

for (const model of MODELS) {
  t.test(`echo --model ${model}: a flood past the connection cap is refused, then load falls and it recovers`, async t => {
    const server = await startServer(['echo', '--model', model, '--port', '0', '--max-conns', '5'])
    t.teardown(() => server.stop('SIGKILL'))
    const kept: net.Socket[] = []
    for (let i = 0; i < 5; i++) {
      const p = await probe(server.port)
      t.ok(p.served, `connection ${i + 1} of 5 is served`)
      kept.push(p.socket)
    }
    const flood = await Promise.all(Array.from({ length: 30 }, () => probe(server.port)))
    t.equal(flood.filter(p => p.served).length, 0, 'all 30 past the cap are refused')
    flood.forEach(p => p.socket.destroy())
    await server.waitForOutput(/connection limit \(5\) reached/)
    // the five already in are still served
    for (const s of kept) {
      const got = new Collector(s)
      s.write('still')
      await got.match(/still$/)
    }
    t.pass('the five kept being served during the flood')
    kept.forEach(s => s.destroy())
    await server.waitForOutput(/\(0 active\)/)
    t.equal(await echoOnce(server.port, 'back'), 'back', 'served again once load fell')
  })

  t.test(`echo --model ${model}: under a low descriptor limit (ulimit -n 64) it sheds, keeps serving, recovers`, async t => {
    // Node itself holds ~20 descriptors; with 64 the server runs out after ~40 connections.
    const server = await startServer(['echo', '--model', model, '--port', '0'], {
      wrapper: ['bash', '-c', 'ulimit -n 64 && exec "$@"', 'bash'],
    })
    t.teardown(() => server.stop('SIGKILL'))
    const first = await probe(server.port)
    t.ok(first.served, 'a first client is served')
    const many: net.Socket[] = []
    for (let i = 0; i < 80; i++) {
      const s = new net.Socket()
      s.on('error', () => {})
      s.connect(server.port, '127.0.0.1')
      many.push(s)
    }
    await new Promise(r => setTimeout(r, 1500))
    t.equal(server.child.exitCode, null, 'the server is still running')
    const got = new Collector(first.socket)
    first.socket.write('alive')
    await got.match(/alive$/)
    t.pass('the first client is still echoed while descriptors are exhausted')
    many.forEach(s => s.destroy())
    first.socket.destroy()
    await new Promise(r => setTimeout(r, 500))
    const later = await probe(server.port)
    t.ok(later.served, 'a new client is served once descriptors are free again')
    later.socket.destroy()
    t.match(server.stderr(), /connection cap lowered from 20000 to 32: the file-descriptor limit is 64/, 'the cap was fitted to the limit')
    // threads also lower their own cap (a connection-thread holds several descriptors)
    t.match(server.stderr(), /(connection|thread) limit \(\d+\) reached/, 'and the shedding was logged')
  })

  t.test(`echo --model ${model}: --idle-timeout closes silent connections, not active ones`, async t => {
    const server = await startServer(['echo', '--model', model, '--port', '0', '--idle-timeout', '0.4'])
    t.teardown(() => server.stop('SIGKILL'))
    const idle = await connect(server.port)
    const idleGot = new Collector(idle)
    const active = await connect(server.port)
    const activeGot = new Collector(active)
    let sent = 0
    const ticker = setInterval(() => (active.write('.'), sent++), 100)
    const t0 = Date.now()
    await idleGot.end(5000)
    const waited = Date.now() - t0
    t.ok(waited >= 300, `the idle connection was closed after ${waited} ms (timeout 400 ms)`)
    await new Promise(r => setTimeout(r, 600))
    clearInterval(ticker)
    t.notOk(activeGot.ended, 'the active connection is still open')
    await activeGot.bytes(sent)
    t.equal(activeGot.length, sent, 'and everything it sent was echoed')
    active.destroy()
  })

  t.test(`echo --model ${model}: a one-byte-at-a-time client costs the others nothing`, async t => {
    const server = await startServer(['echo', '--model', model, '--port', '0', '--quiet'])
    t.teardown(() => server.stop('SIGKILL'))
    const slow = await connect(server.port)
    const slowGot = new Collector(slow)
    const word = 'slowloris'
    let i = 0
    const ticker = setInterval(() => i < word.length && slow.write(word[i++]), 50)
    const bulk = patternBytes(2_000_000, 3)
    const s = await connect(server.port)
    const got = new Collector(s)
    s.write(bulk)
    await got.bytes(bulk.length)
    t.ok(got.buffer().equals(bulk), 'bulk transfer echoed exactly meanwhile')
    await slowGot.bytes(word.length)
    clearInterval(ticker)
    t.equal(slowGot.text(), word, 'the slow client got each byte back')
    s.destroy()
    slow.destroy()
  })

  t.test(`echo --model ${model}: SIGINT under load stops accepting, flushes, exits 0 within a bound`, async t => {
    const server = await startServer(['echo', '--model', model, '--port', '0', '--quiet'])
    const clients = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const s = await connect(server.port)
        s.on('error', () => {})
        const sent: Buffer[] = []
        const got = new Collector(s)
        const timer = setInterval(() => {
          const b = patternBytes(4096, i * 1000 + sent.length)
          sent.push(b)
          s.write(b)
        }, 5)
        return { s, sent, got, timer }
      }),
    )
    await new Promise(r => setTimeout(r, 300))
    const t0 = Date.now()
    const code = await server.stop('SIGINT', 10_000)
    const took = Date.now() - t0
    clients.forEach(c => clearInterval(c.timer))
    t.equal(code, 0, 'exit status 0')
    t.ok(took < 5000, `stopped in ${took} ms`)
    let corrupted = 0
    for (const c of clients) {
      await c.got.end(5000)
      const all = Buffer.concat(c.sent)
      if (!all.subarray(0, c.got.length).equals(c.got.buffer())) corrupted++
      c.s.destroy()
    }
    t.equal(corrupted, 0, 'every client got back an exact prefix of what it sent')
    const refused = new net.Socket().on('error', () => {})
    refused.connect(server.port, '127.0.0.1')
    const [err] = await once(refused, 'error')
    t.equal((err as NodeJS.ErrnoException).code, 'ECONNREFUSED', 'nothing listens any more')
  })
}

t.test('bad command lines and unbindable hosts: one line, non-zero exit, no stack trace', async t => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 10_000 })
  const cases: Array<[string[], number, RegExp]> = [
    [['echo', '--port=-1'], 2, /--port must be between 0 and 65535/],
    [['echo', '--port', 'eighty'], 2, /--port must be an integer, got 'eighty'/],
    [['echo', '--max-conns', '0'], 2, /--max-conns must be between 1 and/],
    [['echo', '--idle-timeout', 'soon'], 2, /--idle-timeout must be a number, got 'soon'/],
    [['echo', 'extra'], 2, /Unexpected argument 'extra'/],
    [['echo', '--host', '192.0.2.1', '--port', '0'], 1, /cannot bind: address not available on this machine \(192\.0\.2\.1\)/],
    [['echo', '--host', 'no-such-host.invalid', '--port', '0'], 1, /unknown host no-such-host\.invalid/],
  ]
  for (const [args, status, message] of cases) {
    const r = run(...args)
    t.equal(r.status, status, `${args.join(' ')}: exit ${status}`)
    t.match(r.stderr, message, `${args.join(' ')}: says why`)
    t.equal(r.stderr.trim().split('\n')[0].startsWith('selectloop: '), true, 'prefixed one-line error')
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')
  }
})
