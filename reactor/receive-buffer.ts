// The read side shared by connections and stream readers: Node pushes chunks in ('data'), the
// program pulls them out with recv(). This buffer plays the kernel's receive buffer: bounded
// (the source is paused above `limit`, so a peer that sends faster than we read costs at most
// `limit` plus one chunk), and it remembers EOF and a pending error.

export interface PausableSource {
  pause(): unknown
  resume(): unknown
}

const EMPTY = Buffer.alloc(0)

export class ReceiveBuffer {
  private chunks: Buffer[] = []
  /** Bytes buffered and not yet returned by take(). */
  bytes = 0
  eof = false
  error: Error | null = null
  private paused = false

  constructor(
    private readonly source: PausableSource,
    readonly limit: number,
  ) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk)
    this.bytes += chunk.length
    if (this.bytes >= this.limit && !this.paused) {
      this.paused = true
      this.source.pause()
    }
  }

  /** True when take() would not block: bytes, EOF or an error are waiting. */
  get readable(): boolean {
    return this.bytes > 0 || this.eof || this.error !== null
  }

  /**
   * Returns up to `max` bytes (the front chunk, sliced without copying), an empty Buffer at EOF,
   * or null when it would block. Buffered bytes come before EOF and before a pending error; the
   * error is thrown once, after which the stream reads as EOF (as a socket's SO_ERROR is cleared).
   */
  take(max: number): Buffer | null {
    if (this.bytes > 0) {
      const head = this.chunks[0]
      let out: Buffer
      if (head.length <= max) {
        out = head
        this.chunks.shift()
      } else {
        out = head.subarray(0, max)
        this.chunks[0] = head.subarray(max)
      }
      this.bytes -= out.length
      if (this.paused && this.bytes < this.limit) {
        this.paused = false
        this.source.resume()
      }
      return out
    }
    if (this.error) {
      const err = this.error
      this.error = null
      this.eof = true
      throw err
    }
    return this.eof ? EMPTY : null
  }

  /** Drops everything buffered (on close). */
  clear(): void {
    this.chunks = []
    this.bytes = 0
  }
}
