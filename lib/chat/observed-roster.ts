// The chat room as a watcher sees it (the web console's client list and conversation), told by a
// Roster wrapped around the model's own (roster.ts): every change of a session's state goes through
// the roster, and so does every line everyone is told. The room itself is untouched, and a server
// that nobody watches does not wrap its roster at all: it costs nothing.
//
// In the threads model each connection's thread has its own wrapper, and its watcher is a queue
// whose events are handed to the main thread after the lock is released (threads-handler.ts); so
// events are plain data: a serial, a state, a name, a line. Threads' messages to the main thread
// keep no order between threads, so each event is numbered under the lock (one shared counter),
// and the main thread replays them in that order (RoomEventSequencer).
import type { ServerObserver } from '../observer.js'
import { SessionState, type Roster, type Why } from './roster.js'

/** Who watches a chat server: its connections (lib/observer.ts) and its room. */
export type ChatObserver = ServerObserver & RoomObserver

export interface RoomObserver {
  /**
   * A session's state in the room changed: AWAITING_NAME (opened), CHATTING (joined as `name`),
   * CLOSING, or null (gone). `serial` is the connection's ObservedConnection id.
   */
  sessionChanged(serial: number, state: SessionState | null, name: string | null): void
  /** A line everyone in the room was told: `ana joined`, `ana: hola`, `ana left`, `[server] ...`. */
  conversation(line: string): void
}

/** A Roster that tells `observer` what changes, and otherwise is `inner`. */
export class ObservedRoster implements Roster {
  /**
   * `serialOf(id)` is the serial of the connection a roster id stands for now (the selector's ids
   * are serials; the threads' are slots, reused).
   */
  constructor(
    private readonly inner: Roster,
    private readonly observer: RoomObserver,
    private readonly serialOf: (id: number) => number,
  ) {}

  open(id: number, serial: number): boolean {
    const open = this.inner.open(id, serial)
    this.observer.sessionChanged(serial, this.inner.state(id), null)
    return open
  }

  state(id: number): SessionState | null {
    return this.inner.state(id)
  }

  why(id: number): Why {
    return this.inner.why(id)
  }

  close(id: number, why: Why): void {
    const before = this.inner.state(id)
    this.inner.close(id, why)
    if (before !== SessionState.CLOSING && before !== null) this.observer.sessionChanged(this.serialOf(id), SessionState.CLOSING, this.inner.nameOf(id))
  }

  remove(id: number): void {
    const serial = this.serialOf(id)
    this.inner.remove(id)
    this.observer.sessionChanged(serial, null, null)
  }

  shutdown(): number[] {
    return this.inner.shutdown()
  }

  get connectionCount(): number {
    return this.inner.connectionCount
  }

  join(id: number, name: string): number {
    const count = this.inner.join(id, name)
    this.observer.sessionChanged(this.serialOf(id), SessionState.CHATTING, name)
    return count
  }

  unlist(id: number): string | null {
    return this.inner.unlist(id)
  }

  nameOf(id: number): string | null {
    return this.inner.nameOf(id)
  }

  isTaken(name: string): boolean {
    return this.inner.isTaken(name)
  }

  find(name: string): number | null {
    return this.inner.find(name)
  }

  names(): string[] {
    return this.inner.names()
  }

  get memberCount(): number {
    return this.inner.memberCount
  }

  deliver(id: number, line: Buffer): void {
    this.inner.deliver(id, line)
  }

  broadcast(line: Buffer, except: number | null): void {
    this.inner.broadcast(line, except)
    this.observer.conversation(line.toString('utf8', 0, line.length - 1)) // without its \n
  }
}

/**
 * A RoomObserver's calls as data, to carry across threads (a connection thread → the main
 * thread), numbered in the order they happened under the room's lock (`seq`, from 1).
 */
export type RoomEvent =
  | { seq: number; kind: 'session'; serial: number; state: SessionState | null; name: string | null }
  | { seq: number; kind: 'conversation'; line: string }

/** A counter of room events, in shared memory (the threads' Roster is called with its lock held). */
export function roomEventCounter(): SharedArrayBuffer {
  return new SharedArrayBuffer(4)
}

/**
 * Collects what a RoomObserver is told, each event numbered from the shared `counter` (see
 * roomEventCounter), for the owner to send elsewhere; take() empties it.
 */
export class RoomEventQueue implements RoomObserver {
  private events: RoomEvent[] = []
  private readonly counter: Int32Array

  constructor(counter: SharedArrayBuffer) {
    this.counter = new Int32Array(counter)
  }

  sessionChanged(serial: number, state: SessionState | null, name: string | null): void {
    this.events.push({ seq: Atomics.add(this.counter, 0, 1) + 1, kind: 'session', serial, state, name })
  }

  conversation(line: string): void {
    this.events.push({ seq: Atomics.add(this.counter, 0, 1) + 1, kind: 'conversation', line })
  }

  get size(): number {
    return this.events.length
  }

  /** The events so far, in order; the queue is empty afterwards. */
  take(): RoomEvent[] {
    const events = this.events
    this.events = []
    return events
  }
}

/** Tells `observer` one event. */
function replay(e: RoomEvent, observer: RoomObserver): void {
  switch (e.kind) {
    case 'session':
      return observer.sessionChanged(e.serial, e.state, e.name)
    case 'conversation':
      return observer.conversation(e.line)
  }
}

/**
 * Tells `observer` the events of every thread's RoomEventQueue in the order they happened (their
 * numbers), whatever order they arrive in. One missing for `patienceMs` (its thread died between
 * numbering it and sending it) is given up on, so that one lost event cannot stop the rest.
 */
export class RoomEventSequencer {
  private next = 1
  private readonly held = new Map<number, RoomEvent>()
  private timer: NodeJS.Timeout | null = null

  constructor(
    private readonly observer: RoomObserver,
    private readonly patienceMs = 250,
  ) {}

  /** Events from one queue (any thread's), in its own order. */
  push(events: readonly RoomEvent[]): void {
    for (const e of events) {
      if (e.seq < this.next) replay(e, this.observer) // after a gap was given up on: late, but told
      else this.held.set(e.seq, e)
    }
    this.release()
  }

  private release(): void {
    for (let e = this.held.get(this.next); e !== undefined; e = this.held.get(this.next)) {
      this.held.delete(this.next++)
      replay(e, this.observer)
    }
    if (this.held.size > 0 && this.timer === null) this.timer = setTimeout(this.skipGap, this.patienceMs).unref()
    else if (this.held.size === 0 && this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
  }

  private readonly skipGap = (): void => {
    this.timer = null
    if (this.held.size === 0) return
    this.next = Math.min(...this.held.keys())
    this.release()
  }
}
