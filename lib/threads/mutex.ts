// A real mutex in shared memory, for state that several threads change (the chat's client list).
// It is the classic futex mutex ("Futexes Are Tricky", U. Drepper, mutex #3): the state word is
// 0 = unlocked, 1 = locked, 2 = locked and someone may be sleeping. An uncontended lock/unlock is
// one compare-and-swap each and no system call; a contended lock() sleeps in Atomics.wait (the
// futex), and unlock() wakes one sleeper only when the state says there may be one.
// A short bounded spin comes first, because on a multi-core machine the holder is often about to
// release; after it, waiting costs no CPU.
//
// A second word records the owner (threadId + 1), so that unlocking a mutex you do not hold and
// locking one you already hold (a certain deadlock) fail loudly instead of corrupting state.
//
// The main thread must never block: it uses tryLock() or lockAsync() (Atomics.waitAsync).
//
// A watcher (the web console) may ask how the lock is taken: watch(stats) makes this thread's
// Mutex count each acquisition, and time each wait, into shared counters (MutexStats). Unwatched,
// that costs one null check per lock.
import { isMainThread, threadId } from 'node:worker_threads'

const UNLOCKED = 0
const LOCKED = 1
const CONTENDED = 2
const SPINS = 100

const STATE = 0
const OWNER = 1

const ME = threadId + 1

export class Mutex {
  /** Bytes a mutex occupies in shared memory (two Int32 words; place it 4-byte aligned). */
  static readonly BYTES = 8

  private readonly word: Int32Array
  private stats: MutexStats | null = null

  /** A mutex in its own new SharedArrayBuffer (pass `mutex.sab` to other threads, then `new Mutex(sab)`). */
  static create(): Mutex {
    return new Mutex(new SharedArrayBuffer(Mutex.BYTES))
  }

  /** The mutex stored at `byteOffset` in `sab` (all zero bytes = unlocked). */
  constructor(
    readonly sab: SharedArrayBuffer,
    readonly byteOffset = 0,
  ) {
    this.word = new Int32Array(sab, byteOffset, 2)
  }

  /**
   * From now on, this thread's acquisitions of this mutex (lock, lockAsync, tryLock) are counted
   * into `stats`, and its waits timed. Each thread that should be counted calls it on its own Mutex
   * over the same memory, with a MutexStats over the same shared counters.
   */
  watch(stats: MutexStats): void {
    this.stats = stats
  }

  /** Blocks the calling worker thread until it holds the mutex. */
  lock(): void {
    if (isMainThread) throw new Error('Mutex.lock() would block the main thread: use lockAsync() or tryLock()')
    if (Atomics.compareExchange(this.word, STATE, UNLOCKED, LOCKED) !== UNLOCKED) {
      if (this.stats === null) this.lockContended()
      else {
        const since = performance.now()
        this.lockContended()
        this.stats.record(performance.now() - since)
      }
    } else if (this.stats !== null) this.stats.record(0)
    Atomics.store(this.word, OWNER, ME)
  }

  /** Takes the mutex if it is free right now; never waits. */
  tryLock(): boolean {
    if (Atomics.compareExchange(this.word, STATE, UNLOCKED, LOCKED) !== UNLOCKED) return false
    if (this.stats !== null) this.stats.record(0)
    Atomics.store(this.word, OWNER, ME)
    return true
  }

  /** Takes the mutex without blocking the thread (Atomics.waitAsync): for the main thread. */
  async lockAsync(): Promise<void> {
    this.checkNotMine()
    const since = this.stats === null ? 0 : performance.now()
    let waited = false
    for (;;) {
      if (Atomics.compareExchange(this.word, STATE, UNLOCKED, LOCKED) === UNLOCKED) break
      waited = true
      if (Atomics.exchange(this.word, STATE, CONTENDED) === UNLOCKED) break
      const r = Atomics.waitAsync(this.word, STATE, CONTENDED)
      if (r.async) await r.value
    }
    if (this.stats !== null) this.stats.record(waited ? performance.now() - since : 0)
    Atomics.store(this.word, OWNER, ME)
  }

  unlock(): void {
    if (Atomics.load(this.word, OWNER) !== ME) throw new Error('Mutex.unlock() by a thread that does not hold it')
    Atomics.store(this.word, OWNER, 0)
    // LOCKED → UNLOCKED needs nobody woken; CONTENDED → UNLOCKED wakes one sleeper.
    if (Atomics.sub(this.word, STATE, 1) !== LOCKED) {
      Atomics.store(this.word, STATE, UNLOCKED)
      Atomics.notify(this.word, STATE, 1)
    }
  }

  /** Runs `fn` holding the mutex (worker threads); unlocks even if it throws. */
  withLock<T>(fn: () => T): T {
    this.lock()
    try {
      return fn()
    } finally {
      this.unlock()
    }
  }

  /** True if some thread holds it now (a snapshot, for diagnostics and tests). */
  get locked(): boolean {
    return Atomics.load(this.word, STATE) !== UNLOCKED
  }

  private lockContended(): void {
    this.checkNotMine()
    for (let i = 0; i < SPINS; i++) {
      if (Atomics.load(this.word, STATE) === UNLOCKED && Atomics.compareExchange(this.word, STATE, UNLOCKED, LOCKED) === UNLOCKED) {
        return
      }
    }
    // Mark it contended; if it was free meanwhile we own it (as CONTENDED, which costs at most
    // one spurious notify at unlock), otherwise sleep until an unlock changes the word.
    let c = Atomics.exchange(this.word, STATE, CONTENDED)
    while (c !== UNLOCKED) {
      Atomics.wait(this.word, STATE, CONTENDED)
      c = Atomics.exchange(this.word, STATE, CONTENDED)
    }
  }

  private checkNotMine(): void {
    if (Atomics.load(this.word, OWNER) === ME) throw new Error('Mutex already held by this thread (would deadlock)')
  }
}

// ---- watching a mutex -----------------------------------------------------------------------------

/** How a mutex was taken between two samples (MutexStats.sample()). */
export interface LockSample {
  /** Acquisitions. */
  acquired: number
  /** Of those, the ones that found it held and had to wait. */
  contended: number
  /** Time spent waiting for it, in all and at most once, in ms (to the microsecond). */
  waitedMs: number
  maxWaitMs: number
  /** Held by someone at the moment of the sample. */
  held: boolean
}

// Counter words (Int32). Waits are in microseconds: a sampler takes differences modulo 2**32, so
// a total that wraps (after ~71 minutes of waiting) still gives the right difference.
const ACQUIRED = 0
const CONTENDED_COUNT = 1
const WAITED_US = 2
const MAX_WAIT_US = 3

/**
 * Counters of how a mutex is taken, in shared memory that every watching thread adds to (see
 * Mutex.watch). One thread samples them: sample() returns what happened since its last call.
 */
export class MutexStats {
  static readonly BYTES = 16
  private readonly words: Int32Array
  private last = { acquired: 0, contended: 0, waitedUs: 0 }

  /** Counters in their own new SharedArrayBuffer (pass `stats.sab` to the other threads). */
  static create(): MutexStats {
    return new MutexStats(new SharedArrayBuffer(MutexStats.BYTES))
  }

  constructor(readonly sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab, 0, 4)
  }

  /** @internal One acquisition that waited `waitedMs` (0: it was free). */
  record(waitedMs: number): void {
    const w = this.words
    Atomics.add(w, ACQUIRED, 1)
    if (waitedMs <= 0) return
    const us = Math.max(1, Math.round(waitedMs * 1000))
    Atomics.add(w, CONTENDED_COUNT, 1)
    Atomics.add(w, WAITED_US, us)
    for (let max = Atomics.load(w, MAX_WAIT_US); us > max; ) {
      const seen = Atomics.compareExchange(w, MAX_WAIT_US, max, us)
      if (seen === max) break
      max = seen
    }
  }

  /** What happened since the last sample (the first: since the counters were made), and whether `mutex` is held now. */
  sample(mutex: Mutex): LockSample {
    const w = this.words
    const now = { acquired: Atomics.load(w, ACQUIRED), contended: Atomics.load(w, CONTENDED_COUNT), waitedUs: Atomics.load(w, WAITED_US) }
    const maxUs = Atomics.exchange(w, MAX_WAIT_US, 0)
    const since = this.last
    this.last = now
    return {
      acquired: (now.acquired - since.acquired) >>> 0,
      contended: (now.contended - since.contended) >>> 0,
      waitedMs: ((now.waitedUs - since.waitedUs) >>> 0) / 1000,
      maxWaitMs: maxUs / 1000,
      held: mutex.locked,
    }
  }
}
