// Hostile clients and faults against the chat server, per model. In every case a few well-behaved
// clients chat at the same time (test/helpers/chat.ts Chatters), and a DeliveryLedger checks that
// each of them received every message of the others exactly once, in order, and never a raw
// control byte; and that the only other lines they heard were the ones the case expects. The
// reference server of peers/ runs the cases its protocol promises; the rest are marked ours only.
import t, { type Test } from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { spawnSync } from 'node:child_process'
import { CLI, spawnCli, type ServerProcess, type SpawnOptions } from './helpers/process.js'
import { canRun, isPeer, oursOnly, peerNames, startSubject, subject } from './helpers/peers.js'
import { findCommand } from './helpers/system.js'
import { PYTHON } from '../bench/peers.js'
import { connect, freePort, patternBytes } from './helpers/net.js'
import { Chatters, connectChat, eventually, joinChat, joinWhenServed, sleep, spaceOut, type ChatClient } from './helpers/chat.js'
import { rssBytes } from './helpers/proc-stats.js'
import { sanitize } from '../lib/chat/replies.js'

const MODELS = ['selector', 'threads', ...peerNames('chat')]

async function chatServer(t: Test, model: string, extra: string[] = [], opts: SpawnOptions = {}): Promise<ServerProcess> {
  const noConsole = isPeer('chat', model) ? [] : ['--no-console'] // a peer has no console to turn off
  const server = await startSubject('chat', model, ['--port', '0', ...noConsole, ...extra], opts)
  t.teardown(() => server.stop('SIGKILL'))
  return server
}

async function chatters(t: Test, port: number, options: Parameters<typeof Chatters.join>[1] = {}): Promise<Chatters> {
  const c = await Chatters.join(port, options)
  t.teardown(() => c.close())
  c.talk()
  return c
}

/** Settles the chatters and asserts that nothing was lost and only `expected` other lines were heard. */
async function checkChatters(t: Test, c: Chatters, expected: string[], what: string): Promise<void> {
  const { losses, sent, delivered } = await c.settle()
  // The last expected lines may still be on their way (a join just before this check).
  const has = (i: number) => expected.every(line => c.others(i).includes(line))
  await eventually(() => c.clients.every((_, i) => has(i)), 'the expected lines at every chatter', 5000).catch(() => {}) // the assertions below say what is missing
  t.same(losses, [], `${what}: no message of the well-behaved clients lost, duplicated or reordered`)
  t.ok(sent > 0 && delivered === sent * (c.clients.length - 1), `${what}: all ${sent} messages delivered to each of the ${c.clients.length - 1} others (${delivered})`)
  const shown = expected.length > 6 ? `${expected.length} expected lines` : JSON.stringify(expected)
  c.clients.forEach((_, i) => t.same([...c.others(i)].sort(), [...expected].sort(), `${what}: ${c.names[i]} heard exactly ${shown} besides`))
}

function track(t: Test, ...clients: ChatClient[]): void {
  for (const c of clients) c.socket.on('error', () => {})
  t.teardown(() => clients.forEach(c => c.socket.destroy()))
}

/** A socket that may be refused or reset: errors are expected, not thrown. */
function rawSocket(port: number): net.Socket {
  const s = new net.Socket({ allowHalfOpen: true })
  s.on('error', () => {})
  s.connect(port, '127.0.0.1')
  return s
}

for (const model of MODELS) {
  const chat = `chat ${subject('chat', model)}` // `chat --model selector`, `chat peers/chat_threads.py`
  if (isPeer('chat', model) && !findCommand(PYTHON)) {
    t.test(chat, async t => void canRun(t, 'chat', model)) // prints SKIPPED, once for all its cases
    continue
  }

  t.test(`${chat}: a slowloris and a huge line cost the others nothing`, async t => {
    const server = await chatServer(t, model)
    const c = await chatters(t, server.port)

    const slow = await joinChat(server.port, 'slow')
    track(t, slow)
    const message = 'slow but sure\n'
    const dribble = (async () => {
      for (const byte of Buffer.from(message)) {
        slow.write(Buffer.from([byte]))
        await sleep(100 + Math.random() * 100) // the slowloris's own pace
      }
    })()

    const rssBefore = rssBytes(server.child.pid!)
    const huge = await joinChat(server.port, 'huge')
    track(t, huge)
    huge.write(Buffer.alloc(64 * 1024 * 1024, 'z')) // 64 MB, no newline
    t.equal(await huge.next(/^line too long/), 'line too long (over 4096 bytes); closing the connection', 'the huge line is refused')
    await huge.closed()
    const rssAfter = rssBytes(server.child.pid!)
    t.ok(rssAfter - rssBefore < 24 * 2 ** 20, `server RSS bounded while refusing 64 MB (${rssBefore >> 20} → ${rssAfter >> 20} MB)`)
    t.match(server.stderr(), /huge: line over 4096 bytes; closing/, 'and logged')

    await dribble
    t.equal(await c.clients[0].next(/^slow: /), 'slow: slow but sure', 'the slow message arrives whole')
    await checkChatters(t, c, ['slow joined', 'huge joined', 'huge left', 'slow: slow but sure'], 'slowloris and huge line')
  })

  t.test(`${chat}: a client that never reads is dropped and logged; the others get everything`, async t => {
    // Flood control off: this case needs megabytes a second to fill the sleeper's socket buffers.
    const server = await chatServer(t, model, ['--max-outbuf', '65536', '--max-rate', '0'])
    const sleeper = await connect(server.port) // nobody reads it: no 'data' listener
    sleeper.on('error', () => {})
    t.teardown(() => sleeper.destroy())
    sleeper.write('sleeper\n')
    await server.waitForOutput(/sleeper joined/)
    const rssBefore = rssBytes(server.child.pid!)
    // Big messages at a lively pace: the sleeper's socket buffers (several MB) fill in seconds.
    const c = await chatters(t, server.port, { count: 4, intervalMs: 5, length: () => 2500 })
    await server.waitForOutput(/dropping sleeper \(127\.0\.0\.1:\d+\): not reading, \d+ bytes queued for it \(max 65536\)/, 30_000)
    t.pass('the sleeper was dropped, with a log line saying why')
    await eventually(() => c.clients.every((_, i) => c.others(i).includes('sleeper left')), 'every chatter to hear `sleeper left`')
    const rssAfter = rssBytes(server.child.pid!)
    t.ok(rssAfter - rssBefore < 64 * 2 ** 20, `server RSS bounded (${rssBefore >> 20} → ${rssAfter >> 20} MB)`)
    await checkChatters(t, c, ['sleeper left'], 'never-reader')
  })

  t.test(`${chat}: a client sending as fast as it can is slowed down; nobody else is dropped`, async t => {
    const server = await chatServer(t, model) // --max-rate 65536 by default
    const c = await chatters(t, server.port, { count: 10 })
    const flooder = await joinChat(server.port, 'flood')
    track(t, flooder)
    const text = 'spam '.repeat(20).trim()
    const block = Buffer.from(`${text}\n`.repeat(1000))
    const t0 = Date.now()
    while (Date.now() - t0 < 3000) {
      // Waits for room, but never long: the server reads it at 64 KB/s, so 'drain' can take seconds.
      if (!flooder.socket.write(block)) await Promise.race([new Promise(r => flooder.socket.once('drain', r)), sleep(200)])
    }
    await server.waitForOutput(/flood \(127\.0\.0\.1:\d+\) sends faster than --max-rate 65536 bytes\/s: slowed down/)
    t.pass('the flooder is throttled, with a log line')
    const elapsed = (Date.now() - t0) / 1000
    const relayed = c.others(0).filter(l => l === `flood: ${text}`).length
    t.ok(relayed > 0, `${relayed} of its lines were relayed`)
    // A second's worth at once, then the rate: the bound the token bucket promises.
    t.ok(relayed * (text.length + 1) <= 65536 * (elapsed + 1), `no faster than the limit (${relayed * (text.length + 1)} bytes in ${elapsed.toFixed(1)} s)`)
    // Megabytes of it are still in the server's socket buffer, relayed at the limited rate while
    // the others go on chatting: their messages must get through all the same.
    flooder.reset()
    const { losses, sent, delivered } = await c.settle()
    t.same(losses, [], 'no message of the well-behaved clients lost, duplicated or reordered meanwhile')
    t.equal(delivered, sent * (c.clients.length - 1), `all ${sent} messages delivered to each of the others`)
    t.notMatch(server.stderr(), /dropping/, 'nobody was dropped as not reading')
    const allowed = new Set(['flood joined', `flood: ${text}`, 'flood left'])
    t.ok(c.clients.every((_, i) => c.others(i)[0] === 'flood joined' && c.others(i).every(l => allowed.has(l))), 'and they heard nothing but the flood besides')
  })

  t.test(`${chat}: resets mid-message, mid-character and mid-handshake: only joined ones are announced`, async t => {
    const server = await chatServer(t, model)
    const c = await chatters(t, server.port)

    // A big message partly sent, then RST.
    const rst1 = await joinChat(server.port, 'rst1')
    track(t, rst1)
    rst1.write('a long message that will never end '.repeat(80))
    await spaceOut() // lets it reach the server before the RST does (the same outcome if it does not)
    rst1.reset()
    // Inside a multi-byte character: the first byte of ñ, of an emoji.
    const rst2 = await joinChat(server.port, 'rst2')
    const rst3 = await joinChat(server.port, 'rst3')
    track(t, rst2, rst3)
    rst2.write(Buffer.concat([Buffer.from('olé se'), Buffer.from('ñ').subarray(0, 1)]))
    rst3.write(Buffer.from('😀').subarray(0, 2))
    await spaceOut()
    rst2.reset()
    rst3.reset()

    // During the name handshake: right after connecting; inside a multi-byte name (auto
    // framing holds it); in the middle of a line-framed name (an empty first line decides line).
    const h1 = await connectChat(server.port)
    const h2 = await connectChat(server.port)
    const h3 = await connectChat(server.port)
    track(t, h1, h2, h3)
    h1.reset()
    h2.write(Buffer.from('ñandú').subarray(0, 1))
    h3.write('\n')
    await h3.next(/^name refused: a name cannot be empty/)
    h3.write('hal')
    await spaceOut()
    h2.reset()
    h3.reset()

    await server.waitForOutput(/rst3 left: connection reset/)
    const expected = ['rst1 joined', 'rst1 left', 'rst2 joined', 'rst2 left', 'rst3 joined', 'rst3 left']
    await checkChatters(t, c, expected, 'resets')
    const who = c.clients[0]
    who.say('/who')
    t.equal(await who.next(/^here now/), 'here now (3): ok0, ok1, ok2', 'nobody else is left in the room')
    t.equal(server.child.exitCode, null, 'the server is still running')
  })

  t.test(`${chat}: invalid UTF-8, binary noise, NULs and control-character names are neutralised`, async t => {
    const server = await chatServer(t, model)
    const c = await chatters(t, server.port)
    const noise = await joinChat(server.port, 'noise')
    track(t, noise)
    const expected = ['noise joined']
    const send = (bytes: Buffer) => {
      noise.write(Buffer.concat([bytes, Buffer.from('\n')]))
      expected.push(`noise: ${sanitize(new TextDecoder().decode(bytes))}`)
    }
    send(Buffer.from([0x66, 0xff, 0xfe, 0x6f, 0xc3])) // invalid and truncated UTF-8
    send(Buffer.from('a\0b\0'))
    send(Buffer.from('\x1b[2J\x07bell\x7f'))
    send(Buffer.from('C1: \u0085\u009b31m', 'utf8'))
    send(Buffer.from([0xed, 0xa0, 0x80, 0x41])) // an encoded surrogate: invalid in UTF-8
    for (let i = 0; i < 40; i++) {
      // Binary noise framed as lines: a marker, then random bytes with no newline in them.
      const body = Buffer.from(patternBytes(50 + i * 20, i + 1).map(b => (b === 0x0a ? 0x0b : b)))
      send(Buffer.concat([Buffer.from(`N${i}:`), body, Buffer.from(':E')]))
    }
    noise.say('/who')
    await noise.next(/^here now/)

    for (const bad of ['\x1b[31m\x07', '\0\0', 'ok\u0085name']) {
      const x = await connectChat(server.port)
      track(t, x)
      x.say(bad)
      t.equal(await x.next(/^name refused/), 'name refused: a name cannot contain control characters; try another name', `name ${JSON.stringify(bad)} refused`)
      x.end()
    }
    await checkChatters(t, c, expected, 'noise')
    t.equal(c.others(0).length, expected.length, 'every noisy line was relayed once, sanitized')
  })

  t.test(`${chat}: a flood past --max-clients is refused and logged; the ones in keep chatting`, { skip: oursOnly('chat', model, 'the peer has no --max-clients') }, async t => {
    const server = await chatServer(t, model, ['--max-clients', '6'])
    const c = await chatters(t, server.port) // 3 of the 6 places
    const flood = await Promise.all(Array.from({ length: 30 }, () => connectChat(server.port)))
    track(t, ...flood)
    // Each one is either told the server is full or served: wait for the 27 refusals, then the
    // other 3 must be really served (they name themselves and are welcomed).
    const told = () => flood.filter(f => f.lines().length > 0)
    await eventually(() => told().length >= 27, '27 of the flood to be told something')
    const refused = told()
    const kept = flood.filter(f => !refused.includes(f))
    t.equal(refused.length, 27, '27 were turned away')
    await Promise.all(refused.map(f => f.closed()))
    t.ok(refused.every(f => f.lines().join('\n') === 'server full (6 clients); try again later'), 'each was told the server is full, in one line, and closed')
    t.equal(kept.length, 3, 'the other 3 took the free places')
    kept.forEach((f, i) => f.say(`kept${i}`))
    await Promise.all(kept.map((f, i) => f.next(new RegExp(`^welcome kept${i}, [4-6] here now`))))
    t.pass('and each of them is served: welcomed by name')
    t.match(server.stderr(), /refused 127\.0\.0\.1:\d+: server full \(6 clients\)( \(\+\d+ more like this\))?/, 'refusals are logged')
    t.ok(server.stderr().split('\n').filter(l => /refused/.test(l)).length < 27, 'rate-limited, not one line each')
    flood.forEach(f => f.socket.destroy())
    const { client: late, refusals } = await joinWhenServed(server.port, 'late')
    track(t, late)
    t.pass(`a newcomer is served once load falls (turned away ${refusals} times first)`)
    const kin = kept.map((_, i) => `kept${i}`)
    await checkChatters(t, c, [...kin.map(n => `${n} joined`), ...kin.map(n => `${n} left`), 'late joined'], 'flood')
  })

  t.test(`${chat}: under ulimit -n 64 it fits its cap, sheds cleanly, logs why and recovers`, { skip: oursOnly('chat', model, 'fitting a connection cap to the descriptor limit (--max-clients)') }, async t => {
    const server = await chatServer(t, model, [], { wrapper: ['bash', '-c', 'ulimit -n 64 && exec "$@"', 'bash'] })
    const c = await chatters(t, server.port)
    const flood: net.Socket[] = []
    for (let i = 0; i < 80; i++) {
      const s = rawSocket(server.port)
      s.write(`f${i}\n`)
      flood.push(s)
    }
    t.teardown(() => flood.forEach(s => s.destroy()))
    // The flood is shed: by the connection cap (selector) or the thread cap (threads, below).
    await server.waitForOutput(model === 'threads' ? /refused 127\.0\.0\.1:\d+: thread limit/ : /refused 127\.0\.0\.1:\d+: server full/)
    t.equal(server.child.exitCode, null, 'the server is still running')
    t.match(server.stderr(), /connection cap lowered from 1000 to 32: the file-descriptor limit is 64/, 'the cap was fitted to the limit')
    if (model === 'threads') {
      // A thread holds ~5 descriptors, so under 64 the threads run out long before 32 connections:
      // the thread cap is fitted too, and it is what sheds.
      t.match(server.stderr(), /thread cap lowered from 256 to \d+: the file-descriptor limit is 64/, 'the thread cap was fitted too')
      t.match(server.stderr(), /refused 127\.0\.0\.1:\d+: thread limit \(\d+\) reached/, 'and the shedding was logged')
    } else {
      t.match(server.stderr(), /refused 127\.0\.0\.1:\d+: server full \(32 clients\)/, 'and the shedding was logged')
    }
    flood.forEach(s => s.destroy())
    await server.waitForOutput(/disconnect .*\(3 chatting, 3 connected\)/)
    // The flood's threads may still be exiting (and holding the thread cap) for a moment after the
    // last disconnect is logged: a newcomer retries, as a person would, until it is served.
    const { client: late, refusals } = await joinWhenServed(server.port, 'late')
    track(t, late)
    t.pass(`a newcomer is served once descriptors are free again (after ${refusals} refusals)`)
    const joinedFlood = c.others(0).filter(l => /^f\d+ joined$/.test(l))
    await checkChatters(t, c, [...joinedFlood, ...joinedFlood.map(l => l.replace('joined', 'left')), 'late joined'], 'descriptor exhaustion')
  })

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    t.test(`${chat}: ${signal} under load: stop accepting, say goodbye, flush, exit 0`, async t => {
      const server = await chatServer(t, model)
      const c = await chatters(t, server.port, { count: 6, intervalMs: 5, length: (i, seq) => 50 + ((i + seq) % 7) * 300 })
      const nameless = await connectChat(server.port)
      track(t, nameless)
      // One client falls behind on reading while still typing: at shutdown its socket holds a
      // backlog and unread input, the case where closing at once would end in a RST that throws
      // the backlog and the goodbye away.
      const behind = c.clients[0]
      const written = () => Math.min(...c.names.map(n => c.ledger.written(n)))
      await eventually(() => written() >= 20 && c.lastSeen(0, 1) > 0, 'the chat to be under way')
      behind.socket.pause()
      const before = written()
      await eventually(() => written() >= before + 100, 'a backlog for the one behind')
      const t0 = Date.now()
      server.child.kill(signal)
      await c.clients[1].next(/^server closing$/)
      const refused = rawSocket(server.port)
      const [err] = await once(refused, 'error')
      t.equal((err as NodeJS.ErrnoException).code, 'ECONNREFUSED', 'no longer accepting once goodbyes go out')
      // Everyone else has been flushed and closed: the server is waiting for the one behind alone.
      await eventually(() => [...c.clients.slice(1), nameless].every(cl => cl.got.ended), 'the others to be closed')
      behind.socket.resume()
      const code = await server.exited
      const took = Date.now() - t0
      c.quiet()
      t.equal(code, 0, 'exit status 0')
      t.ok(took < 5000, `exited ${took} ms after the signal`)
      for (const client of [...c.clients, nameless]) {
        await client.closed()
        t.equal(client.lines().at(-1), 'server closing', 'each client was told, last')
      }
      t.same(c.ledger.losses, [], 'no loss, duplicate or reordering up to the end')
      // Everything the server had read was flushed to everyone: each sender's messages reached
      // every other client up to the same point.
      for (let s = 0; s < c.clients.length; s++) {
        const seen = c.clients.map((_, r) => (r === s ? -1 : c.lastSeen(r, s))).filter(n => n >= 0)
        t.ok(seen[0] > 0 && seen.every(n => n === seen[0]), `${c.names[s]}'s messages reached every other client up to the same #${seen[0]}`)
      }
    })
  }

  t.test(`${chat}: --idle-timeout closes silent connections, not active ones`, { skip: oursOnly('chat', model, 'the peer has no --idle-timeout') }, async t => {
    const server = await chatServer(t, model, ['--idle-timeout', '0.5'])
    // Active from their welcome on: joining one after another (a thread each, for threads) can
    // take longer than the timeout on a busy machine.
    const c = await chatters(t, server.port, { keepAliveMs: 100 })
    const sleepy = await joinChat(server.port, 'sleepy')
    const nameless = await connectChat(server.port)
    track(t, sleepy, nameless)
    const t0 = Date.now()
    t.equal(await sleepy.next(/^idle/), 'idle for 0.5 s; closing', 'a silent member is told why')
    const waited = Date.now() - t0
    t.ok(waited >= 400, `after ${waited} ms (timeout 500 ms)`)
    await sleepy.closed()
    t.equal(await nameless.next(/^idle/), 'idle for 0.5 s; closing', 'a silent connection with no name too')
    await nameless.closed()
    // A newcomer's timeout is a full timeout from now: once it has run out, the active clients
    // have been through a whole one more, and must still be here.
    const probe = await connectChat(server.port)
    track(t, probe)
    await probe.next(/^idle/)
    t.ok(c.clients.every(cl => !cl.got.ended), 'the active clients are still connected')
    await checkChatters(t, c, ['sleepy joined', 'sleepy left'], 'idle timeout')
  })

  t.test(`${chat}: a port in use and an address that cannot be bound`, { skip: oursOnly('chat', model, 'our CLI\'s messages (test/peers.test.ts has the peers\')') }, async t => {
    const server = await chatServer(t, model)
    const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 10_000 })
    const busy = run('chat', '--model', model, '--no-console', '--port', String(server.port))
    t.equal(busy.status, 1)
    t.equal(busy.stderr, `selectloop: address already in use (127.0.0.1:${server.port})\n`, 'one line for a busy port')
    const unbindable = run('chat', '--model', model, '--no-console', '--host', '192.0.2.1', '--port', '0')
    t.equal(unbindable.status, 1)
    t.equal(unbindable.stderr, 'selectloop: cannot bind: address not available on this machine (192.0.2.1)\n', 'one line for an address not on this machine')
  })
}

t.test('bad command lines for chat and client: one line, non-zero exit, no stack trace', async t => {
  const closed = await freePort()
  const run = async (...args: string[]) => {
    const p = spawnCli(args)
    p.child.stdin.end()
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 15_000)
    const status = await p.exited
    clearTimeout(timer)
    return { status, stderr: p.stderr() }
  }
  const cases: Array<[string[], number, RegExp]> = [
    [['chat', '--port', 'eighty'], 2, /--port must be an integer, got 'eighty'/],
    [['chat', '--port', '65536'], 2, /--port must be between 0 and 65535, got 65536/],
    [['chat', '--model', 'fork'], 2, /--model must be one of/],
    [['chat', '--framing', 'words'], 2, /--framing must be one of auto, line, chunk, got 'words'/],
    [['chat', '--max-clients', '0'], 2, /--max-clients must be between 1 and/],
    [['chat', '--max-line', '8'], 2, /--max-line must be between 16 and/],
    [['chat', '--max-outbuf', 'lots'], 2, /--max-outbuf must be an integer, got 'lots'/],
    [['chat', '--max-rate', 'fast'], 2, /--max-rate must be an integer, got 'fast'/],
    [['chat', '--idle-timeout', 'soon'], 2, /--idle-timeout must be a number, got 'soon'/],
    [['chat', '--idle-timeout=-1'], 2, /--idle-timeout must be between 0 and 86400, got -1/],
    [['chat', '--colour'], 2, /Unknown option '--colour'/],
    [['chat', 'extra'], 2, /Unexpected argument 'extra'/],
    [['client'], 2, /which client\? \(chat or echo\)/],
    [['client', 'irc'], 2, /unknown client 'irc'/],
    [['client', 'chat', '--port', '70000'], 2, /--port must be between 0 and 65535, got 70000/],
    [['client', 'echo', '--name', 'ana'], 2, /--name applies to 'client chat' only/],
    [['client', 'chat', 'extra'], 2, /unexpected argument 'extra'/],
    [['client', 'chat', '--port', String(closed), '--name', 'ana'], 1, /cannot connect to 127\.0\.0\.1:\d+: connection refused/],
    [['client', 'chat', '--host', 'no-such-host.invalid', '--name', 'ana'], 1, /cannot connect to no-such-host\.invalid:8070: unknown host/],
  ]
  // All at once: each is a process start, and they do not depend on each other.
  const results = await Promise.all(cases.map(([args]) => run(...args)))
  cases.forEach(([args, status, message], i) => {
    const r = results[i]
    const what = args.join(' ')
    t.equal(r.status, status, `${what}: exit ${status}`)
    t.match(r.stderr, message, `${what}: says why`)
    t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`)
    const first = r.stderr.split('\n')[0]
    t.ok(status === 1 ? r.stderr.trim().split('\n').length === 1 : first.startsWith('selectloop: '), `${what}: one clear line first`)
  })
})
