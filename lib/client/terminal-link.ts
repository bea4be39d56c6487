// A terminal joined to a TCP connection, full duplex, on the reactor: the user's stdin and the
// socket are registered in one EventLoop, so what the server sends is shown while the user is
// typing, with no thread. The chat and echo clients differ only in their LinkBehaviour; how lines
// are typed and shown (a line editor on a terminal, plain lines on pipes) is the Terminal's.
//
//   CONNECTING --WRITE ready, no error--> CONNECTED --leave()--> LEAVING --server EOF--> DONE (0)
//       | error: "cannot connect ..." (1)     | server EOF/reset: "server closed ..." (1)
//       +------------------------------------ +------------------------------------> DONE
//
// LEAVING flushes what is queued, half-closes (FIN), and waits (bounded) for the server to
// close its side, showing whatever it still sends (the last echoes, a goodbye).
//
// With TLS (--tls), CONNECTING lasts until the handshake is done and the server's certificate
// verified (or accepted, with --insecure); the certificate's fingerprint is shown on stderr.
import {
  Connection,
  EVENT_READ,
  EVENT_WRITE,
  EventLoop,
  StreamReader,
  TlsConnection,
  type TimerHandle,
  type TlsClientOptions,
} from '../../reactor/index.js'
import { describeClientTlsError } from '../tls/errors.js'
import { openTerminal, type Terminal } from './terminal.js'

export interface LinkBehaviour {
  /** The connection is up: send a name, set a prompt... */
  onConnected(link: TerminalLink): void
  /** One line the user typed (without its newline). */
  onLine(link: TerminalLink, text: string): void
  /** The user's input ended (Ctrl-D, Ctrl-C on a terminal, the end of a pipe). */
  onInputEnd(link: TerminalLink): void
  /** Bytes from the server, as they came (not cut into lines): show them. */
  onReceived(link: TerminalLink, data: Buffer): void
}

export const LinkState = {
  CONNECTING: 'CONNECTING',
  CONNECTED: 'CONNECTED',
  LEAVING: 'LEAVING',
  DONE: 'DONE',
} as const
export type LinkState = (typeof LinkState)[keyof typeof LinkState]

const CONNECT_TIMEOUT_MS = 10_000
/** How long leaving waits for the server to close its side before closing anyway. */
const LEAVE_TIMEOUT_MS = 5_000

export class TerminalLink {
  state: LinkState = LinkState.CONNECTING
  private readonly loop = new EventLoop()
  private readonly conn: Connection
  private readonly stdin = new StreamReader(process.stdin)
  /** Opened once connected: a terminal stays in its usual mode (Ctrl-C works) while connecting. */
  private terminal: Terminal | null = null
  private out: Buffer[] = []
  private events = EVENT_READ | EVENT_WRITE
  private timer: TimerHandle | null = null
  private exitCode = 0

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly behaviour: LinkBehaviour,
    private readonly tls: TlsClientOptions | null = null,
  ) {
    this.conn = tls ? TlsConnection.connect(host, port, tls) : Connection.connect(host, port)
  }

  /** Runs until done; resolves with the exit status (0 left cleanly, 1 failed). */
  async run(): Promise<number> {
    this.loop.register(this.conn, this.events, this.onSocket)
    this.timer = this.loop.callLater(CONNECT_TIMEOUT_MS, () => this.finish(1, `cannot connect to ${this.where}: timed out`))
    await this.loop.run()
    return this.exitCode
  }

  get where(): string {
    return `${this.host}:${this.port}`
  }

  /** Queues one line for the server. */
  send(text: string): void {
    if (this.state !== LinkState.CONNECTED) return
    this.out.push(Buffer.from(text + '\n', 'utf8'))
    this.flush()
  }

  /** Shows what the server sent (on a terminal, above the line being typed). */
  print(data: Buffer): void {
    if (this.terminal) this.terminal.show(data)
    else process.stdout.write(data)
  }

  /** The standing prompt (on a terminal; pipes show none). */
  setPrompt(text: string): void {
    this.terminal?.setPrompt(text)
  }

  /** Asks the user something: the prompt on a terminal, printed once on a pipe. */
  ask(question: string): void {
    this.terminal?.ask(question)
  }

  /** Leaves cleanly: no more input; flush, half-close, wait for the server to close. */
  leave(): void {
    if (this.state !== LinkState.CONNECTED) return
    this.state = LinkState.LEAVING
    this.stopInput()
    this.timer = this.loop.callLater(LEAVE_TIMEOUT_MS, () => this.finish(0))
    this.flush()
  }

  /** The socket's callback: one step of the state machine. */
  private readonly onSocket = (conn: Connection, mask: number): void => {
    switch (this.state) {
      case LinkState.CONNECTING: {
        const err = conn.getError()
        if (err) return this.finish(1, `cannot connect to ${this.where}: ${describe(err)}`)
        if (mask & EVENT_WRITE) {
          this.state = LinkState.CONNECTED
          this.timer?.cancel()
          this.terminal = openTerminal({
            onLine: this.onTypedLine,
            onEnd: this.onTypingEnd,
            onOverflow: this.onTypingOverflow,
          })
          this.loop.register(this.stdin, EVENT_READ, this.onStdin)
          if (conn instanceof TlsConnection) process.stderr.write(this.describeTls(conn))
          this.behaviour.onConnected(this)
          this.flush()
        }
        return
      }
      case LinkState.CONNECTED:
      case LinkState.LEAVING:
        if (mask & EVENT_READ) this.receive()
        if (mask & EVENT_WRITE && (this.state as LinkState) !== LinkState.DONE) this.flush() // receive() may have finished
        return
      case LinkState.DONE:
        return
    }
  }

  private receive(): void {
    let data: Buffer | null
    try {
      data = this.conn.recv()
    } catch (err) {
      // While leaving, a reset is just an abrupt end of a connection we were closing anyway.
      if (this.state === LinkState.LEAVING) return this.finish(0)
      return this.finish(1, `connection to ${this.where} lost: ${describe(err as Error)}`)
    }
    if (data === null) return
    if (data.length > 0) return this.behaviour.onReceived(this, data)
    if (this.state === LinkState.LEAVING) return this.finish(0)
    this.finish(1, 'server closed the connection')
  }

  /** The line that says how the connection is secured, and whether the certificate was verified. */
  private describeTls(conn: TlsConnection): string {
    const verified = this.tls?.rejectUnauthorized === false
      ? 'NOT verified (--insecure): compare it with the fingerprint the server printed'
      : 'verified'
    return `tls: ${conn.protocol}, server certificate SHA-256 ${conn.peerFingerprint ?? '(none)'}, ${verified}\n`
  }

  /** Sends what is queued; in LEAVING, half-closes once all of it is out. Interest follows the queue. */
  private flush(): void {
    if (this.state === LinkState.CONNECTING || this.state === LinkState.DONE) return
    try {
      while (this.out.length > 0) {
        const head = this.out[0]
        const sent = this.conn.send(head)
        if (sent < head.length) {
          this.out[0] = head.subarray(sent)
          break
        }
        this.out.shift()
      }
    } catch (err) {
      return this.finish(1, `connection to ${this.where} lost: ${describe(err as Error)}`)
    }
    if (this.state === LinkState.LEAVING && this.out.length === 0) this.conn.shutdown()
    const events = EVENT_READ | (this.out.length > 0 ? EVENT_WRITE : 0)
    if (events !== this.events) {
      this.events = events
      this.loop.modify(this.conn, events)
    }
  }

  /** stdin's callback: its bytes go to the terminal, which hands back lines. */
  private readonly onStdin = (reader: StreamReader): void => {
    let data: Buffer | null
    try {
      data = reader.recv()
    } catch {
      data = Buffer.alloc(0)
    }
    if (data === null) return
    if (data.length === 0) this.terminal?.end()
    else this.terminal?.feed(data)
  }

  private readonly onTypedLine = (line: string): void => {
    if (this.state === LinkState.CONNECTED) this.behaviour.onLine(this, line)
  }

  private readonly onTypingEnd = (): void => {
    this.stopInput()
    if (this.state === LinkState.CONNECTED) this.behaviour.onInputEnd(this)
  }

  private readonly onTypingOverflow = (limit: number): void => {
    process.stderr.write(`input line too long (over ${limit} bytes); leaving\n`)
    this.leave()
  }

  /** No more input: stdin leaves the loop, and a terminal goes back to its usual mode. */
  private stopInput(): void {
    if (this.loop.isRegistered(this.stdin)) this.loop.unregister(this.stdin)
    this.stdin.close()
    this.terminal?.close()
  }

  private finish(code: number, message?: string): void {
    if (this.state === LinkState.DONE) return
    this.state = LinkState.DONE
    this.exitCode = code
    this.timer?.cancel()
    this.stopInput() // first: a terminal's input line is erased before the message
    if (message) process.stderr.write(message + '\n')
    if (this.loop.isRegistered(this.conn)) this.loop.unregister(this.conn)
    this.conn.close()
    this.loop.stop()
  }
}

function describe(err: Error): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ECONNREFUSED':
      return 'connection refused'
    case 'ECONNRESET':
      return 'connection reset'
    case 'EPIPE':
      return 'broken pipe'
    case 'ETIMEDOUT':
      return 'timed out'
    case 'EHOSTUNREACH':
      return 'host unreachable'
    case 'ENETUNREACH':
      return 'network unreachable'
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'unknown host'
    default:
      return describeClientTlsError(err) ?? err.message
  }
}
