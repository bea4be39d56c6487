// The load generator (closed loop; the open loop is load-rate.test.ts): its command line (what
// the bench runner builds is what the command parses), then against real servers: a real echo
// server (counts messages, no errors), deliberately broken ones (corrupting, silent, closing,
// resetting, refusing, not an echo at all), nothing listening at all, a terminal's live line, and
// the idle-connection test. No assertion is about speed.
import t, { type Test } from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { startServer, type ServerProcess } from './helpers/process.js'
import { spawnOnPty, ptyUnavailable } from './helpers/pty.js'
import { spawnCli } from '../bench/cli-process.js'
import { bashWrapper } from '../bench/child.js'
import { LOAD_DEFAULTS, runLoad, type LoadOptions, type LoadResult } from '../bench/load.js'
import { IDLE_DEFAULTS, runIdle } from '../bench/idle.js'
import { loadArgs, parseLoadArgs, type LoadCommand, type LoadMeta } from '../bench/load-cli.js'
import { PERCENTILES } from '../bench/histogram.js'
import { startEchoVariant, type Behaviour } from './fixtures/misbehaving-echo.js'
import { freePort } from './helpers/net.js'

const roundTrip = (c: LoadCommand) => parseLoadArgs(loadArgs(c))

t.test('the command line: options → argv → options is the identity', async t => {
  const defaults = parseLoadArgs(['--target', '127.0.0.1:9000'])
  t.strictSame(defaults, { mode: 'load', json: false, options: { host: '127.0.0.1', port: 9000, ...LOAD_DEFAULTS } }, 'the defaults')
  t.strictSame(roundTrip(defaults!), defaults, 'the defaults, spelled out and read back')
  for (const flag of ['--target', '--conns', '--size', '--pipeline', '--warmup', '--duration', '--timeout', '--threads']) {
    t.ok(loadArgs(defaults!).includes(flag), `${flag} is spelled out, not left to the child's defaults`)
  }
  t.notOk(loadArgs(defaults!).includes('--rate'), 'no --rate: a closed loop, which has no rate to spell out')
  const idleDefaults = parseLoadArgs(['--target', '127.0.0.1:9000', '--idle', '7'])
  t.strictSame(
    idleDefaults,
    { mode: 'idle', json: false, options: { host: '127.0.0.1', port: 9000, conns: 7, holdMs: IDLE_DEFAULTS.holdMs, timeoutMs: LOAD_DEFAULTS.timeoutMs } },
    'the idle defaults',
  )
  t.strictSame(roundTrip(idleDefaults!), idleDefaults, 'the idle defaults, spelled out and read back')

  // Every option away from its default, each alone and all at once (churn is apart: it takes no rate nor pipeline).
  const load: Required<Omit<LoadOptions, 'churn'>> = {
    host: 'localhost',
    port: 65535,
    conns: 1000,
    size: 16 * 1024 * 1024,
    pipeline: 4096,
    warmupMs: 0,
    durationMs: 50,
    timeoutMs: 10,
    threads: 64,
    serverPid: 4321,
    rate: 12_345.5,
    tls: { caFile: '/tmp/ca.pem', insecure: false },
  }
  const base = defaults!.options as LoadOptions
  for (const key of Object.keys(load) as Array<keyof typeof load>) {
    t.not(load[key], base[key], `${key}: not its default`)
    const one: LoadCommand = { mode: 'load', json: false, options: { ...base, [key]: load[key] } }
    t.strictSame(roundTrip(one), one, `${key} alone`)
  }
  const all: LoadCommand = { mode: 'load', json: true, options: load }
  t.strictSame(roundTrip(all), all, 'every load option, and --json')
  const { rate: _rate, pipeline: _pipeline, ...churnable } = load
  const churn: LoadCommand = { mode: 'load', json: true, options: { ...churnable, pipeline: base.pipeline, churn: true } }
  t.strictSame(roundTrip(churn), churn, 'churn, with every option it takes')
  t.throws(() => parseLoadArgs(['--target', ':1', '--churn', '--rate', '5']), { name: 'UsageError', message: /--churn .* no --rate/ })
  t.throws(() => parseLoadArgs(['--target', ':1', '--churn', '--pipeline', '2']), { name: 'UsageError', message: /--churn .* no --pipeline/ })
  t.throws(() => parseLoadArgs(['--target', ':1', '--churn', '--idle', '2']), { name: 'UsageError', message: /--churn and --idle/ })
  const insecure = { caFile: null, insecure: true }
  const idle: LoadCommand = { mode: 'idle', json: true, options: { host: '::1', port: 1, conns: 1_000_000, holdMs: 0, timeoutMs: 86_400_000, serverPid: 1, tls: insecure } }
  t.strictSame(roundTrip(idle), idle, 'every idle option, an IPv6 host, the longest timeout')
  t.strictSame(loadArgs(idle).slice(0, 2), ['--target', '[::1]:1'], 'an IPv6 host in brackets')

  // Milliseconds → seconds → milliseconds, for every count up to 20 s and some far beyond.
  const lost: number[] = []
  const counts = [...Array.from({ length: 20_001 }, (_, ms) => ms), 86_399_999, 86_400_000, 12_345_678]
  for (const ms of counts) {
    const c: LoadCommand = { mode: 'load', json: false, options: { ...base, warmupMs: ms } }
    if ((roundTrip(c)?.options as LoadOptions).warmupMs !== ms) lost.push(ms)
  }
  t.same(lost, [], `${counts.length} durations read back to the millisecond`)
})

t.test('the command line: bad values are usage errors', async t => {
  for (const args of [['--conns', '0'], ['--size', '32m'], ['--duration', '0.01'], ['--timeout', 'soon'], ['--idle', '0'], ['--idle', '5', '--hold=-1'], ['--hold=-1'], ['--rate', '0'], ['--rate', 'fast'], ['--rate', '-5']]) {
    t.throws(() => parseLoadArgs(['--target', '127.0.0.1:9', ...args]), { name: 'UsageError' }, args.join(' '))
  }
  t.throws(() => parseLoadArgs(['--conns', '3']), { name: 'UsageError', message: /--target HOST:PORT is required/ })
})

/** One of the fixture's misbehaving echo servers, in this process; closed at teardown. */
async function variant(t: Test, b: Behaviour): Promise<number> {
  const server = await startEchoVariant(b)
  t.teardown(() => server.close())
  return server.port
}

/** A net server on an ephemeral port running `handler` per connection; closed at teardown. */
async function tinyServer(t: Test, handler: (socket: net.Socket) => void): Promise<number> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer(socket => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    handler(socket)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    sockets.forEach(s => s.destroy())
    server.close()
  })
  return (server.address() as net.AddressInfo).port
}

function options(port: number, over: Partial<LoadOptions> = {}): LoadOptions {
  return {
    host: '127.0.0.1',
    port,
    conns: 2,
    size: 256,
    pipeline: 1,
    warmupMs: 100,
    durationMs: 500,
    timeoutMs: 2000,
    threads: 1,
    ...over,
  }
}

/** Runs `selectloop load ...`; resolves with the exit code, its output, and the parsed JSON report if it printed one. */
async function loadCli(args: string[]): Promise<{ code: number | null; result: (LoadResult & { meta: LoadMeta }) | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now()
  const child = spawnCli(['load', ...args])
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', d => (out += d))
  child.stderr.setEncoding('utf8').on('data', d => (err += d))
  const [code] = await once(child, 'close')
  let result = null
  try {
    result = JSON.parse(out)
  } catch {
    result = null
  }
  return { code, result, stdout: out, stderr: err, ms: Date.now() - started }
}

t.test('against the net echo server', async t => {
  let server: ServerProcess
  t.before(async () => {
    server = await startServer(['echo', '--model', 'net', '--port', '0', '--quiet'])
  })
  t.teardown(() => server.stop('SIGKILL'))

  t.test('the CLI counts verified messages, reports no errors and the server figures', async t => {
    const args = ['--target', `127.0.0.1:${server.port}`, '--conns', '3', '--size', '1000', '--pipeline', '4']
    const { code, result: r } = await loadCli([...args, '--warmup', '0.1', '--duration', '0.5', '--server-pid', String(server.child.pid), '--json'])
    t.equal(code, 0, 'exit status 0')
    t.ok(r, 'one JSON object on stdout')
    if (!r) return
    t.equal(r.connected, 3)
    t.equal(r.alive, 3)
    t.equal(r.errorTotal, 0)
    t.same(r.errors, { timeout: 0, reset: 0, eof: 0, mismatch: 0, refused: 0, other: 0 })
    t.ok(r.messages > 0, `${r.messages} messages`)
    t.equal(r.mode, 'closed')
    t.equal(r.serviceMs, null, 'a closed loop has no separate service time')
    t.equal(r.rate, null)
    t.equal(r.latencyMs.count, r.messages, 'one latency per message')
    const ps = PERCENTILES.map(([name]) => r.latencyMs[name] as number)
    t.ok(ps.every((p, i) => p > 0 && (i === 0 || ps[i - 1] <= p)) && ps.at(-1)! <= r.latencyMs.max!, `p50 ≤ p75 ≤ p90 ≤ p99 ≤ p99.9 ≤ p99.99 ≤ max: ${ps}`)
    const inHistogram = r.latencyMs.histogram.reduce((n, [, count]) => n + count, 0)
    t.equal(inHistogram, r.messages, 'the histogram in the JSON holds every message')
    t.ok(r.latencyMs.histogram.every(([ms], i, h) => i === 0 || h[i - 1][0] < ms), 'its buckets in order, in ms')
    t.ok(Math.abs(r.msgsPerSec - r.messages / r.windowS) <= r.msgsPerSec * 0.01, 'rate = messages / window')
    t.equal(r.server?.pid, server.child.pid)
    t.ok(r.server!.rssKb! > 0 && r.server!.threads! > 0, 'server RSS and threads read from /proc')
    t.type(r.server!.cpuPct, 'number')
    t.type(r.server!.cpuUsPerMsg, 'number', 'server CPU per message')
    t.ok(r.server!.systemUsPerMsg! >= 0 && r.server!.systemUsPerMsg! <= r.server!.cpuUsPerMsg!, `${r.server!.systemUsPerMsg} of ${r.server!.cpuUsPerMsg} µs per message in the kernel`)
    t.match(r.meta, { version: /^\d+\.\d+\.\d+/, command: /^selectloop load --target 127\.0\.0\.1:\d+ --conns 3 /, date: /^\d{4}-\d\d-\d\dT/ })
    t.match(r.meta.machine, { cpus: Number, cpuModel: String, node: process.version, loadAverage: Array }, 'the machine it ran on')
  })

  t.test('the human report names every figure', async t => {
    const child = spawnCli(['load', '--target', `127.0.0.1:${server.port}`, '--conns', '2', '--warmup', '0', '--duration', '0.3'])
    let out = ''
    child.stdout.setEncoding('utf8').on('data', d => (out += d))
    const [code] = await once(child, 'close')
    t.equal(code, 0)
    for (const word of ['throughput', 'msgs/s', 'MB/s', 'p50', 'p75', 'p90', 'p99', 'p99.9', 'p99.99', 'max', 'errors', 'load CPU']) t.match(out, word)
  })

  t.test('on a terminal, a live line each second, gone when the report comes', { skip: ptyUnavailable() ?? false }, async t => {
    const pty = spawnOnPty(['load', '--target', `127.0.0.1:${server.port}`, '--conns', '2', '--warmup', '0.2', '--duration', '2.5'], 110, 20)
    await pty.waitFor('the live line', s => /measuring \d+ s +[\d,]+ msgs\/s +p99 so far [\d.]+ ms +errors 0 +2 alive/.test(s.visible().join('\n')))
    t.equal(await pty.exited, 0)
    const screen = pty.screen.visible().join('\n')
    t.match(screen, /throughput/, 'then the report')
    t.notMatch(screen, /measuring \d+ s/, 'and the live line was erased')
  })

  t.test('two load threads share the connections and merge their counts', async t => {
    const r = await runLoad(options(server.port, { conns: 4, threads: 2 }))
    t.equal(r.threads, 2)
    t.equal(r.connected, 4)
    t.equal(r.errorTotal, 0)
    t.ok(r.messages > 0)
    t.equal(r.latencyMs.count, r.messages, 'merged histogram holds every message')
  })

  t.test('idle connections: all served, memory per connection from the server pid', async t => {
    const r = await runIdle({ host: '127.0.0.1', port: server.port, conns: 50, holdMs: 200, timeoutMs: 5000, serverPid: server.child.pid })
    t.equal(r.connected, 50)
    t.equal(r.accepted, 50)
    t.equal(r.stillServed, 50)
    t.type(r.server?.perConnKb, 'number')
    t.ok(r.fdLimit && r.fdLimit.soft > 0, 'its own fd limit is reported')
  })

  t.test('idle connections past the open-file limit: EMFILE failures, said plainly', async t => {
    const args = ['load', '--target', `127.0.0.1:${server.port}`, '--idle', '120', '--hold', '0', '--json']
    const child = spawnCli(args, { wrapper: bashWrapper('ulimit -n 80') })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', d => (out += d))
    const [code] = await once(child, 'close')
    t.equal(code, 1, 'not every connection was served')
    const r = JSON.parse(out)
    t.equal(r.fdLimit.soft, 80)
    t.ok(r.connectFailures.EMFILE > 0, `EMFILE failures: ${JSON.stringify(r.connectFailures)}`)
    t.ok(r.accepted > 0 && r.accepted < 120, `${r.accepted} served`)
    t.match(r.notes.join(' '), /may open only 80 files \(ulimit -n/)
  })

  t.test('bad command lines are usage errors (status 2)', async t => {
    for (const args of [[], ['--target', 'nowhere'], ['--target', `127.0.0.1:${server.port}`, '--conns', '0']]) {
      const { code, stderr } = await loadCli(args)
      t.equal(code, 2, args.join(' ') || '(no arguments)')
      t.match(stderr, /^selectloop: /)
    }
  })
})

t.test('a corrupting echo server: mismatches are errors, never messages', async t => {
  // Echoes faithfully except byte 1000 of each connection, which it flips. With 256-byte
  // messages, three messages (768 bytes) come back intact and the fourth is corrupt.
  const port = await variant(t, { kind: 'corrupt', at: 1000 })
  const r = await runLoad(options(port, { warmupMs: 0 }))
  t.equal(r.errors.mismatch, 2, 'one mismatch per connection')
  t.equal(r.messages, 6, 'the three intact messages of each connection, not the corrupt one')
  t.equal(r.alive, 0, 'a corrupted connection is closed')
  t.equal(r.mismatch?.offset, 1000, 'the first wrong byte, where it was')
  t.equal(r.mismatch?.got, (r.mismatch!.expected ?? 0) ^ 0xff, 'what came instead of what was sent')
  t.ok(r.stoppedEarly, 'no connection left: the window ended there')
})

t.test('an echo server that sends more than it was sent: a mismatch', async t => {
  const port = await tinyServer(t, socket => socket.on('data', (d: Buffer) => socket.write(Buffer.concat([d, d]))))
  const r = await runLoad(options(port, { conns: 1, durationMs: 300 }))
  t.equal(r.errors.mismatch, 1)
  t.equal(r.messages, 0)
  t.match(r.mismatch, { offset: 256 }, 'the first byte that was not the echo: the duplicate')
})

t.test('a server that stops answering: timeouts, and the run still ends', async t => {
  const port = await tinyServer(t, socket => socket.resume()) // reads, never writes
  const started = Date.now()
  const r = await runLoad(options(port, { conns: 3, warmupMs: 0, durationMs: 800, timeoutMs: 200 }))
  t.equal(r.errors.timeout, 3, 'every connection timed out')
  t.equal(r.messages, 0)
  t.equal(r.alive, 0)
  t.ok(Date.now() - started < 10_000, 'ended by its own deadlines')
})

t.test('a server that closes or resets after echoing: eof and reset errors', async t => {
  const closing = await tinyServer(t, socket => {
    let n = 0
    socket.on('data', (d: Buffer) => (socket.write(d), (n += d.length) >= 512 && socket.end()))
  })
  const resetting = await variant(t, { kind: 'drop', bytes: 512 })
  const eof = await runLoad(options(closing, { durationMs: 300 }))
  t.equal(eof.errors.eof, 2)
  t.equal(eof.errors.refused, 0, 'it had echoed: not a refusal')
  const reset = await runLoad(options(resetting, { durationMs: 300 }))
  t.equal(reset.errors.reset, 2)
})

t.test('a server that ends connections before echoing anything: refused, with what it said', async t => {
  const silent = await tinyServer(t, socket => socket.once('data', () => socket.end()))
  const r = await runLoad(options(silent, { durationMs: 300 }))
  t.same([r.errors.refused, r.errors.eof, r.refusal], [2, 0, ''], 'closed without a word')

  // A thread cap's refusal: a line, then FIN. Two connections are served, the other three refused.
  const capped = await variant(t, { kind: 'refuse', cap: 2, words: 'server busy: thread limit (2) reached\n' })
  const busy = await runLoad(options(capped, { conns: 5, durationMs: 400 }))
  t.equal(busy.errors.refused, 3)
  t.equal(busy.errors.mismatch, 0, 'its words are not counted as a wrong echo')
  t.equal(busy.refusal, 'server busy: thread limit (2) reached\\n', 'what it said, escaped')
  t.equal(busy.alive, 2)
  t.ok(busy.messages > 0, 'the two served connections were measured')
})

t.test('a target that is not an echo server: a mismatch, and a hint with the first wrong byte', async t => {
  // Answers every read with a greeting of its own, and keeps the connection open.
  const port = await tinyServer(t, socket => socket.on('data', () => socket.write('HELLO from elsewhere\r\n')))
  const { code, stdout, ms } = await loadCli(['--target', `127.0.0.1:${port}`, '--conns', '2', '--warmup', '0', '--duration', '20'])
  t.equal(code, 1)
  t.match(stdout, /mismatch 2/)
  // Usually byte 0 ('H'); a later one when the payload happens to begin as the greeting does.
  const hint = /hint +the target does not echo what it is sent: byte (\d+) of connection \d's replies was 0x([0-9a-f]{2}) '.' where 0x[0-9a-f]{2} '.+' was sent; from there it sent "([^"]*)"/.exec(stdout)
  t.ok(hint, 'a hint with the first wrong byte')
  if (hint) {
    const greeting = 'HELLO from elsewhere\r\n'
    const at = Number(hint[1])
    t.equal(parseInt(hint[2], 16), greeting.charCodeAt(at), `the byte named is the greeting's byte ${at}`)
    t.equal(hint[3], JSON.stringify(greeting.slice(at)).slice(1, -1), 'and from there, what it sent instead')
  }
  t.match(stdout, /stopped +every connection was lost/)
  t.ok(ms < 15_000, `it stopped once every connection was lost, not after the 20 s window (${ms} ms)`)
})

t.test('the generator closes politely: FIN, never a reset, even with echoes in flight', async t => {
  const errors: string[] = []
  let ended = 0
  let closed = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer(socket => {
    sockets.add(socket)
    socket.on('error', (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message))
    socket.on('end', () => ended++)
    socket.on('close', () => closed++)
    socket.pipe(socket)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => (sockets.forEach(s => s.destroy()), server.close()))
  const port = (server.address() as net.AddressInfo).port
  const r = await runLoad(options(port, { conns: 4, pipeline: 8, size: 4096, durationMs: 300 }))
  t.equal(r.errorTotal, 0)
  const deadline = Date.now() + 5000
  while (closed < 4 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  t.equal(closed, 4, 'every server-side socket closed')
  t.equal(ended, 4, 'each saw end of stream (a FIN)')
  t.same(errors, [], 'no ECONNRESET on the server side')
})

t.test('nothing listening: one line and exit status 1, at once', async t => {
  const port = await freePort()
  const args = ['--target', `127.0.0.1:${port}`, '--conns', '2', '--warmup', '5', '--duration', '30']
  const human = await loadCli(args)
  t.equal(human.code, 1)
  t.equal(human.stdout, '', 'no report')
  t.equal(human.stderr, `selectloop: cannot connect to 127.0.0.1:${port}: connection refused: is the server running? (none of 2 connections made: ECONNREFUSED 2)\n`)
  t.ok(human.ms < 10_000, `no warm-up, no window: ${human.ms} ms`)

  const { code, result, ms } = await loadCli([...args, '--json'])
  t.equal(code, 1)
  t.equal(result?.connected, 0)
  t.same(result?.connectFailures, { ECONNREFUSED: 2 })
  t.match(result?.failure, /^no connection made \(ECONNREFUSED 2\)$/)
  t.ok(ms < 10_000, `the JSON too, at once: ${ms} ms`)
})
