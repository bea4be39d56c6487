// Turning clients away without a thread: the refusal policy of the thread host.
//
// A refusal costs a descriptor for as long as the socket lingers, and refusals come in floods, so:
// a refused client gets its one line and a FIN and a short while to read it; beyond `room`
// lingering sockets (the descriptors the threads leave over) a refused socket is closed at once;
// and the log gets one line a second however many are turned away.
import type net from 'node:net'
import { RateLimitedLog } from '../log.js'

/** How long a refused client has to read its one line before its socket is closed. */
const REFUSAL_LINGER_MS = 1000

export class Refusals {
  /** Sockets turned away and still saying so (closed at stop, not left to their linger timer). */
  private readonly lingering = new Set<net.Socket>()
  private readonly lines = new RateLimitedLog()

  /** `room`: refused sockets allowed to linger at once (see refusalRoomFor). */
  constructor(private readonly room: number) {}

  /** Closes `socket` at once, with a log line `refused HOST:PORT: why`. Returns false. */
  drop(socket: net.Socket, why: string): false {
    this.lines.log(`refused ${socket.remoteAddress}:${socket.remotePort}: ${why}`)
    socket.destroy()
    return false
  }

  /**
   * Sends `line` to `socket`, then FIN, and closes it a moment later; logs `refused HOST:PORT:
   * why` (rate-limited). Returns false.
   */
  turnAway(socket: net.Socket, line: string, why: string): false {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`
    socket.on('error', () => socket.destroy())
    socket.end(`${line}\n`)
    if (this.lingering.size < this.room) {
      this.lingering.add(socket)
      socket.on('close', () => this.lingering.delete(socket))
      socket.resume() // drop whatever it sends, so the close is a FIN and not a RST
      setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref()
    } else {
      // A flood: its sockets must not take the descriptors that threads need to start (a thread
      // holds ~4). Closed at once; the line was handed to the kernel, but may be lost to a RST.
      socket.destroy()
    }
    this.lines.log(`refused ${peer}: ${why}`)
    return false
  }

  /** The server is stopping: refused sockets still lingering are closed now. */
  closeAll(): void {
    for (const socket of this.lingering) socket.destroy()
  }
}
