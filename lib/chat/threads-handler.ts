// The chat of the `threads` model, as each connection's own thread runs it. It is the classic
// Python threaded chat server, with this project's protocol (the framing, names, commands and
// replies modules the selector model uses, so every line is worded the same):
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
// The list and the lock are client-list.ts (shared memory, a futex mutex); `sendall` under the
// lock is its deliver(), which never waits on a client that is not reading (it drops it).
// Each connection's state (AWAITING_NAME → CHATTING → CLOSING, as in room.ts) lives in the list,
// because other threads change it too: the operator's /kick, a broadcaster dropping a client
// that does not read, the server shutting down. This thread notices on its next recv and leaves.
//
// Printing is kept out of the lock: log and console lines are collected while it is held and
// written after, so that no thread waits for another's terminal output.
import { BrokenPipeError, isDisconnect, type BlockingConnection } from '../threads/connection.js'
import type { ThreadContext, ThreadInit } from '../threads/handler.js'
import { SharedClientList, Why, WHY_TEXT } from './client-list.js'
import { isQuitWord, parseUserLine } from './commands.js'
import { MessageFramer } from './framing.js'
import { checkName } from './names.js'
import type { Framing } from './options.js'
import { replies, sanitize } from './replies.js'
import { SessionState } from './room.js'

/** What every thread is given (the host's `shared`). */
export interface ChatThreadsShared {
  list: SharedArrayBuffer
  options: {
    framing: Framing
    maxLine: number
    maxName: number
    maxOutbuf: number
    verbose: boolean
  }
}

/**
 * Bytes per recv (Python's `conn.recv(1024)`, larger: fewer wake-ups for long lines). A fresh
 * Buffer each time, not one reused with recvInto: the framer keeps slices of an unfinished line.
 */
const RECV_SIZE = 16 * 1024

// Per thread (module state is per thread), set once by init().
let list: SharedClientList
let options: ChatThreadsShared['options']

export function init(ctx: ThreadInit): void {
  const shared = ctx.shared as ChatThreadsShared
  options = shared.options
  list = new SharedClientList(shared.list, ctx.slots, options)
}

const line = (text: string) => Buffer.from(text + '\n', 'utf8')

export function handle(conn: BlockingConnection, ctx: ThreadContext): void {
  const me = new ChatThread(conn, ctx)
  let ending = 'end of input'
  try {
    if (!me.locked(() => me.open())) return // the server is shutting down: told so
    while (me.state() !== SessionState.CLOSING) {
      const data = conn.recv(RECV_SIZE) // blocks until bytes arrive; b'' when the client closed its side
      if (data.length === 0) {
        me.receiveLast()
        break
      }
      me.receive(data)
    }
  } catch (err) {
    if (!isDisconnect(err)) throw err // a bug: the worker logs it; `finally` still leaves cleanly
    ending = describeDisconnect(err)
  } finally {
    me.locked(() => me.leave(ending))
    conn.close() // what was queued for it is still sent, then FIN
  }
}

/** One connection, seen from its own thread. */
class ChatThread {
  readonly slot: number
  readonly peer: string
  private readonly framer: MessageFramer
  private name: string | null = null
  private readonly logLines: string[] = []
  private readonly consoleLines: string[] = []

  constructor(
    readonly conn: BlockingConnection,
    private readonly ctx: ThreadContext,
  ) {
    this.slot = conn.slot
    this.peer = `${conn.remoteAddress}:${conn.remotePort}`
    this.framer = new MessageFramer(options.framing, options.maxLine)
  }

  /** Runs `fn` holding the list's lock, then prints what it had to say. */
  locked<T>(fn: () => T): T {
    try {
      return list.lock.withLock(fn)
    } finally {
      this.flushOutput()
    }
  }

  /** Our state as others may have set it (no lock: a snapshot is enough to decide to stop). */
  state(): SessionState | null {
    return list.stateNow(this.slot)
  }

  /** Lock held. */
  open(): boolean {
    if (!list.open(this.slot, this.conn.id)) {
      this.tell(replies.closing())
      return false
    }
    if (options.verbose) this.log(`connect ${this.peer} (${list.counts()})`)
    return true
  }

  /** One read's bytes: each complete message is handled under the lock, one at a time. */
  receive(data: Buffer): void {
    const { messages, tooLong } = this.framer.push(data)
    for (const text of messages) {
      this.locked(() => this.message(text))
      if (this.state() === SessionState.CLOSING) return
    }
    if (tooLong) this.locked(() => this.lineTooLong())
  }

  /** At end of input: an unfinished last message still counts (`printf 'hi' | nc`). */
  receiveLast(): void {
    for (const text of this.framer.end()) this.locked(() => this.message(text))
  }

  /** Lock held. The per-connection state machine: one switch, as room.ts receive(). */
  private message(text: string): void {
    switch (list.state(this.slot)) {
      case SessionState.AWAITING_NAME:
        return this.proposeName(text)
      case SessionState.CHATTING:
        return this.chat(text)
      case SessionState.CLOSING:
      case null:
        return // said goodbye already; whatever else arrives is ignored
    }
  }

  private proposeName(text: string): void {
    if (isQuitWord(text)) return list.close(this.slot, Why.QUIT)
    const check = checkName(text, options.maxName, name => list.isTaken(name))
    if (!check.ok) {
      this.tell(replies.nameRefused(check.reason))
      return
    }
    const name = check.name
    this.name = name
    const count = list.join(this.slot, name) // clients.append(conn)
    this.tell(replies.welcome(name, count))
    list.broadcast(line(replies.joined(name)), this.slot)
    if (options.verbose) {
      this.log(`${name} joined from ${this.peer} (${list.counts()})`)
      this.consoleLines.push(replies.joined(name))
    }
  }

  private chat(text: string): void {
    const name = this.name!
    const command = parseUserLine(text)
    switch (command.kind) {
      case 'empty':
        return
      case 'quit':
        return list.close(this.slot, Why.QUIT)
      case 'say': {
        const said = replies.said(name, sanitize(command.text))
        list.broadcast(line(said), this.slot) // one Buffer, written into every other member's ring
        if (options.verbose) this.consoleLines.push(said)
        return
      }
      case 'who':
        return this.tell(replies.who(list.chattingNames()))
      case 'msg': {
        const to = list.find(command.to)
        if (to < 0) return this.tell(replies.noSuchUser(command.to))
        list.deliver(to, line(replies.whispered(name, sanitize(command.text))))
        return
      }
      case 'usage':
        return this.tell(command.usage)
      case 'kick': // only the operator may kick; parseUserLine never returns it
      case 'unknown':
        return this.tell(replies.unknownCommand(command.kind === 'unknown' ? command.command : '/kick'))
    }
  }

  /** Lock held. A message passed --max-line: say why, and close. */
  private lineTooLong(): void {
    if (list.state(this.slot) === SessionState.CLOSING) return
    this.log(`${this.name ?? this.peer}: line over ${options.maxLine} bytes; closing`)
    this.tell(replies.tooLong(options.maxLine))
    list.close(this.slot, Why.LINE_TOO_LONG)
  }

  /** Lock held. The `finally`: out of the list, and everyone else is told if we had joined. */
  leave(ending: string): void {
    const why = list.why(this.slot)
    if (why === Why.DROPPED) {
      const queued = list.queuedWhenDropped(this.slot)
      this.log(`dropping ${this.name ?? this.peer} (${this.peer}): not reading, ${queued} bytes queued for it (max ${options.maxOutbuf})`)
    }
    const name = list.remove(this.slot) // clients.remove(conn)
    if (name !== null && why !== Why.SHUTDOWN) {
      list.broadcast(line(replies.left(name)), this.slot)
      if (options.verbose) {
        this.log(`${name} left: ${why === Why.NONE ? ending : WHY_TEXT[why]} (${list.counts()})`)
        this.consoleLines.push(replies.left(name))
      }
    }
    if (options.verbose) this.log(`disconnect ${this.peer} (${list.counts()})`)
  }

  /** Lock held. A line to this connection (through the same bounded delivery as everyone's). */
  private tell(text: string): void {
    list.deliver(this.slot, line(text))
  }

  private log(message: string): void {
    this.logLines.push(message)
  }

  private flushOutput(): void {
    if (this.logLines.length > 0) for (const m of this.logLines.splice(0)) this.ctx.log(m)
    if (this.consoleLines.length > 0) this.ctx.print(this.consoleLines.splice(0).join('\n') + '\n')
  }
}

/** The selector model's words for a connection that went away. */
function describeDisconnect(err: unknown): string {
  return err instanceof BrokenPipeError ? 'broken pipe' : 'connection reset'
}
