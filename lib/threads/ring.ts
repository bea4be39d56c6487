// A byte ring in shared memory: one producer thread, one consumer thread (or several producers
// that serialise their writes behind a lock of their own, e.g. the chat's mutex).
//
// Positions (HEAD, TAIL) only ever grow, modulo 2^32; the data index is `pos & (capacity - 1)`.
// Nobody ever waits on a position: each side waits on an *event counter* that the other side
// increments (then notifies) after every change it makes — bytes written, bytes read, a flag set.
// A waiter reads the counter first, then checks its condition, then waits "while the counter still
// equals what I read", so a change made in between is never a lost wake-up.
//
// Notifications are batched: a side only calls Atomics.notify when the other side has said it is
// waiting (READER_WAITING / WRITER_WAITING), and a waiting producer says how much free space it
// needs (WRITER_WANT), so a consumer reading 4 KiB at a time does not wake it 16 times per 64 KiB.
//
// Flags travel with the bytes: EOF (the producer will write no more: half-close), CLOSED (the
// consumer has gone: writes are pointless), RESET (the connection is dead: both sides give up,
// ERROR says why).
//
// SINK_FULL is the consumer's word about what lies beyond the ring: set while the place it moves
// bytes to (the socket) refuses more. A full ring whose sink is not full only means the consumer
// is behind; a full ring whose sink is full means the client is not reading (the chat drops such
// a client instead of waiting for it).

const HEAD = 0
const TAIL = 1
const DATA_SEQ = 2 // producer → consumer events (bytes written, EOF, RESET)
const SPACE_SEQ = 3 // consumer → producer events (bytes read, CLOSED, RESET)
const FLAGS = 4
const ERROR = 5
const READER_WAITING = 6
const WRITER_WAITING = 7
const WRITER_WANT = 8
const SINK_FULL = 9
const HEADER_INTS = 16 // 64 bytes: room to grow, and the data starts on a cache line

export const RING_HEADER_BYTES = HEADER_INTS * 4

export const FLAG_EOF = 1
export const FLAG_CLOSED = 2
export const FLAG_RESET = 4

/** Why a ring was reset (stored in the header so the other thread can raise the right error). */
export const ResetReason = {
  NONE: 0,
  PEER_RESET: 1, // the client reset the connection (ECONNRESET) or it failed in some other way
  BROKEN_PIPE: 2, // the client stopped reading (EPIPE)
  LOCAL_RESET: 3, // our own side asked for a reset (conn.reset())
  SHUTDOWN: 4, // the server is shutting down and ran out of patience
  HANDLER_GONE: 5, // the thread serving the connection died
} as const
export type ResetReason = (typeof ResetReason)[keyof typeof ResetReason]

const EMPTY = Buffer.alloc(0)

/** A wait outcome from Atomics.waitAsync, when it had to wait. */
type AsyncWait = { async: true; value: Promise<'ok' | 'timed-out'> }

export class Ring {
  /** The ring's header, as Int32 words (exposed for tests and diagnostics). */
  readonly ctl: Int32Array
  readonly data: Uint8Array
  readonly capacity: number
  private readonly mask: number
  private readonly sab: SharedArrayBuffer
  private readonly dataOffset: number

  /** Bytes needed for a ring of `capacity` bytes (a power of two). */
  static bytesFor(capacity: number): number {
    return RING_HEADER_BYTES + capacity
  }

  /** A ring with its own fresh SharedArrayBuffer. */
  static create(capacity: number): Ring {
    return new Ring(new SharedArrayBuffer(Ring.bytesFor(capacity)), 0, capacity)
  }

  constructor(sab: SharedArrayBuffer, byteOffset: number, capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 16 || capacity > 1 << 30 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`ring capacity must be a power of two between 16 and 2^30, got ${capacity}`)
    }
    if (byteOffset % 8 !== 0) throw new RangeError('ring offset must be 8-byte aligned')
    this.sab = sab
    this.ctl = new Int32Array(sab, byteOffset, HEADER_INTS)
    this.dataOffset = byteOffset + RING_HEADER_BYTES
    this.data = new Uint8Array(sab, this.dataOffset, capacity)
    this.capacity = capacity
    this.mask = capacity - 1
  }

  /** Empties the ring and clears its flags. Only while no other thread is using it. */
  reset(): void {
    for (let i = 0; i < HEADER_INTS; i++) Atomics.store(this.ctl, i, 0)
  }

  // ---- state ---------------------------------------------------------------------------------

  /** Bytes written and not yet consumed. */
  available(): number {
    return (Atomics.load(this.ctl, HEAD) - Atomics.load(this.ctl, TAIL)) | 0
  }

  free(): number {
    return this.capacity - this.available()
  }

  flags(): number {
    return Atomics.load(this.ctl, FLAGS)
  }

  resetReason(): ResetReason {
    return Atomics.load(this.ctl, ERROR) as ResetReason
  }

  /** The consumer's event counter: read it *before* checking the state you will wait on. */
  dataSeq(): number {
    return Atomics.load(this.ctl, DATA_SEQ)
  }

  /** The producer's event counter. */
  spaceSeq(): number {
    return Atomics.load(this.ctl, SPACE_SEQ)
  }

  /** Readers blocked (or about to block) waiting for data; a snapshot, for tests and diagnostics. */
  readersWaiting(): number {
    return Atomics.load(this.ctl, READER_WAITING)
  }

  /** Writers blocked (or about to block) waiting for space; a snapshot, for tests and diagnostics. */
  writersWaiting(): number {
    return Atomics.load(this.ctl, WRITER_WAITING)
  }

  /** The consumer's sink refuses more bytes (see SINK_FULL above); a snapshot. */
  sinkFull(): boolean {
    return Atomics.load(this.ctl, SINK_FULL) !== 0
  }

  /** Consumer side: says whether its sink (the socket) is refusing bytes right now. */
  markSinkFull(full: boolean): void {
    Atomics.store(this.ctl, SINK_FULL, full ? 1 : 0)
  }

  // ---- producer side -------------------------------------------------------------------------

  /**
   * Copies as much of `src` as fits (two Uint8Array.set calls at most across the wrap-around),
   * publishes it, and wakes a waiting consumer. Returns the number of bytes copied (0 when full).
   */
  write(src: Uint8Array): number {
    const head = Atomics.load(this.ctl, HEAD)
    const used = (head - Atomics.load(this.ctl, TAIL)) | 0
    const n = Math.min(this.capacity - used, src.length)
    if (n <= 0) return 0
    const at = head & this.mask
    const first = Math.min(n, this.capacity - at)
    this.data.set(first === src.length ? src : src.subarray(0, first), at)
    if (n > first) this.data.set(src.subarray(first, n), 0)
    // The atomic store publishes the bytes copied above (it orders them before it).
    Atomics.store(this.ctl, HEAD, (head + n) | 0)
    this.signalConsumer()
    return n
  }

  /** Half-close: no more bytes will follow what is already in the ring. */
  end(): void {
    Atomics.or(this.ctl, FLAGS, FLAG_EOF)
    this.signalConsumer(true)
  }

  // ---- consumer side -------------------------------------------------------------------------

  /** Copies up to `dst.length` available bytes into `dst`, frees their space; returns the count. */
  readInto(dst: Uint8Array): number {
    const n = this.copyOut(dst, 0, dst.length)
    if (n > 0) this.consume(n)
    return n
  }

  /**
   * A view of contiguous unread bytes starting `skip` bytes past the read position, at most `max`
   * long (it stops at the wrap-around). The bytes stay reserved until `consume()`: the host hands
   * such views straight to socket.write and consumes them when the write completes (no copy).
   */
  peek(skip: number, max: number): Buffer {
    const tail = Atomics.load(this.ctl, TAIL)
    const avail = ((Atomics.load(this.ctl, HEAD) - tail) | 0) - skip
    const at = (tail + skip) & this.mask
    const n = Math.min(avail, max, this.capacity - at)
    // A Buffer (not a bare Uint8Array) so that socket.write takes it as is, without re-wrapping.
    return n > 0 ? Buffer.from(this.sab, this.dataOffset + at, n) : EMPTY
  }

  /** Frees `n` bytes at the read position and wakes the producer if it waits for that space. */
  consume(n: number): void {
    Atomics.add(this.ctl, TAIL, n)
    this.signalProducer(false)
  }

  /** The consumer has gone: the producer should stop writing (its bytes would be dropped). */
  closeReader(): void {
    Atomics.or(this.ctl, FLAGS, FLAG_CLOSED)
    this.signalProducer(true)
  }

  // ---- either side ---------------------------------------------------------------------------

  /** The connection is dead: sets RESET with its reason and wakes both sides. */
  abort(reason: ResetReason): void {
    Atomics.compareExchange(this.ctl, ERROR, ResetReason.NONE, reason)
    Atomics.or(this.ctl, FLAGS, FLAG_RESET)
    this.signalConsumer(true)
    this.signalProducer(true)
  }

  // ---- waiting: blocking (worker threads) ----------------------------------------------------

  /** Blocks until there are bytes to read, or EOF or RESET. False if `timeoutMs` ran out first. */
  waitReadable(timeoutMs = Infinity): boolean {
    const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs
    for (;;) {
      const seq = this.dataSeq()
      if (this.available() > 0 || (this.flags() & (FLAG_EOF | FLAG_RESET)) !== 0) return true
      const left = deadline - performance.now()
      if (left <= 0) return false
      Atomics.add(this.ctl, READER_WAITING, 1)
      Atomics.wait(this.ctl, DATA_SEQ, seq, left)
      Atomics.sub(this.ctl, READER_WAITING, 1)
    }
  }

  /** Blocks until `want` bytes are free (at most half the ring is asked for), or CLOSED/RESET. */
  waitWritable(want: number, timeoutMs = Infinity): boolean {
    const need = Math.max(1, Math.min(want, this.capacity >>> 1))
    const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs
    for (;;) {
      const seq = this.spaceSeq()
      if (this.free() >= need || (this.flags() & (FLAG_CLOSED | FLAG_RESET)) !== 0) return true
      const left = deadline - performance.now()
      if (left <= 0) return false
      Atomics.store(this.ctl, WRITER_WANT, need)
      Atomics.add(this.ctl, WRITER_WAITING, 1)
      if (this.free() < need) Atomics.wait(this.ctl, SPACE_SEQ, seq, left)
      Atomics.sub(this.ctl, WRITER_WAITING, 1)
    }
  }

  // ---- waiting: asynchronous (the main thread never blocks) ----------------------------------

  /**
   * Resolves once the data counter has moved past `seq` (read `dataSeq()` before looking at the
   * ring). Resolves at once if it already has. Never blocks the calling thread.
   */
  whenData(seq: number): Promise<void> | null {
    Atomics.add(this.ctl, READER_WAITING, 1)
    const r = Atomics.waitAsync(this.ctl, DATA_SEQ, seq)
    if (!r.async) {
      Atomics.sub(this.ctl, READER_WAITING, 1)
      return null // the counter had already moved: look again now
    }
    return (r as AsyncWait).value.then(this.readerWoke)
  }

  /** Like whenData, for the space counter; `want` bytes free is what the caller needs. */
  whenSpace(seq: number, want: number): Promise<void> | null {
    Atomics.store(this.ctl, WRITER_WANT, Math.max(1, Math.min(want, this.capacity >>> 1)))
    Atomics.add(this.ctl, WRITER_WAITING, 1)
    const r = Atomics.waitAsync(this.ctl, SPACE_SEQ, seq)
    if (!r.async) {
      Atomics.sub(this.ctl, WRITER_WAITING, 1)
      return null
    }
    return (r as AsyncWait).value.then(this.writerWoke)
  }

  private readonly readerWoke = (): void => {
    Atomics.sub(this.ctl, READER_WAITING, 1)
  }

  private readonly writerWoke = (): void => {
    Atomics.sub(this.ctl, WRITER_WAITING, 1)
  }

  // ---- internals -----------------------------------------------------------------------------

  private copyOut(dst: Uint8Array, skip: number, max: number): number {
    const tail = Atomics.load(this.ctl, TAIL)
    const avail = ((Atomics.load(this.ctl, HEAD) - tail) | 0) - skip
    const n = Math.min(avail, max)
    if (n <= 0) return 0
    const at = (tail + skip) & this.mask
    const first = Math.min(n, this.capacity - at)
    dst.set(this.data.subarray(at, at + first), 0)
    if (n > first) dst.set(this.data.subarray(0, n - first), first)
    return n
  }

  /** Counts an event for the consumer; notifies only if it is waiting. */
  private signalConsumer(always = false): void {
    Atomics.add(this.ctl, DATA_SEQ, 1)
    if (Atomics.load(this.ctl, READER_WAITING) > 0 || always) Atomics.notify(this.ctl, DATA_SEQ)
  }

  /** Counts an event for the producer; notifies only if it waits and its wanted space is free. */
  private signalProducer(always: boolean): void {
    Atomics.add(this.ctl, SPACE_SEQ, 1)
    if (always || (Atomics.load(this.ctl, WRITER_WAITING) > 0 && this.free() >= Atomics.load(this.ctl, WRITER_WANT))) {
      Atomics.notify(this.ctl, SPACE_SEQ)
    }
  }
}
