// selectloop's reactor: Python's `selectors` over Node's net sockets. Knows nothing of echo or chat.
//
// Caveat, said plainly: this reactor sits on top of libuv's own epoll reactor. Its readiness is the
// state of Node's user-space buffers (bytes Node has read for us, room in Node's write buffer), not
// the kernel's socket buffers. The contract — level-triggered readiness, non-blocking calls that
// would block, partial writes — is Python's; the machinery underneath is Node's.
export { EVENT_READ, EVENT_WRITE, Selectable } from './selectable.js'
export { ValueError, KeyError, SelectorClosedError } from './errors.js'
export {
  BaseSelector,
  DefaultSelector,
  ReadyListSelector,
  ScanSelector,
  SelectorMapping,
  type SelectorKey,
  type SelectResult,
} from './selector.js'
export { Connection, type ConnectionOptions } from './connection.js'
export { Listener, type ListenOptions } from './listener.js'
export { TlsConnection } from './tls-connection.js'
export {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  ServerTlsSocket,
  clientTlsSocket,
  resetBeneath,
  serverTlsSocket,
  type TlsClientOptions,
  type TlsServerOptions,
} from './tls-socket.js'
export { StreamReader } from './stream-reader.js'
export { READ_SIZE, onreadSupport, readPath, setReadPath, type ReadPath } from './read-path.js'
export { BlockPool, receivePool } from './block-pool.js'
export { Waker } from './waker.js'
export { EventLoop, eventNames, type Callback, type EventLoopOptions, type LoopObserver, type RoundInfo } from './loop.js'
export type { TimerHandle } from './timers.js'
