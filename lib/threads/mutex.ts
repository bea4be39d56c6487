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

  /** Blocks the calling worker thread until it holds the mutex. */
  lock(): void {
    if (isMainThread) throw new Error('Mutex.lock() would block the main thread: use lockAsync() or tryLock()')
    if (Atomics.compareExchange(this.word, STATE, UNLOCKED, LOCKED) !== UNLOCKED) this.lockContended()
    Atomics.store(this.word, OWNER, ME)
  }

  /** Takes the mutex if it is free right now; never waits. */
  tryLock(): boolean {
    if (Atomics.compareExchange(this.word, STATE, UNLOCKED, LOCKED) !== UNLOCKED) return false
    Atomics.store(this.word, OWNER, ME)
    return true
  }

  /** Takes the mutex without blocking the thread (Atomics.waitAsync): for the main thread. */
  async lockAsync(): Promise<void> {
    this.checkNotMine()
    for (;;) {
      if (Atomics.compareExchange(this.word, STATE, UNLOCKED, LOCKED) === UNLOCKED) break
      if (Atomics.exchange(this.word, STATE, CONTENDED) === UNLOCKED) break
      const r = Atomics.waitAsync(this.word, STATE, CONTENDED)
      if (r.async) await r.value
    }
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
