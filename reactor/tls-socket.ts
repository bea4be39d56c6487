// Node's TLSSocket made fit to stand under a connection, on either side:
//
//   serverTlsSocket(tcp, options)   wraps an accepted TCP socket (paused by pauseOnConnect); the
//                                   handshake starts when it is read; 'secure' says it is done.
//   clientTlsSocket(host, port, o)  connects and verifies the server; 'secureConnect' says done.
//
// Both bound the handshake (a peer that stops halfway costs at most handshakeTimeoutMs) and make
// every TLS error fatal: OpenSSL cannot go on after a bad record or a fatal alert, but Node's
// TLSSocket only emits the error and leaves the socket open (destroying it is the owner's job).
// The socket is destroyed with the error, so its owner sees 'error' then 'close', as with TCP.
//
// These are the same sockets whatever runs them: the reactor's TlsConnection, or the threads
// model's host, which pumps a TLS socket as it pumps a TCP one.
import net from 'node:net'
import tls from 'node:tls'
import { systemError } from './errors.js'

/** What a listening side needs: its certificate and key (a SecureContext) and the handshake bound. */
export interface TlsServerOptions {
  secureContext: tls.SecureContext
  /** A client that has not finished its handshake by then is closed (default 10 s; 0 or Infinity: never). */
  handshakeTimeoutMs?: number
}

/** What a connecting side needs: whom to trust, and the handshake bound. */
export interface TlsClientOptions {
  /** Certificates to trust (PEM), instead of the system's roots. */
  ca?: string | Buffer | Array<string | Buffer>
  /** false accepts any certificate (--insecure); default true: verify chain and name. */
  rejectUnauthorized?: boolean
  /** The name to ask for (SNI) and check the certificate against; default the host, unless it is an IP address. */
  servername?: string
  handshakeTimeoutMs?: number
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000

/**
 * The server side of a TLS connection over an accepted TCP socket. Its resetAndDestroy() works
 * (Node's throws ERR_INVALID_HANDLE_TYPE for TLS sockets: their handle is the TLS layer, not the
 * TCP handle): it resets the TCP connection beneath.
 */
export class ServerTlsSocket extends tls.TLSSocket {
  constructor(
    readonly tcp: net.Socket,
    options: TlsServerOptions,
  ) {
    super(tcp, { isServer: true, secureContext: options.secureContext })
    // A server-side TLSSocket made outside tls.Server keeps its errors to itself after the
    // handshake (they go to an internal '_tlsError' event that tls.Server listens to, until it
    // "releases control" on 'secure'): released at once here, every error is an 'error' event.
    ;(this as unknown as { _releaseControl(): boolean })._releaseControl()
    makeErrorsFatal(this)
    boundHandshake(this, 'secure', options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS)
  }

  override resetAndDestroy(): this {
    resetBeneath(this, this.tcp)
    return this
  }
}

/**
 * Destroys a TLS socket and resets the TCP connection beneath it (RST, not FIN). The TCP socket is
 * closed by the TLS layer's own close, with the flag net.Socket.resetAndDestroy() itself sets:
 * resetting the TCP socket directly, from within a TLS callback ('secure', 'data'), crashes Node
 * 20 (a segmentation fault: the TLS layer still uses the handle).
 */
export function resetBeneath(socket: tls.TLSSocket, tcp: net.Socket): void {
  if (!tcp.destroyed) (tcp as net.Socket & { resetAndClosing?: boolean }).resetAndClosing = true
  socket.destroy()
}

/** Wraps an accepted TCP socket as the server side of a TLS connection (see ServerTlsSocket). */
export function serverTlsSocket(tcp: net.Socket, options: TlsServerOptions): ServerTlsSocket {
  return new ServerTlsSocket(tcp, options)
}

/**
 * Connects to host:port and starts the handshake; returns the TLS socket and the TCP socket
 * beneath it (to reset it: see ServerTlsSocket). 'secureConnect' comes once the server's
 * certificate has been verified; a refused connection, a failed handshake or a certificate that
 * does not verify is an 'error'.
 */
export function clientTlsSocket(host: string, port: number, options: TlsClientOptions = {}): { socket: tls.TLSSocket; tcp: net.Socket } {
  const tcp = new net.Socket({ allowHalfOpen: true })
  tcp.connect({ host, port })
  const servername = options.servername ?? (net.isIP(host) ? undefined : host)
  const socket = tls.connect({
    socket: tcp,
    host, // what the certificate is checked against (its name, or an IP address in subjectAltName)
    servername,
    ca: options.ca,
    rejectUnauthorized: options.rejectUnauthorized ?? true,
  })
  makeErrorsFatal(socket)
  boundHandshake(socket, 'secureConnect', options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS)
  return { socket, tcp }
}

function makeErrorsFatal(socket: tls.TLSSocket): void {
  socket.on('error', destroyOnError)
}

/** The error is already being emitted (to the owner's listener too): destroy without re-emitting it. */
function destroyOnError(this: tls.TLSSocket): void {
  if (!this.destroyed) this.destroy()
}

const kHandshakeTimer = Symbol('selectloop.handshakeTimer')
type TimedSocket = tls.TLSSocket & { [kHandshakeTimer]?: NodeJS.Timeout }

/** Destroys `socket` with ERR_TLS_HANDSHAKE_TIMEOUT unless `doneEvent` comes within `ms` (0 or Infinity: no bound). */
function boundHandshake(socket: TimedSocket, doneEvent: string, ms: number): void {
  if (!(ms > 0) || !Number.isFinite(ms)) return
  socket[kHandshakeTimer] = setTimeout(onHandshakeTimeout, ms, socket, ms).unref()
  socket.once(doneEvent, clearHandshakeTimer)
  socket.once('close', clearHandshakeTimer)
}

function onHandshakeTimeout(socket: TimedSocket, ms: number): void {
  socket[kHandshakeTimer] = undefined
  socket.destroy(systemError('ERR_TLS_HANDSHAKE_TIMEOUT', `TLS handshake not done after ${ms / 1000} s`))
}

function clearHandshakeTimer(this: TimedSocket): void {
  clearTimeout(this[kHandshakeTimer])
  this[kHandshakeTimer] = undefined
}
