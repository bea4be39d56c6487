// Suite: one step of the selector model's per-connection echo state machine (lib/echo/selector-server.ts):
// a READ event that receives and echoes (write-through), and the READ → partial send → WRITE →
// flush path. The connection is an in-memory stand-in with the reactor Connection's calls, so the
// figure is the state machine's own cost, without the system calls a real socket adds.
import { EVENT_READ, EVENT_WRITE, EventLoop, Selectable } from '../../reactor/index.js'
import { EchoSession, type SessionHost } from '../../lib/echo/selector-server.js'
import { createBench, printResults, type Suite } from './suite.js'

/** recvInto() copies out `incoming` once per fill(); send() accepts up to `room` bytes per call. */
class MemoryConnection extends Selectable {
  readonly remoteAddress = '127.0.0.1'
  readonly remotePort = 1
  private incoming: Buffer | null = null
  sent = 0
  constructor(public room: number) {
    super()
  }
  fill(data: Buffer): void {
    this.incoming = data
  }
  readiness(): number {
    return EVENT_READ | EVENT_WRITE
  }
  get closed(): boolean {
    return false
  }
  recvInto(into: Uint8Array): number | null {
    const data = this.incoming
    if (data === null) return null
    this.incoming = null
    into.set(data)
    return data.length
  }
  send(data: Uint8Array): number {
    const n = Math.min(data.length, this.room)
    this.sent += n
    return n
  }
  /** The stand-in hands everything to its "kernel" at once. */
  readonly pendingOutput = 0
  shutdown(): void {}
  close(): void {}
}

function session(room: number): { conn: MemoryConnection; echo: EchoSession } {
  const loop = new EventLoop()
  const host: SessionHost = { loop, tracksIdle: false, sessionClosed() {} }
  const conn = new MemoryConnection(room)
  const echo = new EchoSession(conn, host)
  loop.register(conn, EVENT_READ, echo.onEvent)
  return { conn, echo }
}

export const suite: Suite = {
  name: 'echo-step',
  about: "the selector echo's state machine: one READ step, and READ + partial send + WRITE flush",
  async run(options) {
    const bench = createBench(options)
    const units: Record<string, { count: number; unit: string }> = {}
    const message = Buffer.alloc(1024, 0x61)
    const large = Buffer.alloc(64 * 1024, 0x62)
    const through = session(Infinity)
    bench.add('READ: recv 1 KiB, send it all (write-through)', () => {
      through.conn.fill(message)
      through.echo.onEvent(through.conn, EVENT_READ)
    })
    const partial = session(16 * 1024)
    units['READ 64 KiB, partial send, then WRITE until flushed'] = { count: 1, unit: 'message' }
    bench.add('READ 64 KiB, partial send, then WRITE until flushed', () => {
      partial.conn.fill(large)
      partial.echo.onEvent(partial.conn, EVENT_READ)
      for (let i = 0; i < 4; i++) partial.echo.onEvent(partial.conn, EVENT_WRITE)
    })
    await bench.run()
    printResults(bench, units)
    if (through.conn.sent === 0 || partial.conn.sent === 0) throw new Error('nothing was echoed')
  },
}
