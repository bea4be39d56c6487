// The selector: Python's `selectors` module, mapped onto Node.
//
// register()/unregister()/modify() keep a map of fileobj → SelectorKey, exactly as Python's
// BaseSelector does. select() is where Node differs: there is no kernel call to block in, so
// select() returns a Promise. It waits for the watched objects to report a change (they flip
// flags on Node's events and call readinessChanged), then computes readiness from their state.
//
// Two implementations share one base and one contract test suite (test/selector-contract.ts):
//   ScanSelector      asks every registered object on every select() (like select(2)/poll(2));
//   ReadyListSelector asks only the objects that changed since the last round plus those that
//                     were ready in it (like epoll's ready list); the DefaultSelector.
// Both are level-triggered: a key stays ready for as long as its state says so.
import { SelectorClosedError, KeyError, ValueError } from './errors.js'
import { ALL_EVENTS, EVENT_READ, EVENT_WRITE, Selectable, type ReadinessWatcher } from './selectable.js'

/** An immutable registration, as Python's namedtuple SelectorKey(fileobj, fd, events, data). */
export interface SelectorKey<T = unknown> {
  readonly fileobj: Selectable
  /** A small integer id assigned by the selector (Node keeps the real file descriptor private). */
  readonly fd: number
  readonly events: number
  readonly data: T
}

export type SelectResult = Array<[SelectorKey, number]>

function makeKey(fileobj: Selectable, fd: number, events: number, data: unknown): SelectorKey {
  return Object.freeze({ fileobj, fd, events, data })
}

/**
 * A read-only, live view of a selector's registrations (Python's _SelectorMapping). Read-only at
 * run time too: the backing Map is held in a private field (#registry), which no property, cast or
 * reflection on the view can reach, and the view itself is frozen.
 */
export class SelectorMapping implements ReadonlyMap<Selectable, SelectorKey> {
  readonly #registry: Map<Selectable, SelectorKey>

  constructor(registry: Map<Selectable, SelectorKey>) {
    this.#registry = registry
    Object.freeze(this)
  }
  get size(): number {
    return this.#registry.size
  }
  get(fileobj: Selectable): SelectorKey | undefined {
    return this.#registry.get(fileobj)
  }
  has(fileobj: Selectable): boolean {
    return this.#registry.has(fileobj)
  }
  forEach(fn: (key: SelectorKey, fileobj: Selectable, map: ReadonlyMap<Selectable, SelectorKey>) => void): void {
    this.#registry.forEach((key, fileobj) => fn(key, fileobj, this))
  }
  // Map iterators cannot reach or change the Map they walk.
  entries() {
    return this.#registry.entries()
  }
  keys() {
    return this.#registry.keys()
  }
  values() {
    return this.#registry.values()
  }
  [Symbol.iterator]() {
    return this.#registry.entries()
  }
}

/**
 * Raises ValueError unless `events` is a non-zero mask of known bits. The range is checked before
 * the bits: `&` truncates to 32 bits, so 2**32 + 1 alone would pass as 1 (Python's ints do not).
 */
function checkEvents(events: number): void {
  if (!Number.isInteger(events) || events < 1 || events > ALL_EVENTS || (events & ~ALL_EVENTS) !== 0) {
    throw new ValueError(`invalid events: ${events} (expected a non-zero mask of EVENT_READ=${EVENT_READ} | EVENT_WRITE=${EVENT_WRITE})`)
  }
}

/**
 * The longest delay setTimeout honours: beyond 2**31 - 1 ms Node warns and fires after 1 ms, which
 * would turn a long select() into a busy loop. Longer waits are made of several such timers.
 */
const MAX_TIMER_MS = 2 ** 31 - 1

/** A select() in progress: how to resolve it, and until when it may wait. */
interface PendingSelect {
  resolve(ready: SelectResult): void
  /** performance.now() deadline; Infinity waits for events only; -Infinity polls. */
  deadline: number
  timer: NodeJS.Timeout | null
}

export abstract class BaseSelector implements ReadinessWatcher {
  protected readonly fdToKey = new Map<Selectable, SelectorKey>()
  private readonly mapping = new SelectorMapping(this.fdToKey)
  private nextFd = 3 // 0-2 read as stdin/stdout/stderr to anyone used to real descriptors
  private isClosed = false
  private pending: PendingSelect | null = null
  private wakeScheduled = false

  /**
   * Registers `fileobj` for `events` with optional `data`. Returns the new SelectorKey.
   * Raises ValueError for a mask of 0 or with unknown bits, a non-selectable or closed object;
   * KeyError if it is already registered; SelectorClosedError after close().
   */
  register<T = unknown>(fileobj: Selectable, events: number, data?: T): SelectorKey<T> {
    this.checkOpen()
    checkEvents(events)
    if (!(fileobj instanceof Selectable)) throw new ValueError(`invalid file object: ${String(fileobj)}`)
    if (fileobj.closed) throw new ValueError('cannot register a closed file object')
    if (this.fdToKey.has(fileobj)) throw new KeyError(`${this.describe(fileobj)} is already registered`)
    const key = makeKey(fileobj, this.nextFd++, events, data)
    this.fdToKey.set(fileobj, key)
    fileobj.addWatcher(this)
    this.keyAdded(fileobj)
    return key as SelectorKey<T>
  }

  /**
   * Unregisters `fileobj` and returns its key. Raises KeyError if it is not registered.
   * A socket closed after it was registered unregisters without error (Python: same).
   */
  unregister(fileobj: Selectable): SelectorKey {
    this.checkOpen()
    const key = this.fdToKey.get(fileobj)
    if (!key) throw new KeyError(`${this.describe(fileobj)} is not registered`)
    this.fdToKey.delete(fileobj)
    fileobj.removeWatcher(this)
    this.keyRemoved(fileobj)
    return key
  }

  /**
   * Changes the events and/or data of a registration; returns the new key.
   * A data-only change replaces the key and re-arms nothing, as in Python.
   * Raises KeyError if not registered, ValueError for a bad mask.
   */
  modify<T = unknown>(fileobj: Selectable, events: number, data?: T): SelectorKey<T> {
    this.checkOpen()
    const old = this.fdToKey.get(fileobj)
    if (!old) throw new KeyError(`${this.describe(fileobj)} is not registered`)
    checkEvents(events)
    const key = makeKey(fileobj, old.fd, events, data)
    this.fdToKey.set(fileobj, key)
    if (events !== old.events) this.keyAdded(fileobj)
    return key as SelectorKey<T>
  }

  /** Returns the key of `fileobj`; raises KeyError if it is not registered. */
  getKey(fileobj: Selectable): SelectorKey {
    this.checkOpen()
    const key = this.fdToKey.get(fileobj)
    if (!key) throw new KeyError(`${this.describe(fileobj)} is not registered`)
    return key
  }

  /** @internal The current key of `fileobj` or undefined; no checks (the loop's hot path). */
  lookup(fileobj: Selectable): SelectorKey | undefined {
    return this.fdToKey.get(fileobj)
  }

  /** Returns a read-only live mapping of fileobj → key. */
  getMap(): ReadonlyMap<Selectable, SelectorKey> {
    this.checkOpen()
    return this.mapping
  }

  /**
   * Waits until at least one registered object is ready for an event it is registered for, and
   * returns a list of [key, readyMask] (mask ⊆ key.events). Level-triggered: a key whose state is
   * still ready is returned again on the next call.
   *   timeoutMs undefined/null/Infinity: wait for readiness, however long;
   *   timeoutMs <= 0: poll, never wait;
   *   timeoutMs > 0: wait at most that long (also with nothing registered), then return [].
   *     Any finite length is honoured, also past setTimeout's 2**31 - 1 ms (about 24.8 days).
   * Always resolves on a macrotask (setImmediate/setTimeout), never in a microtask-only chain, so a
   * loop of select() calls cannot starve libuv's poll phase. Never throws: every error is a
   * rejected promise — SelectorClosedError after close(), ValueError for a NaN timeout, and an
   * Error if another select() is already waiting.
   */
  select(timeoutMs?: number | null): Promise<SelectResult> {
    if (this.isClosed) return Promise.reject(new SelectorClosedError())
    if (this.pending) return Promise.reject(new Error('select() is already waiting on this selector'))
    let deadline: number
    if (timeoutMs === undefined || timeoutMs === null) deadline = Infinity
    else if (Number.isNaN(timeoutMs)) return Promise.reject(new ValueError('timeout must be a number'))
    else if (timeoutMs <= 0) deadline = -Infinity
    else deadline = performance.now() + timeoutMs
    return new Promise<SelectResult>(resolve => {
      const pending: PendingSelect = { resolve, deadline, timer: null }
      this.pending = pending
      if (deadline === -Infinity || this.mayBeReady()) this.scheduleWake()
      if (deadline !== Infinity && deadline !== -Infinity) this.armTimer(pending, timeoutMs!)
    })
  }

  /** Closes the selector: forgets every registration; a waiting select() resolves with []. */
  close(): void {
    if (this.isClosed) return
    this.isClosed = true
    for (const fileobj of this.fdToKey.keys()) fileobj.removeWatcher(this)
    this.fdToKey.clear()
    this.keysCleared()
    const pending = this.pending
    if (pending) this.finish(pending, [])
  }

  get closed(): boolean {
    return this.isClosed
  }

  /** @internal Called by a watched object when its readiness may have changed. */
  readinessChanged(fileobj: Selectable): void {
    this.noteChange(fileobj)
    if (this.pending && !this.wakeScheduled) this.scheduleWake()
  }

  // --- what the two implementations do differently -------------------------------------------
  /** A registration was added or its events changed. */
  protected abstract keyAdded(fileobj: Selectable): void
  protected abstract keyRemoved(fileobj: Selectable): void
  protected abstract keysCleared(): void
  /** A watched object reported a change. */
  protected abstract noteChange(fileobj: Selectable): void
  /** Cheap hint: could anything be ready now? (false lets select() sleep at once) */
  protected abstract mayBeReady(): boolean
  /** Computes the ready list from the objects' state. */
  protected abstract collectReady(): SelectResult

  // --- waiting ----------------------------------------------------------------------------------
  private scheduleWake(): void {
    this.wakeScheduled = true
    // setImmediate runs after libuv's poll phase: every I/O callback of this loop iteration has
    // flipped its flags by then, so one select() round sees them all (as epoll_wait would).
    setImmediate(this.onWake)
  }

  private readonly onWake = (): void => {
    this.wakeScheduled = false
    const pending = this.pending
    if (!pending) return
    const ready = this.collectReady()
    if (ready.length > 0 || pending.deadline === -Infinity || performance.now() >= pending.deadline) {
      this.finish(pending, ready)
    }
    // Otherwise the change was not one the caller is interested in: keep waiting.
  }

  /** Times out `pending` in `delayMs`, in steps setTimeout can take (see MAX_TIMER_MS). */
  private armTimer(pending: PendingSelect, delayMs: number): void {
    if (delayMs > MAX_TIMER_MS) {
      pending.timer = setTimeout(() => this.armTimer(pending, pending.deadline - performance.now()), MAX_TIMER_MS)
    } else {
      pending.timer = setTimeout(() => this.onTimeout(pending), delayMs)
    }
  }

  private onTimeout(pending: PendingSelect): void {
    if (this.pending !== pending) return
    pending.timer = null
    this.finish(pending, this.collectReady())
  }

  private finish(pending: PendingSelect, ready: SelectResult): void {
    if (pending.timer) clearTimeout(pending.timer)
    this.pending = null
    pending.resolve(ready)
  }

  private checkOpen(): void {
    if (this.isClosed) throw new SelectorClosedError()
  }

  private describe(fileobj: unknown): string {
    const key = fileobj instanceof Selectable ? this.fdToKey.get(fileobj) : undefined
    return key ? `fd ${key.fd}` : String((fileobj as object)?.constructor?.name ?? fileobj)
  }
}

/** Asks every registered object on every round: O(registered). The simple one, for reading. */
export class ScanSelector extends BaseSelector {
  private changedSinceSelect = true

  protected keyAdded(): void {
    this.changedSinceSelect = true
  }
  protected keyRemoved(): void {}
  protected keysCleared(): void {}
  protected noteChange(): void {
    this.changedSinceSelect = true
  }
  protected mayBeReady(): boolean {
    // Level-triggered: if the last round returned anything, it may still be ready.
    return this.changedSinceSelect
  }
  protected collectReady(): SelectResult {
    const ready: SelectResult = []
    for (const key of this.fdToKey.values()) {
      const mask = key.fileobj.readiness() & key.events
      if (mask) ready.push([key, mask])
    }
    this.changedSinceSelect = ready.length > 0
    return ready
  }
}

/**
 * Asks only the candidates: objects that reported a change since the last round, plus those that
 * were ready in it (level-triggered: they may still be). O(ready), as epoll's ready list.
 */
export class ReadyListSelector extends BaseSelector {
  private readonly candidates = new Set<Selectable>()

  protected keyAdded(fileobj: Selectable): void {
    this.candidates.add(fileobj)
  }
  protected keyRemoved(fileobj: Selectable): void {
    this.candidates.delete(fileobj)
  }
  protected keysCleared(): void {
    this.candidates.clear()
  }
  protected noteChange(fileobj: Selectable): void {
    this.candidates.add(fileobj)
  }
  protected mayBeReady(): boolean {
    // Drops candidates not ready now, as collectReady() would, up to the first one that is: a
    // select() with nothing ready then goes straight to sleep instead of spending a turn of
    // Node's loop to learn it. A one-client ping-pong had such a turn every round: the connection
    // just served stays a candidate (level-triggered: it may still be ready) and is not. A change
    // brings a dropped one back.
    for (const fileobj of this.candidates) {
      if ((fileobj.readiness() & this.fdToKey.get(fileobj)!.events) !== 0) return true
      this.candidates.delete(fileobj)
    }
    return false
  }
  protected collectReady(): SelectResult {
    const ready: SelectResult = []
    for (const fileobj of this.candidates) {
      const key = this.fdToKey.get(fileobj)!
      const mask = fileobj.readiness() & key.events
      if (mask) ready.push([key, mask])
      else this.candidates.delete(fileobj)
    }
    return ready
  }
}

/** The best selector here, as Python's selectors.DefaultSelector. */
export const DefaultSelector = ReadyListSelector
export type DefaultSelector = ReadyListSelector
