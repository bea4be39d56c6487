// Hostile clients and faults against the echo server, per model: floods past the connection cap,
// descriptor exhaustion, idle timeouts, slow senders, shutdown under load, bad command lines.
// The reference servers of peers/ run the case their protocol promises (a slow sender); the others
// need our options (--max-conns, --idle-timeout, --grace) or our log lines.
import t, { type Test } from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { CLI, startServer } from './helpers/process.js'
import { canRun, peerNames, startSubject, subject } from './helpers/peers.js'
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

/**
 * What a server did with a probe connection:
 *   served   echoed the probe's payload back exactly (nothing more, nothing less);
 *   refused  closed or reset it with none of the payload echoed (at most a "server busy" line
 *            first: the threads model's refusal at its thread cap);
 *   garbled  bytes came back that are not the echo (wrong, partial, or more than was sent);
 *   silent   nothing at all within the time allowed: neither served nor refused.
 */
type Outcome = 'served' | 'refused' | 'garbled' | 'silent'

let probeSeed = 1000

/** Opens a connection, sends 4 KiB of its own, and tells what the server did with them. */
async function probe(port: number, timeoutMs = 3000): Promise<{ socket: net.Socket; outcome: Outcome }> {
  const socket = new net.Socket({ allowHalfOpen: true })
  socket.on('error', () => {})
  socket.connect(port, '127.0.0.1')
  const got = new Collector(socket)
  const payload = patternBytes(4096, probeSeed++)
  socket.write(payload)
  // Resolves once the payload's length is back; gives up when the server closes or time is out.
  await got.bytes(payload.length, timeoutMs).catch(() => {})
  const back = got.buffer()
  const closed = got.ended || got.error !== null
  let outcome: Outcome
  if (back.equals(payload)) outcome = 'served'
  else if (back.length === 0) outcome = closed ? 'refused' : 'silent'
  else if (closed && /^server busy/.test(back.toString('latin1'))) outcome = 'refused'
  else outcome = 'garbled'
  return { socket, outcome }
}

/** Probes until one is served, retrying those refused (the server may still be at its cap). */
async function servedAgain(t: Test, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const seen: string[] = []
  for (;;) {
    const p = await probe(port)
    p.socket.destroy()
    seen.push(p.outcome)
    if (p.outcome !== 'refused' || Date.now() > deadline) {
      t.equal(p.outcome, 'served', `a new client gets a byte-exact echo of 4 KiB (attempts: ${seen.join(', ')})`)
      return
    }
    await new Promise(r => setTimeout(r, 100))
  }
}

/** Writes `payload` on a connection already in use and waits for exactly its echo. */
async function echoesOn(socket: net.Socket, payload: Buffer): Promise<boolean> {
  const got = new Collector(socket)
  socket.write(payload)
  await got.bytes(payload.length)
  return got.buffer().equals(payload)
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

for (const model of ['selector', 'threads', 'net']) {
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
      t.equal(p.outcome, 'served', `connection ${i + 1} of 5 is served`)
      kept.push(p.socket)
    }
    const flood = await Promise.all(Array.from({ length: 30 }, () => probe(server.port)))
    const outcomes = flood.map(p => p.outcome)
    t.same(outcomes, outcomes.map(() => 'refused'), 'all 30 past the cap are refused: closed, nothing echoed')
    flood.forEach(p => p.socket.destroy())
    await server.waitForOutput(/connection limit \(5\) reached/)
    let exact = 0
    for (const [i, s] of kept.entries()) if (await echoesOn(s, patternBytes(8192, 50 + i))) exact++
    t.equal(exact, 5, 'the five already in are still echoed exactly')
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
    t.equal(first.outcome, 'served', 'a first client is served')
    const since = server.mark()
    const many: net.Socket[] = []
    for (let i = 0; i < 80; i++) {
      const s = new net.Socket()
      s.on('error', () => {})
      s.connect(server.port, '127.0.0.1')
      many.push(s)
    }
    // threads also lower their own cap (a connection-thread holds several descriptors)
    await server.waitForOutput(/(connection|thread) limit \(\d+\) reached/, 15_000, since)
    t.pass('the flood reached the cap and the shedding was logged')
    t.equal(server.child.exitCode, null, 'the server is still running')
    t.ok(await echoesOn(first.socket, patternBytes(16 * 1024, 77)), 'the first client is still echoed exactly while at the limit')
    many.forEach(s => s.destroy())
    first.socket.destroy()
    // Recovery is a full echo, not any byte: the server may need a moment to see the flood close.
    await servedAgain(t, server.port)
    t.match(server.stderr(), /connection cap lowered from 20000 to 32: the file-descriptor limit is 64/, 'the cap was fitted to the limit')
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
}

for (const model of [...MODELS, ...peerNames('echo')]) {
  t.test(`echo ${subject('echo', model)}: a one-byte-at-a-time client costs the others nothing`, async t => {
    if (!canRun(t, 'echo', model)) return
    const server = await startSubject('echo', model, ['--port', '0', '--quiet'])
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
}

/** Resolves once a new connection to `port` is refused, retrying while it is still accepted. */
async function refusedSoon(port: number, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const s = new net.Socket().on('error', () => {})
    s.connect(port, '127.0.0.1')
    const result = await once(s, 'connect').then(
      () => 'accepted',
      (e: NodeJS.ErrnoException) => e.code ?? String(e),
    )
    s.destroy()
    if (result !== 'accepted' || Date.now() > deadline) return result
    await new Promise(r => setTimeout(r, 10))
  }
}

// Selector and net: the threads model's shutdown (its handlers see end of input) is tested with
// the threads model's own suites.
for (const model of ['selector', 'net']) {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    t.test(`echo --model ${model}: ${signal} under load stops accepting and echoes everything in flight, exits 0`, async t => {
      // A grace time far longer than the echo takes: a loaded machine must not cut it short, and a
      // server that waited it out instead of closing as its clients finish would miss the bound.
      const server = await startServer(['echo', '--model', model, '--port', '0', '--quiet', '--grace', '8'])
      t.teardown(() => server.stop('SIGKILL'))
      const clients = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const s = await connect(server.port)
          s.on('error', () => {})
          const sent: Buffer[] = []
          const got = new Collector(s)
          const size = 4096 * (1 + (i % 4))
          const send = () => {
            const b = patternBytes(size, i * 1000 + sent.length)
            sent.push(b)
            s.write(b)
          }
          const timer = setInterval(send, 5)
          return { s, sent, got, timer, send, bytesSent: () => sent.reduce((n, b) => n + b.length, 0) }
        }),
      )
      await until(() => clients.every(c => c.got.length > 0), 'every client to get echoes', 10_000)
      // One client falls behind on reading while still sending, until what it sends backs up
      // into its own socket: then every buffer between it and the server is full, and part of
      // what it has sent is still on its side. None of that is echoed unless the server goes on
      // reading after the signal.
      const behind = clients[0]
      behind.s.pause()
      await until(
        () => {
          while (behind.s.writableLength < 256 * 1024) behind.send() // as fast as it is taken
          return behind.s.writableLength >= 512 * 1024 // not taken any more: backed up to here
        },
        'the client behind to back up',
        15_000,
      )
      const t0 = Date.now()
      server.child.kill(signal)
      clients.forEach(c => clearInterval(c.timer)) // nothing is sent after the signal
      const inFlight = clients.map(c => c.bytesSent() - c.got.length)
      // ECONNRESET too: a connect that lands in the accept queue just as the listener closes is
      // completed by the kernel and then reset, never served.
      t.match(await refusedSoon(server.port), /^(ECONNREFUSED|ECONNRESET)$/, 'new connections are refused once the signal is handled')
      t.equal(server.child.exitCode, null, 'while the connections in flight are still being served')
      behind.s.resume()
      clients.forEach(c => c.s.end()) // each client is done: its FIN follows its last byte
      const code = await server.exited
      const took = Date.now() - t0
      t.equal(code, 0, 'exit status 0')
      t.ok(took < 8000, `exited ${took} ms after the signal, as its clients finished (grace 8 s)`)
      t.match(server.stderr(), new RegExp(`${signal}: shutting down`))
      const short: string[] = []
      for (const [i, c] of clients.entries()) {
        await c.got.end(5000)
        const all = Buffer.concat(c.sent)
        if (!c.got.buffer().equals(all)) short.push(`client ${i}: ${c.got.length} of ${all.length} B back, ${inFlight[i]} B were in flight`)
        c.s.destroy()
      }
      t.same(short, [], `every client got back everything it sent, byte-exact (${inFlight.reduce((a, b) => a + b, 0)} B were in flight at the signal, ${inFlight[0]} B of them for the client behind)`)
    })
  }
}

for (const model of ['selector', 'net']) {
  t.test(`echo --model ${model}: --grace bounds how long a stop waits for a client that never finishes`, async t => {
    const server = await startServer(['echo', '--model', model, '--port', '0', '--quiet', '--grace', '0.5'])
    t.teardown(() => server.stop('SIGKILL'))
    const idle = await connect(server.port)
    const got = new Collector(idle)
    t.ok(await echoesOn(idle, patternBytes(1024, 5)), 'served before the signal')
    const t0 = Date.now()
    server.child.kill('SIGTERM')
    const code = await server.exited
    const took = Date.now() - t0
    t.equal(code, 0, 'exit status 0')
    t.ok(took >= 400 && took < 5000, `it waited for the open connection, then closed it: exited after ${took} ms (grace 500 ms)`)
    await got.end(5000)
    t.pass('the client was closed')
    idle.destroy()
  })
}

t.test('bad command lines and unbindable hosts: one line, non-zero exit, no stack trace', async t => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 10_000 })
  const cases: Array<[string[], number, RegExp]> = [
    [['echo', '--port=-1'], 2, /--port must be between 0 and 65535/],
    [['echo', '--port', 'eighty'], 2, /--port must be an integer, got 'eighty'/],
    [['echo', '--max-conns', '0'], 2, /--max-conns must be between 1 and/],
    [['echo', '--idle-timeout', 'soon'], 2, /--idle-timeout must be a number, got 'soon'/],
    [['echo', '--grace=-1'], 2, /--grace must be between 0 and 3600/],
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

// A network namespace of our own has no route to any DNS server: getaddrinfo answers EAI_AGAIN
// ("try again") for every name, as on a machine that is offline.
const offline = (...args: string[]) =>
  spawnSync('unshare', ['--user', '--map-root-user', '--net', process.execPath, ...args], { encoding: 'utf8', timeout: 10_000 })
const lookupOffline = offline('-e', "require('node:dns').lookup('nonexistent.invalid', e => process.stdout.write(String(e && e.code)))")
const noOfflineNamespace =
  lookupOffline.stdout === 'EAI_AGAIN'
    ? false
    : `no offline network namespace here (unshare: ${(lookupOffline.error?.message ?? lookupOffline.stderr.trim()) || lookupOffline.stdout})`

t.test('an unknown host on an offline machine (EAI_AGAIN) is the same one line as ENOTFOUND', { skip: noOfflineNamespace }, async t => {
  const cases: Array<[string[], RegExp]> = [
    [['echo', '--host', 'nonexistent.invalid', '--port', '0'], /^selectloop: unknown host nonexistent\.invalid\n$/],
    [['client', 'echo', '--host', 'nonexistent.invalid', '--port', '8080'], /^[^\n]*unknown host[^\n]*\n$/],
  ]
  for (const [args, line] of cases) {
    const r = offline(CLI, ...args)
    t.equal(r.status, 1, `${args.join(' ')}: exit 1`)
    t.match(r.stdout + r.stderr, line, `${args.join(' ')}: one line, "unknown host" (${JSON.stringify(r.stderr)})`)
    t.notMatch(r.stderr, /EAI_AGAIN|\n\s+at /, 'no error code, no stack trace')
  }
})
