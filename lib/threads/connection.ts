// The blocking, Python-style socket a handler thread sees: recv blocks until bytes or EOF,
// sendall blocks while the output ring is full. Underneath are the connection's two rings
// (in: socket → this thread, out: this thread → socket); the main thread owns the real socket.
import { FLAG_CLOSED, FLAG_RESET, ResetReason, type Ring } from './ring.js'

/** Python's ConnectionResetError: the peer reset the connection (or it died another way). */
export class ConnectionResetError extends Error {
  override name = 'ConnectionResetError'
}

/** Python's BrokenPipeError: writing to a connection whose peer stopped reading, or after shutdown. */
export class BrokenPipeError extends Error {
  override name = 'BrokenPipeError'
}

/** Python's socket.timeout (TimeoutError): nothing arrived within the time set by settimeout(). */
export class SocketTimeoutError extends Error {
  override name = 'TimeoutError'
}

/** Python's OSError on a closed socket: using a connection after close(). */
export class ClosedConnectionError extends Error {
  override name = 'ClosedConnectionError'
}

/** True for the errors that just mean "the connection went away" (not a bug in the handler). */
export function isDisconnect(err: unknown): boolean {
  return err instanceof ConnectionResetError || err instanceof BrokenPipeError
}

export interface ConnectionInfo {
  /** Unique per connection for the life of the server. */
  readonly id: number
  readonly slot: number
  readonly remoteAddress: string
  readonly remotePort: number
}

const EMPTY = Buffer.alloc(0)

function resetError(reason: ResetReason): Error {
  switch (reason) {
    case ResetReason.BROKEN_PIPE:
      return new BrokenPipeError('broken pipe: the peer stopped reading')
    case ResetReason.LOCAL_RESET:
      return new ConnectionResetError('connection reset by this server')
    case ResetReason.SHUTDOWN:
      return new ConnectionResetError('connection reset: the server is shutting down')
    case ResetReason.HANDLER_GONE:
      return new ConnectionResetError('connection reset: its thread died')
    default:
      return new ConnectionResetError('connection reset by peer')
  }
}

export class BlockingConnection implements ConnectionInfo {
  readonly id: number
  readonly slot: number
  readonly remoteAddress: string
  readonly remotePort: number
  private writeShut = false
  private closed = false
  private timeoutMs = Infinity

  constructor(
    /** Bytes from the socket (this thread consumes). */
    readonly inbound: Ring,
    /** Bytes to the socket (this thread produces). */
    readonly outbound: Ring,
    info: ConnectionInfo,
  ) {
    this.id = info.id
    this.slot = info.slot
    this.remoteAddress = info.remoteAddress
    this.remotePort = info.remotePort
  }

  /**
   * Python's settimeout: recv and recvInto give up with SocketTimeoutError when nothing has
   * arrived for `ms` (null: wait for ever, the default).
   */
  settimeout(ms: number | null): void {
    this.timeoutMs = ms === null || ms <= 0 ? Infinity : ms
  }

  /**
   * Up to `max` bytes as a new Buffer, blocking until at least one is there. An empty Buffer means
   * the peer closed its side (EOF), as Python's b''. Throws ConnectionResetError on a reset,
   * SocketTimeoutError when settimeout() is set and nothing arrives in time.
   */
  recv(max = 65536): Buffer {
    this.checkOpen()
    this.awaitInput()
    const n = Math.min(this.inbound.available(), max)
    if (n === 0) return EMPTY
    const buf = Buffer.allocUnsafe(n)
    this.inbound.readInto(buf)
    return buf
  }

  /** Python's recv_into: fills `buf` with what is there (blocking for at least one byte); 0 at EOF. */
  recvInto(buf: Uint8Array): number {
    this.checkOpen()
    if (buf.length === 0) return 0
    this.awaitInput()
    return this.inbound.readInto(buf)
  }

  /** Writes what fits, blocking until at least one byte does; returns the count (Python's send). */
  send(data: Uint8Array | string): number {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data
    this.checkWritable()
    if (bytes.length === 0) return 0
    for (;;) {
      const n = this.outbound.write(bytes)
      this.checkWritable()
      if (n > 0) return n
      this.outbound.waitWritable(bytes.length)
      this.checkWritable()
    }
  }

  /** Writes every byte, blocking while the output ring is full (Python's sendall). */
  sendall(data: Uint8Array | string): void {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data
    this.checkWritable()
    let done = this.outbound.write(bytes)
    while (done < bytes.length) {
      this.outbound.waitWritable(bytes.length - done)
      this.checkWritable()
      done += this.outbound.write(done === 0 ? bytes : bytes.subarray(done))
    }
  }

  /** Half-close (Python's shutdown(SHUT_WR)): the peer reads EOF after what was sent. */
  shutdown(): void {
    this.checkOpen()
    if (this.writeShut) return
    this.writeShut = true
    this.outbound.end()
  }

  /** Sends what was written, then FIN; input still arriving is discarded. Safe to call twice. */
  close(): void {
    if (this.closed) return
    if (!this.writeShut) {
      this.writeShut = true
      this.outbound.end()
    }
    this.inbound.closeReader()
    this.closed = true
  }

  /** Drops the connection with a TCP reset (RST), discarding unsent output. */
  reset(): void {
    if (this.closed) return
    this.outbound.abort(ResetReason.LOCAL_RESET)
    this.inbound.abort(ResetReason.LOCAL_RESET)
    this.closed = true
  }

  get isClosed(): boolean {
    return this.closed
  }

  private awaitInput(): void {
    if (!this.inbound.waitReadable(this.timeoutMs)) throw new SocketTimeoutError('timed out')
    if (this.inbound.flags() & FLAG_RESET && this.inbound.available() === 0) {
      throw resetError(this.inbound.resetReason())
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedConnectionError('connection is closed')
  }

  private checkWritable(): void {
    this.checkOpen()
    if (this.writeShut) throw new BrokenPipeError('cannot send after shutdown()')
    const flags = this.outbound.flags()
    if (flags & FLAG_RESET) throw resetError(this.outbound.resetReason())
    if (flags & FLAG_CLOSED) {
      // Output refused while the input was reset too (the server's grace ran out): say why.
      if (this.inbound.flags() & FLAG_RESET) throw resetError(this.inbound.resetReason())
      throw new BrokenPipeError('broken pipe: the connection is closed')
    }
  }
}
