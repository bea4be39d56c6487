// What a server tells whoever watches it: its connections as they open, change state, read,
// write and close, and, once it is up, what may be looked at and asked of it. The web console
// (lib/web/) is one such watcher; a tracer that prints could be another. Servers call these and
// know nothing of who listens. Nobody watching is `null`, and each call site is then one null
// check: no allocation, no clock read (the echo path is benchmarked).
//
// The loop's own events (registrations, interest changes, select rounds) are the reactor's
// (EventLoop.observe, reactor/loop.ts); the chat room's (who joined, what everyone was told) are
// the chat's (lib/chat/observed-roster.ts). Every call comes on the main thread, synchronously,
// in the middle of the server's work: an observer must be quick and must not throw.
import type { EventLoop, Selectable } from '../reactor/index.js'
import type { LockSample } from './threads/mutex.js'

/** A connection as a watcher sees it: usually the server's own per-connection object. */
export interface ObservedConnection {
  /** Unique for the life of the server (the chat's session serial). */
  readonly id: number
  /** "host:port" of the client. */
  readonly peer: string
  /** Bytes of output accepted from the protocol and not yet sent; cheap, read when the watcher samples. */
  queuedBytes(): number
  /**
   * Bytes received and sent so far, for models that do not report each read and write (their
   * socket counts them: bytesRead, bytesWritten). Absent: the watcher adds up received() and sent().
   */
  bytesIn?(): number
  bytesOut?(): number
}

export interface ServerObserver {
  /** The server is up (not yet accepting in the loop): what may be looked at and asked of it. */
  serverStarted(server: ObservedServer): void
  /** Accepted. `fileobj` is what the server registered in its loop (selector models), else null. */
  connectionOpened(c: ObservedConnection, fileobj: Selectable | null): void
  /** Its state machine moved (echo: EchoState; a threads connection: its phase). */
  stateChanged(c: ObservedConnection, state: string): void
  /** One read returned `bytes` bytes (> 0). */
  received(c: ObservedConnection, bytes: number): void
  /** One write took `sent` of the `offered` bytes: fewer is a partial send (the rest is queued). */
  sent(c: ObservedConnection, sent: number, offered: number): void
  /** Closed, and why ("closed", "connection reset", "dropped: not reading", ...). */
  connectionClosed(c: ObservedConnection, reason: string): void
  /**
   * threads model: a thread is now STARTING, PARKED, BUSY (serving `connectionId`), EXITING, or
   * EXITED (gone). Other models never call it.
   */
  threadChanged(threadId: number, state: string, connectionId: number | null): void
}

/** What a running server offers its watcher. */
export interface ObservedServer {
  readonly protocol: 'echo' | 'chat'
  readonly model: string
  /** The selector models' loop (watch it with loop.observe); null where Node's own loop does the work. */
  readonly loop: EventLoop | null
  /**
   * chat: carries out one line as the operator's console would (text to everyone, /who, /msg,
   * /kick); its answers go to `answer` instead of the server's stdout. Null for echo.
   */
  readonly operator: ((text: string, answer: (line: string) => void) => Promise<void>) | null
  /**
   * threads model: how the lock its connections share (the chat's client list) was taken since
   * the last call. Null where there is no such lock.
   */
  readonly lock: (() => LockSample) | null
}
