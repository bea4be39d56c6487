// --trace: what the server does, one line per event, for a class to read on a projector.
//
//     0.000  server    echo, selector model: one thread, one selector
//     0.000  fd 1      registered R: the listener
//     2.411  select    #1 → fd 1 R   (waited 2.411 s)
//     2.411  fd 2      accept #1 from 127.0.0.1:50122, registered R, OPEN
//     3.120  select    #2 → fd 2 R   (waited 709 ms)
//     3.120  fd 2      recv 6 B
//     3.120  fd 2      send 6 B
//     5.002  fd 2      send 65,536 of 131,072 B: partial, 65,536 B wait for WRITE
//     5.002  fd 2      interest R → RW: output waits, watch WRITE too
//
// It is an observer like the web console (lib/observer.ts for the server's connections, states,
// reads and writes, threads and lock; EventLoop.observe for registrations, interest changes and
// select rounds; the chat's RoomObserver for names): the servers print nothing themselves.
//
// On a selector model a round's `select` line (what select() returned) comes first, then what the
// callbacks did about it: cause, then effects. A round in which nothing was ready (a timer was
// due) gets its line only if something then happens. Lines are printed as events happen, so they
// interleave rightly with the server's own log lines.
import { EVENT_WRITE, Listener, StreamReader, eventNames, type LoopObserver, type RoundInfo, type Selectable, type SelectorKey } from '../reactor/index.js'
import type { ChatObserver } from './chat/observed-roster.js'
import type { SessionState } from './chat/roster.js'
import type { ObservedConnection, ObservedServer } from './observer.js'

/** How often the shared lock's use is reported (threads chat), when it was taken at all. */
const LOCK_REPORT_MS = 1000
/** A run of accepting rounds ends when no round has come for this long. */
const BURST_GAP_MS = 100
/** Width of the subject column (fd 12, #345, thread 17). */
const SUBJECT = 9

/** Why a connection moves between the states every model shares, said where the trace shows it. */
const WHY: Record<string, string> = {
  'OPEN→DRAINING': "recv() returned b'': the client sent FIN; echo what is left, then ours",
  'DRAINING→CLOSED': 'all echoed; our FIN sent',
  'SERVING→LINGERING': 'its thread is done; the socket still flushes',
  'LINGERING→CLOSED': 'both sides closed',
  'SERVING→ORPHANED': 'the client is gone; its thread has not finished yet',
  'ORPHANED→CLOSED': 'its thread has finished too',
  'CLOSED→RELEASED': 'its slot (two rings) is free for the next client',
  'AWAITING_NAME→CHATTING': 'name accepted',
}

/** The same, said for Node's own loop (net model), which reads for us: no recv() of ours. */
const WHY_NET: Record<string, string> = {
  'OPEN→DRAINING': "'end': the client sent FIN; echo what is left, then ours",
}

/** The explanation of an interest change, from what was added and removed. */
function interestWhy(before: number, after: number): string {
  const wAdded = after & EVENT_WRITE && !(before & EVENT_WRITE)
  const wDropped = before & EVENT_WRITE && !(after & EVENT_WRITE)
  const rAdded = after & 1 && !(before & 1)
  const rDropped = before & 1 && !(after & 1)
  const parts: string[] = []
  if (wAdded) parts.push('output waits, watch WRITE too')
  if (wDropped) parts.push('output all sent, WRITE no longer wanted')
  if (rDropped) parts.push('stop reading (too much waits to be sent, or no more input)')
  if (rAdded) parts.push('reading again')
  return parts.join('; ')
}

const bytes = (n: number) => `${n.toLocaleString('en-US')} B`

/** "1.204 s", "709 ms", "0.31 ms". */
function duration(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(3)} s`
  if (ms >= 10) return `${Math.round(ms)} ms`
  return `${ms.toFixed(2)} ms`
}

interface ConnTrace {
  id: number
  /** Its fd in our selector; -1 where the model has no selector (threads, net). */
  fd: number
  /** The model's state for it (echo: EchoState; threads: the host's phase). */
  state: string
  /** The chat room's state for it ('' until it has one). */
  room: string
  name: string | null
}

export interface TracerOptions {
  /** Where lines go (default: stderr). */
  write?: (line: string) => void
  /** The clock (ms; default performance.now), for tests. */
  now?: () => number
}

export class Tracer implements ChatObserver, LoopObserver {
  private readonly write: (line: string) => void
  private readonly now: () => number
  private readonly startedAt: number
  private server: ObservedServer | null = null
  private stopLoop: (() => void) | null = null
  private lockTimer: NodeJS.Timeout | null = null
  private readonly conns = new Map<number, ConnTrace>()
  /** Registrations by file object (fd, interest), to name the fd of what the server tells us of. */
  private readonly keys = new Map<Selectable, SelectorKey>()
  /** Connections registered whose accept line has not been printed yet (it says "registered R"). */
  private readonly unannounced = new Set<Selectable>()
  /** Threads: when each started, to say how long starting took. */
  private readonly threadStarted = new Map<number, number>()
  private readonly threadState = new Map<number, string>()
  /** The select line of a round in which nothing was ready: printed before its first event, if any. */
  private pendingSelect: string | null = null
  /** Connections accepted in the round under way. */
  private acceptedThisRound = 0
  private roundNumber = 0
  /**
   * Accepts in consecutive rounds. Node hands the listener one connection per callback and the
   * loop runs a round after each, so clients that waited in the kernel's backlog together are
   * taken one a round, round after round; the burst is told once it is over (a round without the
   * listener, or BURST_GAP_MS without a round).
   */
  private burst: { count: number; firstRound: number; lastRound: number; at: number; lastAt: number } | null = null
  private burstTimer: NodeJS.Timeout | null = null
  /** The accept line of a connection, kept until its first state can be added to it. */
  private openLine: { id: number; text: string; at: number } | null = null

  constructor(options: TracerOptions = {}) {
    this.write = options.write ?? (line => void process.stderr.write(line + '\n'))
    this.now = options.now ?? (() => performance.now())
    this.startedAt = this.now()
  }

  /** Stops watching the loop and sampling the lock. */
  detach(): void {
    this.stopLoop?.()
    this.stopLoop = null
    this.endBurst()
    if (this.lockTimer) clearInterval(this.lockTimer)
    this.lockTimer = null
    this.flushOpen()
  }

  // ---- printing ------------------------------------------------------------------------------

  /** "  12.345  fd 5     text" */
  private format(at: number, subject: string, text: string): string {
    const t = ((at - this.startedAt) / 1000).toFixed(3).padStart(8)
    return `${t}  ${subject.padEnd(SUBJECT)} ${text}`
  }

  private line(subject: string, text: string, at = this.now()): void {
    this.flushOpen()
    this.emit(this.format(at, subject, text))
  }

  private emit(formatted: string): void {
    if (this.pendingSelect !== null) {
      this.write(this.pendingSelect)
      this.pendingSelect = null
    }
    this.write(formatted)
  }

  private flushOpen(): void {
    const open = this.openLine
    if (open === null) return
    this.openLine = null
    const c = this.conns.get(open.id)
    this.emit(this.format(open.at, c ? this.subject(c) : `#${open.id}`, open.text))
  }

  private listenerSubject(): string {
    for (const key of this.keys.values()) if (key.fileobj instanceof Listener) return `fd ${key.fd}`
    return 'listener'
  }

  private subject(c: ConnTrace): string {
    return c.fd >= 0 ? `fd ${c.fd}` : `#${c.id}`
  }

  private who(c: ConnTrace): string {
    return c.fd >= 0 ? `#${c.id}${c.name ? ` (${c.name})` : ''} ` : c.name ? `(${c.name}) ` : ''
  }

  // ---- ServerObserver --------------------------------------------------------------------------

  serverStarted(server: ObservedServer): void {
    this.server = server
    const how: Record<string, string> = {
      selector: 'one thread, one selector',
      threads: 'a thread per connection; the main thread owns the sockets',
      net: "Node's own loop ('data' callbacks)",
    }
    this.line('server', `${server.protocol}, ${server.model} model: ${how[server.model] ?? server.model}`)
    if (server.loop) {
      for (const key of server.loop.selector.getMap().values()) this.registered(key)
      this.stopLoop = server.loop.observe(this)
    }
    if (server.lock) {
      const sample = server.lock
      sample() // from now on
      this.lockTimer = setInterval(() => {
        const s = sample()
        if (s.acquired === 0) return
        const waited = s.contended ? `, ${s.contended} had to wait: ${duration(s.waitedMs)} in all, longest ${duration(s.maxWaitMs)}` : ', never waited for'
        this.line('lock', `client list: taken ${s.acquired}× in ${LOCK_REPORT_MS / 1000} s${waited}`)
      }, LOCK_REPORT_MS)
      this.lockTimer.unref()
    }
  }

  connectionOpened(oc: ObservedConnection, fileobj: Selectable | null): void {
    const key = fileobj ? this.keys.get(fileobj) : undefined
    const c: ConnTrace = { id: oc.id, fd: key?.fd ?? -1, state: '', room: '', name: null }
    this.conns.set(oc.id, c)
    const registered = fileobj && this.unannounced.delete(fileobj) && key ? `, registered ${eventNames(key.events)}` : ''
    this.flushOpen()
    this.acceptedThisRound++
    this.openLine = { id: oc.id, text: `accept ${c.fd >= 0 ? `#${oc.id} ` : ''}from ${oc.peer}${registered}`, at: this.now() }
  }

  stateChanged(oc: ObservedConnection, state: string): void {
    const c = this.conns.get(oc.id)
    if (!c) return
    const before = c.state
    c.state = state
    if (before === state) return
    if (before === '' && this.openLine?.id === oc.id) {
      this.openLine.text += `, ${state}`
      return
    }
    const why = (this.server?.model === 'net' ? WHY_NET[`${before}→${state}`] : undefined) ?? WHY[`${before}→${state}`]
    this.line(this.subject(c), `${this.who(c)}${before ? `${before} → ` : ''}${state}${why ? `: ${why}` : ''}`)
  }

  received(oc: ObservedConnection, n: number): void {
    const c = this.conns.get(oc.id)
    if (!c) return
    this.line(this.subject(c), c.fd >= 0 ? `recv ${bytes(n)}` : `socket → its thread's ring: ${bytes(n)} (main thread)`)
  }

  sent(oc: ObservedConnection, sent: number, offered: number): void {
    const c = this.conns.get(oc.id)
    if (!c) return
    if (c.fd < 0) return this.line(this.subject(c), `its thread's ring → socket: ${bytes(sent)} (main thread)`)
    if (sent === offered) return this.line(this.subject(c), `send ${bytes(sent)}`)
    const rest = offered - sent
    this.line(this.subject(c), sent === 0 ? `send: would block, ${bytes(rest)} wait for WRITE` : `send ${bytes(sent)} of ${bytes(offered)}: partial, ${bytes(rest)} wait for WRITE`)
  }

  connectionClosed(oc: ObservedConnection, reason: string): void {
    const c = this.conns.get(oc.id)
    if (!c) return
    this.line(this.subject(c), `${this.who(c)}closed${reason === 'closed' ? '' : `: ${reason}`}`)
    this.conns.delete(oc.id)
  }

  threadChanged(threadId: number, state: string, connectionId: number | null): void {
    const before = this.threadState.get(threadId)
    if (state === 'EXITED') this.threadState.delete(threadId)
    else this.threadState.set(threadId, state)
    if (before === state) return
    const serving = connectionId === null ? '' : ` #${connectionId}`
    const subject = `thread ${threadId}`
    switch (state) {
      case 'STARTING':
        this.threadStarted.set(threadId, this.now())
        return this.line(subject, `STARTING${serving ? ` for${serving}` : ''}: a new thread (a V8 isolate here)`)
      case 'BUSY':
      case 'PARKED': {
        const since = this.threadStarted.get(threadId)
        this.threadStarted.delete(threadId)
        const took = since === undefined ? '' : ` (started in ${duration(this.now() - since)})`
        if (state === 'BUSY') return this.line(subject, `${before ?? '?'} → BUSY serving${serving}${took}`)
        return this.line(subject, `${before ?? '?'} → PARKED: idle, kept for the next client${took}`)
      }
      case 'EXITING':
        return this.line(subject, `${before ?? '?'} → EXITING`)
      case 'EXITED':
        this.threadStarted.delete(threadId)
        return this.line(subject, 'exited: its memory is given back')
      default:
        return this.line(subject, `${before ?? '?'} → ${state}${serving}`)
    }
  }

  // ---- RoomObserver (chat) ---------------------------------------------------------------------

  sessionChanged(serial: number, state: SessionState | null, name: string | null): void {
    const c = this.conns.get(serial)
    if (!c) return
    if (name) c.name = name
    if (state === null) return // gone: its closed line says so
    const before = c.room
    c.room = state
    if (before === state) return
    if (before === '' && this.openLine?.id === serial) {
      this.openLine.text += `, ${state}`
      return
    }
    const why = WHY[`${before}→${state}`]
    this.line(this.subject(c), `${this.who(c)}${before ? `${before} → ` : ''}${state}${why ? `: ${why}` : ''}${state === 'CHATTING' && name ? ` as ${name}` : ''}`)
  }

  conversation(text: string): void {
    this.line('room', `everyone is told: ${text}`)
  }

  // ---- LoopObserver ----------------------------------------------------------------------------

  registered(key: SelectorKey): void {
    this.keys.set(key.fileobj, key)
    if (key.fileobj instanceof Listener) return this.line(`fd ${key.fd}`, `registered ${eventNames(key.events)}: the listener`)
    if (key.fileobj instanceof StreamReader) return this.line(`fd ${key.fd}`, `registered ${eventNames(key.events)}: the operator's console (stdin)`)
    // A connection: its accept line says it (connectionOpened comes next).
    this.unannounced.add(key.fileobj)
  }

  modified(key: SelectorKey, oldEvents: number): void {
    this.keys.set(key.fileobj, key)
    const why = interestWhy(oldEvents, key.events)
    this.line(`fd ${key.fd}`, `interest ${eventNames(oldEvents)} → ${eventNames(key.events)}${why ? `: ${why}` : ''}`)
  }

  unregistered(key: SelectorKey): void {
    this.keys.delete(key.fileobj)
    this.unannounced.delete(key.fileobj)
    this.line(`fd ${key.fd}`, `unregistered${key.fileobj instanceof Listener ? ': the listener (no more accepts)' : ''}`)
  }

  roundStarted(round: Readonly<RoundInfo>): void {
    this.flushOpen()
    this.roundNumber = round.round
    this.acceptedThisRound = 0
    if (this.burst !== null && !round.ready.some(([key]) => key.fileobj instanceof Listener)) this.endBurst()
    const ready = round.ready.filter(([key]) => this.keys.has(key.fileobj)).map(([key, mask]) => `fd ${key.fd} ${eventNames(mask & key.events)}`)
    const waited = `(waited ${duration(round.waitedMs)})`
    if (ready.length > 0) this.line('select', `#${round.round} → ${ready.join(', ')}   ${waited}`)
    else this.pendingSelect = this.format(this.now(), 'select', `#${round.round} → nothing ready: a timer is due   ${waited}`)
  }

  roundDone(): void {
    for (const fileobj of this.unannounced) {
      const key = this.keys.get(fileobj)
      if (key) this.line(`fd ${key.fd}`, `registered ${eventNames(key.events)}`)
    }
    this.unannounced.clear()
    this.flushOpen()
    if (this.acceptedThisRound > 0) {
      const now = this.now()
      const b = (this.burst ??= { count: 0, firstRound: this.roundNumber, lastRound: 0, at: now, lastAt: now })
      b.count += this.acceptedThisRound
      b.lastRound = this.roundNumber
      b.lastAt = now
      if (this.burstTimer !== null) clearTimeout(this.burstTimer)
      this.burstTimer = setTimeout(() => ((this.burstTimer = null), this.endBurst()), BURST_GAP_MS).unref()
    }
    this.acceptedThisRound = 0
    this.pendingSelect = null
  }

  /** Tells of the accept burst just over, if it took more than one client. */
  private endBurst(): void {
    const b = this.burst
    this.burst = null
    if (this.burstTimer !== null) clearTimeout(this.burstTimer)
    this.burstTimer = null
    if (b === null || b.count < 2) return
    const rounds = b.firstRound === b.lastRound ? `in round #${b.firstRound}` : `in rounds #${b.firstRound}–#${b.lastRound}, one after another`
    this.line(this.listenerSubject(), `accept burst: ${b.count} connections ${rounds} (${duration(b.lastAt - b.at)})`)
  }
}

/**
 * Several watchers as one (--trace and --web together): each call goes to each, in order.
 * Servers take one observer; null and undefined are left out.
 */
export function bothObservers(a: ChatObserver | null | undefined, b: ChatObserver | null | undefined): ChatObserver | null {
  if (!a) return b ?? null
  if (!b) return a
  return {
    serverStarted: s => (a.serverStarted(s), b.serverStarted(s)),
    connectionOpened: (c, f) => (a.connectionOpened(c, f), b.connectionOpened(c, f)),
    stateChanged: (c, s) => (a.stateChanged(c, s), b.stateChanged(c, s)),
    received: (c, n) => (a.received(c, n), b.received(c, n)),
    sent: (c, s, o) => (a.sent(c, s, o), b.sent(c, s, o)),
    connectionClosed: (c, r) => (a.connectionClosed(c, r), b.connectionClosed(c, r)),
    threadChanged: (t, s, c) => (a.threadChanged(t, s, c), b.threadChanged(t, s, c)),
    sessionChanged: (s, st, n) => (a.sessionChanged(s, st, n), b.sessionChanged(s, st, n)),
    conversation: l => (a.conversation(l), b.conversation(l)),
  }
}
