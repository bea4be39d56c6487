// Chat clients for behaviour tests: a raw socket that reads the server's lines, joins as NAME
// (netcat-style with `\n`, or Python-seed-style with no newline), and waits for lines.
import net from 'node:net'
import { Collector, connect } from './net.js'

export type ClientStyle = 'line' | 'chunk'

export class ChatClient {
  readonly got: Collector
  /** Complete lines received so far, decoded, without `\n` (split as they arrive). */
  private received: string[] = []
  private tail = Buffer.alloc(0)
  /** Lines before this index were consumed by next(). */
  private cursor = 0

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

/** Connects and joins as `name`; resolves once the server has welcomed it. */
export async function joinChat(port: number, name: string, style: ClientStyle = 'line'): Promise<ChatClient> {
  const client = await connectChat(port, style)
  client.say(name)
  await client.next(new RegExp(`^welcome ${escapeRegExp(name)}\\b`), JOIN_TIMEOUT_MS)
  return client
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

export const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))
