// A non-blocking TCP connection over a Node net.Socket, with the calls of a Python socket in
// non-blocking mode: recv() returns null where Python raises BlockingIOError, send() returns 0.
//
// Readiness (computed when select() runs, from the flags Node's events flip):
//   READ   bytes buffered, EOF seen, or an error pending;
//   WRITE  connected, not shut down, and Node's write buffer below our send limit;
//   an error (or a hang-up) makes it ready for both, as POLLERR/POLLHUP do.
//
// Bytes arrive by one of two paths (read-path.ts): straight into a shared buffer, copied at once
// into this connection's ReceiveBuffer ('onread'), or through the socket's 'data' events.
import net from 'node:net'
import { systemError } from './errors.js'
import { READ_SIZE, readsIntoShared, socketReadOptions } from './read-path.js'
import { ReceiveBuffer } from './receive-buffer.js'
import { EVENT_READ, EVENT_WRITE, Selectable } from './selectable.js'

export interface ConnectionOptions {
  /** Read-side bound: reading from the peer pauses while this many bytes wait for recv(). */
  receiveBufferSize?: number
  /**
   * Write-side bound: WRITE readiness ends, and send() accepts no more, while Node's write buffer
   * holds this many bytes. Never below the socket's own writableHighWaterMark (see sendLimit).
   */
  sendBufferSize?: number
  /** How long close() waits for pending output to be flushed before resetting the connection. */
  lingerMs?: number
}

const DEFAULT_RECEIVE_BUFFER = 64 * 1024
const DEFAULT_SEND_BUFFER = 64 * 1024
const DEFAULT_LINGER_MS = 10_000

const kConnection = Symbol('selectloop.connection')
type OwnedSocket = net.Socket & { [kConnection]?: Connection }

export class Connection extends Selectable {
  readonly socket: OwnedSocket
  readonly remoteAddress: string
  readonly remotePort: number
  private readonly input: ReceiveBuffer
  private readonly sendLimit: number
  private readonly lingerMs: number
  private connected: boolean
  private writeShut = false
  /** The socket is gone without us closing it (peer reset, error, destroyed). */
  private hungUp = false
  private isClosed = false

  /**
   * Wraps a socket: an accepted one (already connected, paused by pauseOnConnect) or one that is
   * connecting (see Connection.connect). Reading starts at once, up to the receive bound.
   * `upEvent` names the event after which the connection is up, for a socket that is not up yet
   * in a sense of its own: TLS (tls-connection.ts) passes 'secure' or 'secureConnect', so that it
   * is not writable before its handshake is done.
   */
  constructor(socket: net.Socket, options: ConnectionOptions = {}, upEvent?: string) {
    super()
    this.socket = socket as OwnedSocket
    this.socket[kConnection] = this
    this.input = new ReceiveBuffer(socket, options.receiveBufferSize ?? DEFAULT_RECEIVE_BUFFER)
    // Node emits 'drain' only after a write() that returned false, i.e. once its buffer reached
    // writableHighWaterMark; a lower limit of ours could become writable again with no event.
    this.sendLimit = Math.max(options.sendBufferSize ?? DEFAULT_SEND_BUFFER, socket.writableHighWaterMark)
    this.lingerMs = options.lingerMs ?? DEFAULT_LINGER_MS
    this.connected = upEvent === undefined && !socket.connecting && !socket.pending
    this.remoteAddress = socket.remoteAddress ?? ''
    this.remotePort = socket.remotePort ?? 0
    if (!readsIntoShared(socket, onRead)) socket.on('data', onData)
    socket.on('end', onEnd)
    socket.on('drain', onDrain)
    socket.on('error', onError)
    socket.on('close', onClose)
    if (!this.connected) socket.once(upEvent ?? 'connect', onConnect)
    if (socket.destroyed) {
      // Wrapped after it was already gone (Listener.accept() skips these; other callers may not).
      this.hungUp = true
      this.input.eof = true
      if (socket.errored) this.input.error = socket.errored
    } else {
      socket.setNoDelay(true)
      socket.resume()
    }
  }

  /**
   * Starts a non-blocking connect (Python's connect_ex → EINPROGRESS) and returns at once.
   * Completion is WRITE readiness; a failure makes the connection ready for READ and WRITE with
   * the error available from getError() and thrown by recv()/send().
   */
  static connect(host: string, port: number, options: ConnectionOptions = {}): Connection {
    const socket = net.connect({ host, port, allowHalfOpen: true, ...socketReadOptions(onRead) })
    return new Connection(socket, options)
  }

  readiness(): number {
    if (this.isClosed) return 0
    if (this.input.error || this.hungUp) return EVENT_READ | EVENT_WRITE
    let mask = this.input.readable ? EVENT_READ : 0
    if (this.connected && !this.writeShut && this.socket.writableLength < this.sendLimit) mask |= EVENT_WRITE
    return mask
  }

  get closed(): boolean {
    return this.isClosed
  }

  /** Bytes received and not yet returned by recv(). */
  get bufferedBytes(): number {
    return this.input.bytes
  }

  /** Bytes accepted by send() and not yet handed to the kernel. */
  get pendingOutput(): number {
    return this.socket.writableLength
  }

  /**
   * Returns the pending error without clearing it, or null (Python's getsockopt(SO_ERROR), which a
   * client calls after connect completes).
   */
  getError(): Error | null {
    return this.input.error
  }

  /**
   * Returns up to `max` bytes as a new Buffer; an empty Buffer at EOF (Python's b''); null if
   * nothing is buffered yet (would block). Throws the pending error once (ECONNRESET,
   * ECONNREFUSED, ...), and an EBADF error after close().
   */
  recv(max = READ_SIZE): Buffer | null {
    if (this.isClosed) throw systemError('EBADF', 'recv on a closed connection')
    return this.input.take(max)
  }

  /**
   * Python's recv_into: copies up to `into.length` bytes into `into` and returns how many; 0 at
   * EOF; null if nothing is buffered yet (would block). Errors as recv(). Nothing is allocated:
   * a server that reads every message into the same buffer makes no garbage per message.
   */
  recvInto(into: Uint8Array): number | null {
    if (this.isClosed) throw systemError('EBADF', 'recv on a closed connection')
    return this.input.takeInto(into)
  }

  /**
   * Offers `data` for sending and returns how many bytes were accepted: all of it, a prefix (a real
   * partial write, when the send buffer is nearly full), or 0 when it would block (full, or still
   * connecting). The accepted bytes are not copied: while pendingOutput is above 0 Node may still
   * read them, so do not change them then. With pendingOutput at 0 after the call, the kernel has
   * taken every byte and `data` may be reused at once (what Python's send always allows).
   * Throws the pending error; EPIPE after shutdown() or when the peer is gone; EBADF after close().
   */
  send(data: Uint8Array): number {
    if (this.isClosed) throw systemError('EBADF', 'send on a closed connection')
    if (this.input.error) {
      const err = this.input.error
      this.input.error = null
      this.input.eof = true
      throw err
    }
    if (this.writeShut) throw systemError('EPIPE', 'send after shutdown')
    if (this.hungUp) throw systemError('EPIPE', 'send on a connection the peer has closed')
    if (!this.connected || data.length === 0) return 0
    const room = this.sendLimit - this.socket.writableLength
    if (room <= 0) return 0
    if (data.length <= room) {
      this.socket.write(data)
      return data.length
    }
    this.socket.write(data.subarray(0, room))
    return room
  }

  /** Half-closes: sends FIN after everything accepted so far; reading goes on (shutdown(SHUT_WR)). */
  shutdown(): void {
    if (this.isClosed || this.writeShut) return
    this.writeShut = true
    if (!this.hungUp) this.socket.end()
    this.changed()
  }

  /**
   * Closes the connection. Output already accepted by send() is still delivered, as the kernel
   * does after close(2): the socket ends, then is destroyed once flushed, or after the linger time
   * if the peer never reads. Input still buffered is discarded. Idempotent.
   */
  close(): void {
    if (this.isClosed) return
    this.isClosed = true
    this.input.clear()
    const socket = this.socket
    if (socket.destroyed) return
    if (socket.writableLength === 0 || this.hungUp) {
      socket.destroy()
      return
    }
    socket.pause()
    socket.once('finish', () => socket.destroy())
    socket.end()
    setTimeout(() => socket.destroy(), this.lingerMs).unref()
  }

  /** Aborts the connection with a TCP RST, dropping pending output (SO_LINGER 0 then close). */
  reset(): void {
    if (this.isClosed) return
    this.isClosed = true
    this.input.clear()
    if (!this.socket.destroyed) this.abort()
  }

  /** Sends the RST and destroys the socket (TLS resets the TCP socket beneath its own). */
  protected abort(): void {
    this.socket.resetAndDestroy()
  }

  // Event handlers (module-level below) land here.
  /** @internal The first `length` bytes of `bytes` arrived (copied in: `bytes` may be the shared read buffer). */
  handleData(bytes: Buffer, length: number): void {
    if (this.isClosed) return
    this.input.push(bytes, length)
    this.changed()
  }
  /** @internal A 'data' event's chunk arrived: Node made it for us, so it is kept, not copied. */
  handleChunk(chunk: Buffer): void {
    if (this.isClosed) return
    this.input.adopt(chunk)
    this.changed()
  }
  /** @internal */ handleEnd(): void {
    this.input.eof = true
    this.changed()
  }
  /** @internal */ handleDrain(): void {
    this.changed()
  }
  /** @internal */ handleConnect(): void {
    this.connected = true
    this.changed()
  }
  /** @internal */ handleError(err: Error): void {
    if (!this.isClosed && !this.input.error) this.input.error = err
    this.changed()
  }
  /** @internal */ handleClose(): void {
    if (this.isClosed) return
    this.hungUp = true
    this.input.eof = true
    this.changed()
  }
}

// Named module-level handlers: `this` is the socket, whose Connection is one property away, so
// no closure is allocated per connection (the pattern of the ws library).
function onData(this: OwnedSocket, chunk: Buffer): void {
  this[kConnection]!.handleChunk(chunk)
}
function onRead(this: net.Socket, nread: number, buffer: Buffer): void {
  ;(this as OwnedSocket)[kConnection]!.handleData(buffer, nread)
}
function onEnd(this: OwnedSocket): void {
  this[kConnection]!.handleEnd()
}
function onDrain(this: OwnedSocket): void {
  this[kConnection]!.handleDrain()
}
function onConnect(this: OwnedSocket): void {
  this[kConnection]!.handleConnect()
}
function onError(this: OwnedSocket, err: Error): void {
  this[kConnection]!.handleError(err)
}
function onClose(this: OwnedSocket): void {
  this[kConnection]!.handleClose()
}
