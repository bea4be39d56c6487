// Chat clients for behaviour tests: a raw socket that reads the server's lines, joins as NAME
// (netcat-style with `\n`, or Python-seed-style with no newline), and waits for lines.
import net from 'node:net'
import { Collector, connect } from './net.js'
import { DeliveryLedger, messageText, type Loss } from '../../bench/soak/ledger.js'

export type ClientStyle = 'line' | 'chunk'

export class ChatClient {
  readonly got: Collector
  /** Complete lines received so far, decoded, without `\n` (split as they arrive). */
  private received: string[] = []
  private tail = Buffer.alloc(0)
  /** Lines before this index were consumed by next(). */
  private cursor = 0
  /** Called with each complete line's raw bytes (without `\n`) as it arrives. */
  onLine: ((raw: Buffer) => void) | null = null

  constructor(
    readonly socket: net.Socket,
    readonly style: ClientStyle,
  ) {
    // Registered before the Collector's listener, so lines are split when its waiters run.
    socket.on('data', (d: Buffer) => this.split(d))
    this.got = new Collector(socket)
  }

  private split(data: Buffer): void {
    let buf = this.tail.length ? Buffer.concat([this.tail, data]) : data
    for (let nl = buf.indexOf(10); nl !== -1; nl = buf.indexOf(10)) {
      this.onLine?.(buf.subarray(0, nl))
      this.received.push(buf.subarray(0, nl).toString('utf8'))
      buf = buf.subarray(nl + 1)
    }
    this.tail = Buffer.from(buf)
  }

  /** Complete lines received so far (without `\n`). */
  lines(): string[] {
    return this.received
  }

  /** Sends one message: with `\n` for a line client, as one bare write for a chunk client. */
  say(text: string): void {
    this.socket.write(this.style === 'line' ? text + '\n' : text)
  }

  /** Raw bytes, exactly as given. */
  write(data: string | Buffer): void {
    this.socket.write(data)
  }

  /** Waits for the first line after the last one next() returned that matches; returns it. */
  async next(re: RegExp, timeoutMs = 10_000): Promise<string> {
    let found = -1
    let scanned = this.cursor
    await this.got.until(
      () => {
        for (; scanned < this.received.length; scanned++) {
          if (re.test(this.received[scanned])) {
            found = scanned
            return true
          }
        }
        return false
      },
      `a line matching ${re} (last lines: ${JSON.stringify(this.received.slice(-5))})`,
      timeoutMs,
    )
    this.cursor = found + 1
    return this.received[found]
  }

  /** Lines matching `re` received so far (consumed or not). */
  matching(re: RegExp): string[] {
    return this.lines().filter(l => re.test(l))
  }

  /**
   * A barrier: asks /who and waits for the answer. The server handles one client's lines in
   * order, so anything it was going to send this client because of an earlier line of this
   * client has been sent by then: a good moment to assert that something did NOT arrive.
   */
  async sync(timeoutMs = 10_000): Promise<void> {
    this.say('/who')
    await this.next(/^here now \(\d+\)/, timeoutMs)
  }

  /** Waits for the server to close the connection. */
  closed(timeoutMs = 10_000): Promise<void> {
    return this.got.end(timeoutMs)
  }

  quit(word = 'salir'): void {
    this.say(word)
  }

  /** Closes with FIN (as a Python seed client's `sock.close()`). */
  end(): void {
    this.socket.end()
  }

  /** Aborts with RST (a crashed client). */
  reset(): void {
    this.socket.resetAndDestroy()
  }
}

/** Connects without sending anything. */
export async function connectChat(port: number, style: ClientStyle = 'line'): Promise<ChatClient> {
  return new ChatClient(await connect(port), style)
}

/**
 * How long a join may wait for its welcome. Generous, as the echo suite's deadlines: under the
 * threads model each connection first waits for its thread to start (~40 ms of CPU each), so 200
 * clients joining at once need ~8 s of CPU, and `make test` runs two test files side by side on
 * two cores. A deadline, not a speed requirement.
 */
const JOIN_TIMEOUT_MS = 30_000

/**
 * Connects and joins as `name`; resolves once the server has welcomed it. Suites reuse names on
 * one server: the `name is taken` of a client the previous case just closed, which the server has
 * not seen go yet (a thread server may take a moment), is waited out by trying again, as a person
 * would. A name that stays taken still fails the join, at JOIN_TIMEOUT_MS.
 */
export async function joinChat(port: number, name: string, style: ClientStyle = 'line'): Promise<ChatClient> {
  const client = await connectChat(port, style)
  const welcome = new RegExp(`^welcome ${escapeRegExp(name)}\\b`)
  const taken = /^name refused: the name .* is taken/
  const deadline = Date.now() + JOIN_TIMEOUT_MS
  for (;;) {
    client.say(name)
    const reply = await client.next(new RegExp(`${welcome.source}|${taken.source}`), Math.max(1, deadline - Date.now()))
    if (welcome.test(reply)) return client
    await sleep(50)
  }
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

export const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

/**
 * Lets what was written so far leave before the next write, so that two writes usually arrive as
 * two reads (a character or a line split across reads). Not a synchronisation: TCP may still
 * merge them, and every test using it expects the same outcome when it does.
 */
export const spaceOut = () => sleep(50)

/** Waits until `predicate()` holds, checking every 20 ms; rejects saying `what` after `timeoutMs`. */
export async function eventually(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !predicate(); await sleep(20)) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
  }
}

/**
 * Joins as `name`, trying again while the server turns it away, as a person would: a place
 * freed by a client that left is free once the server has seen it leave (for threads, once its
 * thread is done), which the client cannot observe. Rejects after `timeoutMs`. Resolves with the
 * client and how many times it was turned away first.
 */
export async function joinWhenServed(port: number, name: string, timeoutMs = 15_000): Promise<{ client: ChatClient; refusals: number }> {
  const deadline = Date.now() + timeoutMs
  for (let refusals = 0; ; refusals++) {
    const client = await connectChat(port)
    client.socket.on('error', () => {}) // a refusal may end in a reset
    client.say(name)
    const welcomed = await client.next(new RegExp(`^welcome ${escapeRegExp(name)}\\b`), Math.max(1, deadline - Date.now())).then(
      () => true,
      () => false,
    )
    if (welcomed) return { client, refusals }
    client.socket.destroy()
    if (Date.now() >= deadline) throw new Error(`${name} was still turned away after ${timeoutMs} ms (${refusals + 1} tries)`)
    await sleep(100) // and try again
  }
}

export interface ChattersOptions {
  /** How many clients (default 3). */
  count?: number
  /** Their names are PREFIX0, PREFIX1, ... (default 'ok'). */
  prefix?: string
  /** Each client writes one message per tick (default 40 ms). */
  intervalMs?: number
  /** Body length (code points) of client i's message #seq (default 10..200). */
  length?: (i: number, seq: number) => number
  /**
   * From its welcome until close(), each client also sends an empty line this often: the server
   * ignores it (no reply, nothing relayed) but counts it as input, so a client is never idle, not
   * even while the others are still joining or before talk() (default 0: never).
   */
  keepAliveMs?: number
}

/**
 * A few well-behaved clients chatting in the background while a test does something hostile,
 * every line they receive checked by a DeliveryLedger (bench/soak/ledger.ts): each client must
 * get every other's messages exactly once, in order, and never raw control bytes.
 */
export class Chatters {
  readonly ledger = new DeliveryLedger()
  readonly clients: ChatClient[] = []
  readonly names: string[] = []
  /** Per client, the lines that were not about another of these clients (their own welcome excluded). */
  private readonly otherLines: string[][] = []
  private timer: NodeJS.Timeout | null = null
  private keepAlive: NodeJS.Timeout | null = null

  private constructor(private readonly options: Required<ChattersOptions>) {}

  /**
   * Connects and joins them all (they are not talking yet: see talk()). With several ports (the
   * servers of one room), client i joins ports[i % ports.length].
   */
  static async join(port: number | readonly number[], options: ChattersOptions = {}): Promise<Chatters> {
    const ports = typeof port === 'number' ? [port] : port
    const chatters = new Chatters({
      count: 3,
      prefix: 'ok',
      intervalMs: 40,
      length: (i, seq) => 10 + ((i * 7919 + seq * 104_729) % 191),
      keepAliveMs: 0,
      ...options,
    })
    const every = chatters.options.keepAliveMs
    if (every > 0) chatters.keepAlive = setInterval(() => chatters.clients.forEach(c => c.socket.writable && c.write('\n')), every)
    try {
      for (let i = 0; i < chatters.options.count; i++) await chatters.add(ports[i % ports.length], i)
    } catch (err) {
      chatters.close()
      throw err
    }
    return chatters
  }

  private async add(port: number, i: number): Promise<void> {
    const name = `${this.options.prefix}${i}`
    const client = await connectChat(port)
    const others: string[] = []
    this.ledger.track(name)
    client.onLine = raw => {
      if (!this.ledger.line(name, raw) && !raw.toString('utf8').startsWith(`welcome ${name}, `)) others.push(raw.toString('utf8'))
    }
    client.socket.on('error', () => {}) // resets are the tests' business; the ledger judges what arrived
    client.say(name)
    await client.next(new RegExp(`^welcome ${escapeRegExp(name)},`))
    this.clients.push(client)
    this.names.push(name)
    this.otherLines.push(others)
  }

  /** Each client writes its next message every intervalMs, until settle(). */
  talk(): void {
    if (this.timer) return
    this.timer = setInterval(() => {
      this.clients.forEach((c, i) => {
        if (c.socket.destroyed || c.got.ended) return
        const name = this.names[i]
        const seq = this.ledger.written(name) + 1
        c.say(messageText(name, seq, this.options.length(i, seq)))
        this.ledger.wrote(name, seq)
      })
    }, this.options.intervalMs)
  }

  /** Stops talking. */
  quiet(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  /**
   * Lets each client write at least `minEach` messages, stops talking, waits (bounded) until
   * every client has every message of the others, and returns what the ledger found: losses
   * (expected: none) and counts.
   */
  async settle(timeoutMs = 15_000, minEach = 10): Promise<{ losses: Loss[]; sent: number; delivered: number }> {
    const deadline = Date.now() + timeoutMs
    while (this.timer && this.names.some(n => this.ledger.written(n) < minEach) && Date.now() < deadline) await sleep(20)
    this.quiet()
    while (this.ledger.outstanding() > 0 && Date.now() < deadline) await sleep(20)
    this.ledger.finish()
    return { losses: this.ledger.losses, sent: this.ledger.sent, delivered: this.ledger.delivered }
  }

  /** Lines client i received that were not about the other chatters (own welcome excluded). */
  others(i: number): string[] {
    return this.otherLines[i]
  }

  /** The last of `sender`'s messages `receiver` has seen in sequence (0: none). */
  lastSeen(receiver: number, sender: number): number {
    return this.ledger.lastSeen(this.names[receiver], this.names[sender])
  }

  close(): void {
    this.quiet()
    if (this.keepAlive) clearInterval(this.keepAlive)
    this.clients.forEach(c => c.socket.destroy())
  }
}
