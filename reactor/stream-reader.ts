// Any Node Readable (process.stdin, a pipe) as a selectable read-only file object, so a program can
// watch its terminal and its sockets in one selector, as Python registers sys.stdin.
import type { Readable } from 'node:stream'
import { systemError } from './errors.js'
import { ReceiveBuffer } from './receive-buffer.js'
import { EVENT_READ, Selectable } from './selectable.js'

export class StreamReader extends Selectable {
  private readonly input: ReceiveBuffer
  private isClosed = false

  constructor(
    readonly stream: Readable,
    options: { bufferSize?: number } = {},
  ) {
    super()
    this.input = new ReceiveBuffer(stream, options.bufferSize ?? 64 * 1024)
    stream.on('data', this.onData)
    stream.on('end', this.onEnd)
    stream.on('error', this.onError)
    stream.resume()
  }

  readiness(): number {
    return !this.isClosed && this.input.readable ? EVENT_READ : 0
  }

  get closed(): boolean {
    return this.isClosed
  }

  /** As Connection.recv: up to `max` bytes, empty at EOF, null when it would block. */
  recv(max = 65536): Buffer | null {
    if (this.isClosed) throw systemError('EBADF', 'recv on a closed stream')
    return this.input.take(max)
  }

  /** Stops reading the stream (it is not destroyed: process.stdin belongs to the process). */
  close(): void {
    if (this.isClosed) return
    this.isClosed = true
    this.input.clear()
    this.stream.off('data', this.onData)
    this.stream.off('end', this.onEnd)
    this.stream.off('error', this.onError)
    this.stream.pause()
  }

  private readonly onData = (chunk: Buffer | string): void => {
    this.input.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
    this.changed()
  }
  private readonly onEnd = (): void => {
    this.input.eof = true
    this.changed()
  }
  private readonly onError = (err: Error): void => {
    this.input.error = err
    this.changed()
  }
}
