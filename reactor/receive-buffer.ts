// The read side shared by connections and stream readers: bytes come in from Node (push), the
// program takes them out (take, takeInto). This buffer plays the kernel's receive buffer: bounded
// (the source is paused above `limit`, so a peer that sends faster than we read costs at most
// `limit` plus one read), and it remembers EOF and a pending error.
//
// Bytes are copied in, into blocks of a shared pool (block-pool.ts), and copied out: a block never
// leaves this buffer, so it goes back to the pool the moment its bytes are taken, and memory that
// was received into is received into again (no garbage per message). The cost is a copy, which
// is cheap next to a fresh Buffer per read: see block-pool.ts.
//
// On the fallback 'data' path the chunk Node allocated is adopted as it is (adopt()), and take()
// hands out a whole buffer that is not the pool's without copying it.
//
// Except small reads: a read below SMALL_READ that finds no room in a block gets a buffer of its
// own size instead. A block is paged in a page at a time, so a 64-byte message held in one costs
// 4 KiB while it waits for the next select round; with 10,000 connections sending at once that
// was 40 MiB more resident memory (measured: 9.8 KiB per idle connection that echoed a probe,
// against 6.4 without blocks). Node serves buffers this small from a shared slab, cheaply.
import { receivePool, type BlockPool } from './block-pool.js'

/** Reads below this many bytes, with no room left in a block, are held in a buffer of their own size. */
export const SMALL_READ = 1024

export interface PausableSource {
  pause(): unknown
  resume(): unknown
}

const EMPTY = Buffer.alloc(0)

export class ReceiveBuffer {
  /** The blocks holding the bytes, oldest first: read from `head` in the first, filled to `tail` in the last. */
  private readonly blocks: Buffer[] = []
  private head = 0
  private tail = 0
  /** Bytes buffered and not yet taken. */
  bytes = 0
  eof = false
  error: Error | null = null
  private paused = false

  constructor(
    private readonly source: PausableSource,
    readonly limit: number,
    private readonly pool: BlockPool = receivePool,
  ) {}

  /** Copies the first `length` bytes of `data` in (the caller may reuse `data` at once). */
  push(data: Uint8Array, length = data.length): void {
    let from = 0
    while (from < length) {
      if (this.blocks.length === 0 || this.tail === this.blocks[this.blocks.length - 1].length) {
        const left = length - from
        this.blocks.push(left < SMALL_READ ? Buffer.allocUnsafe(left) : this.pool.get())
        this.tail = 0
      }
      const block = this.blocks[this.blocks.length - 1]
      const count = Math.min(length - from, block.length - this.tail)
      block.set(from === 0 && count === data.length ? data : data.subarray(from, from + count), this.tail)
      this.tail += count
      from += count
    }
    this.grew(length)
  }

  /**
   * Keeps `chunk` itself, no copy: for bytes nobody else will write to, as a socket's 'data' event
   * hands over (the fallback read path, read-path.ts), where Node has allocated for the read
   * already and a copy would only add to it.
   */
  adopt(chunk: Buffer): void {
    const last = this.blocks.length > 0 ? this.blocks[this.blocks.length - 1] : null
    if (last !== null && this.tail < last.length) return this.push(chunk) // fill the room left in a block first
    if (chunk.length === 0) return
    this.blocks.push(chunk)
    this.tail = chunk.length
    this.grew(chunk.length)
  }

  /** True when take() would not block: bytes, EOF or an error are waiting. */
  get readable(): boolean {
    return this.bytes > 0 || this.eof || this.error !== null
  }

  /**
   * Returns up to `max` bytes as a new Buffer, an empty Buffer at EOF, or null when it would block.
   * Buffered bytes come before EOF and before a pending error; the error is thrown once, after
   * which the stream reads as EOF (as a socket's SO_ERROR is cleared).
   */
  take(max: number): Buffer | null {
    if (this.bytes > 0) {
      // A whole front buffer that is not the pool's (a small read's, or an adopted chunk) is
      // handed out as it is: it is nobody else's, and a copy would only make garbage.
      const front = this.blocks[0]
      if (this.head === 0 && front.length <= max && (this.blocks.length > 1 || this.tail === front.length) && !this.isPoolBlock(front)) {
        this.blocks.shift()
        if (this.blocks.length === 0) this.tail = 0
        this.shrank(front.length)
        return front
      }
      const out = Buffer.allocUnsafe(Math.min(max, this.bytes))
      this.copyOut(out)
      return out
    }
    return this.end()
  }

  /**
   * Copies up to `into.length` bytes into `into` and returns how many; 0 at EOF (or for an empty
   * `into`), null when it would block. Errors as take(). No allocation: the caller's buffer is
   * reused, as with Python's recv_into.
   */
  takeInto(into: Uint8Array): number | null {
    if (this.bytes > 0) return this.copyOut(into)
    const end = this.end()
    return end === null ? null : 0
  }

  /** Drops everything buffered (on close); the blocks go back to the pool. */
  clear(): void {
    for (const block of this.blocks) this.giveBack(block)
    this.blocks.length = 0
    this.head = this.tail = 0
    this.bytes = 0
  }

  /** Copies the oldest bytes into `into` (as many as fit), giving back each block emptied. */
  private copyOut(into: Uint8Array): number {
    const want = Math.min(into.length, this.bytes)
    let done = 0
    while (done < want) {
      const block = this.blocks[0]
      const end = this.blocks.length === 1 ? this.tail : block.length
      const count = Math.min(want - done, end - this.head)
      into.set(block.subarray(this.head, this.head + count), done)
      done += count
      this.head += count
      if (this.head === end) {
        this.giveBack(this.blocks.shift()!)
        this.head = 0
        if (this.blocks.length === 0) this.tail = 0
      }
    }
    this.shrank(want)
    return want
  }

  /** `n` bytes came in: pause the source at the limit (the kernel's receive window closing). */
  private grew(n: number): void {
    this.bytes += n
    if (this.bytes >= this.limit && !this.paused) {
      this.paused = true
      this.source.pause()
    }
  }

  /** `n` bytes were taken: resume the source below the limit. */
  private shrank(n: number): void {
    this.bytes -= n
    if (this.paused && this.bytes < this.limit) {
      this.paused = false
      this.source.resume()
    }
  }

  /** True for a block of the pool's: its size, and memory of its own (not a view into a larger buffer). */
  private isPoolBlock(block: Buffer): boolean {
    return block.length === this.pool.blockSize && block.buffer.byteLength === this.pool.blockSize
  }

  /** Returns a pool block to the pool; any other buffer (a small read's, an adopted chunk) is left to the GC. */
  private giveBack(block: Buffer): void {
    if (this.isPoolBlock(block)) this.pool.put(block)
  }

  /** Nothing buffered: EOF (an empty Buffer), the pending error (thrown once), or null (would block). */
  private end(): Buffer | null {
    if (this.error) {
      const err = this.error
      this.error = null
      this.eof = true
      throw err
    }
    return this.eof ? EMPTY : null
  }
}
