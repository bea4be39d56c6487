// Plain Node clients for behaviour tests: connect, read exactly N bytes, read lines.
import net from 'node:net'
import { once } from 'node:events'

/** Connects to host:port; resolves with the socket once connected. */
export async function connect(port: number, host = '127.0.0.1', opts: net.SocketConstructorOpts = {}): Promise<net.Socket> {
  const socket = new net.Socket({ allowHalfOpen: true, ...opts })
  socket.setNoDelay(true)
  socket.connect(port, host)
  await once(socket, 'connect')
  return socket
}

/**
 * A socket reader that collects everything received and lets a test await a byte count,
 * a pattern, or the end of the stream, each with a deadline.
 */
export class Collector {
  chunks: Buffer[] = []
  length = 0
  ended = false
  error: Error | null = null
  private waiters: Array<() => void> = []

  constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d)
      this.length += d.length
      this.poke()
    })
    socket.on('end', () => ((this.ended = true), this.poke()))
    socket.on('close', () => ((this.ended = true), this.poke()))
    socket.on('error', e => ((this.error = e), this.poke()))
  }

  private poke() {
    this.waiters.splice(0).forEach(w => w())
  }

  buffer(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)]
    return this.chunks[0] ?? Buffer.alloc(0)
  }

  text(): string {
    return this.buffer().toString('utf8')
  }

  /** Waits until `predicate()` holds; rejects with `what` after timeoutMs or if the stream ends first. */
  until(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${this.length} bytes`)), timeoutMs)
      const check = () => {
        if (predicate()) {
          clearTimeout(timer)
          resolve()
        } else if (this.ended || this.error) {
          clearTimeout(timer)
          reject(new Error(`stream ended (${this.error?.message ?? 'EOF'}) while waiting for ${what}; got ${this.length} bytes`))
        } else this.waiters.push(check)
      }
      check()
    })
  }

  bytes(n: number, timeoutMs?: number): Promise<void> {
    return this.until(() => this.length >= n, `${n} bytes`, timeoutMs)
  }

  /** Waits for text matching `re` in everything received so far. */
  match(re: RegExp, timeoutMs?: number): Promise<void> {
    return this.until(() => re.test(this.text()), String(re), timeoutMs)
  }

  /** Waits for the peer to end or close the stream. */
  end(timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for end of stream')), timeoutMs)
      const check = () => {
        if (this.ended) {
          clearTimeout(timer)
          resolve()
        } else this.waiters.push(check)
      }
      check()
    })
  }
}

/** Deterministic pseudo-random bytes (xorshift), so a failure can be reproduced. */
export function patternBytes(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    b[i] = x & 0xff
  }
  return b
}

/** A port on 127.0.0.1 with nobody listening on it (bound, then released): the bench's own. */
export { freePort } from '../../bench/servers.js'
