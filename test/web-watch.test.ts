// The web console's pieces that need no process: the chat room as a watcher hears it (an
// ObservedRoster over the selector's roster), the threads' room events put back in order, and the
// ServerWatch's bounded logs (what a viewer that is behind, or new, is sent).
import t from 'tap'
import { MapRoster } from '../lib/chat/map-roster.js'
import { ObservedRoster, RoomEventQueue, RoomEventSequencer, roomEventCounter, type RoomObserver } from '../lib/chat/observed-roster.js'
import { ChatRoom } from '../lib/chat/room.js'
import { SessionState } from '../lib/chat/roster.js'
import { CONVERSATION_KEPT, EVENT_RING, ServerWatch } from '../lib/web/watch.js'
import { sleep } from './helpers/chat.js'

function recorder(): RoomObserver & { heard: string[] } {
  const heard: string[] = []
  return {
    heard,
    sessionChanged: (serial, state, name) => heard.push(`${serial} ${state ?? 'gone'}${name ? ` ${name}` : ''}`),
    conversation: line => heard.push(`said: ${line}`),
  }
}

t.test('the room, watched through its roster: states, names and what everyone was told', async t => {
  const watcher = recorder()
  const sent = new Map<number, string[]>()
  const inner = new MapRoster({ deliver: (id, line) => sent.set(id, [...(sent.get(id) ?? []), line.toString().trimEnd()]), hangUp: () => {} })
  const room = new ChatRoom(new ObservedRoster(inner, watcher, id => id), { log: () => {}, console: () => {} }, { maxName: 16, maxLine: 100, idleTimeoutMs: 0, verbose: false })
  const session = (id: number) => ({ id, serial: id, peer: `127.0.0.1:${1000 + id}` })
  room.open(session(1))
  room.open(session(2))
  room.receive(session(1), 'ana')
  room.receive(session(2), 'bob')
  room.receive(session(1), 'hola')
  const answers: string[] = []
  room.operator('/who', line => answers.push(line))
  room.operator('/kick bob', line => answers.push(line))
  room.closed(session(2), 'end of input')
  t.same(answers, ['here now (2): ana, bob', 'kicked bob'], "the operator's answers went to the caller")
  t.same(watcher.heard, [
    '1 AWAITING_NAME',
    '2 AWAITING_NAME',
    '1 CHATTING ana',
    'said: ana joined',
    '2 CHATTING bob',
    'said: bob joined',
    'said: ana: hola',
    'said: bob left',
    '2 CLOSING bob',
    '2 gone',
  ])
  t.same(sent.get(1)!.slice(-2), ['bob joined', 'bob left'], 'ana heard what everyone was told')
})

t.test("the threads' room events are told in the order they happened, whatever order they arrive in", async t => {
  const counter = roomEventCounter()
  const a = new RoomEventQueue(counter)
  const b = new RoomEventQueue(counter)
  a.conversation('one')
  b.conversation('two')
  a.sessionChanged(7, SessionState.CHATTING, 'ana')
  b.conversation('four')
  const watcher = recorder()
  const sequencer = new RoomEventSequencer(watcher, 50)
  sequencer.push(b.take()) // two, four: held until one arrives
  t.same(watcher.heard, [])
  sequencer.push(a.take())
  t.same(watcher.heard, ['said: one', 'said: two', '7 CHATTING ana', 'said: four'])
  t.equal(a.size + b.size, 0, 'take() empties a queue')

  // A thread that died between numbering an event and sending it: the gap is given up on.
  const lost = new RoomEventQueue(counter)
  lost.conversation('never sent')
  b.conversation('after the gap')
  sequencer.push(b.take())
  t.equal(watcher.heard.length, 4, 'held while the gap may still fill')
  await sleep(120)
  t.same(watcher.heard.slice(4), ['said: after the gap'], 'told once the patience ran out')
  sequencer.push(lost.take())
  t.same(watcher.heard.slice(5), ['said: never sent'], 'and a late one is still told')
})

t.test("the watch's logs: bounded, with cursors, and what was left out counted", async t => {
  const watch = new ServerWatch()
  for (let i = 1; i <= CONVERSATION_KEPT + 50; i++) watch.conversation(`line ${i}`)
  const fresh = watch.conversationSince(0, 100)
  t.equal(fresh.lines.length, 100, 'a new viewer gets the newest 100')
  t.equal(fresh.lines[99].text, `line ${CONVERSATION_KEPT + 50}`)
  t.equal(fresh.skipped, CONVERSATION_KEPT + 50 - 100, 'and is told how many it did not get')
  watch.conversation('one more')
  const next = watch.conversationSince(fresh.cursor, 100)
  t.same(next.lines.map(l => l.text), ['one more'])
  t.equal(next.skipped, 0)
  t.same(watch.conversationSince(next.cursor, 100).lines, [], 'nothing new')

  const conn = { id: 1, peer: '127.0.0.1:5', queuedBytes: () => 0 }
  watch.connectionOpened(conn, null)
  for (let i = 0; i < EVENT_RING + 10; i++) watch.stateChanged(conn, i % 2 ? 'OPEN' : 'DRAINING')
  const events = watch.eventsSince(0, 1000)
  t.equal(events.lines.length, EVENT_RING, 'the ring keeps the last EVENT_RING events')
  t.ok(events.skipped > 0)
  t.match(events.lines.at(-1)!.text, /^127\.0\.0\.1:5 (OPEN|DRAINING) → (OPEN|DRAINING)$/)
  watch.sent(conn, 10, 40)
  watch.received(conn, 40)
  watch.sessionChanged(99, SessionState.CHATTING, 'nobody') // not a connection it knows: ignored
  const sample = watch.sample()
  t.match(sample.clients.listed, [{ id: 1, bytesIn: 40, bytesOut: 10, partialSends: 1, state: 'OPEN', fd: null, interest: null }])
  t.equal(sample.loop, null)
  watch.connectionClosed(conn, 'closed')
  t.equal(watch.sample().clients.count, 0)
  t.match(watch.eventsSince(events.cursor, 10).lines.at(-1)!.text, /127\.0\.0\.1:5 closed: closed$/)
})
