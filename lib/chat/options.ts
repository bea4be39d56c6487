// The chat server's options, shared by every concurrency model.
import { BUS_DEFAULTS, type BusOptions } from './bus/options.js'
import type { ChatObserver } from './observed-roster.js'
import type { TlsServerConfig } from '../tls/options.js'

export const CHAT_MODELS = ['selector', 'threads'] as const
export type ChatModel = (typeof CHAT_MODELS)[number]

/** How a connection's bytes are cut into messages (see framing.ts). */
export const FRAMINGS = ['auto', 'line', 'chunk'] as const
export type Framing = (typeof FRAMINGS)[number]

export interface ChatOptions extends BusOptions {
  host: string
  port: number
  backlog: number
  framing: Framing
  /** Connections beyond this many are told the server is full and closed. */
  maxClients: number
  /** Longest message, in bytes, without its newline; longer → told why and closed. */
  maxLine: number
  /** Longest user name, in characters (code points). */
  maxName: number
  /** Bytes queued for one recipient beyond which it is dropped as not reading. */
  maxOutbuf: number
  /** Log connects, joins and leaves (with the active count) on stderr and the chat on stdout. */
  verbose: boolean
  /** --trace: the command line attaches a Tracer (lib/trace.ts) as the server's observer. */
  trace: boolean
  /** Read operator commands from stdin (off for servers run in the background). */
  console: boolean
  /** Flood control: bytes per second read from one client at most (a second's worth of burst); 0 = no limit. */
  maxRate: number
  /** Close a connection that has sent nothing for this long (told why); 0 = never. */
  idleTimeoutMs: number
  /** How long a graceful stop waits for goodbyes to be flushed before resetting connections. */
  shutdownGraceMs: number
  /** threads model: live threads at most; clients beyond it are told so and closed. */
  maxThreads: number
  /** threads model: threads started up front and kept parked for reuse. */
  pool: number
  /** Speak TLS (--tls): the certificate and handshake bound; null for plain TCP. */
  tls: TlsServerConfig | null
  /** Who watches the server (the web console): its connections and its room. */
  observer?: ChatObserver | null
}

export const CHAT_DEFAULTS: ChatOptions = {
  ...BUS_DEFAULTS,
  host: '127.0.0.1',
  port: 8070,
  backlog: 511,
  framing: 'auto',
  maxClients: 1000,
  maxLine: 4096,
  maxName: 32,
  maxOutbuf: 256 * 1024,
  verbose: true,
  trace: false,
  console: true,
  maxRate: 64 * 1024,
  idleTimeoutMs: 0,
  shutdownGraceMs: 2000,
  // As echo's: 256 threads fit the 200-client tests, far below the ~1,800 where the process aborts.
  maxThreads: 256,
  pool: 0,
  tls: null,
}
