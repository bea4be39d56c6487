// Echo clients that come and go: each connects, plays ping-pong with random-size random bytes
// (every reply checked byte for byte before the next message), and leaves, cleanly (FIN, then
// waits for the server's FIN) or abruptly (RST); then its slot starts another one.
import net from 'node:net'
import { randomFillSync } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { chance, randInt } from './rand.js'
import { dial } from './dial.js'

const REPLY_TIMEOUT_MS = 15_000

export interface EchoStats {
  connections: number
  clean: number
  abrupt: number
  messages: number
  bytes: number
}

/** Losses on the echo path, by kind, with the first few details. */
export interface EchoLosses {
  counts: Map<string, number>
  details: string[]
}

/** Message sizes: mostly small, some up to 64 KB (several reads and writes each way). */
function messageSize(): number {
  const r = Math.random()
  if (r < 0.6) return randInt(1, 512)
  if (r < 0.9) return randInt(512, 8192)
  return randInt(8192, 65536)
}

/** One connection's receiving side: collects bytes and wakes whoever waits for a count. */
class Receiver {
  chunks: Buffer[] = []
  length = 0
  ended: string | null = null
  private wake: (() => void) | null = null

  constructor(socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d)
      this.length += d.length
      this.wake?.()
    })
    socket.on('end', () => this.stop('closed by the server'))
    socket.on('close', () => this.stop('closed'))
    socket.on('error', (e: NodeJS.ErrnoException) => this.stop(`error ${e.code ?? e.message}`))
  }

  private stop(why: string): void {
    if (this.ended === null) this.ended = why
    this.wake?.()
  }

  /** Waits until `n` bytes are in, the connection ends, or time runs out; returns what is in. */
  async take(n: number, timeoutMs: number): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs
    while (this.length < n && this.ended === null && Date.now() < deadline) {
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, deadline - Date.now())
        this.wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.wake = null
    }
    const all = Buffer.concat(this.chunks)
    this.chunks = []
    this.length = 0
    return all
  }
}

export class EchoChurn {
  readonly stats: EchoStats = { connections: 0, clean: 0, abrupt: 0, messages: 0, bytes: 0 }
  readonly losses: EchoLosses = { counts: new Map(), details: [] }
  private running = false
  private slots: Promise<void>[] = []

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly clients: number,
  ) {}

  start(): void {
    this.running = true
    this.slots = Array.from({ length: this.clients }, (_, i) => sleep(i * 30).then(() => this.slot()))
  }

  /** No new connections or messages; each client finishes its exchange in flight and leaves. */
  async stop(): Promise<void> {
    this.running = false
    await Promise.all(this.slots)
  }

  private lose(kind: string, detail: string): void {
    this.losses.counts.set(kind, (this.losses.counts.get(kind) ?? 0) + 1)
    if (this.losses.details.length < 50) this.losses.details.push(`${kind}: ${detail}`)
  }

  private async slot(): Promise<void> {
    while (this.running) {
      await this.session()
      this.stats.connections++
    }
  }

  private async session(): Promise<void> {
    const { socket, up } = dial(this.host, this.port)
    socket.setNoDelay(true)
    socket.on('error', () => {}) // the Receiver records it
    const rx = new Receiver(socket)
    const connected = await new Promise<boolean>(resolve => {
      socket.once(up, () => resolve(true))
      socket.once('error', () => resolve(false))
    })
    if (!connected) {
      this.lose('echo-connect', rx.ended ?? 'cannot connect')
      await sleep(100)
      return
    }
    const messages = randInt(3, 40)
    for (let i = 0; i < messages && this.running; i++) {
      const sent = randomFillSync(Buffer.allocUnsafe(messageSize()))
      socket.write(sent)
      const got = await rx.take(sent.length, REPLY_TIMEOUT_MS)
      if (!got.equals(sent)) {
        const prefixOk = got.length < sent.length && got.equals(sent.subarray(0, got.length))
        const kind = !prefixOk ? 'echo-mismatch' : rx.ended !== null ? 'echo-cut' : 'echo-timeout'
        this.lose(kind, `${got.length} of ${sent.length} bytes back (${rx.ended ?? 'no more in time'})`)
        socket.destroy()
        return
      }
      this.stats.messages++
      this.stats.bytes += sent.length
      if (chance(0.3)) await sleep(randInt(0, 20))
    }
    if (chance(0.7)) {
      // Clean: our FIN; the server finishes and sends its own; nothing more may come back.
      socket.end()
      const rest = await rx.take(1, REPLY_TIMEOUT_MS)
      if (rest.length > 0) this.lose('echo-mismatch', `${rest.length} unexpected bytes after the last echo`)
      else if (rx.ended === null) this.lose('echo-timeout', 'no FIN from the server after ours')
      this.stats.clean++
      socket.destroy()
    } else {
      socket.resetAndDestroy()
      this.stats.abrupt++
    }
  }
}
