// The room's side of the bus (lib/chat/room.ts with lib/chat/bus/bus.ts), in-process: a room over
// the selector's MapRoster and a bus the test answers by hand, so a claim can stay pending as long
// as the test likes. And the wire format's checks (lib/chat/bus/wire.ts).
import t from 'tap'
import type { Announcement, ClaimAnswer, RemoteMember, RoomBus } from '../lib/chat/bus/bus.js'
import { decodeClaim, decodeMessage, encodeClaim, toWire } from '../lib/chat/bus/wire.js'
import { MapRoster } from '../lib/chat/map-roster.js'
import { ChatRoom } from '../lib/chat/room.js'
import type { Session } from '../lib/chat/roster.js'

const LIMITS = { maxName: 16, maxLine: 100, idleTimeoutMs: 0, verbose: false }

/** A bus whose claims stay pending until the test answers; it records what the room announces. */
class HandBus implements RoomBus {
  readonly inbox = null
  readonly serverName = 'here'
  reachable = true
  announced: Announcement[] = []
  released: string[] = []
  claims: Array<{ name: string; ticket: number }> = []
  remote: RemoteMember[] = [{ name: 'zoe', server: 'there' }]
  heldElsewhere = (name: string) => this.remote.some(m => m.name.toLowerCase() === name.toLowerCase())
  remoteMembers = () => this.remote
  findRemote = (name: string) => this.remote.find(m => m.name.toLowerCase() === name.toLowerCase()) ?? null
  claim(name: string, ticket: number): ClaimAnswer {
    if (!this.reachable) return 'unreachable'
    this.claims.push({ name, ticket })
    return 'pending'
  }
  release = (name: string) => void this.released.push(name)
  announce = (a: Announcement) => void this.announced.push(a)
  close = async () => {}
}

function setup() {
  const got = new Map<number, string[]>()
  const roster = new MapRoster({ deliver: (id, line) => (got.get(id) ?? got.set(id, []).get(id)!).push(line.toString().trimEnd()), hangUp: () => {} })
  const bus = new HandBus()
  const room = new ChatRoom(roster, { log: () => {}, console: () => {} }, LIMITS, bus)
  const session = (id: number): Session => ({ id, serial: 100 + id, peer: `10.0.0.${id}:1` })
  const take = (id: number) => (got.get(id) ?? []).splice(0)
  return { room, bus, session, take }
}

t.test('a pending claim holds what came after the name, and replays it in order once granted', async t => {
  const { room, bus, session, take } = setup()
  const ana = session(1)
  room.open(ana)
  room.receive(ana, 'ana')
  t.ok(room.awaitingClaim(ana), 'waiting for the bus: the model stops reading it')
  room.receive(ana, 'hola')
  room.receive(ana, '/who')
  t.same(take(1), [], 'nothing said yet')
  t.same(bus.announced, [])
  room.fromBus({ kind: 'claim', ticket: bus.claims[0].ticket, name: 'ana', answer: 'granted' })
  t.notOk(room.awaitingClaim(ana))
  const lines = take(1)
  t.match(lines[0], /^welcome ana, 2 here now/, 'the welcome counts the member elsewhere')
  t.equal(lines[1], 'here now (2): ana (on here); zoe (on there)', 'then the held /who, answered after the join')
  t.same(bus.announced, [
    { kind: 'joined', name: 'ana' },
    { kind: 'said', name: 'ana', text: 'hola' },
  ], 'the join and the held message go to the other servers, in order')
})

t.test('a refused claim: told why, and the next held line is the next try', async t => {
  const { room, bus, session, take } = setup()
  const bob = session(2)
  room.open(bob)
  room.receive(bob, 'bob')
  room.receive(bob, 'bobby')
  room.fromBus({ kind: 'claim', ticket: bus.claims[0].ticket, name: 'bob', answer: 'taken' })
  t.same(take(2), ['name refused: the name bob is taken; try another name'])
  t.equal(bus.claims[1].name, 'bobby', 'the held line was claimed next')
  t.ok(room.awaitingClaim(bob))
  room.fromBus({ kind: 'claim', ticket: bus.claims[1].ticket, name: 'bobby', answer: 'unreachable' })
  t.match(take(2)[0], /^name refused: the other servers of this room are out of reach/)
})

t.test('names held elsewhere or being claimed here are refused without asking Redis', async t => {
  const { room, bus, session, take } = setup()
  const [a, b] = [session(1), session(2)]
  room.open(a)
  room.open(b)
  room.receive(a, 'ZOE')
  t.same(take(1), ['name refused: the name ZOE is taken; try another name'], 'held on another server')
  room.receive(a, 'ana')
  room.receive(b, 'Ana')
  t.same(take(2), ['name refused: the name Ana is taken; try another name'], 'pending for another connection here')
  t.equal(bus.claims.length, 1)
  bus.reachable = false
  room.receive(b, 'cid')
  t.match(take(2)[0], /out of reach, so no name can be checked now/)
})

t.test('a connection gone while its claim is pending: a granted name is released', async t => {
  const { room, bus, session } = setup()
  const ana = session(1)
  room.open(ana)
  room.receive(ana, 'ana')
  room.closed(ana, 'connection reset')
  room.fromBus({ kind: 'claim', ticket: bus.claims[0].ticket, name: 'ana', answer: 'granted' })
  t.same(bus.released, ['ana'])
  t.same(bus.announced, [], 'it never joined: nobody is told anything')
})

t.test('what the other servers say, and the member that leaves or loses its name', async t => {
  const { room, bus, session, take } = setup()
  const ana = session(1)
  room.open(ana)
  room.receive(ana, 'ana')
  room.fromBus({ kind: 'claim', ticket: bus.claims[0].ticket, name: 'ana', answer: 'granted' })
  take(1)
  room.fromBus({ kind: 'joined', name: 'yan', server: 'there' })
  room.fromBus({ kind: 'said', name: 'yan', text: 'hi \x1b[2J' })
  room.fromBus({ kind: 'whisper', from: 'yan', to: 'ANA', text: 'psst' })
  room.fromBus({ kind: 'whisper', from: 'yan', to: 'nobody', text: 'lost' })
  room.fromBus({ kind: 'operator', text: 'hello', server: 'there' })
  room.fromBus({ kind: 'left', name: 'yan', server: 'there', gone: true })
  room.fromBus({ kind: 'down' })
  room.fromBus({ kind: 'up' })
  t.same(take(1), [
    'yan joined',
    'yan: hi \uFFFD[2J',
    'yan (private): psst',
    '[server] hello',
    'yan left',
    'the other servers of this room are out of reach; you can still talk to those on this one',
    'the other servers of this room are back',
  ])
  room.receive(ana, '/msg zoe hey')
  t.same(bus.announced.at(-1), { kind: 'whisper', from: 'ana', to: 'zoe', text: 'hey' }, '/msg to a member elsewhere goes on the bus')
  room.fromBus({ kind: 'lost', name: 'ana' })
  t.same(take(1), ['your name ana was taken on another server while this one was cut off; closing'])
  t.same(bus.announced.at(-1), { kind: 'left', name: 'ana' }, 'the others hear it leave')
  t.same(bus.released, [], 'but the name is not released: it is someone else\'s now')
})

t.test('the wire: what a peer may send, and what is refused', async t => {
  const raw = toWire({ kind: 'whisper', from: null, to: 'ana', text: 'x' }, 'id-1', 'a')
  t.same(decodeMessage(raw), { from: 'id-1', server: 'a', event: { kind: 'whisper', from: null, to: 'ana', text: 'x' } })
  for (const bad of ['', 'not json', '{}', '[]', '{"from":"x","server":"a","event":{"kind":"said","name":"","text":"t"}}', '{"from":"x","server":"a","event":{"kind":"nuke"}}', `{"from":"x","server":"a","event":{"kind":"joined","name":"${'n'.repeat(2000)}"}}`]) {
    t.equal(decodeMessage(bad), null, `refused: ${bad.slice(0, 40)}`)
  }
  const claim = { owner: 'id-1', server: 'a', name: 'Ana' }
  t.same(decodeClaim(encodeClaim(claim)), claim)
  t.equal(decodeClaim('["id",1,"x"]'), null)
})
