// The threads model's shared client list (lib/chat/client-list.ts) in-process and across a real
// thread: joining order, names, who hears a broadcast, the shutdown sweep (through the room, as
// the main thread runs it), and the bounded delivery — a recipient whose socket refuses more is dropped at once, a ring that is full only
// because the main thread is behind is waited for, a little, and never more than that.
import t from 'tap'
import { Worker } from 'node:worker_threads'
import { SharedClientList } from '../lib/chat/client-list.js'
import { ChatRoom } from '../lib/chat/room.js'
import { SessionState, Why } from '../lib/chat/roster.js'
import { builtUrl } from '../lib/built.js'
import { FLAG_EOF, FLAG_RESET, ResetReason } from '../lib/threads/ring.js'
import { SlotTable } from '../lib/threads/slots.js'
import type { DeliverJob } from './fixtures/deliver-worker.js'

const MAX_NAME = 8
const RING = 64 * 1024
const MAX_OUTBUF = 16 * 1024

function fresh(slotCount = 6) {
  const slots = SlotTable.create(slotCount, 1024, RING)
  const sab = SharedClientList.allocate(slotCount, MAX_NAME)
  const list = new SharedClientList(sab, slots, { maxName: MAX_NAME, maxOutbuf: MAX_OUTBUF })
  return { slots, sab, list }
}

/** The room as the main thread runs it over the list (quiet: no log, no console). */
const roomOver = (list: SharedClientList) =>
  new ChatRoom(list, { log: () => {}, console: () => {} }, { maxName: MAX_NAME, maxLine: 100, idleTimeoutMs: 0, verbose: false })

const counts = (list: SharedClientList) => `${list.memberCount} chatting, ${list.connectionCount} connected`

/** What a slot's outbound ring holds, as text; consumed. */
function drain(slots: SlotTable, slot: number): string {
  const ring = slots.outbound(slot)
  const buf = Buffer.alloc(ring.available())
  ring.readInto(buf)
  return buf.toString()
}

t.test('joining order, names ignoring case, who hears what', async t => {
  const { slots, list } = fresh()
  for (const slot of [4, 1, 2, 0]) t.ok(list.open(slot, 100 + slot), `slot ${slot} opens`)
  t.equal(counts(list), '0 chatting, 4 connected')
  list.join(4, 'Ñandú')
  list.join(1, 'bob')
  t.equal(list.join(2, 'cid'), 3, 'join returns the member count')
  t.same(list.names(), ['Ñandú', 'bob', 'cid'], 'names in joining order, not slot order')
  t.ok(list.isTaken('ñANDÚ'), 'taken, ignoring case')
  t.equal(list.find('BOB'), 1)
  t.equal(list.find('ana'), null)
  t.equal(list.nameOf(4), 'Ñandú')
  t.equal(list.nameOf(0), null, 'no name before joining')
  t.equal(list.state(0), SessionState.AWAITING_NAME)

  list.broadcast(Buffer.from('hi\n'), 1)
  t.same([0, 1, 2, 4].map(s => drain(slots, s)), ['', '', 'hi\n', 'hi\n'], 'members but the sender; nobody still naming')

  list.close(2, Why.KICKED)
  list.close(2, Why.QUIT)
  t.equal(list.why(2), Why.KICKED, 'the first reason stays')
  t.equal(list.stateNow(2), SessionState.CLOSING)
  t.ok(slots.inbound(2).flags() & FLAG_EOF, 'closing ends its input: a thread blocked in recv gets b\'\' and leaves')
  list.broadcast(Buffer.from('again\n'), null)
  t.same([1, 2, 4].map(s => drain(slots, s)), ['again\n', '', 'again\n'], 'a closing member hears nothing more')
  t.same(list.names(), ['Ñandú', 'bob'], 'nor is it listed')
  t.ok(list.isTaken('cid'), 'but it holds its name until its thread has left')
  t.equal(list.find('cid'), null, 'and cannot be spoken to')

  t.equal(list.unlist(1), 'bob', 'unlist returns the name of a member')
  t.equal(list.unlist(1), null, 'once')
  t.equal(list.unlist(0), null, 'and null for one that never joined')
  t.notOk(list.isTaken('bob'), 'its name is free again')
  list.remove(1)
  list.remove(0)
  t.same(list.names(), ['Ñandú'], 'the order of the rest is kept')
  t.equal(list.stateNow(1), null, 'a removed slot is free')
  t.equal(counts(list), '2 chatting, 2 connected')
})

t.test('a connection whose thread died is removed by the main thread, unless its slot has moved on', async t => {
  const { slots, list } = fresh()
  list.open(0, 7)
  list.join(0, 'ana')
  list.open(1, 8)
  list.join(1, 'bob')
  drain(slots, 1)
  t.notOk(list.holds(0, 6), 'another connection id: not this one')
  t.ok(list.holds(0, 7), 'its own id')
  roomOver(list).closed({ id: 0, serial: 7, peer: 'connection 7' }, 'its thread died')
  t.equal(drain(slots, 1), 'ana left\n', 'it leaves as any connection that went away: the others are told')
  t.notOk(list.holds(0, 7), 'and it is gone')
  t.same(list.names(), ['bob'])
  t.equal(counts(list), '1 chatting, 1 connected')
  list.open(1, 9) // slot 1 reused while bob's thread died without leaving: its stale entry goes
  t.same(list.names(), [], 'a reused slot is never listed twice')
})

t.test('shutdown: everyone still here is told, once, and nobody after', async t => {
  const { slots, list } = fresh()
  const room = roomOver(list)
  list.open(0, 100)
  list.open(1, 101)
  list.join(1, 'ana')
  list.open(2, 102)
  list.join(2, 'bob')
  list.close(2, Why.QUIT)
  room.shutdown()
  t.same([0, 1, 2].map(s => drain(slots, s)), ['server closing\n', 'server closing\n', ''], 'naming and chatting ones told; one already leaving not')
  t.same([0, 1].map(s => list.why(s)), [Why.SHUTDOWN, Why.SHUTDOWN])
  list.broadcast(Buffer.from('late\n'), null)
  t.equal(drain(slots, 1), '', 'nothing is delivered after the goodbye')
  t.notOk(list.open(3, 103), 'a connection whose thread starts now is refused')
  t.equal(list.state(3), SessionState.CLOSING)
})

t.test('a recipient whose socket refuses more is dropped, never waited for', async t => {
  const { slots, list } = fresh()
  list.open(3, 103)
  list.join(3, 'sleeper')
  const ring = slots.outbound(3)
  const line = Buffer.alloc(1000, 0x61)
  const outcomes = Array.from({ length: 20 }, () => list.deliver(3, line))
  t.ok(outcomes.every(o => o === 'sent'), 'sent while the socket takes bytes')
  t.ok(ring.available() > MAX_OUTBUF, 'more than --max-outbuf queued while the socket takes bytes is fine')
  ring.markSinkFull(true)
  t.equal(list.deliver(3, line), 'dropped', 'over --max-outbuf with the socket full: dropped')
  t.equal(list.why(3), Why.DROPPED)
  t.equal(list.queuedWhenDropped(3), 20_000, 'with what was queued, for the log')
  t.ok(ring.flags() & FLAG_RESET && slots.inbound(3).flags() & FLAG_RESET, 'both rings reset: its thread wakes, its socket is reset')
  t.equal(ring.resetReason(), ResetReason.LOCAL_RESET)
  t.equal(list.deliver(3, line), 'gone', 'later deliveries see it gone')
})

t.test('the main thread never waits: a full ring is a drop there', async t => {
  const { slots, list } = fresh()
  list.open(0, 100)
  slots.outbound(0).write(Buffer.alloc(RING - 10))
  t.equal(list.deliver(0, Buffer.alloc(100)), 'dropped')
})

t.test('from a chat thread: a full ring of a reading client is waited for, boundedly', async t => {
  const WORKER = builtUrl(new URL('./fixtures/deliver-worker.ts', import.meta.url))
  const run = (job: DeliverJob) => {
    const worker = new Worker(WORKER, { workerData: job, execArgv: [] })
    let started!: () => void
    const starting = new Promise<void>(r => (started = r)) // it says so just before it calls deliver()
    const result = new Promise<{ outcome: string; ms: number }>((resolve, reject) => {
      worker.on('message', m => ('starting' in m ? started() : resolve(m)))
      worker.on('error', reject)
    })
    return { worker, starting, result }
  }
  const { slots, sab, list } = fresh()
  const job = (slot: number): DeliverJob => ({ slots: slots.sab, list: sab, maxName: MAX_NAME, maxOutbuf: MAX_OUTBUF, slot, bytes: 4096 })
  for (const slot of [0, 1, 2]) {
    list.open(slot, slot + 1)
    slots.outbound(slot).write(Buffer.alloc(RING - 100)) // full: the main thread is "behind"
  }

  // The main thread catches up 200 ms later: the delivery waited for it, and went through.
  const catchUp = run(job(0))
  await catchUp.starting
  await new Promise(r => setTimeout(r, 200))
  slots.outbound(0).consume(RING - 100)
  const caught = await catchUp.result
  t.equal(caught.outcome, 'sent', 'sent once the main thread made room')
  t.ok(caught.ms >= 150, `it waited for it (${caught.ms.toFixed(0)} ms)`)
  t.equal(slots.outbound(0).available(), 4096)

  // Never: dropped after the bounded wait, not stuck.
  const never = await run(job(1)).result
  t.equal(never.outcome, 'dropped', 'dropped when the ring stays full')
  t.ok(never.ms >= 900, `after the bounded wait (${never.ms.toFixed(0)} ms)`)

  // The socket refuses more (the client does not read): dropped at once, no wait at all.
  slots.outbound(2).markSinkFull(true)
  const notReading = await run(job(2)).result
  t.equal(notReading.outcome, 'dropped')
  t.ok(notReading.ms < 500, `without waiting (${notReading.ms.toFixed(0)} ms)`)
  t.notOk(list.lock.locked, 'and the lock is free again')
})
