// A non-blocking TLS connection: Connection's calls over a TLS socket (tls-socket.ts), with the
// semantics Python's `ssl` documents for non-blocking sockets, made level-triggered:
//
//   - not writable until the handshake is done (Python: SSLWantWriteError/SSLWantReadError from
//     do_handshake until then; here the handshake runs by itself and completion is WRITE
//     readiness, as a TCP connect's is);
//   - READ while decrypted bytes wait (Python's pending()), not only when ciphertext arrives:
//     recv() takes from the decrypted bytes, so a record that held more than one recv() asked for
//     keeps the connection readable with no new byte from the network;
//   - a failed handshake (a plaintext client, garbage, a certificate that does not verify, a
//     timeout) or a bad record afterwards is this connection's error: READ and WRITE ready,
//     available from getError(), thrown by recv()/send(); the socket is gone. Never a crash.
//
// shutdown() sends close_notify and FIN (TLS 1.3 lets the other direction go on: a half-close);
// close() delivers what send() accepted, then closes; reset() resets the TCP connection beneath.
import type net from 'node:net'
import type tls from 'node:tls'
import { Connection, type ConnectionOptions } from './connection.js'
import { clientTlsSocket, resetBeneath, serverTlsSocket, type TlsClientOptions, type TlsServerOptions } from './tls-socket.js'

export class TlsConnection extends Connection {
  declare readonly socket: tls.TLSSocket & net.Socket
  private readonly tcp: net.Socket
  private secured = false

  private constructor(socket: tls.TLSSocket, tcp: net.Socket, upEvent: 'secure' | 'secureConnect', options: ConnectionOptions) {
    super(socket, options, upEvent)
    this.tcp = tcp
    socket.once(upEvent, () => (this.secured = true))
  }

  /**
   * The server side over an accepted TCP socket (Listener.accept() does this when it listens with
   * TLS options). The handshake starts at once; it must finish within the handshake timeout.
   */
  static accept(tcp: net.Socket, tlsOptions: TlsServerOptions, options: ConnectionOptions = {}): TlsConnection {
    return new TlsConnection(serverTlsSocket(tcp, tlsOptions), tcp, 'secure', options)
  }

  /**
   * Starts a non-blocking connect and handshake, and returns at once. WRITE readiness comes when
   * the handshake is done and the server's certificate verified; a refused connection, a failed
   * handshake or a certificate that does not verify makes it ready for READ and WRITE with the
   * error in getError() (e.g. code DEPTH_ZERO_SELF_SIGNED_CERT, ERR_SSL_WRONG_VERSION_NUMBER).
   */
  static override connect(host: string, port: number, options: TlsClientOptions & ConnectionOptions = {}): TlsConnection {
    const { ca, rejectUnauthorized, servername, handshakeTimeoutMs, ...connectionOptions } = options
    const { socket, tcp } = clientTlsSocket(host, port, { ca, rejectUnauthorized, servername, handshakeTimeoutMs })
    return new TlsConnection(socket, tcp, 'secureConnect', connectionOptions)
  }

  /** True once the handshake is done (and, on a client, the server's certificate verified). */
  get handshakeDone(): boolean {
    return this.secured
  }

  /** Decrypted bytes waiting for recv() (Python's SSLSocket.pending()). */
  pending(): number {
    return this.bufferedBytes
  }

  /** The negotiated protocol ('TLSv1.3', ...), or null before the handshake is done. */
  get protocol(): string | null {
    return this.secured ? this.socket.getProtocol() : null
  }

  /** The peer's certificate's SHA-256 fingerprint (AA:BB:...), or null (none, or not yet). */
  get peerFingerprint(): string | null {
    // An empty object when there is none (a server's view of a client without a certificate).
    return this.socket.getPeerCertificate().fingerprint256 ?? null
  }

  /** A reset is the TCP connection's: TLSSocket.resetAndDestroy() does not work on a TLS handle. */
  protected override abort(): void {
    resetBeneath(this.socket, this.tcp)
  }
}
