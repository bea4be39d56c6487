// How the soak's clients connect: plain TCP, or TLS with `soak --tls` (the servers then speak TLS
// with one certificate made for the run, which the clients verify). Every client socket of the
// soak is made here, so the echo churn, the chat pool and the hostile clients run over TLS alike.
// One soak process runs one transport: it is chosen once, before any client starts (useTls).
import net from 'node:net'
import tls from 'node:tls'
import { resetBeneath } from '../../reactor/index.js'

let tlsOptions: tls.ConnectionOptions | null = null

/** From now on, clients connect with TLS and these options (whom to trust). */
export function useTls(options: tls.ConnectionOptions): void {
  tlsOptions = options
}

/**
 * Starts a connection to host:port and returns its socket at once, with the event that says it is
 * up: 'connect', or 'secureConnect' once the TLS handshake is done and the certificate verified.
 * A TLS socket reads and writes plaintext; end() sends close_notify then FIN; resetAndDestroy()
 * resets the TCP connection beneath (Node's own throws for a TLS socket).
 */
export function dial(host: string, port: number, allowHalfOpen = true): { socket: net.Socket; up: 'connect' | 'secureConnect' } {
  const tcp = new net.Socket({ allowHalfOpen })
  tcp.connect(port, host)
  if (!tlsOptions) return { socket: tcp, up: 'connect' }
  tcp.on('error', () => {}) // reported by the TLS socket above it
  const socket = tls.connect({ ...tlsOptions, socket: tcp, host })
  socket.resetAndDestroy = function resetAndDestroy() {
    resetBeneath(socket, tcp)
    return socket
  }
  return { socket, up: 'secureConnect' }
}
