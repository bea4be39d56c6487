// Hostile chat clients, a few at a time among the well-behaved ones, each kind in turn. Each run
// ends in an outcome: handled (the server did what it must: refused, dropped, neutralised, or
// simply kept serving) or a note saying what it did instead, which the verdict counts as a loss.
// What the others received meanwhile is the ledger's to judge (nothing lost, nothing raw).
//
//   slowloris          joins, then writes each message one byte every 100–200 ms (tracked: its
//                      messages must still reach everyone), then quits
//   never-reader       joins, asks /who in bursts and never reads: must be dropped
//   garbage            joins, sends binary noise, invalid UTF-8, NULs, escape sequences; then quits:
//                      must be served to the end, and everything it is sent must be safe text
//   reset-mid-message  joins, talks (tracked), then sends half a message, cut inside a multi-byte
//                      character when it can, and resets: nobody may receive the half
//   huge-line          joins, sends megabytes with no newline: must be told `line too long`, closed
//   flooder            joins, sends lines as fast as it can for a few seconds, then resets: must be
//                      slowed down (--max-rate), never served at the others' expense (the ledger:
//                      no one dropped, nothing lost)
//   handshake-reset    resets right after connecting, inside a multi-byte name, or in the middle of
//                      a line-framed name: must never be announced
//   control-name       proposes a name made with control characters: must be refused, saying why
import { dial } from './dial.js'
import { setTimeout as sleep } from 'node:timers/promises'
import { DeliveryLedger, unsafeText } from './ledger.js'
import { LineSocket } from './line-socket.js'
import { TrackedClient } from './tracked-client.js'
import { pick, randInt } from './rand.js'

export const HOSTILE_KINDS = [
  'slowloris',
  'never-reader',
  'garbage',
  'reset-mid-message',
  'huge-line',
  'flooder',
  'handshake-reset',
  'control-name',
] as const
export type HostileKind = (typeof HOSTILE_KINDS)[number]

export interface HostileStats {
  runs: number
  handled: number
  notes: string[]
}

const REPLY_TIMEOUT_MS = 15_000
/** A never-reader that is still connected after this long was not dropped. */
const NEVER_READER_LIFETIME_MS = 40_000
const CONTROL_NAMES = ['\x1b[31mred\x1b[0m', 'bell\x07', '\0nul', 'c1\u0085x', 'del\x7f', '\x1b]0;title\x07']
const GARBAGE_SAMPLES = [
  Buffer.from([0x66, 0xff, 0xfe, 0x6f, 0xc3]), // invalid and truncated UTF-8
  Buffer.from([0xed, 0xa0, 0x80]), // an encoded surrogate
  Buffer.from([0xc0, 0xaf, 0xe0, 0x80, 0xaf]), // overlong forms
  Buffer.from('a\0b\0c'),
  Buffer.from('\x1b[2J\x1b[H\x07clear screen'),
  Buffer.from('C1 \u0085\u009b31m', 'utf8'),
]

/** `undefined`: the run was cut short by stop() and is not counted. */
type Outcome = true | string | undefined

export class HostilePool {
  readonly stats = new Map<HostileKind, HostileStats>(HOSTILE_KINDS.map(k => [k, { runs: 0, handled: 0, notes: [] }]))
  private running = false
  private slots: Promise<void>[] = []
  private serial = 0

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly count: number,
    private readonly ledger: DeliveryLedger,
    private readonly prefix: string,
  ) {}

  start(): void {
    this.running = true
    this.slots = Array.from({ length: this.count }, (_, i) => sleep(500 + i * 200).then(() => this.slot(i)))
  }

  async stop(): Promise<void> {
    this.running = false
    await Promise.all(this.slots)
  }

  private async slot(offset: number): Promise<void> {
    for (let turn = offset; this.running; turn++) {
      const kind = HOSTILE_KINDS[turn % HOSTILE_KINDS.length]
      const outcome = await this.run(kind, `${this.prefix}${this.serial++}`).catch((err: Error) => `failed: ${err.message}`)
      if (outcome === undefined) continue
      const s = this.stats.get(kind)!
      s.runs++
      if (outcome === true) s.handled++
      else if (s.notes.length < 10) s.notes.push(outcome)
      await sleep(randInt(100, 1000))
    }
  }

  private run(kind: HostileKind, name: string): Promise<Outcome> {
    switch (kind) {
      case 'slowloris':
        return this.slowloris(name)
      case 'never-reader':
        return this.neverReader(name)
      case 'garbage':
        return this.garbage(name)
      case 'reset-mid-message':
        return this.resetMidMessage(name)
      case 'huge-line':
        return this.hugeLine(name)
      case 'flooder':
        return this.flooder(name)
      case 'handshake-reset':
        return this.handshakeReset(name)
      case 'control-name':
        return this.controlName()
    }
  }

  private async slowloris(name: string): Promise<Outcome> {
    const client = new TrackedClient(name, this.ledger)
    if (!(await client.join(this.host, this.port))) return `not welcomed: ${client.failure}`
    for (let i = 0; i < 2; i++) await client.dribble(randInt(5, 20), () => !this.running)
    await client.quit()
    return client.failure === null ? true : `dropped: ${client.failure}`
  }

  private async neverReader(name: string): Promise<Outcome> {
    const { socket } = dial(this.host, this.port, false)
    let ended: string | null = null
    socket.on('error', (e: NodeJS.ErrnoException) => (ended ??= e.code ?? e.message))
    socket.on('close', () => (ended ??= 'closed'))
    socket.pause() // and no 'data' listener: nothing is ever read
    socket.write(`${name}\n`)
    const burst = '/who\n'.repeat(400)
    const deadline = Date.now() + NEVER_READER_LIFETIME_MS
    while (ended === null && this.running && Date.now() < deadline) {
      socket.write(burst)
      await sleep(100)
    }
    socket.destroy()
    if (ended !== null) return true // dropped (our writes failed once the server reset it)
    return this.running ? `not dropped within ${NEVER_READER_LIFETIME_MS / 1000} s` : undefined
  }

  private async garbage(name: string): Promise<Outcome> {
    const link = await LineSocket.connect(this.host, this.port)
    let unsafe: string | null = null
    link.onLine = raw => (unsafe ??= unsafeText(raw))
    link.write(`${name}\n`)
    if ((await link.waitForLine(t => t.startsWith(`welcome ${name}, `), REPLY_TIMEOUT_MS)) === null) {
      link.destroy()
      return 'not welcomed'
    }
    const lines = randInt(10, 30)
    for (let i = 0; i < lines && link.open; i++) {
      const noise = Math.random() < 0.5 ? pick(GARBAGE_SAMPLES) : randomLine(randInt(1, 600))
      link.write(Buffer.concat([noise, Buffer.from('\n')]))
      await sleep(randInt(10, 60))
    }
    link.write('salir\n')
    const timer = setTimeout(() => link.destroy(), REPLY_TIMEOUT_MS)
    const ending = await link.ended
    clearTimeout(timer)
    link.finish()
    if (ending.how !== 'eof') return `not closed after its quit word (${ending.how})`
    return unsafe === null ? true : `was sent unsafe text: ${unsafe}`
  }

  private async resetMidMessage(name: string): Promise<Outcome> {
    const client = new TrackedClient(name, this.ledger)
    if (!(await client.join(this.host, this.port))) return `not welcomed: ${client.failure}`
    const messages = randInt(1, 5)
    for (let i = 0; i < messages && client.chatting; i++) {
      client.say(randInt(5, 300))
      await sleep(randInt(30, 200))
    }
    if (client.failure !== null) return `dropped: ${client.failure}`
    client.resetMidMessage(randInt(50, 2000))
    return true
  }

  private async hugeLine(name: string): Promise<Outcome> {
    const link = await LineSocket.connect(this.host, this.port)
    link.socket.on('error', () => {})
    link.write(`${name}\n`)
    if ((await link.waitForLine(t => t.startsWith(`welcome ${name}, `), REPLY_TIMEOUT_MS)) === null) {
      link.destroy()
      return 'not welcomed'
    }
    const refused = link.waitForLine(t => t.startsWith('line too long'), REPLY_TIMEOUT_MS)
    const chunk = Buffer.alloc(64 * 1024, 'z')
    const total = randInt(1, 8) * 1024 * 1024
    for (let sent = 0; sent < total && link.open; sent += chunk.length) {
      if (!link.socket.write(chunk)) await Promise.race([new Promise(r => link.socket.once('drain', r)), link.ended])
    }
    const line = await refused
    link.destroy()
    return line !== null ? true : 'not refused with "line too long"'
  }

  private async flooder(name: string): Promise<Outcome> {
    const link = await LineSocket.connect(this.host, this.port)
    link.socket.on('error', () => {})
    link.write(`${name}\n`)
    if ((await link.waitForLine(t => t.startsWith(`welcome ${name}, `), REPLY_TIMEOUT_MS)) === null) {
      link.destroy()
      return 'not welcomed'
    }
    const block = Buffer.from(`${'flood '.repeat(15)}\n`.repeat(200))
    const until = Date.now() + randInt(2000, 4000)
    while (Date.now() < until && this.running && link.open) {
      if (!link.socket.write(block)) await Promise.race([new Promise(r => link.socket.once('drain', r)), link.ended, sleep(500)])
    }
    const served = link.open
    link.reset() // what it still has in flight would take the server minutes to read at its rate
    return served ? true : `cut off while flooding (${link.ending?.how})`
  }

  private async handshakeReset(name: string): Promise<Outcome> {
    const link = await LineSocket.connect(this.host, this.port)
    link.socket.on('error', () => {})
    switch (randInt(0, 2)) {
      case 0: // at once
        break
      case 1: // inside a multi-byte first character: auto framing holds it
        link.write(Buffer.from('ñandú').subarray(0, 1))
        await sleep(randInt(20, 100))
        break
      case 2: {
        // an empty first line decides line framing; then half a name, never finished
        link.write('\n')
        const refused = await link.waitForLine(t => t.startsWith('name refused: a name cannot be empty'), REPLY_TIMEOUT_MS)
        if (refused === null) {
          link.destroy()
          return 'empty name not refused'
        }
        this.ledger.forbid(name)
        link.write(name)
        await sleep(randInt(20, 100))
        break
      }
    }
    link.reset()
    return true
  }

  private async controlName(): Promise<Outcome> {
    const link = await LineSocket.connect(this.host, this.port)
    link.write(`${pick(CONTROL_NAMES)}\n`)
    const line = await link.waitForLine(t => t.startsWith('name refused'), REPLY_TIMEOUT_MS)
    link.socket.end() // and the server closes too
    const timer = setTimeout(() => link.destroy(), REPLY_TIMEOUT_MS)
    const ending = await link.ended
    clearTimeout(timer)
    link.destroy()
    if (line !== 'name refused: a name cannot contain control characters; try another name') return `not refused as it should be: ${line}`
    return ending.how === 'eof' ? true : 'not closed after its FIN'
  }
}

/** Random bytes with no newline in them. */
function randomLine(n: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) {
    const x = Math.floor(Math.random() * 256)
    b[i] = x === 0x0a ? 0x0b : x
  }
  return b
}
