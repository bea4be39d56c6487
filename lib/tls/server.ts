// A listening server for the models that take Node sockets as they come (the threads models): a
// plain net.Server, or, with TLS, one whose sockets are handed over once their handshake is done.
// The socket handed over is a TLS socket that behaves as a TCP one to its user (the threads host
// pumps it unchanged): reading and writing carry plaintext, end() half-closes, resetAndDestroy()
// resets the TCP connection beneath.
import net from 'node:net'
import { serverTlsSocket } from '../../reactor/index.js'
import { RateLimitedLog } from '../log.js'
import { describeServerTlsError } from './errors.js'
import type { TlsServerConfig } from './options.js'

/**
 * net.createServer({ allowHalfOpen, noDelay }, onSocket), or its TLS twin: each accepted
 * connection is wrapped, its handshake bounded by the handshake timeout; onSocket gets it when
 * the handshake is done. A failed handshake is logged (rate-limited) and costs nothing else.
 * Handshakes under way are at most `maxHandshakes` (the server's connection cap: they are not
 * counted by it until they are done); a connection beyond that is closed at once, so a flood of
 * clients that never finish their handshake holds neither more descriptors nor more memory.
 */
export function createStreamServer(tls: TlsServerConfig | null, onSocket: (socket: net.Socket) => void, maxHandshakes = Infinity): net.Server {
  if (!tls) return net.createServer({ allowHalfOpen: true, noDelay: true }, onSocket)
  const failures = new RateLimitedLog()
  const refusals = new RateLimitedLog()
  let handshaking = 0
  return net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, tcp => {
    const peer = `${tcp.remoteAddress}:${tcp.remotePort}`
    if (handshaking >= maxHandshakes) {
      refusals.log(`refused ${peer}: ${handshaking} TLS handshakes already under way`)
      tcp.destroy()
      return
    }
    handshaking++
    const socket = serverTlsSocket(tcp, tls)
    let counted = true
    const handshakeOver = () => {
      if (counted) handshaking--
      counted = false
    }
    socket.once('close', handshakeOver)
    let failed = false
    const onHandshakeError = (err: NodeJS.ErrnoException) => {
      failed = true
      failures.log(`${peer}: ${handshakeFailure(err)}`)
    }
    // Closed with no error: the client hung up halfway (as tls.Server says, 'socket hang up').
    const onHandshakeClose = () => failed || failures.log(`${peer}: ${HANDSHAKE_ABANDONED}`)
    socket.once('error', onHandshakeError)
    socket.once('close', onHandshakeClose)
    socket.once('secure', () => {
      handshakeOver()
      socket.off('close', handshakeOver)
      socket.off('error', onHandshakeError)
      socket.off('close', onHandshakeClose)
      onSocket(socket)
    })
  })
}

/** The log line's reason for a client that closed its connection before its handshake was done. */
export const HANDSHAKE_ABANDONED = 'TLS handshake not finished: the client closed the connection'

/** The log line's reason for a handshake that failed. */
export function handshakeFailure(err: NodeJS.ErrnoException): string {
  return `TLS handshake failed: ${describeServerTlsError(err) ?? err.code ?? err.message}`
}
