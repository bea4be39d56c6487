// The chat's client list for the `threads` model: the Python seeds' `clients = []` and
// `lock = threading.Lock()`, in one SharedArrayBuffer that every connection's thread (and the
// main thread, for the operator console) sees. It is the threads' Roster (roster.ts): the room
// (room.ts) makes the decisions, this keeps the state. Every method here must be called with
// `lock` held, except the few marked "no lock" (single atomic words).
//
// What is in the buffer:
//   the mutex (lib/threads/mutex.ts)
//   a header: connections, members, "shutting down"
//   the members, as slot numbers in joining order (the Python list; /who prints it in order)
//   per connection slot: which connection holds it, its state (AWAITING_NAME, CHATTING,
//   CLOSING), why it is closing, and its name as UTF-8 bytes
// A connection is its slot in the host's SlotTable, so a member's output ring is
// `slots.outbound(slot)`: a broadcast is a loop of ring writes, under the lock.
//
// What the lock costs, and how it is bounded. As in Python, the broadcaster holds the lock for
// the whole loop, so while it writes to one recipient every other thread that wants to speak
// waits. In Python one slow client stalls everyone here: `c.sendall()` blocks while its socket
// buffer is full. Here a write never waits on a client: deliver() looks at the recipient's ring
// and at its socket (SINK_FULL, published by the main thread). A recipient whose socket refuses
// more and who has more than --max-outbuf queued is not reading: it is dropped (its rings are
// reset, which wakes its own thread to leave), never waited for. The one wait allowed under the
// lock is for our own main thread, when a ring is full while its socket still takes bytes (the
// main thread is behind moving them): bounded by PUMP_PATIENCE_MS, after which it is a drop too.
import { isMainThread } from 'node:worker_threads'
import { Mutex } from '../threads/mutex.js'
import { FLAG_CLOSED, FLAG_RESET, ResetReason } from '../threads/ring.js'
import type { SlotTable } from '../threads/slots.js'
import { nameKey } from './names.js'
import { SessionState, Why, type Roster } from './roster.js'

/** How long a broadcaster holding the lock may wait for the main thread to make room in a ring. */
const PUMP_PATIENCE_MS = 1000
/** It re-checks the recipient's socket this often while it waits. */
const PUMP_WAIT_SLICE_MS = 10

// Header words (Int32), after the mutex.
const CONNECTED = 0 // opened and not yet left (AWAITING_NAME + CHATTING + CLOSING), for log lines
const MEMBER_COUNT = 1
const SHUTTING_DOWN = 2
const HEADER_INTS = 4

// Per-slot record words.
const STATE = 0
const WHY = 1
const QUEUED = 2 // bytes that were queued for it when it was dropped (for the log)
const NAME_LEN = 3
const CONN_ID = 4 // the host's id of the connection in this slot (slots are reused)
const RECORD_INTS = 5

// SessionState as stored (0 = a free slot).
const STATE_CODE = { [SessionState.AWAITING_NAME]: 1, [SessionState.CHATTING]: 2, [SessionState.CLOSING]: 3 } as const
const STATE_OF: ReadonlyArray<SessionState | null> = [null, SessionState.AWAITING_NAME, SessionState.CHATTING, SessionState.CLOSING]

export interface ListLimits {
  /** Longest name in characters: a name takes at most 4 bytes a character. */
  maxName: number
  /** Bytes queued for one recipient, beyond which (socket full too) it is dropped. */
  maxOutbuf: number
}

/** How a delivery went: written, the recipient dropped as not reading, or the recipient already gone. */
export type Delivery = 'sent' | 'dropped' | 'gone'

export class SharedClientList implements Roster {
  readonly lock: Mutex
  readonly slotCount: number
  private readonly header: Int32Array
  private readonly members: Int32Array
  private readonly records: Int32Array
  private readonly nameData: Buffer
  private readonly nameBytes: number

  /** The buffer of a new, empty list for `slotCount` connection slots (give it to every thread). */
  static allocate(slotCount: number, maxName: number): SharedArrayBuffer {
    return new SharedArrayBuffer(layout(slotCount, maxName).total)
  }

  constructor(
    sab: SharedArrayBuffer,
    private readonly slots: SlotTable,
    private readonly limits: ListLimits,
  ) {
    const l = layout(slots.slotCount, limits.maxName)
    if (sab.byteLength < l.total) throw new RangeError('client list buffer too small for the slot table')
    this.slotCount = slots.slotCount
    this.lock = new Mutex(sab, 0)
    this.header = new Int32Array(sab, l.header, HEADER_INTS)
    this.members = new Int32Array(sab, l.members, this.slotCount)
    this.records = new Int32Array(sab, l.records, this.slotCount * RECORD_INTS)
    this.nameData = Buffer.from(sab, l.names, this.slotCount * l.nameBytes)
    this.nameBytes = l.nameBytes
  }

  /** A connection's state as a snapshot (no lock: one word). Null for a free slot. */
  stateNow(slot: number): SessionState | null {
    return STATE_OF[Atomics.load(this.records, slot * RECORD_INTS + STATE)]
  }

  // ---- one connection (lock held) --------------------------------------------------------------

  /** A connection's thread starts: AWAITING_NAME. False if the server is shutting down. */
  open(slot: number, connId: number): boolean {
    const r = slot * RECORD_INTS
    this.unlist(slot) // left there only by a thread that died before it could leave
    this.records.fill(0, r, r + RECORD_INTS)
    this.records[r + CONN_ID] = connId
    this.header[CONNECTED]++
    if (this.header[SHUTTING_DOWN]) {
      this.setState(slot, SessionState.CLOSING, Why.SHUTDOWN)
      return false
    }
    this.setState(slot, SessionState.AWAITING_NAME, Why.NONE)
    return true
  }

  state(slot: number): SessionState | null {
    return STATE_OF[this.records[slot * RECORD_INTS + STATE]]
  }

  why(slot: number): Why {
    return this.records[slot * RECORD_INTS + WHY] as Why
  }

  /** Bytes queued for it when it was dropped. */
  queuedWhenDropped(slot: number): number {
    return this.records[slot * RECORD_INTS + QUEUED]
  }

  /** The name joins the members (the end of the list); returns how many members there are now. */
  join(slot: number, name: string): number {
    const r = slot * RECORD_INTS
    this.records[r + NAME_LEN] = this.nameData.write(name, slot * this.nameBytes, this.nameBytes, 'utf8')
    this.setState(slot, SessionState.CHATTING, Why.NONE)
    const n = this.header[MEMBER_COUNT]
    this.members[n] = slot
    this.header[MEMBER_COUNT] = n + 1
    return n + 1
  }

  /**
   * Marks a connection CLOSING (the first reason given stays) and ends its input, as Python's
   * `conn.shutdown(SHUT_RD)` from another thread: its recv returns b'' after what was already
   * received, so its thread leaves even when it is blocked there (the operator's /kick). What
   * was sent to it is still delivered.
   */
  close(slot: number, why: Why): void {
    if (this.state(slot) === SessionState.CLOSING) return
    this.setState(slot, SessionState.CLOSING, why)
    this.slots.inbound(slot).end()
  }

  /** A connection's thread leaves: out of the members if it still was one, slot free. */
  remove(slot: number): void {
    this.unlist(slot)
    this.records.fill(0, slot * RECORD_INTS, (slot + 1) * RECORD_INTS)
    this.header[CONNECTED]--
  }

  /** The host's id of the connection that holds `slot` now (0 for a free slot). */
  serialOf(slot: number): number {
    return this.records[slot * RECORD_INTS + CONN_ID]
  }

  /**
   * For the main thread's cleanup of a connection whose thread died before it could leave:
   * whether the slot still holds that connection (not a newer one).
   */
  holds(slot: number, connId: number): boolean {
    const r = slot * RECORD_INTS
    return this.records[r + STATE] !== 0 && this.records[r + CONN_ID] === connId
  }

  /**
   * The server is stopping: connections whose thread starts from now on are refused (open()
   * returns false). Returns the connections still AWAITING_NAME or CHATTING.
   */
  shutdown(): number[] {
    this.header[SHUTTING_DOWN] = 1
    const out: number[] = []
    for (let slot = 0; slot < this.slotCount; slot++) {
      const state = this.state(slot)
      if (state === SessionState.AWAITING_NAME || state === SessionState.CHATTING) out.push(slot)
    }
    return out
  }

  // ---- the members (lock held) ----------------------------------------------------------------

  get memberCount(): number {
    return this.header[MEMBER_COUNT]
  }

  get connectionCount(): number {
    return this.header[CONNECTED]
  }

  /** Takes a slot out of the members (keeping the joining order); its name if it was there. */
  unlist(slot: number): string | null {
    const n = this.header[MEMBER_COUNT]
    const at = this.members.subarray(0, n).indexOf(slot)
    if (at < 0) return null
    this.members.copyWithin(at, at + 1, n)
    this.header[MEMBER_COUNT] = n - 1
    return this.nameOf(slot)
  }

  nameOf(slot: number): string | null {
    const length = this.records[slot * RECORD_INTS + NAME_LEN]
    if (length === 0) return null // names are never empty: it has not joined
    const at = slot * this.nameBytes
    return this.nameData.toString('utf8', at, at + length)
  }

  /** Taken by a member, ignoring case (one leaving but not yet gone still holds its name). */
  isTaken(name: string): boolean {
    return this.memberSlot(name, false) !== null
  }

  /** The slot of the CHATTING member called `name` (ignoring case), or null. */
  find(name: string): number | null {
    return this.memberSlot(name, true)
  }

  /** The CHATTING members' names, in joining order. */
  names(): string[] {
    const out: string[] = []
    for (let i = 0, n = this.memberCount; i < n; i++) {
      const slot = this.members[i]
      if (this.state(slot) === SessionState.CHATTING) out.push(this.nameOf(slot)!)
    }
    return out
  }

  /** One line to every CHATTING member except `except`. */
  broadcast(line: Buffer, except: number | null): void {
    for (let i = 0, n = this.memberCount; i < n; i++) {
      const slot = this.members[i]
      if (slot !== except && this.state(slot) === SessionState.CHATTING) this.deliver(slot, line)
    }
  }

  // ---- writing into a connection's output ring (lock held) -----------------------------------

  /**
   * Python's `c.sendall(line)` under the lock, bounded: the line goes into the connection's
   * outbound ring (the main thread moves it to the socket), or the connection is dropped.
   */
  deliver(slot: number, line: Buffer): Delivery {
    const ring = this.slots.outbound(slot)
    const max = this.limits.maxOutbuf
    let sent = 0
    let deadline = 0
    for (;;) {
      if (ring.flags() & (FLAG_CLOSED | FLAG_RESET)) return 'gone'
      const queued = ring.available()
      const rest = line.length - sent
      // Its socket refuses more and this would pass the bound: it is not reading.
      if (ring.sinkFull() && queued + rest > max) return this.drop(slot, queued)
      sent += ring.write(sent === 0 ? line : line.subarray(sent))
      if (sent === line.length) return 'sent'
      // The ring is full. With its socket full too (--max-outbuf above the ring's size) that is
      // a client not reading; otherwise the main thread is behind: wait for it, a little.
      if (ring.sinkFull() || isMainThread) return this.drop(slot, ring.available())
      const now = performance.now()
      if (deadline === 0) deadline = now + PUMP_PATIENCE_MS
      if (now >= deadline) return this.drop(slot, ring.available())
      ring.waitWritable(line.length - sent, Math.min(PUMP_WAIT_SLICE_MS, deadline - now))
    }
  }

  /**
   * Ends a connection that is not reading: CLOSING (DROPPED), and both rings reset (LOCAL_RESET):
   * the main thread resets the socket, its thread wakes from recv with a ConnectionResetError
   * and leaves (announcing `left`). Nothing here waits for anyone.
   */
  private drop(slot: number, queued: number): Delivery {
    if (this.state(slot) !== SessionState.CLOSING || this.why(slot) !== Why.DROPPED) {
      this.setState(slot, SessionState.CLOSING, Why.DROPPED)
      this.records[slot * RECORD_INTS + QUEUED] = queued
    }
    this.slots.outbound(slot).abort(ResetReason.LOCAL_RESET)
    this.slots.inbound(slot).abort(ResetReason.LOCAL_RESET)
    return 'dropped'
  }

  private setState(slot: number, state: SessionState, why: Why): void {
    const r = slot * RECORD_INTS
    this.records[r + WHY] = why
    // Atomic, for stateNow() snapshots taken without the lock.
    Atomics.store(this.records, r + STATE, STATE_CODE[state])
  }

  private memberSlot(name: string, chattingOnly: boolean): number | null {
    const key = nameKey(name)
    for (let i = 0, n = this.memberCount; i < n; i++) {
      const slot = this.members[i]
      if (chattingOnly && this.state(slot) !== SessionState.CHATTING) continue
      if (nameKey(this.nameOf(slot)!) === key) return slot
    }
    return null
  }
}

/** Byte offsets of the parts of the buffer. */
function layout(slotCount: number, maxName: number) {
  const header = Mutex.BYTES
  const members = header + HEADER_INTS * 4
  const records = members + slotCount * 4
  const names = records + slotCount * RECORD_INTS * 4
  const nameBytes = maxName * 4
  return { header, members, records, names, nameBytes, total: names + slotCount * nameBytes }
}
