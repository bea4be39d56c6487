// The chat of the `threads` model, as each connection's own thread runs it. It is the classic
// Python threaded chat server, with this project's protocol (the room, room.ts, which the selector
// model runs too, so every decision and every line is the same):
//
//   def handle(conn):
//       name = conn.recv(1024).decode()
//       with lock: clients.append(conn)
//       broadcast(f"{name} joined", conn)
//       try:
//           while True:
//               data = conn.recv(1024)              # blocks this thread, and only this one
//               if not data: break
//               broadcast(f"{name}: {data.decode()}", conn)
//       finally:
//           with lock: clients.remove(conn)
//           broadcast(f"{name} left", conn)
//           conn.close()
//
//   def broadcast(msg, sender):
//       with lock:
//           for c in clients:
//               if c is not sender: c.sendall(msg.encode())
//
// The list and the lock are client-list.ts (shared memory, a futex mutex); every message is
// carried out by the room with the lock held, and `sendall` under the lock is the list's
// deliver(), which never waits on a client that is not reading (it drops it). Each connection's
// state (AWAITING_NAME → CHATTING → CLOSING) lives in the list, because other threads change it
// too: the operator's /kick, a broadcaster dropping a client that does not read, the server
// shutting down. This thread notices on its next recv and leaves.
//
// Flood control (--max-rate) is the selector model's token bucket, per thread: a thread over its
// rate sleeps instead of reading (its inbound ring fills, the main thread stops reading the
// socket, TCP slows the sender down), and reads at most what its allowance permits.
//
// Printing is kept out of the lock: log and console lines are collected while it is held and
// written after, so that no thread waits for another's terminal output.
import { BrokenPipeError, SocketTimeoutError, isDisconnect, type BlockingConnection } from '../threads/connection.js'
import type { ThreadContext, ThreadInit } from '../threads/handler.js'
import { SharedClientList } from './client-list.js'
import { MessageFramer, type Framed } from './framing.js'
import { MutexStats } from '../threads/mutex.js'
import { ObservedRoster, RoomEventQueue } from './observed-roster.js'
import type { Framing } from './options.js'
import { ChatRoom } from './room.js'
import { SessionState, Why, type Session } from './roster.js'
import { TokenBucket } from './token-bucket.js'

/** What every thread is given (the host's `shared`). */
export interface ChatThreadsShared {
  list: SharedArrayBuffer
  options: {
    framing: Framing
    maxLine: number
    maxName: number
    maxOutbuf: number
    verbose: boolean
    /** --idle-timeout (0: none): recv gives up after this long with nothing received. */
    idleTimeoutMs: number
    /** --max-rate (0: none): bytes per second read from one client at most. */
    maxRate: number
  }
  /** MutexStats counters for the list's lock, when its use is watched. */
  lockStats?: SharedArrayBuffer | null
  /** The room events' shared counter (observed-roster.ts), when watched. */
  roomEvents?: SharedArrayBuffer | null
}

/**
 * Bytes per recv (Python's `conn.recv(1024)`, larger: fewer wake-ups for long lines). A fresh
 * Buffer each time, not one reused with recvInto: the framer keeps slices of an unfinished line.
 */
const RECV_SIZE = 16 * 1024
/** A thread over --max-rate sleeps this long before it looks at its allowance again. */
const THROTTLE_TICK_MS = 50
/** What a thread sleeps on (never notified: Atomics.wait as Python's time.sleep). */
const nap = new Int32Array(new SharedArrayBuffer(4))

// Per thread (module state is per thread), set once by init(). A thread serves one connection
// at a time, so the lines it collects under the lock are that connection's.
let list: SharedClientList
let options: ChatThreadsShared['options']
let room: ChatRoom
const logLines: string[] = []
const consoleLines: string[] = []
/** What the room told its watcher under the lock, sent after it (null: nobody watches). */
let roomEvents: RoomEventQueue | null = null

export function init(ctx: ThreadInit): void {
  const shared = ctx.shared as ChatThreadsShared
  options = shared.options
  list = new SharedClientList(shared.list, ctx.slots, options)
  if (shared.lockStats) list.lock.watch(new MutexStats(shared.lockStats))
  const collect = { log: (m: string) => logLines.push(m), console: (l: string) => consoleLines.push(l) }
  if (shared.roomEvents) roomEvents = new RoomEventQueue(shared.roomEvents)
  room = new ChatRoom(roomEvents ? new ObservedRoster(list, roomEvents, slot => list.serialOf(slot)) : list, collect, options)
}

export function handle(conn: BlockingConnection, ctx: ThreadContext): void {
  const me = new ChatThread(conn)
  /** Runs `fn` holding the list's lock (`with lock:`), then prints what it had to say. */
  const locked = <T>(fn: () => T): T => {
    try {
      return list.lock.withLock(fn)
    } finally {
      if (logLines.length > 0) for (const m of logLines.splice(0)) ctx.log(m)
      if (consoleLines.length > 0) ctx.print(consoleLines.splice(0).join('\n') + '\n')
      if (roomEvents !== null && roomEvents.size > 0) ctx.emit(roomEvents.take())
    }
  }
  let ending = 'end of input'
  try {
    if (!locked(() => room.open(me))) return // the server is shutting down: told so
    if (options.idleTimeoutMs > 0) conn.settimeout(options.idleTimeoutMs)
    while (list.stateNow(me.id) !== SessionState.CLOSING) {
      if (me.overRate()) {
        if (me.firstTimeOver()) locked(() => logLines.push(`${room.who(me)} (${me.peer}) sends faster than --max-rate ${options.maxRate} bytes/s: slowed down`))
        Atomics.wait(nap, 0, 0, THROTTLE_TICK_MS) // --max-rate: not reading is how it slows a sender down
        continue
      }
      let data: Buffer
      try {
        data = conn.recv(me.recvSize()) // blocks until bytes arrive; b'' when the client closed its side
      } catch (err) {
        if (!(err instanceof SocketTimeoutError)) throw err
        locked(() => room.idle(me)) // nothing for --idle-timeout
        break
      }
      if (data.length === 0) {
        for (const text of me.framer.end()) locked(() => room.receive(me, text))
        break
      }
      const { messages, tooLong } = me.frame(data)
      for (const text of messages) {
        locked(() => room.receive(me, text)) // with lock: broadcast(f"{name}: {text}", conn)
        if (list.stateNow(me.id) === SessionState.CLOSING) break
      }
      if (tooLong) locked(() => room.tooLong(me))
    }
  } catch (err) {
    if (!isDisconnect(err)) throw err // a bug: the worker logs it; `finally` still leaves cleanly
    ending = describeDisconnect(err)
  } finally {
    locked(() => leave(me, ending)) // with lock: clients.remove(conn); broadcast(f"{name} left", conn)
    conn.close() // what was queued for it is still sent, then FIN
  }
}

/**
 * Lock held. The connection leaves the room. One dropped as not reading (by the list's deliver(),
 * in whichever thread was writing to it) is logged as such first, here, by its own thread.
 */
function leave(me: ChatThread, ending: string): void {
  if (list.why(me.id) === Why.DROPPED) {
    const queued = list.queuedWhenDropped(me.id)
    logLines.push(`dropping ${room.who(me)} (${me.peer}): not reading, ${queued} bytes queued for it (max ${options.maxOutbuf})`)
  }
  room.closed(me, ending)
}

/** One connection, seen from its own thread: the room's Session, its framer and its flood meter. */
class ChatThread implements Session {
  readonly id: number
  readonly serial: number
  readonly peer: string
  readonly framer: MessageFramer
  private readonly bucket = TokenBucket.forChat(options.maxRate, options.maxLine)
  private floodLogged = false

  constructor(conn: BlockingConnection) {
    this.id = conn.slot
    this.serial = conn.id
    this.peer = `${conn.remoteAddress}:${conn.remotePort}`
    this.framer = MessageFramer.forConnection(options.framing, options.maxLine)
  }

  /** True while this client has used up its --max-rate allowance. */
  overRate(): boolean {
    return this.bucket !== null && this.bucket.refill() <= 0
  }

  /** True the first time it goes over: logged once per connection (a flood of flooders is bounded by the thread cap). */
  firstTimeOver(): boolean {
    if (this.floodLogged) return false
    this.floodLogged = true
    return true
  }

  /** How much the next recv may take: RECV_SIZE, or less when --max-rate leaves less. */
  recvSize(): number {
    return this.bucket === null ? RECV_SIZE : this.bucket.readSize(RECV_SIZE)
  }

  /** One read's bytes, metered, cut into messages. */
  frame(data: Buffer): Framed {
    this.bucket?.take(data.length)
    return this.framer.push(data)
  }
}

/** The selector model's words for a connection that went away. */
function describeDisconnect(err: unknown): string {
  return err instanceof BrokenPipeError ? 'broken pipe' : 'connection reset'
}
