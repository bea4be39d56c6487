// The `net` model: idiomatic Node, the baseline the reactor is measured against.
// Each connection pipes into itself: stream backpressure pauses reading while the peer
// is not reading its echoes, and with allowHalfOpen the echo of everything sent before
// the client's FIN is finished before our own FIN goes out (pipe ends the socket then).
// With --tls it is Node's own tls.createServer echo (the TLS baseline), the same pipe.
import net from 'node:net'
import tls from 'node:tls'
import { handshakeFailure } from '../tls/server.js'
import { RateLimitedLog, log } from '../log.js'
import type { ObservedConnection, ServerObserver } from '../observer.js'
import { listenNetServer, stoppableServer, type RunningServer } from '../server-lifecycle.js'
import type { EchoOptions } from './options.js'

export async function startNetEcho(options: EchoOptions): Promise<RunningServer> {
  const sockets = new Set<net.Socket>()
  const refusals = new RateLimitedLog()
  const onSocket = (socket: net.Socket): void => {
    if (socket.remoteAddress === undefined) {
      // Reset by its peer before Node accepted it (getpeername fails): nobody to serve or log,
      // as the reactor's Listener.accept() skips these.
      socket.destroy()
      return
    }
    if (sockets.size >= options.maxConnections) {
      refusals.log(`refused ${socket.remoteAddress}:${socket.remotePort}: connection limit (${options.maxConnections}) reached`)
      socket.destroy()
      return
    }
    sockets.add(socket)
    if (options.idleTimeoutMs > 0) {
      socket.setTimeout(options.idleTimeoutMs, () => socket.destroy())
    }
    if (options.verbose) log(`connect ${socket.remoteAddress}:${socket.remotePort} (${sockets.size} active)`)
    socket.on('error', () => socket.destroy())
    socket.on('close', () => {
      sockets.delete(socket)
      if (options.verbose) log(`disconnect ${socket.remoteAddress}:${socket.remotePort} (${sockets.size} active)`)
    })
    if (options.observer) observe(options.observer, socket)
    socket.pipe(socket)
  }
  const server = options.tls
    ? tls.createServer(
        {
          cert: options.tls.certificate.cert,
          key: options.tls.certificate.key,
          handshakeTimeout: options.tls.handshakeTimeoutMs,
          allowHalfOpen: true,
          noDelay: true,
        },
        onSocket,
      )
    : net.createServer({ allowHalfOpen: true, noDelay: true }, onSocket)
  if (options.tls) {
    // Handshakes under way count too (tls.Server gives us a socket only once its handshake is done).
    server.maxConnections = options.maxConnections
    const failures = new RateLimitedLog()
    // Given a listener, tls.Server leaves the socket to it: a handshake timeout is only reported.
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      failures.log(`${socket.remoteAddress}:${socket.remotePort}: ${handshakeFailure(err)}`)
      socket.destroy()
    })
  }
  const address = await listenNetServer(server, options)
  options.observer?.serverStarted({ protocol: 'echo', model: 'net', loop: null, operator: null, lock: null })
  // Stop accepting; every connection is echoed until its client half-closes, as the selector
  // model does (ending our side now would drop what the client has sent and we have not read
  // yet); whatever is still open after the grace time is closed.
  return stoppableServer(address, async () => {
    const closed = new Promise<void>(r => server.close(() => r()))
    const linger = setTimeout(() => sockets.forEach(s => s.destroy()), options.shutdownGraceMs)
    await closed
    clearTimeout(linger)
  })
}

let nextId = 1

/** A watched connection: its socket counts the bytes; its client's FIN starts the drain. */
function observe(observer: ServerObserver, socket: net.Socket): void {
  const seen: ObservedConnection = {
    id: nextId++,
    peer: `${socket.remoteAddress}:${socket.remotePort}`,
    queuedBytes: () => socket.writableLength,
    bytesIn: () => socket.bytesRead,
    bytesOut: () => socket.bytesWritten,
  }
  observer.connectionOpened(seen, null)
  observer.stateChanged(seen, 'OPEN')
  socket.once('end', () => observer.stateChanged(seen, 'DRAINING'))
  socket.once('close', hadError => observer.connectionClosed(seen, hadError ? 'connection reset' : 'closed'))
}
