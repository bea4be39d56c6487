// Fixed-size blocks of memory, handed out and taken back: the receive buffers' storage.
//
// Why not a new Buffer per read: every Buffer of 4 KiB or more is memory outside V8's heap that
// only a garbage collection gives back, and V8 collects on external memory only after some 64 MiB
// of it has piled up. An echo of 16 KiB messages at 20,000 a second makes that much garbage in a
// few tenths of a second: the process's resident memory swings by tens of MiB, and the memory
// allocator pays to fault fresh pages in. CPython frees a bytes object the moment the last
// reference goes, so its recv() reuses the same, cache-warm memory; reusing blocks explicitly is
// how we get the same here.
//
// A block goes back with put() once nothing refers to it any more (ReceiveBuffer knows: it copies
// out of its blocks, it never lends them). The free list is bounded: after a burst, what is beyond
// `maxFree` is left to the garbage collector rather than kept for ever.

export class BlockPool {
  private readonly free: Buffer[] = []

  constructor(
    /** Bytes in every block (at least receive-buffer.ts's SMALL_READ: a buffer of this length is taken to be a block). */
    readonly blockSize: number,
    /** Free blocks kept at most; more are dropped. */
    readonly maxFree: number,
  ) {}

  /** Returns a block: a free one if there is one (last returned first: its memory is warm), else a new one. */
  get(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.blockSize)
  }

  /** Takes `block` back (it must have come from get() and be unused from now on). */
  put(block: Buffer): void {
    if (this.free.length < this.maxFree) this.free.push(block)
  }

  /** Free blocks held now. */
  get freeBlocks(): number {
    return this.free.length
  }
}

/**
 * The pool every receive buffer of this thread shares. 16 KiB blocks: a 64 KiB read fills four,
 * and a small message uses the first page of one, which is all it makes resident. Up to 16 MiB
 * of them kept free: the bytes that arrive in one poll phase wait in blocks until the next select
 * round takes them, and with a thousand clients of 16 KiB messages that is a thousand blocks at
 * once; a pool smaller than that turns the excess into garbage every round (measured: 23,000 new
 * blocks a second and 40 MiB more memory with 512).
 */
export const receivePool = new BlockPool(16 * 1024, 1024)
