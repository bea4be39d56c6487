// A chat client whose every message and every received line goes through the DeliveryLedger:
// the soak's well-behaved clients, and the hostile ones that still deserve delivery (a slowloris's
// messages, the complete messages of a client that later resets mid-message).
//
//   CONNECTING → NAMING (name sent) → CHATTING → LEAVING (quit word sent) → DONE
//                                         └──────── reset (ours) ─────────────┘
// Any end we did not ask for (EOF or reset while NAMING/CHATTING, or no close after a quit word)
// is a loss: the server dropped a client that did nothing wrong.
import { setTimeout as sleep } from 'node:timers/promises'
import { DeliveryLedger, messageText } from './ledger.js'
import { LineSocket } from './line-socket.js'
import { pick, randInt } from './rand.js'

const JOIN_TIMEOUT_MS = 15_000
const GOODBYE_TIMEOUT_MS = 15_000
const QUIT_WORDS = ['salir', 'bye', '/quit'] as const
/** The server's default --max-line; a message is kept well below it. */
const MAX_MESSAGE_BYTES = 4000

export const ClientState = {
  CONNECTING: 'CONNECTING',
  NAMING: 'NAMING',
  CHATTING: 'CHATTING',
  LEAVING: 'LEAVING',
  DONE: 'DONE',
} as const
export type ClientState = (typeof ClientState)[keyof typeof ClientState]

export class TrackedClient {
  state: ClientState = ClientState.CONNECTING
  /** Why the server ended it without being asked to (null: it did not). */
  failure: string | null = null
  private link: LineSocket | null = null

  constructor(
    readonly name: string,
    private readonly ledger: DeliveryLedger,
  ) {
    ledger.track(name)
  }

  /** Connects and joins; false (and a loss recorded) if the server did not welcome it. */
  async join(host: string, port: number): Promise<boolean> {
    try {
      this.link = await LineSocket.connect(host, port)
    } catch (err) {
      return this.lost(`cannot connect: ${(err as NodeJS.ErrnoException).code ?? err}`)
    }
    const link = this.link
    link.onLine = raw => this.ledger.line(this.name, raw)
    void link.ended.then(e => this.onEnded(e.how === 'error' ? `reset (${e.code})` : e.how === 'eof' ? 'closed by the server' : ''))
    this.state = ClientState.NAMING
    link.write(`${this.name}\n`)
    const welcome = await link.waitForLine(text => text.startsWith(`welcome ${this.name}, `), JOIN_TIMEOUT_MS)
    if (welcome === null) return this.lost('no welcome') // a no-op if it ended already (the loss is recorded)
    this.state = ClientState.CHATTING
    return true
  }

  get chatting(): boolean {
    return this.state === ClientState.CHATTING
  }

  /** Writes the next message, with a body of `length` code points. */
  say(length: number): void {
    if (!this.chatting) return
    const { seq, text } = this.next(length)
    this.link!.write(text + '\n')
    this.ledger.wrote(this.name, seq)
  }

  /** A slowloris: the next message one byte at a time, every 100–200 ms (stops early if it ends). */
  async dribble(length: number, hurry: () => boolean): Promise<void> {
    if (!this.chatting) return
    const { seq, text } = this.next(length)
    const bytes = Buffer.from(text + '\n')
    for (let i = 0; i < bytes.length; i++) {
      if (!this.chatting) return
      const last = i === bytes.length - 1 || hurry()
      this.link!.write(last ? bytes.subarray(i) : bytes.subarray(i, i + 1))
      if (last) break // written in full: the ledger must know before any reply can arrive
      await sleep(randInt(100, 200))
    }
    this.ledger.wrote(this.name, seq)
  }

  /** Leaves with a quit word; resolves once the server has closed (a loss if it does not). */
  async quit(): Promise<void> {
    if (!this.chatting) return
    this.state = ClientState.LEAVING
    this.ledger.quit(this.name)
    this.link!.write(`${pick(QUIT_WORDS)}\n`)
    const timer = setTimeout(() => this.lost('no goodbye after the quit word'), GOODBYE_TIMEOUT_MS)
    await this.link!.ended
    clearTimeout(timer)
    this.link!.finish()
    this.done()
  }

  /** Leaves abruptly, with a RST. */
  reset(): void {
    if (this.state === ClientState.DONE) return
    this.ledger.aborted(this.name)
    this.done()
    this.link?.reset()
  }

  /**
   * Sends part of its next message, cut inside a multi-byte character when it has one (and never
   * its newline), then resets: no one may receive any of it.
   */
  resetMidMessage(length: number): void {
    if (!this.chatting) return this.reset()
    const bytes = Buffer.from(this.next(length).text)
    let cut = randInt(1, bytes.length - 1)
    const multi = bytes.findIndex((b, i) => i >= cut && b >= 0xc0)
    if (multi !== -1) cut = multi + 1
    this.link!.write(bytes.subarray(0, cut))
    // Let the bytes reach the server before the RST, so it really holds half a message.
    setTimeout(() => this.reset(), randInt(10, 100))
  }

  private next(length: number): { seq: number; text: string } {
    const seq = this.ledger.written(this.name) + 1
    let text = messageText(this.name, seq, length)
    while (Buffer.byteLength(text) > MAX_MESSAGE_BYTES) text = messageText(this.name, seq, (length = Math.floor(length * 0.8)))
    return { seq, text }
  }

  private onEnded(why: string): void {
    switch (this.state) {
      case ClientState.NAMING:
      case ClientState.CHATTING:
        this.lost(why) // an end nobody asked for
        return
      case ClientState.CONNECTING:
      case ClientState.LEAVING:
        this.done()
        return
      case ClientState.DONE:
        return
    }
  }

  private lost(why: string): false {
    if (this.state !== ClientState.DONE) {
      this.failure = why
      this.ledger.dropped(this.name, why)
      this.done()
      this.link?.destroy()
    }
    return false
  }

  private done(): void {
    if (this.state === ClientState.DONE) return
    this.state = ClientState.DONE
    this.ledger.receiverGone(this.name)
  }
}
