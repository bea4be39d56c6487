// The delivery ledger: what each well-behaved chat client wrote, and what each one received,
// checked line by line as it arrives. No I/O: the soak's client pool and the fault tests feed it.
//
// A tracked client's messages carry their own sequence number and a body derived from
// (name, seq, length), so a receiver can check each one exactly: `#SEQ LEN BODY`.
//
// What "delivered exactly once, in order, to everyone present" means at the edges (R receives, S sends):
//   - R's welcome fixes R's place in the server's order. Every message S writes after R's welcome
//     arrived (in this process) was read by the server after R joined, so R must receive it: R's
//     first message from S is at most mustStartBy = (S's messages written before R's welcome) + 1.
//     R may also get a few earlier ones (in flight when R joined); from the first one on, S's
//     messages must come consecutively.
//   - R saw `S joined`: S joined after R, so R must see S's messages from #1.
//   - R saw `S left` and S had quit cleanly: the server read S's last message before its quit
//     word, so R must have seen it. After `S left`, nothing more from S.
//   - S never receives its own messages. Any line about S that S never wrote (a half-sent message
//     relayed, a join that never completed) is a loss too.
//   - At the end, once everyone has stopped talking: every receiver still here has every message of
//     every sender still here (checked by outstanding(), then finish()).
// Every line a tracked client receives must also be valid UTF-8 with no raw control bytes.

export type LossKind =
  | 'gap' // a message skipped (seen a later one first)
  | 'reorder' // a skipped message arrived late
  | 'duplicate'
  | 'own-message' // a sender received its own message
  | 'corrupt' // the body does not match what was written
  | 'phantom' // a message its sender never (completely) wrote
  | 'after-left' // a message after its sender's `left`
  | 'missing-at-left' // `left` after a clean quit, but not all of the sender's messages came first
  | 'missing-at-end' // still missing when the run ended
  | 'unsanitized' // invalid UTF-8 or a raw control byte reached a client
  | 'bad-announcement' // joined/left out of place (twice, or for someone never joined)
  | 'dropped' // a well-behaved client was disconnected by the server

export interface Loss {
  kind: LossKind
  receiver: string
  sender?: string
  detail: string
}

/** How a tracked client ended (or that it has not). */
const SenderState = {
  PRESENT: 'PRESENT',
  QUIT: 'QUIT', // left with a quit word: everything it wrote is owed to those present
  ABORTED: 'ABORTED', // reset: owes nobody the rest
} as const
type SenderState = (typeof SenderState)[keyof typeof SenderState]

interface SenderRecord {
  /** Ledger clock of each message written, in order: sendClocks[k - 1] is message #k's. */
  sendClocks: number[]
  state: SenderState
}

interface ReceiverRecord {
  /** Ledger clock when its welcome arrived; null before. */
  welcomeClock: number | null
  /** Still expected to receive everything (welcomed, not quitting, not gone). */
  expecting: boolean
  views: Map<string, View>
}

/** What receiver R has seen of sender S. */
interface View {
  /** The next #seq expected; null before the first message. */
  next: number | null
  sawJoin: boolean
  sawLeft: boolean
  /** Sequence numbers skipped by a gap (to tell a late arrival from a duplicate); bounded. */
  skipped: Set<number>
}

const MAX_DETAILS = 200
const MAX_SKIPPED = 1000
const MESSAGE = /^#(\d+) (\d+) (.*)$/su
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Code points bodies are made of: ASCII and some multi-byte characters (2, 3 and 4 bytes). */
const ALPHABET = [...'abcdefghijklmnopqrstuvwxyz0123456789 .,-ñé€😀']

/** The text a tracked client sends as its message #seq: `#SEQ LEN BODY`, LEN code points of body. */
export function messageText(name: string, seq: number, length: number): string {
  return `#${seq} ${length} ${messageBody(name, seq, length)}`
}

function messageBody(name: string, seq: number, length: number): string {
  let x = (hash(name) ^ Math.imul(seq, 0x9e3779b1)) >>> 0 || 1
  let out = ''
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out += ALPHABET[(x >>> 0) % ALPHABET.length]
  }
  // A body never ends in a space: the server relays text as typed, but a trailing space is easy
  // to lose in a terminal, and a body of spaces only would be a blank (unrelayed) message.
  return out.replace(/ +$/u, m => 'x'.repeat(m.length))
}

function hash(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/**
 * Why a line a client received is unsafe to show on a terminal (invalid UTF-8, a raw control
 * byte; tabs pass), or null when it is fine.
 */
export function unsafeText(raw: Uint8Array): string | null {
  let text: string
  try {
    text = strictUtf8.decode(raw)
  } catch {
    return 'invalid UTF-8'
  }
  // eslint-disable-next-line no-control-regex
  const m = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/u.exec(text)
  return m ? `control character U+${m[0].codePointAt(0)!.toString(16).padStart(4, '0')}` : null
}

export class DeliveryLedger {
  private clock = 0
  private readonly senders = new Map<string, SenderRecord>()
  private readonly receivers = new Map<string, ReceiverRecord>()
  /** Names that must never be announced or speak (a name whose handshake never completed). */
  private readonly forbidden = new Set<string>()
  /** Every loss, counted by kind; the first MAX_DETAILS kept with details. */
  readonly lossCounts = new Map<LossKind, number>()
  readonly losses: Loss[] = []
  sent = 0
  delivered = 0

  /** A tracked client exists (before it sends its name): lines naming it are checked. */
  track(name: string): void {
    if (this.senders.has(name)) throw new Error(`name ${name} is tracked already`)
    this.senders.set(name, { sendClocks: [], state: SenderState.PRESENT })
    this.receivers.set(name, { welcomeClock: null, expecting: false, views: new Map() })
  }

  /** `name` never completed a join: any line naming it is a loss. */
  forbid(name: string): void {
    this.forbidden.add(name)
  }

  isTracked(name: string): boolean {
    return this.senders.has(name)
  }

  /** `name` has written its message #seq (the next one) in full. */
  wrote(name: string, seq: number): void {
    const s = this.sender(name)
    if (seq !== s.sendClocks.length + 1) throw new Error(`${name} wrote #${seq} after #${s.sendClocks.length}`)
    s.sendClocks.push(++this.clock)
    this.sent++
  }

  /** Messages `name` has written so far. */
  written(name: string): number {
    return this.sender(name).sendClocks.length
  }

  /** `name` has written its quit word after its last message: others must see all before `left`. */
  quit(name: string): void {
    this.sender(name).state = SenderState.QUIT
    this.receiver(name).expecting = false
  }

  /** `name` ended abruptly (reset, or it was dropped): others may have any prefix of its messages. */
  aborted(name: string): void {
    const s = this.sender(name)
    if (s.state === SenderState.PRESENT) s.state = SenderState.ABORTED
    this.receiverGone(name)
  }

  /** The server disconnected a well-behaved client that did not ask for it. */
  dropped(name: string, why: string): void {
    this.loss({ kind: 'dropped', receiver: name, detail: why })
    this.aborted(name)
  }

  /** `name` receives nothing more (its connection is closed): forget what it saw. */
  receiverGone(name: string): void {
    const r = this.receiver(name)
    r.expecting = false
    r.views.clear()
  }

  /**
   * One line (without `\n`) received by tracked client `receiver`. Returns true if the line was
   * about a tracked client (checked here), false for anything else (welcome, replies, others' lines).
   */
  line(receiver: string, raw: Uint8Array): boolean {
    const r = this.receiver(receiver)
    const unsafe = unsafeText(raw)
    if (unsafe) {
      this.loss({ kind: 'unsanitized', receiver, detail: `${unsafe} in ${JSON.stringify(Buffer.from(raw).toString('latin1').slice(0, 80))}` })
      return false
    }
    const text = Buffer.from(raw).toString('utf8')
    if (r.welcomeClock === null) {
      if (text.startsWith(`welcome ${receiver}, `)) {
        r.welcomeClock = ++this.clock
        r.expecting = true
      }
      return false
    }
    const colon = text.indexOf(': ')
    const said = colon > 0 ? text.slice(0, colon) : null
    const about = said ?? /^(\S+) (?:joined|left)$/u.exec(text)?.[1]
    if (about !== undefined && this.forbidden.has(about)) {
      this.loss({ kind: 'bad-announcement', receiver, sender: about, detail: `${JSON.stringify(text.slice(0, 60))}, but ${about} never joined` })
      return true
    }
    if (said !== null && this.senders.has(said)) {
      this.message(r, receiver, said, text.slice(colon + 2))
      return true
    }
    const announced = /^(\S+) (joined|left)$/u.exec(text)
    if (announced && this.senders.has(announced[1])) {
      if (announced[2] === 'joined') this.joinedSeen(r, receiver, announced[1])
      else this.leftSeen(r, receiver, announced[1])
      return true
    }
    return false
  }

  /**
   * Messages still owed to receivers that are present, from senders that are present: zero once
   * everything written has arrived (wait for that after everyone stops talking).
   */
  outstanding(): number {
    let missing = 0
    for (const [receiver, r] of this.receivers) {
      if (!r.expecting) continue
      for (const [sender, s] of this.senders) {
        if (sender === receiver || s.state !== SenderState.PRESENT) continue
        missing += this.owed(r, sender, s)
      }
    }
    return missing
  }

  /** The end of the run: whatever is still outstanding is lost. */
  finish(): void {
    for (const [receiver, r] of this.receivers) {
      if (!r.expecting) continue
      for (const [sender, s] of this.senders) {
        if (sender === receiver || s.state !== SenderState.PRESENT) continue
        const owed = this.owed(r, sender, s)
        if (owed > 0) this.loss({ kind: 'missing-at-end', receiver, sender, detail: `${owed} of ${sender}'s messages never arrived` })
      }
    }
  }

  /** The last of `sender`'s messages `receiver` has seen in sequence (0: none yet). */
  lastSeen(receiver: string, sender: string): number {
    const next = this.receiver(receiver).views.get(sender)?.next
    return next == null ? 0 : next - 1
  }

  get lossTotal(): number {
    let n = 0
    for (const c of this.lossCounts.values()) n += c
    return n
  }

  private owed(r: ReceiverRecord, sender: string, s: SenderRecord): number {
    const v = r.views.get(sender)
    const seen = v?.next != null ? v.next - 1 : this.mustStartBy(r, sender, v) - 1
    return Math.max(0, s.sendClocks.length - seen)
  }

  /** The first of S's messages that R must receive (see the top of this file). */
  private mustStartBy(r: ReceiverRecord, sender: string, v: View | undefined): number {
    if (v?.sawJoin) return 1
    const clocks = this.sender(sender).sendClocks
    // Messages written before R's welcome: binary search on the (increasing) clocks.
    let lo = 0
    let hi = clocks.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (clocks[mid] < r.welcomeClock!) lo = mid + 1
      else hi = mid
    }
    return lo + 1
  }

  private view(r: ReceiverRecord, sender: string): View {
    let v = r.views.get(sender)
    if (!v) {
      v = { next: null, sawJoin: false, sawLeft: false, skipped: new Set() }
      r.views.set(sender, v)
    }
    return v
  }

  private message(r: ReceiverRecord, receiver: string, sender: string, text: string): void {
    if (sender === receiver) return this.loss({ kind: 'own-message', receiver, sender, detail: text.slice(0, 60) })
    const m = MESSAGE.exec(text)
    const seq = m ? Number(m[1]) : NaN
    if (!m || messageBody(sender, seq, Number(m[2])) !== m[3]) {
      return this.loss({ kind: 'corrupt', receiver, sender, detail: `${text.length} chars: ${JSON.stringify(text.slice(0, 60))}` })
    }
    const s = this.sender(sender)
    if (seq < 1 || seq > s.sendClocks.length) {
      return this.loss({ kind: 'phantom', receiver, sender, detail: `#${seq}, but only ${s.sendClocks.length} written` })
    }
    const v = this.view(r, sender)
    if (v.sawLeft) return this.loss({ kind: 'after-left', receiver, sender, detail: `#${seq}` })
    if (v.next === null) {
      const must = this.mustStartBy(r, sender, v)
      if (seq > must) this.gap(v, receiver, sender, must, seq)
      v.next = seq + 1
    } else if (seq === v.next) {
      v.next++
    } else if (seq > v.next) {
      this.gap(v, receiver, sender, v.next, seq)
      v.next = seq + 1
    } else if (v.skipped.delete(seq)) {
      return this.loss({ kind: 'reorder', receiver, sender, detail: `#${seq} after #${v.next - 1}` })
    } else {
      return this.loss({ kind: 'duplicate', receiver, sender, detail: `#${seq} again (next expected #${v.next})` })
    }
    this.delivered++
  }

  private gap(v: View, receiver: string, sender: string, from: number, to: number): void {
    this.loss({ kind: 'gap', receiver, sender, detail: `#${from}..#${to - 1} missing, got #${to}` })
    for (let k = from; k < to && v.skipped.size < MAX_SKIPPED; k++) v.skipped.add(k)
  }

  private joinedSeen(r: ReceiverRecord, receiver: string, sender: string): void {
    const v = this.view(r, sender)
    if (v.sawJoin || v.next !== null || v.sawLeft) {
      return this.loss({ kind: 'bad-announcement', receiver, sender, detail: `${sender} joined, out of place` })
    }
    v.sawJoin = true
  }

  private leftSeen(r: ReceiverRecord, receiver: string, sender: string): void {
    const v = this.view(r, sender)
    if (v.sawLeft) return this.loss({ kind: 'bad-announcement', receiver, sender, detail: `${sender} left twice` })
    v.sawLeft = true
    const s = this.sender(sender)
    if (s.state !== SenderState.QUIT) return
    const owed = this.owed(r, sender, s)
    if (owed > 0) {
      this.loss({ kind: 'missing-at-left', receiver, sender, detail: `${sender} quit after #${s.sendClocks.length}; ${owed} never arrived` })
    }
  }

  private loss(loss: Loss): void {
    this.lossCounts.set(loss.kind, (this.lossCounts.get(loss.kind) ?? 0) + 1)
    if (this.losses.length < MAX_DETAILS) this.losses.push(loss)
  }

  private sender(name: string): SenderRecord {
    const s = this.senders.get(name)
    if (!s) throw new Error(`${name} is not tracked`)
    return s
  }

  private receiver(name: string): ReceiverRecord {
    const r = this.receivers.get(name)
    if (!r) throw new Error(`${name} is not tracked`)
    return r
  }
}
