// The open loop (`load --rate R`): the schedule's arithmetic, then against real servers on
// loopback: it keeps its timetable against a fast server (messages sent against messages due:
// a property of the scheduler, not a speed), it never has more than --pipeline messages
// unanswered on a connection, and against a server that stalls now and then it shows the stall in
// the latency measured from when each message was due while the service time stays low; a server
// that cannot keep up is reported behind. No assertion is about speed.
import t, { type Test } from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { RateSchedule } from '../bench/schedule.js'
import { runLoad, type LoadOptions, type LoadResult } from '../bench/load.js'
import { spawnCli } from '../bench/cli-process.js'
import { startEchoVariant, type Behaviour } from './fixtures/misbehaving-echo.js'

t.test('the schedule: message m is due at start + m/R, on connection m mod N', async t => {
  const s = new RateSchedule(1000, 4, 500)
  t.equal(s.dueMs(0), 500)
  t.equal(s.dueMs(1000), 1500, 'a second of messages later')
  t.same([0, 1, 2, 3, 4, 5].map(m => s.connOf(m)), [0, 1, 2, 3, 0, 1], 'the connections take turns')
  t.equal(s.connDueMs(1, 2), s.dueMs(9), "connection 1's third message is message 9")
  t.equal(s.dueBy(499.9), 0, 'nothing before the start')
  t.equal(s.dueBy(500), 1, 'message 0 at the start')
  t.equal(s.dueBy(1500), 1001, 'messages 0..1000 a second later')
  for (const now of [500, 777.7, 1234.5, 99_999]) {
    const n = s.dueBy(now)
    t.ok(s.dueMs(n - 1) <= now && s.dueMs(n) > now, `dueBy(${now}) counts exactly the messages due by then`)
  }
  const slow = new RateSchedule(0.5, 1, 0)
  t.equal(slow.dueMs(1), 2000, 'half a message a second: one every 2 s')
  t.throws(() => new RateSchedule(0, 1, 0), RangeError)
  t.throws(() => new RateSchedule(10, 0, 0), RangeError)
})

async function variant(t: Test, b: Behaviour): Promise<number> {
  const server = await startEchoVariant(b)
  t.teardown(() => server.close())
  return server.port
}

function options(port: number, over: Partial<LoadOptions>): LoadOptions {
  return { host: '127.0.0.1', port, conns: 1, size: 64, pipeline: 1, warmupMs: 0, durationMs: 1500, timeoutMs: 5000, threads: 1, ...over }
}

const within = (x: number, target: number, share: number) => Math.abs(x - target) <= target * share

t.test('against a fast server the schedule is kept: messages sent ≈ messages due ≈ R × window', async t => {
  const port = await variant(t, { kind: 'echo' })
  for (const threads of [1, 2]) {
    const r = await runLoad(options(port, { conns: 8, rate: 2000, threads, warmupMs: 200 }))
    const s = r.rate!
    t.equal(r.mode, 'rate')
    t.equal(r.errorTotal, 0)
    t.ok(within(s.due, 2000 * r.windowS, 0.02), `${threads} thread(s): ${s.due} due in ${r.windowS} s at 2000/s`)
    t.ok(within(s.sent, s.due, 0.03), `${s.sent} sent of ${s.due} due`)
    t.ok(s.kept, 'kept')
    t.ok(within(r.messages, s.sent, 0.03), `${r.messages} echoed`)
    t.equal(r.latencyMs.count, r.messages)
    t.equal(r.serviceMs?.count, r.messages, 'a service time for each message too')
    t.ok(r.serviceMs!.p50! <= r.latencyMs.p50!, 'service time never exceeds the time since due')
  }
})

t.test('at most --pipeline messages unanswered per connection, whatever falls due', async t => {
  // A server that reads and never answers: what it receives is what was sent.
  const received: number[] = []
  const server = net.createServer(socket => {
    const i = received.push(0) - 1
    socket.on('data', (d: Buffer) => (received[i] += d.length))
    socket.on('error', () => {})
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => void server.close())
  const port = (server.address() as net.AddressInfo).port
  const r = await runLoad(options(port, { conns: 2, size: 100, pipeline: 3, rate: 1000, durationMs: 600, timeoutMs: 2000 }))
  t.same(received, [300, 300], 'three messages each, then nothing more')
  const s = r.rate!
  t.ok(s.behind > 1000 * r.windowS * 0.9, `the rest fell due and waited: ${s.behind} behind`)
  t.notOk(s.kept)
})

// The stall of coordinated omission: every `every` messages the server stops for STALL_MS. The
// message it holds, and every message that falls due meanwhile on that connection, waits.
const STALL_MS = 200

t.test('a server that stalls but keeps up: the stall shows from when messages were due, not in the service time', async t => {
  // 1000/s on one connection, a 200 ms stall every 400 messages: 200 messages fall due during
  // each stall, and their latencies from due spread from the stall down to nothing, so p99 sits
  // just under it; only 1 message in 400 is itself held, so the service time's p99 stays low.
  const port = await variant(t, { kind: 'stall', every: 400, size: 64, ms: STALL_MS })
  const r = await runLoad(options(port, { rate: 1000, durationMs: 2500 }))
  report(t, r)
  t.ok(r.rate!.kept, 'it catches up after each stall: the schedule is kept')
  t.ok(r.latencyMs.p99! >= STALL_MS * 0.9, `p99 from due ${r.latencyMs.p99} ms: within 10% of the ${STALL_MS} ms stall, or above`)
  // The first message held falls due up to one interval (1 ms at 1000/s) after the stall began,
  // and a timer may fire up to 1 ms early by the clock the client reads: a few ms of slack.
  t.ok(r.latencyMs.max! >= STALL_MS - 5, `max from due ${r.latencyMs.max} ms: the stall, less one interval and the timer's slack`)
  t.ok(r.serviceMs!.p99! < STALL_MS / 4, `service p99 ${r.serviceMs!.p99} ms stays low`)
  t.ok(r.rate!.late >= 100, `${r.rate!.late} messages late: waited for the stalled connection`)
})

t.test('a server that stalls and falls behind: p99 from due at least the stall, the report says behind', async t => {
  // 2500/s against a 200 ms stall every 400 messages: 500 fall due per stall, more than it then
  // echoes before the next one; it never catches up.
  const port = await variant(t, { kind: 'stall', every: 400, size: 64, ms: STALL_MS })
  const r = await runLoad(options(port, { rate: 2500, durationMs: 2500 }))
  report(t, r)
  t.ok(r.latencyMs.p99! >= STALL_MS, `p99 from due ${r.latencyMs.p99} ms ≥ the ${STALL_MS} ms stall`)
  t.ok(r.serviceMs!.p99! < STALL_MS / 4, `service p99 ${r.serviceMs!.p99} ms stays low`)
  t.notOk(r.rate!.kept, 'the schedule is not kept')
  t.ok(r.rate!.behind > 0 && r.rate!.sent < r.rate!.due, `${r.rate!.sent} sent of ${r.rate!.due} due, ${r.rate!.behind} still waiting`)
  t.ok(r.rate!.maxLateMs >= STALL_MS, `messages up to ${r.rate!.maxLateMs} ms late`)
})

function report(t: Test, r: LoadResult): void {
  t.comment(`from due: p50 ${r.latencyMs.p50} p99 ${r.latencyMs.p99} max ${r.latencyMs.max}; service: p50 ${r.serviceMs?.p50} p99 ${r.serviceMs?.p99}; ${JSON.stringify(r.rate)}`)
}

t.test('load --rate --json: latencyMs from due, serviceMs from sent, with the same fields', async t => {
  const port = await variant(t, { kind: 'echo' })
  const child = spawnCli(['load', '--target', `127.0.0.1:${port}`, '--conns', '2', '--rate', '500', '--warmup', '0.2', '--duration', '0.8', '--json'])
  let out = ''
  child.stdout.setEncoding('utf8').on('data', d => (out += d))
  const [code] = await once(child, 'close')
  t.equal(code, 0)
  const r = JSON.parse(out) as LoadResult
  t.equal(r.mode, 'rate')
  t.same(Object.keys(r.serviceMs!).sort(), Object.keys(r.latencyMs).sort(), 'the same fields')
  t.match(r.rate, { target: 500, kept: true, due: Number, sent: Number, behind: Number, late: Number, maxLateMs: Number, generatorLagMs: Number, sentPerSec: Number })

  const human = spawnCli(['load', '--target', `127.0.0.1:${port}`, '--conns', '2', '--rate', '500', '--warmup', '0', '--duration', '0.5'])
  let text = ''
  human.stdout.setEncoding('utf8').on('data', d => (text += d))
  await once(human, 'close')
  t.match(text, /rate 500 msgs\/s, at most 1 in flight each/)
  t.match(text, /schedule +kept: [\d,]+ of [\d,]+ due messages sent/)
  t.match(text, /latency +p50 .* \(from when each message was due\)\n +service +p50 .* \(from when each was sent\)/)
})
