// The web console's picture of a running server, kept from what the server tells its observers
// (lib/observer.ts, the loop's LoopObserver, the chat's RoomObserver) and sampled a few times a
// second into a Sample for the page.
//
// It runs inside the server's work, on its thread, between its reads and writes, so every
// callback here is small: a map lookup and a few counters. Nothing is formatted per read or per
// write, and the event log is a fixed ring of reused entries (interest changes can come by the
// thousand per second under load): the loop shown is not slowed down by being shown.
import { Connection, Listener, StreamReader, eventNames, type LoopObserver, type RoundInfo, type Selectable, type SelectorKey } from '../../reactor/index.js'
import type { ChatObserver } from '../chat/observed-roster.js'
import type { SessionState } from '../chat/roster.js'
import type { ObservedConnection, ObservedServer } from '../observer.js'
import type { LockSample } from '../threads/mutex.js'

/** Connections and registrations listed in a sample at most (the totals are always given). */
export const MAX_LISTED = 200
/** Events and conversation lines kept for viewers that are behind or new. */
export const EVENT_RING = 256
export const CONVERSATION_KEPT = 200

/** One connection in a sample. */
export interface ClientSample {
  id: number
  peer: string
  /** Its name in the chat, once it has one. */
  name: string | null
  /** The protocol's state (chat: the room's; echo: EchoState; threads echo: the host's phase). */
  state: string
  /** A browser user of the chat (bridged through the web side). */
  web: boolean
  bytesIn: number
  bytesOut: number
  queued: number
  /** Sends that took only part of what was offered. */
  partialSends: number
  /** selector models: its registration's fd and interest ('R', 'W', 'RW', '-' when unregistered). */
  fd: number | null
  interest: string | null
  /** threads model: the thread serving it. */
  thread: number | null
}

export interface KeySample {
  fd: number
  kind: 'listener' | 'console' | 'connection' | 'other'
  interest: string
  who: string
  state: string
}

export interface LoopSample {
  roundsPerSecond: number
  /** Callbacks dispatched per round, on average and at most, over the last interval. */
  readyPerRound: number
  readyMax: number
  /** Share of the interval spent outside select(): callbacks and timers. */
  busyPercent: number
  keys: KeySample[]
  keyCount: number
}

export interface ThreadsSample {
  live: number
  starting: number
  busy: number
  parked: number
  exiting: number
  /** The shared lock over the last interval (per second) and since the start, when there is one. */
  lock: {
    acquiredPerSecond: number
    contendedPerSecond: number
    waitedMsPerSecond: number
    /** The longest wait in the last interval. */
    maxWaitMs: number
    held: boolean
    acquired: number
    contended: number
    waitedMs: number
    longestWaitMs: number
  } | null
}

/** What every viewer is sent, the same for all, once per tick. */
export interface Sample {
  protocol: 'echo' | 'chat'
  model: string
  address: string
  uptimeSeconds: number
  clients: { count: number; listed: ClientSample[] }
  loop: LoopSample | null
  threads: ThreadsSample | null
}

export interface LogLine {
  /** Date.now() of the event. */
  at: number
  text: string
}

/** Lines since a viewer's cursor: at most `limit`, the newest; `skipped` older ones not sent. */
export interface LinesSince {
  lines: LogLine[]
  skipped: number
  cursor: number
}

const Kind = {
  OPENED: 0,
  CLOSED: 1,
  STATE: 2,
  INTEREST: 3,
  THREAD: 4,
} as const
type Kind = (typeof Kind)[keyof typeof Kind]

/** An event ring entry, reused: numbers and existing strings only, formatted when a viewer is sent it. */
interface EventEntry {
  seq: number
  at: number
  kind: Kind
  fd: number
  who: string
  a: string
  b: string
  n: number
}

interface ConnRecord {
  readonly c: ObservedConnection
  readonly fileobj: Selectable | null
  /** Its registration's fd, kept after it is unregistered (for the line that says it closed); -1: none. */
  fd: number
  state: string
  /** The chat room's state for it (undefined: not in the room). */
  room: SessionState | null | undefined
  name: string | null
  bytesIn: number
  bytesOut: number
  partialSends: number
  thread: number | null
}

interface ThreadRecord {
  state: string
  conn: number | null
}

export class ServerWatch implements ChatObserver, LoopObserver {
  private server: ObservedServer | null = null
  private readonly startedAt = Date.now()
  private address = ''
  private readonly conns = new Map<number, ConnRecord>()
  private readonly byFileobj = new Map<Selectable, ConnRecord>()
  /** The loop's registrations: fd and interest, by file object. */
  private readonly keys = new Map<Selectable, { fd: number; events: number }>()
  private readonly threads = new Map<number, ThreadRecord>()
  private stopLoop: (() => void) | null = null
  /** The shared lock since the start. */
  private readonly lockTotals = { acquired: 0, contended: 0, waitedMs: 0, longestWaitMs: 0 }

  // Loop counters since the last sample.
  private rounds = 0
  private dispatched = 0
  private readyMax = 0
  private busyMs = 0
  private lastSampleAt = performance.now()

  private readonly ring: EventEntry[] = Array.from({ length: EVENT_RING }, () => ({ seq: 0, at: 0, kind: Kind.OPENED, fd: -1, who: '', a: '', b: '', n: 0 }))
  private eventSeq = 0
  private readonly conversationLines: LogLine[] = []
  private conversationSeq = 0

  /** `isWeb(peer)`: is this client address one of the web side's own bridges (a browser user)? */
  constructor(private readonly isWeb: (peer: string) => boolean = () => false) {}

  /** The server this watch was told of (serverStarted), or null before. */
  get observed(): ObservedServer | null {
    return this.server
  }

  /** Where the server listens, for the page's title. */
  setAddress(address: string): void {
    this.address = address
  }

  /** Stops watching the loop (the web side is closing). */
  detach(): void {
    this.stopLoop?.()
    this.stopLoop = null
  }

  // ---- ServerObserver ------------------------------------------------------------------------

  serverStarted(server: ObservedServer): void {
    this.server = server
    const loop = server.loop
    if (loop) {
      // What was registered before (the listener, the operator's stdin), then every change.
      for (const key of loop.selector.getMap().values()) this.keys.set(key.fileobj, { fd: key.fd, events: key.events })
      this.stopLoop = loop.observe(this)
    }
  }

  connectionOpened(c: ObservedConnection, fileobj: Selectable | null): void {
    const fd = fileobj ? (this.keys.get(fileobj)?.fd ?? -1) : -1
    const r: ConnRecord = { c, fileobj, fd, state: '', room: undefined, name: null, bytesIn: 0, bytesOut: 0, partialSends: 0, thread: null }
    this.conns.set(c.id, r)
    if (fileobj) this.byFileobj.set(fileobj, r)
    this.event(Kind.OPENED, fd, c.peer, '', '', 0)
  }

  stateChanged(c: ObservedConnection, state: string): void {
    const r = this.conns.get(c.id)
    if (!r) return
    const before = r.state
    r.state = state
    // A chat connection's story is its room state; the host's phases would only repeat it.
    if (r.room === undefined && before !== '') this.event(Kind.STATE, r.fd, this.who(r), before, state, 0)
  }

  received(c: ObservedConnection, bytes: number): void {
    const r = this.conns.get(c.id)
    if (r) r.bytesIn += bytes
  }

  sent(c: ObservedConnection, sent: number, offered: number): void {
    const r = this.conns.get(c.id)
    if (!r) return
    r.bytesOut += sent
    if (sent < offered) r.partialSends++
  }

  connectionClosed(c: ObservedConnection, reason: string): void {
    const r = this.conns.get(c.id)
    if (!r) return
    this.event(Kind.CLOSED, r.fd, this.who(r), reason, '', 0)
    this.conns.delete(c.id)
    if (r.fileobj) this.byFileobj.delete(r.fileobj)
  }

  threadChanged(threadId: number, state: string, connectionId: number | null): void {
    const t = this.threads.get(threadId)
    const before = t?.state ?? ''
    if (t && t.conn !== null && t.conn !== connectionId) {
      const old = this.conns.get(t.conn)
      if (old && old.thread === threadId) old.thread = null
    }
    if (state === 'EXITED') this.threads.delete(threadId)
    else this.threads.set(threadId, { state, conn: connectionId })
    const r = connectionId === null ? undefined : this.conns.get(connectionId)
    if (r) r.thread = threadId
    if (before !== state) this.event(Kind.THREAD, -1, r ? this.who(r) : '', before, state, threadId)
  }

  // ---- RoomObserver --------------------------------------------------------------------------

  sessionChanged(serial: number, state: SessionState | null, name: string | null): void {
    const r = this.conns.get(serial)
    if (!r) return
    const before = r.room ?? ''
    if (name !== null) r.name = name
    r.room = state
    if (state !== null) this.event(Kind.STATE, r.fd, this.who(r), before, state, 0)
  }

  conversation(line: string): void {
    this.conversationLines.push({ at: Date.now(), text: line })
    this.conversationSeq++
    if (this.conversationLines.length > CONVERSATION_KEPT) this.conversationLines.shift()
  }

  // ---- LoopObserver --------------------------------------------------------------------------

  registered(key: SelectorKey): void {
    this.keys.set(key.fileobj, { fd: key.fd, events: key.events })
    const r = this.byFileobj.get(key.fileobj)
    if (r) r.fd = key.fd // registered again (a chat connection unregistered for a while): a new fd
  }

  modified(key: SelectorKey, oldEvents: number): void {
    const k = this.keys.get(key.fileobj)
    if (k) k.events = key.events
    const r = this.byFileobj.get(key.fileobj)
    this.event(Kind.INTEREST, key.fd, r ? this.who(r) : '', '', '', oldEvents * 4 + key.events)
  }

  unregistered(key: SelectorKey): void {
    this.keys.delete(key.fileobj)
  }

  roundDone(round: Readonly<RoundInfo>): void {
    this.rounds++
    this.dispatched += round.dispatched
    if (round.dispatched > this.readyMax) this.readyMax = round.dispatched
    this.busyMs += round.busyMs
  }

  // ---- sampling ------------------------------------------------------------------------------

  /** What every viewer gets this tick; the loop's counters start again from zero. */
  sample(): Sample {
    const now = performance.now()
    const seconds = Math.max(0.001, (now - this.lastSampleAt) / 1000)
    this.lastSampleAt = now
    const server = this.server
    return {
      protocol: server?.protocol ?? 'echo',
      model: server?.model ?? '',
      address: this.address,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      clients: { count: this.conns.size, listed: this.listClients() },
      loop: server?.loop ? this.sampleLoop(seconds) : null,
      threads: server?.model === 'threads' ? this.sampleThreads(server, seconds) : null,
    }
  }

  /** Event lines after `cursor` (0 for a new viewer: what the ring still holds), newest `limit` at most. */
  eventsSince(cursor: number, limit: number): LinesSince {
    const first = Math.max(cursor, this.eventSeq - EVENT_RING, this.eventSeq - limit)
    const lines: LogLine[] = []
    for (let seq = first + 1; seq <= this.eventSeq; seq++) lines.push(this.format(this.ring[seq % EVENT_RING]))
    return { lines, skipped: Math.max(0, first - cursor), cursor: this.eventSeq }
  }

  /** Conversation lines after `cursor`, newest `limit` at most. */
  conversationSince(cursor: number, limit: number): LinesSince {
    const kept = this.conversationLines.length
    const first = Math.max(cursor, this.conversationSeq - kept, this.conversationSeq - limit)
    const lines = this.conversationLines.slice(kept - (this.conversationSeq - first))
    return { lines, skipped: Math.max(0, first - cursor), cursor: this.conversationSeq }
  }

  private listClients(): ClientSample[] {
    const out: ClientSample[] = []
    for (const r of this.conns.values()) {
      if (out.length === MAX_LISTED) break
      const c = r.c
      const key = r.fileobj ? this.keys.get(r.fileobj) : undefined
      out.push({
        id: c.id,
        peer: c.peer,
        name: r.name,
        state: r.room ?? r.state,
        web: this.isWeb(c.peer),
        bytesIn: c.bytesIn ? c.bytesIn() : r.bytesIn,
        bytesOut: c.bytesOut ? c.bytesOut() : r.bytesOut,
        queued: c.queuedBytes(),
        partialSends: r.partialSends,
        fd: key?.fd ?? (r.fd >= 0 ? r.fd : null),
        interest: r.fileobj ? (key ? eventNames(key.events) : '-') : null,
        thread: r.thread,
      })
    }
    return out
  }

  private sampleLoop(seconds: number): LoopSample {
    const keys: KeySample[] = []
    for (const [fileobj, k] of this.keys) {
      if (keys.length === MAX_LISTED) break
      const r = this.byFileobj.get(fileobj)
      keys.push({ fd: k.fd, kind: kindOf(fileobj), interest: eventNames(k.events), who: r ? this.who(r) : describe(fileobj), state: r ? (r.room ?? r.state) : '' })
    }
    const sample: LoopSample = {
      roundsPerSecond: round1(this.rounds / seconds),
      readyPerRound: this.rounds === 0 ? 0 : round1(this.dispatched / this.rounds),
      readyMax: this.readyMax,
      busyPercent: Math.min(100, round1(this.busyMs / (seconds * 10))),
      keys,
      keyCount: this.keys.size,
    }
    this.rounds = this.dispatched = this.readyMax = this.busyMs = 0
    return sample
  }

  private sampleThreads(server: ObservedServer, seconds: number): ThreadsSample {
    const counts = { live: 0, starting: 0, busy: 0, parked: 0, exiting: 0 }
    for (const t of this.threads.values()) {
      counts.live++
      if (t.state === 'STARTING') counts.starting++
      else if (t.state === 'BUSY') counts.busy++
      else if (t.state === 'PARKED') counts.parked++
      else if (t.state === 'EXITING') counts.exiting++
    }
    const l = server.lock?.() ?? null
    if (l === null) return { ...counts, lock: null }
    const totals = this.lockTotals
    totals.acquired += l.acquired
    totals.contended += l.contended
    totals.waitedMs += l.waitedMs
    totals.longestWaitMs = Math.max(totals.longestWaitMs, l.maxWaitMs)
    const lock = {
      acquiredPerSecond: round1(l.acquired / seconds),
      contendedPerSecond: round1(l.contended / seconds),
      waitedMsPerSecond: Math.round((l.waitedMs / seconds) * 1000) / 1000,
      maxWaitMs: l.maxWaitMs,
      held: l.held,
      acquired: totals.acquired,
      contended: totals.contended,
      waitedMs: Math.round(totals.waitedMs * 1000) / 1000,
      longestWaitMs: totals.longestWaitMs,
    }
    return { ...counts, lock }
  }

  // ---- the event ring ------------------------------------------------------------------------

  private event(kind: Kind, fd: number, who: string, a: string, b: string, n: number): void {
    const e = this.ring[++this.eventSeq % EVENT_RING]
    e.seq = this.eventSeq
    e.at = Date.now()
    e.kind = kind
    e.fd = fd
    e.who = who
    e.a = a
    e.b = b
    e.n = n
  }

  private format(e: EventEntry): LogLine {
    const fd = e.fd >= 0 ? `fd ${e.fd} ` : ''
    const who = e.who ? `${e.who} ` : ''
    let text: string
    switch (e.kind) {
      case Kind.OPENED:
        text = `${fd}connected: ${e.who}`
        break
      case Kind.CLOSED:
        text = `${fd}${who}closed: ${e.a}`
        break
      case Kind.STATE:
        text = e.a ? `${fd}${who}${e.a} → ${e.b}` : `${fd}${e.who}: ${e.b}`
        break
      case Kind.INTEREST:
        text = `${fd}${who}interest ${eventNames(e.n >> 2)} → ${eventNames(e.n & 3)}`
        break
      case Kind.THREAD:
        text = `thread ${e.n}${e.a ? ` ${e.a} →` : ':'} ${e.b}${e.who ? ` (${e.who})` : ''}`
        break
    }
    return { at: e.at, text }
  }

  private who(r: ConnRecord): string {
    return r.name ?? r.c.peer
  }
}

function kindOf(fileobj: Selectable): KeySample['kind'] {
  if (fileobj instanceof Connection) return 'connection'
  if (fileobj instanceof Listener) return 'listener'
  if (fileobj instanceof StreamReader) return 'console'
  return 'other'
}

function describe(fileobj: Selectable): string {
  if (fileobj instanceof Listener) {
    if (fileobj.closed) return 'listener (closed)'
    const { host, port } = fileobj.address()
    return `listening on ${host}:${port}`
  }
  if (fileobj instanceof StreamReader) return "the operator's stdin"
  if (fileobj instanceof Connection) return `${fileobj.remoteAddress}:${fileobj.remotePort}`
  return fileobj.constructor.name
}

function round1(n: number): number {
  return Math.round(n * 10) / 10
}
