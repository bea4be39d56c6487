// The chat protocol without any I/O: who is connected, in which state, and what to send to
// whom when someone joins, speaks, asks /who, whispers with /msg, leaves, or the operator
// types something. A concurrency model (selector, threads) owns the sockets and calls in
// here with framed messages; the room answers through the RoomIO it was given.
//
// Each connection runs this state machine (one switch, in receive()):
//
//   AWAITING_NAME --valid name--> CHATTING --quit word, /kick, overlong line, idle--> CLOSING
//        |   ^ bad name: told why, stays                                                |
//        +---+--- quit word, overlong line, idle, server shutdown ----------------------+
//   any state --connection ends (EOF, reset, dropped)--> removed
//
// CLOSING means "the room has nothing more to say to or hear from this connection": the
// model flushes what is queued for it, then closes it.
import { checkName, nameKey } from './names.js'
import { isQuitWord, parseOperatorLine, parseUserLine, OPERATOR_HELP } from './commands.js'
import { replies, sanitize } from './replies.js'

export const SessionState = {
  AWAITING_NAME: 'AWAITING_NAME',
  CHATTING: 'CHATTING',
  CLOSING: 'CLOSING',
} as const
export type SessionState = (typeof SessionState)[keyof typeof SessionState]

export interface Session {
  readonly id: number
  /** "host:port" of the peer, for logs. */
  readonly peer: string
  state: SessionState
  /** Set on entering CHATTING. */
  name: string | null
}

/**
 * The effects the room asks for. None of them may call back into the room before returning
 * (a model that discovers a dead or overflowing recipient while delivering reports it later,
 * through closed()), so a broadcast never changes the member list while walking it.
 */
export interface RoomIO {
  /** Queues one `\n`-terminated line for a connection. The buffer may be shared: never mutate it. */
  deliver(id: number, line: Buffer): void
  /** Closes a connection once what was queued for it has been sent. */
  hangUp(id: number): void
  /** A line for the operator, on the server's stdout. */
  console(line: string): void
  /** A log line, on stderr. */
  log(message: string): void
}

export interface RoomLimits {
  maxClients: number
  maxName: number
  maxLine: number
  /** Log connects, joins and leaves, and show the conversation on the console. */
  verbose: boolean
}

const line = (text: string) => Buffer.from(text + '\n', 'utf8')

export class ChatRoom {
  private readonly sessions = new Map<number, Session>()
  /** CHATTING sessions by nameKey(name), in joining order. */
  private readonly members = new Map<string, Session>()

  constructor(
    private readonly io: RoomIO,
    private readonly limits: RoomLimits,
  ) {}

  get connectionCount(): number {
    return this.sessions.size
  }

  get memberCount(): number {
    return this.members.size
  }

  session(id: number): Session | undefined {
    return this.sessions.get(id)
  }

  /** A new connection. Past maxClients it is told the server is full and hung up (returns false). */
  open(id: number, peer: string): boolean {
    const full = this.sessions.size >= this.limits.maxClients
    const session: Session = { id, peer, state: full ? SessionState.CLOSING : SessionState.AWAITING_NAME, name: null }
    this.sessions.set(id, session)
    if (full) {
      // Not logged here: a flood of refusals is the model's to log, rate-limited.
      this.io.deliver(id, line(replies.full(this.limits.maxClients)))
      this.io.hangUp(id)
      return false
    }
    if (this.limits.verbose) this.io.log(`connect ${peer} (${this.counts()})`)
    return true
  }

  /** One framed message from a connection. */
  receive(id: number, text: string): void {
    const session = this.sessions.get(id)
    if (!session) return
    switch (session.state) {
      case SessionState.AWAITING_NAME:
        this.proposeName(session, text)
        return
      case SessionState.CHATTING:
        this.chat(session, text)
        return
      case SessionState.CLOSING:
        return // said goodbye already; whatever else arrives is ignored
    }
  }

  /** A message passed the maximum line length: say why, and close. */
  tooLong(id: number): void {
    const session = this.sessions.get(id)
    if (!session || session.state === SessionState.CLOSING) return
    this.io.log(`${this.who(session)}: line over ${this.limits.maxLine} bytes; closing`)
    this.io.deliver(id, line(replies.tooLong(this.limits.maxLine)))
    this.leave(session, 'line too long')
  }

  /**
   * The connection has sent nothing for `timeoutMs` (the model keeps the clocks): say why, and
   * close; others hear `left` if it had joined.
   */
  idle(id: number, timeoutMs: number): void {
    const session = this.sessions.get(id)
    if (!session || session.state === SessionState.CLOSING) return
    const seconds = timeoutMs / 1000
    if (this.limits.verbose) this.io.log(`${this.who(session)}: idle for ${seconds} s; closing`)
    this.io.deliver(id, line(replies.idle(seconds)))
    this.leave(session, 'idle')
  }

  /** The connection is gone (EOF, reset, error, dropped): others are told if it was chatting. */
  closed(id: number, reason: string): void {
    const session = this.sessions.get(id)
    if (!session) return
    if (session.state === SessionState.CHATTING) this.depart(session, reason)
    this.sessions.delete(id)
    if (this.limits.verbose) this.io.log(`disconnect ${session.peer} (${this.counts()})`)
  }

  /** A line typed on the server's console. */
  operator(text: string): void {
    const command = parseOperatorLine(text)
    switch (command.kind) {
      case 'empty':
        return
      case 'say':
        this.broadcast(replies.operatorSaid(sanitize(command.text)), null)
        return
      case 'who':
        this.io.console(replies.who(this.names()))
        return
      case 'msg': {
        const to = this.members.get(nameKey(command.to))
        if (!to) return this.io.console(replies.noSuchUser(command.to))
        this.io.deliver(to.id, line(replies.operatorWhispered(sanitize(command.text))))
        this.io.console(`sent to ${to.name}`)
        return
      }
      case 'kick': {
        const target = this.members.get(nameKey(command.name))
        if (!target) return this.io.console(replies.noSuchUser(command.name))
        this.io.deliver(target.id, line(replies.kicked()))
        this.leave(target, 'kicked by the operator')
        this.io.console(`kicked ${target.name}`)
        return
      }
      case 'usage':
        return this.io.console(command.usage)
      case 'quit':
      case 'unknown':
        return this.io.console(`operator commands: ${OPERATOR_HELP}`)
    }
  }

  /** Server shutdown: everyone still here is told, then hung up. */
  shutdown(): void {
    const goodbye = line(replies.closing())
    for (const session of this.sessions.values()) {
      if (session.state === SessionState.CLOSING) continue
      this.io.deliver(session.id, goodbye)
      session.state = SessionState.CLOSING
      if (session.name !== null) this.members.delete(nameKey(session.name))
      this.io.hangUp(session.id)
    }
  }

  private proposeName(session: Session, text: string): void {
    if (isQuitWord(text)) {
      session.state = SessionState.CLOSING
      this.io.hangUp(session.id)
      return
    }
    const check = checkName(text, this.limits.maxName, name => this.members.has(nameKey(name)))
    if (!check.ok) {
      this.io.deliver(session.id, line(replies.nameRefused(check.reason)))
      return
    }
    session.name = check.name
    session.state = SessionState.CHATTING
    this.members.set(nameKey(check.name), session)
    this.io.deliver(session.id, line(replies.welcome(check.name, this.members.size)))
    this.broadcast(replies.joined(check.name), session)
    if (this.limits.verbose) {
      this.io.log(`${check.name} joined from ${session.peer} (${this.counts()})`)
      this.io.console(replies.joined(check.name))
    }
  }

  private chat(session: Session, text: string): void {
    const name = session.name!
    const command = parseUserLine(text)
    switch (command.kind) {
      case 'empty':
        return
      case 'quit':
        return this.leave(session, 'quit')
      case 'say': {
        const said = replies.said(name, sanitize(command.text))
        this.broadcast(said, session)
        if (this.limits.verbose) this.io.console(said)
        return
      }
      case 'who':
        return this.io.deliver(session.id, line(replies.who(this.names())))
      case 'msg': {
        const to = this.members.get(nameKey(command.to))
        if (!to) return this.io.deliver(session.id, line(replies.noSuchUser(command.to)))
        return this.io.deliver(to.id, line(replies.whispered(name, sanitize(command.text))))
      }
      case 'usage':
        return this.io.deliver(session.id, line(command.usage))
      case 'kick': // only the operator may kick; parseUserLine never returns it
      case 'unknown':
        return this.io.deliver(session.id, line(replies.unknownCommand(command.kind === 'unknown' ? command.command : '/kick')))
    }
  }

  /** The room ends a chatting (or naming) session: others are told, the connection closes. */
  private leave(session: Session, reason: string): void {
    if (session.state === SessionState.CHATTING) this.depart(session, reason)
    session.state = SessionState.CLOSING
    this.io.hangUp(session.id)
  }

  /** A member leaves the member list; everyone else is told. */
  private depart(session: Session, reason: string): void {
    const name = session.name!
    this.members.delete(nameKey(name))
    session.state = SessionState.CLOSING
    this.broadcast(replies.left(name), session)
    if (this.limits.verbose) {
      this.io.log(`${name} left: ${reason} (${this.counts()})`)
      this.io.console(replies.left(name))
    }
  }

  /** One line to every member except `from`; encoded once, shared by every recipient. */
  private broadcast(text: string, from: Session | null): void {
    const bytes = line(text)
    for (const member of this.members.values()) {
      if (member !== from) this.io.deliver(member.id, bytes)
    }
  }

  private names(): string[] {
    return [...this.members.values()].map(s => s.name!)
  }

  private who(session: Session): string {
    return session.name ?? session.peer
  }

  private counts(): string {
    return `${this.members.size} chatting, ${this.sessions.size} connected`
  }
}
