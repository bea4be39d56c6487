// The operator's live feed: each /console page holds one WebSocket (opened with the token, from
// our own origin) over which it gets the server's picture a few times a second and speaks as the
// operator.
//
// Bounded, however busy the server is and however slow a viewer:
// - viewers: at most `maxViewers` at once; one more is refused;
// - rate: one sample per TICK_MS for everyone, however many events happened in between (the
//   watch counts; nothing is sent per event), with at most EVENTS_PER_TICK event lines and
//   CONVERSATION_PER_TICK conversation lines, the newest, and a count of those left out;
// - slow viewers: a page acknowledges each sample; a viewer with MAX_UNACKED samples not yet
//   acknowledged is sent nothing more (it gets the latest picture when it catches up, never a
//   backlog), and one that acknowledges nothing for STALL_MS is dropped, as a chat client that
//   stops reading is.
//
// On the wire (JSON text messages):
//   us → page    {"type": "hello", ...}, {"type": "sample", "seq": N, "sample": ..., "events": ...,
//                "conversation": ...}, {"type": "answer", "text": "..."}
//   page → us    {"type": "ack", "seq": N}, {"type": "say", "token": "...", "text": "..."}
//                (text to everyone, or an operator command: /who, /msg NAME text, /kick NAME)
import type { RawData, WebSocket } from 'ws'
import { RateLimitedLog, log } from '../log.js'
import { sanitize } from '../chat/replies.js'
import { tokenMatches } from './guard.js'
import type { ServerWatch } from './watch.js'

export const TICK_MS = 250
export const EVENTS_PER_TICK = 60
export const CONVERSATION_PER_TICK = 100
export const MAX_UNACKED = 2
export const STALL_MS = 5000
/** Longest line an operator may send from the page. */
export const MAX_SAY = 4096

const CLOSE_POLICY = 1008
const CLOSE_GOING_AWAY = 1001

interface Viewer {
  readonly ws: WebSocket
  readonly remote: string
  /** Sequence numbers of the samples sent and not acknowledged, oldest first. */
  unacked: number[]
  /** When the oldest unacknowledged sample was sent (performance.now()). */
  waitingSince: number
  eventCursor: number
  conversationCursor: number
}

export class ConsoleFeed {
  private readonly viewers = new Set<Viewer>()
  private timer: NodeJS.Timeout | null = null
  private seq = 0
  private readonly drops = new RateLimitedLog()
  /** Operator lines run one after the other, as typed (the threads' take a lock, asynchronously). */
  private operatorQueue: Promise<void> = Promise.resolve()

  constructor(
    private readonly watch: ServerWatch,
    private readonly token: string,
    private readonly maxViewers: number,
    private readonly verbose: boolean,
  ) {}

  get viewerCount(): number {
    return this.viewers.size
  }

  /** True when one more viewer would be over the bound. */
  get full(): boolean {
    return this.viewers.size >= this.maxViewers
  }

  /** A new page's feed (the caller has checked the token, the origin and `full`). */
  add(ws: WebSocket, remote: string): void {
    const viewer: Viewer = { ws, remote, unacked: [], waitingSince: 0, eventCursor: 0, conversationCursor: 0 }
    this.viewers.add(viewer)
    ws.on('message', (data, isBinary) => this.onMessage(viewer, data, isBinary))
    ws.on('close', () => this.remove(viewer))
    ws.on('error', () => {}) // 'close' follows
    const server = this.watch.observed
    this.send(viewer, {
      type: 'hello',
      protocol: server?.protocol ?? 'echo',
      model: server?.model ?? '',
      operator: server?.operator !== null && server?.operator !== undefined,
      tickMs: TICK_MS,
      viewers: this.viewers.size,
      maxViewers: this.maxViewers,
    })
    if (this.verbose) log(`web console: viewer ${remote} (${this.viewers.size} of ${this.maxViewers})`)
    if (this.timer === null) this.timer = setInterval(this.tick, TICK_MS)
    this.tick()
  }

  /** Closes every viewer's feed (the server is stopping). */
  close(): void {
    for (const v of this.viewers) v.ws.close(CLOSE_GOING_AWAY, 'the server is stopping')
    this.stopTicking()
  }

  private remove(viewer: Viewer): void {
    if (!this.viewers.delete(viewer)) return
    if (this.verbose) log(`web console: viewer ${viewer.remote} left (${this.viewers.size} of ${this.maxViewers})`)
    if (this.viewers.size === 0) this.stopTicking()
  }

  private stopTicking(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  /** One sample for everyone who is keeping up; the stalled are dropped. */
  private readonly tick = (): void => {
    const sample = JSON.stringify(this.watch.sample())
    const seq = ++this.seq
    const now = performance.now()
    for (const v of this.viewers) {
      if (v.unacked.length >= MAX_UNACKED) {
        if (now - v.waitingSince > STALL_MS) this.drop(v)
        continue
      }
      const events = this.watch.eventsSince(v.eventCursor, EVENTS_PER_TICK)
      const conversation = this.watch.conversationSince(v.conversationCursor, CONVERSATION_PER_TICK)
      v.eventCursor = events.cursor
      v.conversationCursor = conversation.cursor
      if (v.unacked.length === 0) v.waitingSince = now
      v.unacked.push(seq)
      const rest = JSON.stringify({ events: strip(events), conversation: strip(conversation) })
      // The sample is the same for everyone: stringified once, spliced in.
      v.ws.send(`{"type":"sample","seq":${seq},"sample":${sample},${rest.slice(1)}`)
    }
  }

  private drop(v: Viewer): void {
    this.drops.log(`web console: dropping viewer ${v.remote}: not reading (nothing acknowledged for ${STALL_MS / 1000} s)`)
    v.ws.close(CLOSE_POLICY, 'not reading')
    // A peer that does not read does not answer the close handshake either.
    setTimeout(() => v.ws.terminate(), 1000).unref()
    this.remove(v)
  }

  private onMessage(v: Viewer, data: RawData, isBinary: boolean): void {
    let m: { type?: unknown; seq?: unknown; token?: unknown; text?: unknown } | null = null
    try {
      m = isBinary ? null : JSON.parse(data.toString())
    } catch {
      m = null
    }
    switch (m?.type) {
      case 'ack':
        if (typeof m.seq === 'number') this.acked(v, m.seq)
        return
      case 'say':
        if (!tokenMatches(typeof m.token === 'string' ? m.token : null, this.token)) {
          v.ws.close(CLOSE_POLICY, 'wrong token')
          return
        }
        if (typeof m.text !== 'string' || m.text.length > MAX_SAY) {
          this.send(v, { type: 'answer', text: `a line for the operator's console is at most ${MAX_SAY} characters` })
          return
        }
        return this.say(v, m.text)
      default:
        v.ws.close(1003, 'unknown message')
    }
  }

  private acked(v: Viewer, seq: number): void {
    const i = v.unacked.indexOf(seq)
    if (i < 0) return
    v.unacked.splice(0, i + 1) // that one and any older
    v.waitingSince = performance.now()
  }

  /** A line typed in the page's message box: the operator console's, with its answers to this page. */
  private say(v: Viewer, text: string): void {
    const operator = this.watch.observed?.operator
    const answer = (line: string) => this.send(v, { type: 'answer', text: line })
    if (!operator) return answer('this server has no operator commands (the echo server only echoes)')
    for (const line of text.split(/\r?\n/)) {
      if (this.verbose && line.trim() !== '') log(`web console (${v.remote}): ${sanitize(line)}`)
      this.operatorQueue = this.operatorQueue.then(() => operator(line, answer)).catch(err => answer(`failed: ${(err as Error).message}`))
    }
  }

  private send(v: Viewer, message: object): void {
    if (v.ws.readyState === v.ws.OPEN) v.ws.send(JSON.stringify(message))
  }
}

function strip(lines: { lines: unknown[]; skipped: number }): { lines: unknown[]; skipped: number } {
  return { lines: lines.lines, skipped: lines.skipped }
}
