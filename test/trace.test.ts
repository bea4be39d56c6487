// --trace (lib/trace.ts): a server run with it and a scripted client; the lines a class reads must
// appear, in the order the server did the things they tell of.
import t, { type Test } from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { startServer, type ServerProcess } from './helpers/process.js'
import { Collector, connect, patternBytes } from './helpers/net.js'

/**
 * Asserts that `patterns` match lines of `text` in this order (other lines may come between);
 * names the first one missing, and what came after the last one found.
 */
function inOrder(t: Test, text: string, patterns: RegExp[], what: string): void {
  const lines = text.split('\n')
  let at = 0
  for (const re of patterns) {
    const i = lines.findIndex((l, j) => j >= at && re.test(l))
    if (i < 0) {
      t.fail(`${what}: no line matching ${re} after line ${at}`, { found: lines.slice(Math.max(0, at - 3), at + 20).join('\n') })
      return
    }
    at = i + 1
  }
  t.pass(`${what}: ${patterns.length} lines in order`)
}

/** Every trace line: "seconds  subject  text". */
const TRACE_LINE = /^ {0,7}\d+\.\d{3} {2}\S.*$/

t.test('selector echo: registrations, rounds, bytes, a partial send and R → RW and back, states, an accept burst', async t => {
  const server: ServerProcess = await startServer(['echo', '--port', '0', '--trace', '--quiet'])
  t.teardown(() => server.stop('SIGKILL'))
  await server.waitForOutput(/registered R: the listener/)
  const listenerFd = /(fd \d+) +registered R: the listener/.exec(server.stderr())![1]

  // One line, echoed.
  const a = await connect(server.port)
  const aGot = new Collector(a)
  a.write('hello\n')
  await aGot.bytes(6)
  await server.waitForOutput(/send 6 B/)
  const aFd = /(fd \d+) +accept #1 from 127\.0\.0\.1:\d+, registered R, OPEN/.exec(server.stderr())?.[1]
  t.ok(aFd, 'the accept line names the fd, the connection, its peer, its registration and its state')
  const fd = (s: string) => new RegExp(`^ *\\d+\\.\\d{3}  ${aFd} +${s}`)
  inOrder(
    t,
    server.stderr(),
    [
      /^ *0\.\d{3}  server +echo, selector model: one thread, one selector$/,
      new RegExp(`${listenerFd} +registered R: the listener$`),
      new RegExp(`select +#\\d+ → ${listenerFd} R +\\(waited `),
      fd('accept #1 from'),
      new RegExp(`select +#\\d+ → .*${aFd} R`),
      fd('recv 6 B$'),
      fd('send 6 B$'),
    ],
    'one client, one line',
  )

  // A client that sends and does not read: the kernel's buffers fill, a send is partial (or takes
  // nothing), and the server watches WRITE too (and, with 64 KiB waiting, stops reading); once
  // the client reads again, it is all sent and WRITE is dropped.
  const mark = server.mark()
  const b = await connect(server.port)
  b.pause()
  const payload = patternBytes(24 * 1024 * 1024, 7)
  b.write(payload)
  await server.waitForOutput(/interest R → R?W: output waits, watch WRITE too/, 30_000, mark)
  const bGot = new Collector(b)
  b.resume()
  await bGot.bytes(payload.length, 60_000)
  t.ok(bGot.buffer().equals(payload), 'every byte echoed')
  b.end()
  await bGot.end()
  await server.waitForOutput(/#2 closed$/m, 10_000, mark)
  const bFd = /(fd \d+) +accept #2 from/.exec(server.stderr())![1]
  const bLine = (s: string) => new RegExp(`^ *\\d+\\.\\d{3}  ${bFd} +${s}`)
  const later = server.stderr().slice(mark.err)
  inOrder(
    t,
    later,
    [
      bLine('accept #2 from 127\\.0\\.0\\.1:\\d+, registered R, OPEN$'),
      bLine('recv [\\d,]+ B$'),
      bLine('send( [\\d,]+ of [\\d,]+ B: partial|: would block), [\\d,]+ B wait for WRITE$'),
      bLine('interest R → R?W: output waits, watch WRITE too'),
      bLine('interest \\w+ → R: output all sent, WRITE no longer wanted'),
      bLine('#2 OPEN → DRAINING: recv\\(\\) returned b\'\': the client sent FIN'),
      bLine('#2 DRAINING → CLOSED: all echoed; our FIN sent$'),
      bLine('unregistered$'),
      bLine('#2 closed$'),
    ],
    'a client that does not read for a while, then ends',
  )
  t.match(later, new RegExp(`${bFd} +interest RW? → W: .*stop reading`), 'with too much waiting, it stops reading that client')

  // An accept burst, made certain: the server is stopped while five clients connect (the kernel
  // completes their handshakes into the backlog), so that it finds them all waiting together.
  const burstMark = server.mark()
  process.kill(server.child.pid!, 'SIGSTOP')
  let clients: net.Socket[] = []
  try {
    clients = await Promise.all(Array.from({ length: 5 }, () => connect(server.port)))
  } finally {
    process.kill(server.child.pid!, 'SIGCONT')
  }
  await server.waitForOutput(/accept burst: 5 connections/, 10_000, burstMark)
  const burst = server.stderr().slice(burstMark.err)
  inOrder(
    t,
    burst,
    [
      new RegExp(`select +#(\\d+) → ${listenerFd} R `),
      ...[3, 4, 5, 6, 7].map(n => new RegExp(`accept #${n} from 127\\.0\\.0\\.1:\\d+, registered R, OPEN$`)),
      new RegExp(`${listenerFd} +accept burst: 5 connections in rounds? #\\d+(–#\\d+, one after another)? \\(.+\\)$`),
    ],
    'five clients waiting in the backlog',
  )
  for (const c of clients) c.destroy()
  a.destroy()
  await server.waitForOutput(/#7 closed/, 10_000, burstMark)

  const stray = server.stderr().split('\n').filter(l => l !== '' && !TRACE_LINE.test(l))
  t.same(stray, [], 'with --quiet, every stderr line is a trace line: time, subject, text')
})

t.test('threads echo: a thread started for a client, its bytes through the rings, its end', async t => {
  const server = await startServer(['echo', '--model', 'threads', '--pool', '0', '--port', '0', '--trace', '--quiet'])
  t.teardown(() => server.stop('SIGKILL'))
  await server.waitForOutput(/server +echo, threads model: a thread per connection/)
  const c = await connect(server.port)
  const got = new Collector(c)
  c.write('hello\n')
  await got.bytes(6, 30_000)
  c.end()
  await got.end()
  await server.waitForOutput(/thread 1 +exited/, 30_000)
  await server.waitForOutput(/#1 +closed$/m)
  const text = server.stderr()
  inOrder(
    t,
    text,
    [
      /thread 1 +STARTING: a new thread/,
      /#1 +accept from 127\.0\.0\.1:\d+, SERVING$/,
      /thread 1 +STARTING → BUSY serving #1 \(started in [\d.]+ m?s\)$/,
      /thread 1 +BUSY → EXITING$/,
      /thread 1 +exited: its memory is given back$/,
    ],
    "the thread's life (its ready message may come after the first bytes it moved through the rings)",
  )
  inOrder(
    t,
    text,
    [
      /#1 +accept from/,
      /#1 +socket → its thread's ring: 6 B \(main thread\)$/,
      /#1 +its thread's ring → socket: 6 B \(main thread\)$/,
      /#1 +closed$/,
    ],
    "the connection's life",
  )
  c.destroy()
})

t.test('threads chat: names, what everyone is told, and the lock on the client list', async t => {
  const server = await startServer(['chat', '--model', 'threads', '--port', '0', '--trace', '--quiet', '--no-console'])
  t.teardown(() => server.stop('SIGKILL'))
  const ann = await connect(server.port)
  const annGot = new Collector(ann)
  ann.write('ann\n')
  await annGot.match(/welcome ann/, 30_000)
  await server.waitForOutput(/\(ann\) AWAITING_NAME → CHATTING/, 30_000)
  ann.write('hi all\n')
  await server.waitForOutput(/room +everyone is told: ann: hi all/)
  await server.waitForOutput(/lock +client list: taken \d+× in 1 s/, 10_000)
  inOrder(
    t,
    server.stderr(),
    [
      /#1 +accept from 127\.0\.0\.1:\d+, SERVING$/,
      /#1 +AWAITING_NAME$/,
      /#1 +\(ann\) AWAITING_NAME → CHATTING: name accepted as ann$/,
      /room +everyone is told: ann joined$/,
      /room +everyone is told: ann: hi all$/,
      /lock +client list: taken \d+× in 1 s(, never waited for|, \d+ had to wait: .+ in all, longest .+)$/,
    ],
    'one client joins and speaks',
  )
  ann.end()
  await once(ann, 'close')
})

t.test("net echo: Node's own loop reads for it: connections and states, no rounds", async t => {
  const server = await startServer(['echo', '--model', 'net', '--port', '0', '--trace', '--quiet'])
  t.teardown(() => server.stop('SIGKILL'))
  const c = await connect(server.port)
  const got = new Collector(c)
  c.write('hello\n')
  await got.bytes(6)
  c.end()
  await got.end()
  await server.waitForOutput(/#1 +closed$/m)
  inOrder(
    t,
    server.stderr(),
    [
      /server +echo, net model: Node's own loop \('data' callbacks\)$/,
      /#1 +accept from 127\.0\.0\.1:\d+, OPEN$/,
      /#1 +OPEN → DRAINING: 'end': the client sent FIN; echo what is left, then ours$/,
      /#1 +closed$/,
    ],
    'one client',
  )
  t.notMatch(server.stderr(), /select +#/, 'no select rounds: the loop is not ours')
  c.destroy()
})
