// A client socket for the soak that reads the chat server's `\n`-terminated lines, and knows
// how it ended: the server's FIN, an error (reset), or our own doing.
import type net from 'node:net'
import { dial } from './dial.js'

export type Ending = { how: 'eof' } | { how: 'error'; code: string } | { how: 'ours' }

export class LineSocket {
  /** Called with each complete line's bytes (without `\n`). */
  onLine: (raw: Buffer) => void = () => {}
  /** Set once the connection has ended, and how. */
  ending: Ending | null = null
  readonly ended: Promise<Ending>
  private tail: Buffer | null = null
  private resolveEnded!: (e: Ending) => void

  private constructor(readonly socket: net.Socket) {
    this.ended = new Promise(resolve => (this.resolveEnded = resolve))
    socket.on('data', (d: Buffer) => this.split(d))
    socket.on('end', () => this.end({ how: 'eof' }))
    socket.on('error', (e: NodeJS.ErrnoException) => this.end({ how: 'error', code: e.code ?? e.message }))
    socket.on('close', () => this.end({ how: 'eof' }))
  }

  /** Connects; rejects with the connect error. */
  static connect(host: string, port: number): Promise<LineSocket> {
    return new Promise((resolve, reject) => {
      const { socket, up } = dial(host, port)
      socket.setNoDelay(true)
      const onError = (e: Error) => reject(e)
      socket.once('error', onError)
      socket.once(up, () => {
        socket.off('error', onError)
        resolve(new LineSocket(socket))
      })
    })
  }

  get open(): boolean {
    return this.ending === null
  }

  write(data: string | Buffer): void {
    if (this.open) this.socket.write(data)
  }

  /** Our FIN, once the server has closed its side (a polite client's close). */
  finish(): void {
    this.socket.end()
    this.socket.destroySoon()
  }

  /** RST: a crashed client. */
  reset(): void {
    this.end({ how: 'ours' })
    this.socket.resetAndDestroy()
  }

  destroy(): void {
    this.end({ how: 'ours' })
    this.socket.destroy()
  }

  /** Resolves with the first line (from now on) that `match` accepts, or null if the connection ends or time runs out. */
  waitForLine(match: (text: string) => boolean, timeoutMs: number): Promise<string | null> {
    return new Promise(resolve => {
      const previous = this.onLine
      const done = (result: string | null) => {
        clearTimeout(timer)
        this.onLine = previous
        resolve(result)
      }
      const timer = setTimeout(() => done(null), timeoutMs)
      this.onLine = raw => {
        previous(raw)
        const text = raw.toString('utf8')
        if (match(text)) done(text)
      }
      void this.ended.then(() => done(null))
    })
  }

  private split(data: Buffer): void {
    let buf = this.tail ? Buffer.concat([this.tail, data]) : data
    let start = 0
    for (let nl = buf.indexOf(10); nl !== -1; nl = buf.indexOf(10, start)) {
      this.onLine(buf.subarray(start, nl))
      start = nl + 1
    }
    // Bounded: a server that never sends `\n` would otherwise grow this without end.
    this.tail = start < buf.length ? Buffer.from(buf.subarray(start, Math.min(buf.length, start + 1024 * 1024))) : null
  }

  private end(e: Ending): void {
    if (this.ending) return
    this.ending = e
    this.resolveEnded(e)
  }
}
