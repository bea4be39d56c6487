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
//
// The room may span servers (bus/bus.ts): everything a member here says or does is also announced
// to the other servers, and what members elsewhere say arrives as bus events (fromBus()). A name is
// claimed across the room before it joins; when the bus cannot answer at once, the connection
// waits in AWAITING_NAME with its claim pending (awaitingClaim() is true: the model stops reading
// it), what it sent meanwhile is held, and the bus's answer (claimAnswered) lets it in or refuses
// the name, then replays what was held, in order. With one server (SOLO_BUS) every claim is
// granted at once and nothing of this happens.
import type { BusEvent, RoomBus } from './bus/bus.js'
import { SOLO_BUS } from './bus/bus.js'
import { OPERATOR_HELP, isQuitWord, parseOperatorLine, parseUserLine } from './commands.js'
import { checkName, nameKey } from './names.js'
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

/** A name claim the bus has not answered yet; keyed by the connection's serial (the ticket). */
interface PendingClaim {
  readonly session: Session
  readonly name: string
  /** Messages that came after the name, replayed once the claim is answered. */
  readonly held: string[]
}

export class ChatRoom {
  private readonly pending = new Map<number, PendingClaim>()

  constructor(
    private readonly roster: Roster,
    private readonly out: RoomOutput,
    private readonly limits: RoomLimits,
    private readonly bus: RoomBus = SOLO_BUS,
  ) {}

  /** True while its name claim waits for the bus's answer: the model should not read it meanwhile. */
  awaitingClaim(s: Session): boolean {
    return this.pending.has(s.serial)
  }

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
    const claim = this.pending.get(s.serial)
    if (claim) {
      claim.held.push(text) // in order, after the name: replayed when the claim is answered
      return
    }
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
    this.pending.delete(s.serial) // a claim still pending is released when its answer comes
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
        this.roster.broadcast(line(replies.operatorSaid(sanitize(command.text))), null)
        return this.bus.announce({ kind: 'operator', text: command.text })
      case 'who':
        return answer(this.whoIsHere())
      case 'msg': {
        const to = this.roster.find(command.to)
        if (to !== null) {
          this.roster.deliver(to, line(replies.operatorWhispered(sanitize(command.text))))
          return answer(`sent to ${this.roster.nameOf(to)}`)
        }
        const remote = this.bus.findRemote(command.to)
        if (remote === null) return answer(replies.noSuchUser(command.to))
        this.bus.announce({ kind: 'whisper', from: null, to: remote.name, text: command.text })
        return answer(`sent to ${remote.name} (on ${remote.server})`)
      }
      case 'kick': {
        const target = this.roster.find(command.name)
        if (target !== null) {
          this.roster.deliver(target, line(replies.kicked()))
          answer(`kicked ${this.roster.nameOf(target)}`)
          return this.end(target, Why.KICKED)
        }
        const remote = this.bus.findRemote(command.name)
        if (remote === null) return answer(replies.noSuchUser(command.name))
        this.bus.announce({ kind: 'kick', name: remote.name })
        return answer(`kicked ${remote.name} (on ${remote.server})`)
      }
      case 'usage':
        return answer(command.usage)
      case 'quit':
      case 'unknown':
        return answer(`operator commands: ${OPERATOR_HELP}`)
    }
  }

  /**
   * Server shutdown: everyone still here is told, then closed (nobody here is told who left; the
   * other servers are: for them this server's members leave).
   */
  shutdown(): void {
    const goodbye = line(replies.closing())
    this.pending.clear()
    for (const id of this.roster.shutdown()) {
      const name = this.roster.state(id) === SessionState.CHATTING ? this.roster.nameOf(id) : null
      this.roster.deliver(id, goodbye)
      this.roster.close(id, Why.SHUTDOWN)
      if (name !== null) this.leaveRoom(name)
    }
  }

  /** Something from the other servers of the room (see bus/bus.ts). */
  fromBus(event: BusEvent): void {
    switch (event.kind) {
      case 'joined':
        this.roster.broadcast(line(replies.joined(event.name)), null)
        if (this.limits.verbose) this.out.console(replies.joined(event.name))
        return
      case 'left':
        this.roster.broadcast(line(replies.left(event.name)), null)
        if (this.limits.verbose) {
          if (event.gone) this.out.log(`${event.name} (on ${event.server}) left: its server stopped renewing its name`)
          this.out.console(replies.left(event.name))
        }
        return
      case 'said': {
        const said = replies.said(sanitize(event.name), sanitize(event.text))
        this.roster.broadcast(line(said), null)
        if (this.limits.verbose) this.out.console(said)
        return
      }
      case 'operator':
        return this.roster.broadcast(line(replies.operatorSaid(sanitize(event.text))), null)
      case 'whisper': {
        const to = this.roster.find(event.to)
        if (to === null) return // gone meanwhile: as a line to someone who just left
        const text = sanitize(event.text)
        return this.roster.deliver(to, line(event.from === null ? replies.operatorWhispered(text) : replies.whispered(sanitize(event.from), text)))
      }
      case 'kick': {
        const target = this.roster.find(event.name)
        if (target === null) return
        this.roster.deliver(target, line(replies.kicked()))
        if (this.limits.verbose) this.out.log(`${this.roster.nameOf(target)}: kicked by the operator on ${event.server}`)
        return this.end(target, Why.KICKED)
      }
      case 'claim':
        return this.claimAnswered(event.ticket, event.name, event.answer)
      case 'lost': {
        const id = this.roster.find(event.name)
        if (id === null) return
        this.tell(id, replies.nameLost(this.roster.nameOf(id)!))
        return this.end(id, Why.NAME_LOST, false) // the name is someone else's now: not ours to release
      }
      case 'down':
        return this.roster.broadcast(line(replies.othersOutOfReach()), null)
      case 'up':
        return this.roster.broadcast(line(replies.othersBack()), null)
    }
  }

  private proposeName(s: Session, text: string): void {
    if (isQuitWord(text)) return this.end(s.id, Why.QUIT)
    const check = checkName(text, this.limits.maxName, name => this.roster.isTaken(name) || this.claiming(name) || this.bus.heldElsewhere(name))
    if (!check.ok) return this.tell(s.id, replies.nameRefused(check.reason))
    const name = check.name
    switch (this.bus.claim(name, s.serial)) {
      case 'granted':
        return this.join(s, name)
      case 'taken':
        return this.tell(s.id, replies.nameRefused(`the name ${name} is taken`))
      case 'unreachable':
        return this.tell(s.id, replies.nameUncheckable())
      case 'pending':
        this.pending.set(s.serial, { session: s, name, held: [] })
        return
    }
  }

  /** True while a connection here waits for its claim on `name` (ignoring case). */
  private claiming(name: string): boolean {
    if (this.pending.size === 0) return false
    const key = nameKey(name)
    for (const claim of this.pending.values()) if (nameKey(claim.name) === key) return true
    return false
  }

  /** The bus answered a pending claim: in, or refused; then what was held is replayed in order. */
  private claimAnswered(ticket: number, name: string, answer: 'granted' | 'taken' | 'unreachable'): void {
    const claim = this.pending.get(ticket)
    this.pending.delete(ticket)
    if (!claim || this.roster.state(claim.session.id) !== SessionState.AWAITING_NAME) {
      if (answer === 'granted') this.bus.release(name) // its connection went meanwhile
      return
    }
    const s = claim.session
    if (answer === 'granted') this.join(s, claim.name)
    else if (answer === 'taken') this.tell(s.id, replies.nameRefused(`the name ${claim.name} is taken`))
    else this.tell(s.id, replies.nameUncheckable())
    for (const text of claim.held) {
      if (this.roster.state(s.id) === SessionState.CLOSING) break
      this.receive(s, text) // a refused client's next line is its next try, as ever
    }
  }

  private join(s: Session, name: string): void {
    const count = this.roster.join(s.id, name) + this.bus.remoteMembers().length // Python's clients.append(conn)
    this.tell(s.id, replies.welcome(name, count))
    this.roster.broadcast(line(replies.joined(name)), s.id)
    this.bus.announce({ kind: 'joined', name })
    if (this.limits.verbose) {
      this.out.log(`${name} joined from ${s.peer} (${this.counts()})`)
      this.out.console(replies.joined(name))
    }
  }

  /** /who: this server's members, and with other servers, theirs and where each one is. */
  private whoIsHere(): string {
    const here = this.bus.serverName
    return here === null ? replies.who(this.roster.names()) : replies.whoAcross(here, this.roster.names(), this.bus.remoteMembers())
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
        this.bus.announce({ kind: 'said', name, text: command.text })
        if (this.limits.verbose) this.out.console(said)
        return
      }
      case 'who':
        return this.tell(s.id, this.whoIsHere())
      case 'msg': {
        const to = this.roster.find(command.to)
        if (to !== null) return this.roster.deliver(to, line(replies.whispered(name, sanitize(command.text))))
        const remote = this.bus.findRemote(command.to)
        if (remote === null) return this.tell(s.id, replies.noSuchUser(command.to))
        return this.bus.announce({ kind: 'whisper', from: name, to: remote.name, text: command.text })
      }
      case 'usage':
        return this.tell(s.id, command.usage)
      case 'kick': // only the operator may kick; parseUserLine never returns it
      case 'unknown':
        return this.tell(s.id, replies.unknownCommand(command.kind === 'unknown' ? command.command : '/kick'))
    }
  }

  /** The room ends a connection: a member leaves (everyone else is told), and it is CLOSING. */
  private end(id: number, why: Why, release = true): void {
    const name = this.roster.unlist(id)
    if (name !== null) this.announceLeft(name, WHY_TEXT[why], release)
    this.roster.close(id, why)
  }

  /** A member is out of the list: everyone still in it hears `NAME left`, here and on the other servers. */
  private announceLeft(name: string, reason: string, release = true): void {
    this.roster.broadcast(line(replies.left(name)), null)
    this.leaveRoom(name, release)
    if (this.limits.verbose) {
      this.out.log(`${name} left: ${reason} (${this.counts()})`)
      this.out.console(replies.left(name))
    }
  }

  /**
   * The other servers hear that a member here left; its name is free again (freed first: whoever
   * hears `left` and tries the name finds it free).
   */
  private leaveRoom(name: string, release = true): void {
    if (release) this.bus.release(name)
    this.bus.announce({ kind: 'left', name })
  }

  private tell(id: number, text: string): void {
    this.roster.deliver(id, line(text))
  }

  /** "2 chatting, 3 connected", for log lines (this server's own). */
  private counts(): string {
    return `${this.roster.memberCount} chatting, ${this.roster.connectionCount} connected`
  }
}
