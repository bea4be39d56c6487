// The chat protocol, written once for every concurrency model: what to send to whom when someone
// connects, names itself, speaks, asks /who, whispers with /msg, leaves, idles, sends an overlong
// line, or when the operator types something. No I/O: the room works on a Roster (roster.ts),
// where the model keeps its connections and members (a Map, or shared memory behind a lock), and
// says what it has to say through a RoomOutput. The model owns the sockets and calls in here with
// framed messages: the selector from its loop, each thread from its blocking recv loop, with the
// list's lock held.
//
// Each connection runs this state machine (one switch, in receive()):
//
//   AWAITING_NAME --valid name--> CHATTING --quit word, /kick, overlong line, idle--> CLOSING
//        |   ^ bad name: told why, stays                                                |
//        +---+--- quit word, overlong line, idle, server shutdown ----------------------+
//   any state --connection ends (EOF, reset, dropped)--> removed
//
// CLOSING means "the room has nothing more to say to or hear from this connection": the model
// flushes what is queued for it, then closes it. A member leaving is announced (`ana left`) once:
// when the room ends it, or when its connection goes (except at shutdown, when everyone is told
// `server closing` instead).
import { OPERATOR_HELP, isQuitWord, parseOperatorLine, parseUserLine } from './commands.js'
import { checkName } from './names.js'
import { line, replies, sanitize } from './replies.js'
import { SessionState, WHY_TEXT, Why, type Roster, type Session } from './roster.js'

/** Where the room's words for people go: the server's log (stderr) and the operator's console (stdout). */
export interface RoomOutput {
  log(message: string): void
  console(line: string): void
}

export interface RoomLimits {
  maxName: number
  maxLine: number
  /** --idle-timeout (the model keeps the clocks), for what the room says when it closes one. */
  idleTimeoutMs: number
  /** Log connects, joins and leaves, and show the conversation on the console. */
  verbose: boolean
}

export class ChatRoom {
  constructor(
    private readonly roster: Roster,
    private readonly out: RoomOutput,
    private readonly limits: RoomLimits,
  ) {}

  /** Its state; CLOSING once the room has forgotten it (it has nothing more to say to it). */
  stateOf(s: Session): SessionState {
    return this.roster.state(s.id) ?? SessionState.CLOSING
  }

  /** How log lines name a connection: its name once it has one, else its address. */
  who(s: Session): string {
    return this.roster.nameOf(s.id) ?? s.peer
  }

  /** A new connection. False if the server is already shutting down (it is told so, and CLOSING). */
  open(s: Session): boolean {
    if (!this.roster.open(s.id, s.serial)) {
      this.roster.deliver(s.id, line(replies.closing()))
      return false
    }
    if (this.limits.verbose) this.out.log(`connect ${s.peer} (${this.counts()})`)
    return true
  }

  /** One framed message from a connection. */
  receive(s: Session, text: string): void {
    switch (this.roster.state(s.id)) {
      case SessionState.AWAITING_NAME:
        return this.proposeName(s, text)
      case SessionState.CHATTING:
        return this.chat(s, text)
      case SessionState.CLOSING:
      case null:
        return // said goodbye already; whatever else arrives is ignored
    }
  }

  /** A message passed the maximum line length: say why, and close. */
  tooLong(s: Session): void {
    if (this.stateOf(s) === SessionState.CLOSING) return
    this.out.log(`${this.who(s)}: line over ${this.limits.maxLine} bytes; closing`)
    this.tell(s.id, replies.tooLong(this.limits.maxLine))
    this.end(s.id, Why.LINE_TOO_LONG)
  }

  /** Nothing arrived for --idle-timeout: say why, and close. */
  idle(s: Session): void {
    if (this.stateOf(s) === SessionState.CLOSING) return
    const seconds = this.limits.idleTimeoutMs / 1000
    if (this.limits.verbose) this.out.log(`${this.who(s)}: idle for ${seconds} s; closing`)
    this.tell(s.id, replies.idle(seconds))
    this.end(s.id, Why.IDLE)
  }

  /**
   * The connection is gone (EOF, reset, error, dropped: `ending` says how, unless the room or
   * the roster closed it for a reason of its own). A member still listed leaves: everyone else
   * is told. Then it is forgotten. Calling it again is a no-op.
   */
  closed(s: Session, ending: string): void {
    if (this.roster.state(s.id) === null) return
    const why = this.roster.why(s.id)
    const name = this.roster.unlist(s.id) // Python's clients.remove(conn)
    if (name !== null && why !== Why.SHUTDOWN) this.announceLeft(name, why === Why.NONE ? ending : WHY_TEXT[why])
    this.roster.remove(s.id)
    if (this.limits.verbose) this.out.log(`disconnect ${s.peer} (${this.counts()})`)
  }

  /**
   * A line typed on the server's console. Its answers (to /who, /msg, /kick, a mistake) go to
   * `answer`: the console's stdout unless another caller (the web console) asks for them.
   */
  operator(text: string, answer: (line: string) => void = line => this.out.console(line)): void {
    const command = parseOperatorLine(text)
    switch (command.kind) {
      case 'empty':
        return
      case 'say':
        return this.roster.broadcast(line(replies.operatorSaid(sanitize(command.text))), null)
      case 'who':
        return answer(replies.who(this.roster.names()))
      case 'msg': {
        const to = this.roster.find(command.to)
        if (to === null) return answer(replies.noSuchUser(command.to))
        this.roster.deliver(to, line(replies.operatorWhispered(sanitize(command.text))))
        return answer(`sent to ${this.roster.nameOf(to)}`)
      }
      case 'kick': {
        const target = this.roster.find(command.name)
        if (target === null) return answer(replies.noSuchUser(command.name))
        this.roster.deliver(target, line(replies.kicked()))
        answer(`kicked ${this.roster.nameOf(target)}`)
        return this.end(target, Why.KICKED)
      }
      case 'usage':
        return answer(command.usage)
      case 'quit':
      case 'unknown':
        return answer(`operator commands: ${OPERATOR_HELP}`)
    }
  }

  /** Server shutdown: everyone still here is told, then closed (nobody is told who left). */
  shutdown(): void {
    const goodbye = line(replies.closing())
    for (const id of this.roster.shutdown()) {
      this.roster.deliver(id, goodbye)
      this.roster.close(id, Why.SHUTDOWN)
    }
  }

  private proposeName(s: Session, text: string): void {
    if (isQuitWord(text)) return this.end(s.id, Why.QUIT)
    const check = checkName(text, this.limits.maxName, name => this.roster.isTaken(name))
    if (!check.ok) return this.tell(s.id, replies.nameRefused(check.reason))
    const name = check.name
    const count = this.roster.join(s.id, name) // Python's clients.append(conn)
    this.tell(s.id, replies.welcome(name, count))
    this.roster.broadcast(line(replies.joined(name)), s.id)
    if (this.limits.verbose) {
      this.out.log(`${name} joined from ${s.peer} (${this.counts()})`)
      this.out.console(replies.joined(name))
    }
  }

  private chat(s: Session, text: string): void {
    const name = this.roster.nameOf(s.id)!
    const command = parseUserLine(text)
    switch (command.kind) {
      case 'empty':
        return
      case 'quit':
        return this.end(s.id, Why.QUIT)
      case 'say': {
        const said = replies.said(name, sanitize(command.text))
        this.roster.broadcast(line(said), s.id) // encoded once, shared by every recipient
        if (this.limits.verbose) this.out.console(said)
        return
      }
      case 'who':
        return this.tell(s.id, replies.who(this.roster.names()))
      case 'msg': {
        const to = this.roster.find(command.to)
        if (to === null) return this.tell(s.id, replies.noSuchUser(command.to))
        return this.roster.deliver(to, line(replies.whispered(name, sanitize(command.text))))
      }
      case 'usage':
        return this.tell(s.id, command.usage)
      case 'kick': // only the operator may kick; parseUserLine never returns it
      case 'unknown':
        return this.tell(s.id, replies.unknownCommand(command.kind === 'unknown' ? command.command : '/kick'))
    }
  }

  /** The room ends a connection: a member leaves (everyone else is told), and it is CLOSING. */
  private end(id: number, why: Why): void {
    const name = this.roster.unlist(id)
    if (name !== null) this.announceLeft(name, WHY_TEXT[why])
    this.roster.close(id, why)
  }

  /** A member is out of the list: everyone still in it hears `NAME left`. */
  private announceLeft(name: string, reason: string): void {
    this.roster.broadcast(line(replies.left(name)), null)
    if (this.limits.verbose) {
      this.out.log(`${name} left: ${reason} (${this.counts()})`)
      this.out.console(replies.left(name))
    }
  }

  private tell(id: number, text: string): void {
    this.roster.deliver(id, line(text))
  }

  /** "2 chatting, 3 connected", for log lines. */
  private counts(): string {
    return `${this.roster.memberCount} chatting, ${this.roster.connectionCount} connected`
  }
}
