// A non-blocking listening socket: Node accepts connections itself (libuv's own loop), so they are
// queued here, paused (pauseOnConnect), until the program calls accept() — the user-space twin of
// the kernel's accept queue. READ readiness ⇔ the queue is not empty (or an accept error is pending).
//
// A connection reset by its peer while it waited is skipped by accept(), as BSD's accept() and
// libuv skip ECONNABORTED: there is nobody left to serve, and it has no address to log (the kernel
// has closed it, so getpeername fails). So, as with a real accept(2), READ readiness can end in an
// accept() that returns null.
//
// Given TLS options, it hands out TlsConnections: each accepted socket is wrapped at accept(), its
// handshake runs from then on (bounded by the handshake timeout) and completes as WRITE readiness.
import net from 'node:net'
import { Connection, type ConnectionOptions } from './connection.js'
import { EVENT_READ, Selectable } from './selectable.js'
import { TlsConnection } from './tls-connection.js'
import type { TlsServerOptions } from './tls-socket.js'

export interface ListenOptions extends ConnectionOptions {
  host?: string
  port?: number
  /**
   * Connections that may wait for accept(). Beyond it new ones are reset at once, as a full kernel
   * backlog drops them, so a program that stops accepting cannot make this queue grow unbounded.
   */
  backlog?: number
  /** Speak TLS: accept() returns TlsConnections with this certificate and handshake bound. */
  tls?: TlsServerOptions
}

export class Listener extends Selectable {
  private readonly queue: net.Socket[] = []
  private error: Error | null = null
  private isClosed = false
  /** Connections reset because the accept queue was full. */
  dropped = 0
  /** Connections reset by their peer before accept() took them (skipped by accept()). */
  aborted = 0

  private constructor(
    readonly server: net.Server,
    private readonly backlog: number,
    private readonly connectionOptions: ConnectionOptions,
    private readonly tls: TlsServerOptions | undefined,
  ) {
    super()
    server.on('connection', socket => this.enqueue(socket))
    // After listening, errors are accept errors (EMFILE when out of descriptors, ...): reported
    // through accept(), while the server keeps listening.
    server.on('error', err => {
      this.error = err
      this.changed()
    })
  }

  /**
   * Binds and listens; resolves with the Listener once listening. Rejects with the bind error
   * (EADDRINUSE, EADDRNOTAVAIL, EACCES, ...).
   */
  static listen(options: ListenOptions = {}): Promise<Listener> {
    const { host = '127.0.0.1', port = 0, backlog = 511, tls, ...connectionOptions } = options
    const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true })
    return new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host, port, backlog }, () => {
        server.off('error', reject)
        resolve(new Listener(server, backlog, connectionOptions, tls))
      })
    })
  }

  /** The bound address; with port 0, the port the system chose. */
  address(): { host: string; port: number } {
    const a = this.server.address() as net.AddressInfo
    return { host: a.address, port: a.port }
  }

  readiness(): number {
    if (this.isClosed) return 0
    return this.queue.length > 0 || this.error ? EVENT_READ : 0
  }

  get closed(): boolean {
    return this.isClosed
  }

  /** Connections waiting for accept(). */
  get queued(): number {
    return this.queue.length
  }

  /**
   * Returns the next connection (a TlsConnection when listening with TLS options, its handshake
   * under way), or null when none is waiting (would block). Connections reset
   * while they waited are skipped and counted in `aborted`. Throws a pending accept error once
   * (EMFILE, ...).
   */
  accept(): Connection | null {
    if (this.error) {
      const err = this.error
      this.error = null
      throw err
    }
    for (let socket = this.queue.shift(); socket; socket = this.queue.shift()) {
      // remoteAddress is getpeername(2): undefined once the kernel has closed the connection.
      if (socket.destroyed || socket.remoteAddress === undefined) {
        this.aborted++
        socket.destroy()
        continue
      }
      socket.off('error', ignoreQueuedError)
      if (this.tls) return TlsConnection.accept(socket, this.tls, this.connectionOptions)
      return new Connection(socket, this.connectionOptions)
    }
    return null
  }

  /** Stops listening and resets connections still waiting for accept(). Idempotent. */
  close(): void {
    if (this.isClosed) return
    this.isClosed = true
    this.server.close()
    for (const socket of this.queue.splice(0)) socket.destroy()
    this.changed()
  }

  private enqueue(socket: net.Socket): void {
    if (this.isClosed || this.queue.length >= this.backlog) {
      this.dropped++
      socket.on('error', ignoreQueuedError)
      socket.resetAndDestroy()
      return
    }
    // A queued socket can fail before it is accepted; without a listener that would crash.
    socket.on('error', ignoreQueuedError)
    this.queue.push(socket)
    if (this.queue.length === 1) this.changed()
  }
}

function ignoreQueuedError(): void {}
