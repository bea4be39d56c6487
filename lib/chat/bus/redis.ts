// The room across servers on Redis (node-redis): every server with the same Redis and room name
// is one room. Events go on the room's log, a Redis stream (XADD, capped), added from one
// connection, so what one server says is in the order it was said; every server reads the log
// from where it left off (XREAD), so what was added while its connection was down is read when it
// is back. Names are claims in Redis (registry.ts).
//
// Why a stream and not pub/sub: a pub/sub message reaches only who is subscribed at that instant.
// After an outage the servers come back one by one (each with its own backoff), and what the first
// one sends from its queue is lost for every server not yet resubscribed. A stream keeps it.
//
// Two connections: `pub` for commands and XADD, `sub` for the blocking XREAD loop. Every few
// seconds (a third of the name expiry) one script renews this server's names and lists the room's:
// members that joined elsewhere while this server missed it are announced, and the members of a
// server that stopped renewing (killed, cut off) leave when their claims expire.
//
// Redis going away (either connection lost):
//   UP ──error──▶ DOWN: one log line; the room is told (`down`) and tells its members; claims are
//                 refused as unreachable; announcements wait in a bounded queue (the oldest go
//                 first when it is full, counted); node-redis reconnects with backoff
//   DOWN ──both connections ready again──▶ renew/take back this server's names (those someone else
//                 took meanwhile are `lost`), announce this server's members again, send the queue
//                 in order, then UP: one log line with what was sent and dropped; the room is told
//   any ──close()──▶ CLOSED
import { randomUUID } from 'node:crypto'
import { createClient } from '@redis/client'
import { Inbox } from '../../inbox.js'
import { RateLimitedLog, log } from '../../log.js'
import { nameKey } from '../names.js'
import type { Announcement, BusEvent, ClaimAnswer, RemoteMember, RoomBus } from './bus.js'
import { NameRegistry, type RedisClient } from './registry.js'
import { decodeMessage, toWire, type ClaimValue } from './wire.js'

export const BusState = {
  UP: 'UP',
  DOWN: 'DOWN',
  CLOSED: 'CLOSED',
} as const
export type BusState = (typeof BusState)[keyof typeof BusState]

export interface RedisBusOptions {
  /** redis://HOST:PORT[/DB] (rediss:// for TLS). */
  url: string
  /** Servers with the same room name (and Redis) are one room. */
  room: string
  /** A name's claim lasts this long unless its server renews it (every third of it). */
  expiryMs: number
  /** How /who names this server. */
  serverName: string
  /** Announcements kept while Redis is out of reach (default 10,000). */
  queueMax?: number
}

/** A claim Redis has not answered within this time is refused as unreachable. */
const CLAIM_TIMEOUT_MS = 5000
/** The room's log keeps about this many entries (XADD MAXLEN ~): a server away for longer misses the oldest. */
const LOG_MAX = 100_000
/** Entries read per XREAD, and how long one waits for new entries (so a close is noticed). */
const READ_COUNT = 512
const READ_BLOCK_MS = 1000
/** A connection silent this long is taken for dead (see the constructor). */
const SILENT_MS = 5 * READ_BLOCK_MS
/** At shutdown, what Redis has not confirmed within this time is given up. */
const CLOSE_TIMEOUT_MS = 2000
/** The log is not read further while this many events wait in the inbox: the loop catches up first. */
const INBOX_HIGH = 4096
/** Reconnection backoff: 100 ms doubling to 5 s, with ±20% jitter so servers do not retry in step. */
function backoff(retries: number): number {
  return Math.round(Math.min(5000, 100 * 2 ** retries) * (0.8 + Math.random() * 0.4))
}

interface Remote {
  name: string
  owner: string
  server: string
  /** performance.now() of the event or listing that put it here. */
  at: number
}

export class RedisBus implements RoomBus {
  readonly inbox = new Inbox<BusEvent>()
  /** Unique per process: a restarted server is a new one, whatever its name. */
  readonly id = randomUUID()
  /** How this server's own log entries begin. */
  private readonly ownPrefix = `{"from":${JSON.stringify(this.id)},`
  private state: BusState = BusState.UP
  private started = false
  private readonly pub: RedisClient
  private readonly sub: RedisClient
  private readonly registry: NameRegistry
  private readonly log: string
  /** The id of the last log entry read ('0-0': from the start). */
  private lastId = '0-0'
  /** Members on other servers, by name key, in the order this server learned of them. */
  private readonly remote = new Map<string, Remote>()
  /** Name keys that left by an event, and when: a listing asked for before cannot bring them back. */
  private readonly departed = new Map<string, number>()
  /** The names this server's members hold, by name key. */
  private readonly held = new Map<string, ClaimValue>()
  private outbox: string[] = []
  private dropped = 0
  private downSince = 0
  private recovering = false
  private ticking = false
  private tickTimer: NodeJS.Timeout | null = null
  private startError: Error | null = null
  private readonly queueMax: number
  private readonly malformed = new RateLimitedLog(10_000)
  private readonly tickErrors = new RateLimitedLog(10_000)

  private constructor(private readonly o: RedisBusOptions) {
    this.queueMax = o.queueMax ?? 10_000
    this.log = `selectloop:{${o.room}}:log`
    // Commands are refused while disconnected (disableOfflineQueue) rather than queued without
    // bound inside the client: what waits for Redis is this bus's own bounded queue.
    // A link that dies silently (a cable, a partition: no reset) is noticed within SILENT_MS: each
    // connection hears something every second (a PING, or the reader's XREAD that blocks 1 s).
    const options = {
      url: o.url,
      disableOfflineQueue: true,
      pingInterval: READ_BLOCK_MS,
      socket: {
        connectTimeout: 5000,
        socketTimeout: SILENT_MS,
        // Before the first connection, give up at once (the server does not start); after it, retry for ever.
        reconnectStrategy: (retries: number, cause: Error) => {
          if (this.state === BusState.CLOSED) return false
          if (!this.started) {
            this.startError ??= cause
            return cause
          }
          return backoff(retries)
        },
      },
    }
    this.pub = createClient(options) as unknown as RedisClient
    this.sub = createClient(options) as unknown as RedisClient
    for (const client of [this.pub, this.sub]) {
      client.on('error', (err: Error) => this.lost(err))
      client.on('ready', () => void this.maybeBack())
    }
    this.registry = new NameRegistry(this.pub, o.room, o.expiryMs)
  }

  /**
   * Connects, subscribes and reads the room's names. Resolves with the bus; rejects with a
   * one-line reason when Redis cannot be reached (the server should not start).
   */
  static async connect(o: RedisBusOptions): Promise<RedisBus> {
    const bus = new RedisBus(o)
    try {
      await bus.pub.connect()
      await bus.sub.connect()
      // Read from the log's end as it is now: what came before this server is not its business.
      const last = (await bus.pub.sendCommand(['XREVRANGE', bus.log, '+', '-', 'COUNT', '1'])) as Array<[string, string[]]>
      bus.lastId = last[0]?.[0] ?? '0-0'
      await bus.tick(true)
    } catch (err) {
      bus.state = BusState.CLOSED
      bus.pub.destroy()
      bus.sub.destroy()
      throw new Error(`cannot reach Redis at ${o.url}: ${describe(bus.startError ?? err)}`)
    }
    bus.started = true
    bus.tickTimer = setInterval(() => void bus.tick(false), Math.max(50, o.expiryMs / 3))
    void bus.readLog()
    return bus
  }

  get serverName(): string {
    return this.o.serverName
  }

  get reachable(): boolean {
    return this.state === BusState.UP
  }

  heldElsewhere(name: string): boolean {
    return this.remote.has(nameKey(name))
  }

  remoteMembers(): RemoteMember[] {
    const byServer = new Map<string, RemoteMember[]>()
    for (const m of this.remote.values()) byServer.set(m.server, [...(byServer.get(m.server) ?? []), { name: m.name, server: m.server }])
    return [...byServer.values()].flat()
  }

  findRemote(name: string): RemoteMember | null {
    const m = this.remote.get(nameKey(name))
    return m ? { name: m.name, server: m.server } : null
  }

  claim(name: string, ticket: number): ClaimAnswer {
    if (this.state !== BusState.UP) return 'unreachable'
    const nk = nameKey(name)
    if (this.held.has(nk)) return 'taken'
    const value: ClaimValue = { owner: this.id, server: this.o.serverName, name }
    let answered = false
    const answer = (a: 'granted' | 'taken' | 'unreachable') => {
      if (answered) return
      answered = true
      clearTimeout(timer)
      this.inbox.put({ kind: 'claim', ticket, name, answer: a }, false)
    }
    const timer = setTimeout(() => answer('unreachable'), CLAIM_TIMEOUT_MS)
    this.registry.claim(name, value).then(
      ok => {
        if (!ok) return answer('taken')
        if (answered || this.state === BusState.CLOSED) return void this.registry.release(name, value).catch(() => {})
        this.held.set(nk, value)
        answer('granted')
      },
      () => answer('unreachable'),
    )
    return 'pending'
  }

  release(name: string): void {
    const nk = nameKey(name)
    const value = this.held.get(nk)
    if (!value) return
    this.held.delete(nk)
    // While Redis is out of reach the claim is simply not renewed: it expires.
    if (this.state === BusState.UP) this.registry.release(name, value).catch(() => {})
  }

  announce(event: Announcement): void {
    if (this.state === BusState.CLOSED) return
    const raw = toWire(event, this.id, this.o.serverName)
    if (this.state === BusState.UP && !this.recovering) this.publish(raw)
    else this.queue(raw)
  }

  async close(): Promise<void> {
    if (this.state === BusState.CLOSED) return
    const wasUp = this.state === BusState.UP
    this.state = BusState.CLOSED
    if (this.tickTimer) clearInterval(this.tickTimer)
    if (wasUp) {
      this.sub.destroy() // its XREAD may be blocked for up to a second: nothing of it is needed now
      const released = Promise.allSettled([...this.held.values()].map(v => this.registry.release(v.name, v))).then(() => this.pub.close())
      let timer: NodeJS.Timeout | undefined
      await Promise.race([released.catch(() => {}), new Promise(resolve => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)))])
      clearTimeout(timer)
      this.pub.destroy() // a no-op once closed; cuts a Redis that did not answer in time
    } else {
      this.pub.destroy()
      this.sub.destroy()
    }
    if (this.outbox.length > 0) log(`${this.outbox.length} messages for the other servers not sent: Redis was out of reach at shutdown`)
    this.held.clear()
    this.inbox.close()
  }

  private publish(raw: string): void {
    this.pub.sendCommand(['XADD', this.log, 'MAXLEN', '~', String(LOG_MAX), '*', 'm', raw]).catch((err: Error) => {
      // Refused before it was sent (the connection had just gone): it waits with the rest, in order.
      if (err?.name === 'ClientOfflineError' && this.state !== BusState.CLOSED) this.queue(raw)
    })
  }

  private queue(raw: string): void {
    if (this.outbox.length >= this.queueMax) {
      if (this.dropped === 0) log(`queue for the other servers full (${this.queueMax} messages): dropping the oldest until Redis is back`)
      this.outbox.shift()
      this.dropped++
    }
    this.outbox.push(raw)
  }

  /** A connection reported an error: the first one while UP takes the bus DOWN. */
  private lost(err: Error): void {
    if (this.state !== BusState.UP || !this.started) return
    this.state = BusState.DOWN
    this.downSince = performance.now()
    log(`lost Redis at ${this.o.url} (${describe(err)}): the other servers are out of reach, chat here goes on; reconnecting with backoff`)
    this.inbox.put({ kind: 'down' }, false)
  }

  /** Both connections are ready again: take the names back, re-announce, send the queue, UP. */
  private async maybeBack(): Promise<void> {
    if (this.state !== BusState.DOWN || this.recovering || !this.pub.isReady || !this.sub.isReady) return
    this.recovering = true
    try {
      await this.tick(false)
    } catch {
      return // lost again: the next 'ready' tries again
    } finally {
      this.recovering = false
    }
    if (this.state !== BusState.DOWN) return
    // Servers that took this one's members for gone hear them join again (the others ignore it).
    for (const value of this.held.values()) this.publish(toWire({ kind: 'joined', name: value.name }, this.id, this.o.serverName))
    const queued = this.outbox
    this.outbox = []
    for (const raw of queued) this.publish(raw)
    this.state = BusState.UP
    const seconds = ((performance.now() - this.downSince) / 1000).toFixed(1)
    log(`Redis back at ${this.o.url} after ${seconds} s: ${queued.length} queued messages sent${this.dropped ? `, ${this.dropped} dropped (queue full)` : ''}`)
    this.dropped = 0
    this.inbox.put({ kind: 'up' }, false)
  }

  /** Renews this server's names and reconciles the view of the others' with Redis's list. */
  private async tick(initial: boolean): Promise<void> {
    if (this.ticking || this.state === BusState.CLOSED || (this.state === BusState.DOWN && !this.recovering)) return
    this.ticking = true
    const askedAt = performance.now()
    try {
      const result = await this.registry.tick(this.held)
      for (const nk of result.lost) {
        const value = this.held.get(nk)
        if (!value) continue
        this.held.delete(nk)
        this.inbox.put({ kind: 'lost', name: value.name }, false)
      }
      this.reconcile(result.claims, askedAt, initial)
    } catch (err) {
      if (initial || this.recovering) throw err
      if (this.state === BusState.UP) this.tickErrors.log(`renewing names in Redis failed: ${describe(err)}`)
    } finally {
      this.ticking = false
    }
  }

  /**
   * Redis's list of the room, asked for at `askedAt`, against this server's view: members it did
   * not know of join, members it knew that are no longer listed leave (their server stopped
   * renewing). An event this server handled after `askedAt` is newer than the list: it stands.
   */
  private reconcile(claims: ClaimValue[], askedAt: number, initial: boolean): void {
    const listed = new Set<string>()
    for (const c of claims) {
      if (c.owner === this.id) continue
      const nk = nameKey(c.name)
      listed.add(nk)
      const known = this.remote.get(nk)
      if (known?.owner === c.owner || (known && known.at > askedAt) || (this.departed.get(nk) ?? -Infinity) > askedAt) continue
      if (known && !initial) this.inbox.put({ kind: 'left', name: known.name, server: known.server, gone: true }, false)
      this.remote.set(nk, { name: c.name, owner: c.owner, server: c.server, at: askedAt })
      if (!initial) this.inbox.put({ kind: 'joined', name: c.name, server: c.server }, false)
    }
    for (const [nk, m] of this.remote) {
      if (listed.has(nk) || m.at > askedAt) continue
      this.remote.delete(nk)
      this.departed.set(nk, performance.now())
      this.inbox.put({ kind: 'left', name: m.name, server: m.server, gone: true }, false)
    }
    for (const [nk, at] of this.departed) if (at < askedAt) this.departed.delete(nk)
  }

  /**
   * Reads the room's log for as long as the bus is open: each entry into onMessage. While Redis is
   * out of reach it waits for the connection to be ready again and goes on from the last entry read.
   */
  private async readLog(): Promise<void> {
    while (this.state !== BusState.CLOSED) {
      if (!this.sub.isReady || this.inbox.size > INBOX_HIGH) {
        await new Promise(resolve => setTimeout(resolve, 20))
        continue
      }
      let reply: unknown
      try {
        reply = await this.sub.sendCommand(['XREAD', 'COUNT', String(READ_COUNT), 'BLOCK', String(READ_BLOCK_MS), 'STREAMS', this.log, this.lastId])
      } catch {
        // The connection went (its 'error' event says so) or the read failed: wait a moment, then as above.
        await new Promise(resolve => setTimeout(resolve, 50))
        continue
      }
      for (const [id, fields] of streamEntries(reply)) {
        this.lastId = id
        const i = fields.indexOf('m')
        this.onMessage(i >= 0 && i % 2 === 0 ? String(fields[i + 1]) : '')
      }
    }
  }

  /** One log entry: another server's announcement, into the inbox. */
  private onMessage(raw: string): void {
    // This server reads its own entries back too: skipped before any parsing (toWire puts `from` first).
    if (raw.startsWith(this.ownPrefix)) return
    const m = decodeMessage(raw)
    if (m === null) return this.malformed.log(`ignored a malformed entry in ${this.log}: ${JSON.stringify(raw.slice(0, 80))}`)
    if (m.from === this.id || this.state === BusState.CLOSED) return
    const e = m.event
    const now = performance.now()
    switch (e.kind) {
      case 'joined': {
        const nk = nameKey(e.name)
        if (this.remote.get(nk)?.owner === m.from) return // known already (a re-announcement)
        this.remote.set(nk, { name: e.name, owner: m.from, server: m.server, at: now })
        this.departed.delete(nk)
        this.inbox.put({ kind: 'joined', name: e.name, server: m.server }, false)
        return
      }
      case 'left': {
        const nk = nameKey(e.name)
        if (this.remote.get(nk)?.owner !== m.from) return
        this.remote.delete(nk)
        this.departed.set(nk, now)
        this.inbox.put({ kind: 'left', name: e.name, server: m.server, gone: false }, false)
        return
      }
      case 'said':
        if (!this.inbox.put({ kind: 'said', name: e.name, text: e.text })) this.malformed.log(`inbox full: a message from ${m.server} dropped`)
        return
      case 'operator':
        this.inbox.put({ kind: 'operator', text: e.text, server: m.server })
        return
      case 'whisper':
        if (this.held.has(nameKey(e.to))) this.inbox.put({ kind: 'whisper', from: e.from, to: e.to, text: e.text }, false)
        return
      case 'kick':
        if (this.held.has(nameKey(e.name))) this.inbox.put({ kind: 'kick', name: e.name, server: m.server }, false)
        return
    }
  }
}

/**
 * The entries of a one-stream XREAD reply, whichever way the client decoded it: RESP2's
 * [[key, entries]], or a map {key: entries}; null (no entry within BLOCK) is none.
 */
function streamEntries(reply: unknown): Array<[string, string[]]> {
  if (reply === null || typeof reply !== 'object') return []
  const streams = Array.isArray(reply) ? reply.map(r => (r as [string, unknown])[1]) : Object.values(reply as object)
  return (streams[0] as Array<[string, string[]]> | undefined) ?? []
}

/** A connection error in a few words (ECONNREFUSED → connection refused). */
function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  switch (e?.code) {
    case 'ECONNREFUSED':
      return 'connection refused'
    case 'ECONNRESET':
      return 'connection reset'
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'unknown host'
    case 'ETIMEDOUT':
      return 'timed out'
  }
  return e?.message || String(err)
}
