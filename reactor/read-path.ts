// How a Connection gets the bytes Node reads for it. Two paths, one result (bytes copied into the
// connection's ReceiveBuffer, then readiness):
//
//   'onread'  libuv reads straight into one 64 KiB buffer shared by every connection of this
//             thread, and calls us with the count; we copy the bytes into the connection's receive
//             buffer before returning, so the next read, of any socket, may reuse it. This is
//             net.Socket's public `onread` option. Per read it saves what the 'data' path spends:
//             a fresh 64 KiB allocation, a second, zero-filled one of the read's size with a copy
//             into it, a Buffer object around that, the Readable stream's bookkeeping, and a
//             process.nextTick — about half of the server's user CPU time per 1 KiB message, and
//             for large messages tens of MiB of garbage between collections (see block-pool.ts).
//   'data'    the socket's 'data' events: what any Node program does. The fallback.
//
// The one internal: net.Server has no `onread` option for the sockets it accepts (only sockets we
// create take it). An accepted socket is given the two settings the option makes when a socket is
// created — the buffer and the callback, under net's own symbols, and the handle told to read
// into that buffer (handle.useUserBuffer) — exactly as net.Socket's constructor does. This sits
// behind a feature check (onreadSupport): the symbols are found on a probe socket made with the
// public option, by the values it holds, and the handle must have useUserBuffer. Where either is
// missing (another Node version), or with SELECTLOOP_READ_PATH=data in the environment, every
// connection takes the 'data' path; the tests run both.
import net from 'node:net'

export type ReadPath = 'onread' | 'data'

/** Bytes libuv may read at once: what Node asks of a read on the 'data' path, and Python's RECV_SIZE in the lab. */
export const READ_SIZE = 64 * 1024

/** The buffer every socket of this thread reads into on the 'onread' path (reads never overlap: one thread). */
const shared = Buffer.allocUnsafeSlow(READ_SIZE)

/** The callback of the 'onread' path: called with the socket as `this`, `nread` bytes at the start of `buffer`. */
export type OnRead = (this: net.Socket, nread: number, buffer: Buffer) => void

interface OnreadSymbols {
  buffer: symbol
  callback: symbol
}

/**
 * The symbols under which net keeps a socket's `onread` buffer and callback, or null if this
 * Node does not keep them as own properties (then only the 'data' path is available).
 */
function findOnreadSymbols(): OnreadSymbols | null {
  const buffer = Buffer.alloc(1)
  const callback = (): void => {}
  const probe = new net.Socket({ onread: { buffer, callback } } as net.SocketConstructorOpts)
  const held = (value: unknown) => Object.getOwnPropertySymbols(probe).find(s => (probe as unknown as Record<symbol, unknown>)[s] === value)
  const symbols = { buffer: held(buffer), callback: held(callback) }
  probe.destroy()
  return symbols.buffer && symbols.callback ? (symbols as OnreadSymbols) : null
}

const symbols = findOnreadSymbols()

/** True where this Node lets an accepted socket read into a buffer of ours (see the top of this file). */
export const onreadSupport = symbols !== null

let current: ReadPath = onreadSupport && process.env.SELECTLOOP_READ_PATH !== 'data' ? 'onread' : 'data'

/** The path new connections take. */
export function readPath(): ReadPath {
  return current
}

/**
 * Chooses the path of connections made from now on (tests and benchmarks run both). Raises an
 * Error for 'onread' where it is not supported.
 */
export function setReadPath(path: ReadPath): void {
  if (path === 'onread' && !onreadSupport) throw new Error("this Node cannot read accepted sockets into a buffer of ours: only the 'data' path")
  current = path
}

/** The options a socket we create needs for the current path (the public `onread` option, or none). */
export function socketReadOptions(callback: OnRead): Pick<net.ConnectOpts, 'onread'> {
  return current === 'onread' ? { onread: { buffer: shared, callback: callback as (nread: number, buffer: Uint8Array) => boolean } } : {}
}

interface HandleWithUserBuffer {
  reading?: boolean
  useUserBuffer?: (buffer: Uint8Array) => void
}

/**
 * True if `socket` reads into the shared buffer through `callback`: made so by socketReadOptions,
 * or switched now — an accepted socket still paused (nothing read yet) is given the two settings
 * the `onread` option would have made. False, changing nothing, when the current path is 'data'
 * or the socket is in no state to switch: then the caller listens for 'data'. A TLS socket is
 * never switched (its reads are decrypted records, not a handle's).
 */
export function readsIntoShared(socket: net.Socket, callback: OnRead): boolean {
  if (symbols === null) return false
  const s = socket as unknown as Record<symbol, unknown>
  if (s[symbols.callback] === callback) return true
  if (current !== 'onread') return false
  const handle = (socket as unknown as { _handle?: HandleWithUserBuffer | null })._handle
  if (!handle || typeof handle.useUserBuffer !== 'function' || handle.reading !== false) return false
  if ((socket as { encrypted?: boolean }).encrypted || socket.destroyed || socket.connecting || socket.readableLength > 0) return false
  s[symbols.buffer] = shared
  s[symbols.callback] = callback
  handle.useUserBuffer(shared)
  return true
}
