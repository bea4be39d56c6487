// The echo server's options, shared by every model.
import type { ServerObserver } from '../observer.js'
import type { TlsServerConfig } from '../tls/options.js'

export const ECHO_MODELS = ['selector', 'threads', 'net'] as const
export type EchoModel = (typeof ECHO_MODELS)[number]

export interface EchoOptions {
  host: string
  port: number
  backlog: number
  /** Log connects and disconnects (with the active count) on stderr. */
  verbose: boolean
  /** --trace: the command line attaches a Tracer (lib/trace.ts) as the server's observer. */
  trace: boolean
  /** threads model: live threads at most; clients beyond it are told so and closed. */
  maxThreads: number
  /** threads model: threads started up front and kept parked for reuse. */
  pool: number
  /** How long a graceful stop waits for connections to finish before closing them. */
  shutdownGraceMs: number
  /** Connections served at once; more are refused (closed at once, logged). */
  maxConnections: number
  /** Close a connection that has sent nothing for this long; 0 = never. */
  idleTimeoutMs: number
  /** Speak TLS (--tls): the certificate and handshake bound; null for plain TCP. */
  tls: TlsServerConfig | null
  /** Who watches the server (the web console): told of connections, states, reads and writes. */
  observer?: ServerObserver | null
}

export const ECHO_DEFAULTS: EchoOptions = {
  host: '127.0.0.1',
  port: 8080,
  backlog: 511,
  verbose: true,
  trace: false,
  shutdownGraceMs: 2000,
  maxConnections: 20_000,
  idleTimeoutMs: 0,
  // ~8 MB per thread and a process abort near 1,800 threads: 256 leaves a wide margin, fits the
  // 200-client tests, and on a 2-core machine more runnable threads only add context switches.
  maxThreads: 256,
  // 0: the pure model, a thread started per connection and ended with it (~30 ms start-up each).
  pool: 0,
  tls: null,
}
