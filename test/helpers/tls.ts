// TLS for tests: one certificate per test process (made as the servers make theirs, by
// lib/tls/certificate.ts, and written to a temporary directory for --cert/--key/--ca), and the
// TLS transport that runs the selector contract and the reactor helpers over TLS connections.
import net from 'node:net'
import tls from 'node:tls'
import { once } from 'node:events'
import { Listener, TlsConnection } from '../../reactor/index.js'
import { selfSignedCertificate, writeCertificateFiles, type ServerCertificate } from '../../lib/tls/certificate.js'
import type { Transport } from './reactor.js'

export interface TestCertificate extends ServerCertificate {
  certFile: string
  keyFile: string
}

let made: TestCertificate | null = null

/** A self-signed certificate for localhost/127.0.0.1, with its PEM files (removed when the process exits). */
export function testCertificate(): TestCertificate {
  if (made) return made
  const cert = selfSignedCertificate()
  made = { ...cert, ...writeCertificateFiles(cert) }
  return made
}

/** Server options for the reactor's Listener (and its handshake bound). */
export function serverTls(handshakeTimeoutMs?: number) {
  const c = testCertificate()
  return { secureContext: tls.createSecureContext({ cert: c.cert, key: c.key }), handshakeTimeoutMs }
}

/** The TCP socket beneath each tlsPeer(), to reset it. */
const tcpOf = new WeakMap<net.Socket, net.Socket>()

/** A Node TLS client socket to 127.0.0.1:port trusting the test certificate, once its handshake is done. */
export async function tlsPeer(port: number, options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  const tcp = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true })
  tcp.on('error', () => {})
  const peer = tls.connect({ socket: tcp, host: '127.0.0.1', ca: testCertificate().cert, ...options })
  peer.on('error', () => {})
  tcpOf.set(peer, tcp)
  await once(peer, 'secureConnect')
  return peer
}

/** Aborts a tlsPeer() with a TCP RST (a TLSSocket's own resetAndDestroy() throws: its handle is the TLS layer). */
export function resetTlsPeer(peer: net.Socket): void {
  tcpOf.get(peer)?.resetAndDestroy()
  peer.destroy()
}

export const tlsTransport: Transport = {
  name: 'TLS',
  listen: backlog => Listener.listen({ host: '127.0.0.1', port: 0, backlog, tls: serverTls() }),
  connect: port => TlsConnection.connect('127.0.0.1', port, { ca: testCertificate().cert }),
  peer: tlsPeer,
  resetPeer: resetTlsPeer,
  handshakes: true,
}
