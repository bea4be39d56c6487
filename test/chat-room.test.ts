// The chat room (lib/chat/room.ts) in-process, over both rosters: the selector's MapRoster and the
// threads' SharedClientList (run from the main thread, where deliveries never wait). One scenario,
// the same lines to everyone and the same log lines from both: the protocol is written once.
import t from 'tap'
import { SharedClientList } from '../lib/chat/client-list.js'
import { MapRoster } from '../lib/chat/map-roster.js'
import { ChatRoom } from '../lib/chat/room.js'
import { SessionState, Why, type Roster, type Session } from '../lib/chat/roster.js'
import { SlotTable } from '../lib/threads/slots.js'

const LIMITS = { maxName: 8, maxLine: 100, idleTimeoutMs: 500, verbose: true }
const IDS = [0, 1, 2, 3, 4]

interface Fixture {
  roster: Roster
  /** Lines delivered to a connection so far, consumed. */
  take(id: number): string[]
}

function mapFixture(): Fixture {
  const got = new Map<number, string[]>(IDS.map(id => [id, []]))
  const roster = new MapRoster({ deliver: (id, line) => got.get(id)!.push(line.toString()), hangUp: () => {} })
  return { roster, take: id => split(got.get(id)!.splice(0).join('')) }
}

function listFixture(): Fixture {
  const slots = SlotTable.create(IDS.length, 1024, 64 * 1024)
  const roster = new SharedClientList(SharedClientList.allocate(IDS.length, LIMITS.maxName), slots, { maxName: LIMITS.maxName, maxOutbuf: 64 * 1024 })
  return {
    roster,
    take: id => {
      const ring = slots.outbound(id)
      const buf = Buffer.alloc(ring.available())
      ring.readInto(buf)
      return split(buf.toString())
    },
  }
}

const split = (text: string) => (text === '' ? [] : text.slice(0, -1).split('\n'))

/** Runs the scenario; returns what each connection was sent, step by step, and the log and console lines. */
function scenario(f: Fixture) {
  const log: string[] = []
  const shown: string[] = []
  const room = new ChatRoom(f.roster, { log: m => log.push(m), console: l => shown.push(l) }, LIMITS)
  const [ana, bob, cid, dan, eve]: Session[] = IDS.map(id => ({ id, serial: 100 + id, peer: `10.0.0.${id}:5000` }))
  const sent: Record<string, string[][]> = {}
  const step = (what: string, fn: () => void) => {
    fn()
    sent[what] = IDS.map(id => f.take(id))
  }
  step('open', () => [ana, bob, cid, dan, eve].forEach(s => room.open(s)))
  step('names', () => {
    room.receive(ana, 'ana')
    room.receive(bob, 'bob')
    room.receive(cid, 'ANA')
    room.receive(cid, 'cid')
    room.receive(dan, 'dan')
  })
  step('say', () => room.receive(ana, 'hola \x1b[2J'))
  step('who', () => room.receive(bob, '/who'))
  step('msg', () => room.receive(bob, '/msg CID psst'))
  step('kick', () => room.operator('/kick cid'))
  const cidAfterKick = f.roster.state(cid.id)
  step('after kick', () => room.receive(cid, 'still here?'))
  step('quit', () => room.receive(bob, 'bye'))
  step('bob gone', () => room.closed(bob, 'end of input'))
  step('idle', () => room.idle(eve))
  step('too long', () => room.tooLong(dan))
  step('reset', () => room.closed(ana, 'connection reset'))
  step('operator', () => room.operator('[all] hello'))
  step('shutdown', () => room.shutdown())
  return { sent, log, shown, cidAfterKick, why: f.roster.why(cid.id) }
}

t.test('the same decisions over the selector\'s Map and the threads\' shared list', async t => {
  const map = scenario(mapFixture())
  const list = scenario(listFixture())
  t.same(list.sent, map.sent, 'every connection is sent the same lines at every step')
  t.same(list.log, map.log, 'the same log lines')
  t.same(list.shown, map.shown, 'the same console lines')

  const s = map.sent
  const help = '/who lists who is here, /msg NAME text speaks to one person, salir (or bye, /quit) leaves'
  t.same(s.names[0], [`welcome ana, 1 here now; ${help}`, 'bob joined', 'cid joined', 'dan joined'])
  t.same(s.names[2], ['name refused: the name ANA is taken; try another name', `welcome cid, 3 here now; ${help}`, 'dan joined'], 'a taken name is refused, another tried')
  t.same(s.names[4], [], 'one still naming itself hears nobody join')
  t.same(s.say, [[], ['ana: hola \uFFFD[2J'], ['ana: hola \uFFFD[2J'], ['ana: hola \uFFFD[2J'], []], 'to every other member, sanitized; not to the sender, nor to one still naming itself')
  t.same(s.who[1], ['here now (4): ana, bob, cid, dan'])
  t.same(s.msg, [[], [], ['bob (private): psst'], [], []])
  t.same(s.kick, [['cid left'], ['cid left'], ['you were removed from the chat by the operator'], ['cid left'], []], 'the kicked one is told; the others hear it left, once')
  t.equal(map.cidAfterKick, SessionState.CLOSING)
  t.equal(map.why, Why.KICKED)
  t.same(s['after kick'], [[], [], [], [], []], 'a closing connection is not heard')
  t.same(s.quit, [['bob left'], [], [], ['bob left'], []])
  t.same(s['bob gone'], [[], [], [], [], []], 'a member that left is not announced again when its connection goes')
  t.same(s.idle[4], ['idle for 0.5 s; closing'])
  t.same(s['too long'], [['dan left'], [], [], ['line too long (over 100 bytes); closing the connection'], []])
  t.same(s.reset, [[], [], [], [], []], 'the last member leaves: nobody left to tell')
  t.same(s.operator, [[], [], [], [], []])
  t.same(s.shutdown, [[], [], [], [], []], 'everyone was already closing: no goodbye to say')
  t.same(map.shown, ['ana joined', 'bob joined', 'cid joined', 'dan joined', 'ana: hola \uFFFD[2J', 'kicked cid', 'cid left', 'bob left', 'dan left', 'ana left'])
  t.match(map.log, [
    'connect 10.0.0.0:5000 (0 chatting, 1 connected)',
    /connect/,
    /connect/,
    /connect/,
    'connect 10.0.0.4:5000 (0 chatting, 5 connected)',
    'ana joined from 10.0.0.0:5000 (1 chatting, 5 connected)',
    /bob joined/,
    /cid joined/,
    /dan joined/,
    'cid left: kicked by the operator (3 chatting, 5 connected)',
    'bob left: quit (2 chatting, 5 connected)',
    'disconnect 10.0.0.1:5000 (2 chatting, 4 connected)',
    '10.0.0.4:5000: idle for 0.5 s; closing',
    'dan: line over 100 bytes; closing',
    'dan left: line too long (1 chatting, 4 connected)',
    'ana left: connection reset (0 chatting, 4 connected)',
    'disconnect 10.0.0.0:5000 (0 chatting, 3 connected)',
  ])
})

t.test('shutdown: everyone still here is told once; a connection opened after it is refused', async t => {
  for (const [what, f] of [['map', mapFixture()], ['list', listFixture()]] as const) {
    const room = new ChatRoom(f.roster, { log: () => {}, console: () => {} }, { ...LIMITS, verbose: false })
    const [ana, nameless, late] = [0, 1, 2].map(id => ({ id, serial: id, peer: `p${id}` }))
    room.open(ana)
    room.open(nameless)
    room.receive(ana, 'ana')
    f.take(0)
    room.shutdown()
    t.same([f.take(0), f.take(1)], [['server closing'], ['server closing']], `${what}: both told`)
    room.closed(ana, 'end of input')
    t.same(f.take(1), [], `${what}: nobody hears \`ana left\` at shutdown`)
    t.notOk(room.open(late), `${what}: a late connection is refused`)
    t.same(f.take(2), ['server closing'], `${what}: and told why`)
    t.equal(f.roster.state(2), SessionState.CLOSING)
  }
})
