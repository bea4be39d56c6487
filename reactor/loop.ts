// The event loop: Python's selector loop, written out.
//
//   while running:
//       for key, mask in await selector.select(timeout_of_next_timer):
//           callback = key.data
//           callback(key.fileobj, mask)
//       run the timers that are due
//
// A registration's data is its callback. stop() and callLater() reach a select() that is already
// waiting through a Waker (the self-pipe trick).
//
// Observers (observe()) are told of registrations, interest changes and each finished round, for
// a live view of the loop or a tracer. With nobody watching, each of those costs one null check.
import { DefaultSelector, type BaseSelector, type SelectResult, type SelectorKey } from './selector.js'
import { EVENT_READ, EVENT_WRITE, type Selectable } from './selectable.js'
import { TimerHeap, type TimerHandle } from './timers.js'
import { Waker } from './waker.js'

export type Callback<F extends Selectable = Selectable> = (fileobj: F, mask: number) => void

export interface EventLoopOptions {
  selector?: BaseSelector
  /** Print each select round and each dispatch: true for stderr, or a function taking a line. */
  trace?: boolean | ((line: string) => void)
  /**
   * Called when a callback throws. Default: report it on stderr, unregister the file object and
   * close it (if it can be closed), so one bad connection cannot stop the loop.
   */
  onError?: (err: unknown, key: SelectorKey) => void
}

/**
 * One select round, as observers are told of it. The loop reuses one object for every round (no
 * allocation per round): read it during roundDone(), do not keep it.
 */
export interface RoundInfo {
  /** Rounds reported to observers so far, this one included. */
  round: number
  /** What select() returned (read-only; the loop's own waker may be in it, see `dispatched`). */
  ready: SelectResult
  /** Callbacks called this round: the ready keys, without the loop's waker and keys gone meanwhile. */
  dispatched: number
  /** The timeout select() was given in ms (undefined: it could wait for ever). */
  timeoutMs: number | undefined
  /** Milliseconds spent waiting in select(). */
  waitedMs: number
  /** Milliseconds spent after it: callbacks and due timers. */
  busyMs: number
}

/**
 * What a loop tells whoever watches it (a live view of the loop, a tracer). Calls are made on the
 * loop's thread, synchronously, in the middle of its work: an observer must be quick, must not
 * throw, and must not call back into the loop. The loop's own Waker is never reported.
 */
export interface LoopObserver {
  /** `key` was registered through this loop. */
  registered(key: SelectorKey): void
  /** The interest of a registration changed from `oldEvents` to `key.events` (a callback-only change is not reported). */
  modified(key: SelectorKey, oldEvents: number): void
  /** `key` was unregistered through this loop. */
  unregistered(key: SelectorKey): void
  /**
   * select() returned `round.ready` and the round's callbacks are about to run (`dispatched` and
   * `busyMs` are not known yet). Optional: for a tracer that prints the cause before its effects.
   */
  roundStarted?(round: Readonly<RoundInfo>): void
  /** A round is over: select() returned, callbacks and due timers ran. */
  roundDone(round: Readonly<RoundInfo>): void
}

/** Several observers as one, so the loop keeps a single null check however many watch it. */
class ObserverList implements LoopObserver {
  constructor(readonly list: LoopObserver[]) {}
  registered(key: SelectorKey): void {
    for (const o of this.list) o.registered(key)
  }
  modified(key: SelectorKey, oldEvents: number): void {
    for (const o of this.list) o.modified(key, oldEvents)
  }
  unregistered(key: SelectorKey): void {
    for (const o of this.list) o.unregistered(key)
  }
  roundStarted(round: Readonly<RoundInfo>): void {
    for (const o of this.list) o.roundStarted?.(round)
  }
  roundDone(round: Readonly<RoundInfo>): void {
    for (const o of this.list) o.roundDone(round)
  }
}

export function eventNames(mask: number): string {
  return (mask & EVENT_READ ? 'R' : '') + (mask & EVENT_WRITE ? 'W' : '') || '-'
}

export class EventLoop {
  readonly selector: BaseSelector
  private readonly timers = new TimerHeap()
  private readonly waker = new Waker()
  private readonly trace: ((line: string) => void) | null
  private readonly onError: (err: unknown, key: SelectorKey) => void
  private running = false
  private round = 0
  /** Deadline of the select() now waiting (Infinity when it waits for I/O only). */
  private waitingUntil = -Infinity
  /** Null while nobody watches: the one check the hot path pays. */
  private observer: LoopObserver | null = null
  private readonly observers: LoopObserver[] = []
  private readonly roundInfo: RoundInfo = { round: 0, ready: [], dispatched: 0, timeoutMs: undefined, waitedMs: 0, busyMs: 0 }

  constructor(options: EventLoopOptions = {}) {
    this.selector = options.selector ?? new DefaultSelector()
    const trace = options.trace
    this.trace = trace === true ? line => process.stderr.write(line + '\n') : trace || null
    this.onError = options.onError ?? ((err, key) => this.defaultOnError(err, key))
  }

  /** Registers `fileobj` with `callback` as its data; returns the key (errors as the selector's). */
  register<F extends Selectable>(fileobj: F, events: number, callback: Callback<F>): SelectorKey<Callback<F>> {
    const key = this.selector.register(fileobj, events, callback)
    if (this.observer !== null) this.observer.registered(key)
    return key
  }

  /** Changes the events (and the callback, if given) of a registration; returns the new key. */
  modify<F extends Selectable>(fileobj: F, events: number, callback?: Callback<F>): SelectorKey {
    const key = this.selector.lookup(fileobj)
    if (key && key.events === events && (callback === undefined || callback === key.data)) return key
    const modified = this.selector.modify(fileobj, events, callback ?? this.selector.getKey(fileobj).data)
    if (this.observer !== null && key!.events !== events) this.observer.modified(modified, key!.events)
    return modified
  }

  /** Unregisters `fileobj`; returns its key (KeyError if unknown). */
  unregister(fileobj: Selectable): SelectorKey {
    const key = this.selector.unregister(fileobj)
    if (this.observer !== null) this.observer.unregistered(key)
    return key
  }

  /**
   * Starts telling `observer` what this loop does (see LoopObserver), from now on: the
   * registrations made before are in getMap(). Returns a function that stops it.
   */
  observe(observer: LoopObserver): () => void {
    this.observers.push(observer)
    this.updateObserver()
    return () => {
      const i = this.observers.indexOf(observer)
      if (i < 0) return
      this.observers.splice(i, 1)
      this.updateObserver()
    }
  }

  private updateObserver(): void {
    const n = this.observers.length
    this.observer = n === 0 ? null : n === 1 ? this.observers[0] : new ObserverList([...this.observers])
  }

  /** True while `fileobj` is registered with this loop. */
  isRegistered(fileobj: Selectable): boolean {
    return this.selector.lookup(fileobj) !== undefined
  }

  /** Runs `callback` once, `delayMs` from now, between select rounds. Returns a cancellable handle. */
  callLater(delayMs: number, callback: () => void): TimerHandle {
    const when = performance.now() + Math.max(0, delayMs)
    const timer = this.timers.push(when, callback)
    // A select() waiting past this deadline must wake up to recompute its timeout.
    if (when < this.waitingUntil) this.waker.wake()
    return timer
  }

  get isRunning(): boolean {
    return this.running
  }

  /** Runs until stop(). Resolves when the loop has stopped. */
  async run(): Promise<void> {
    if (this.running) throw new Error('the loop is already running')
    this.running = true
    this.selector.register(this.waker, EVENT_READ, null)
    try {
      while (this.running) {
        const timeout = this.nextTimeout()
        this.waitingUntil = timeout === undefined ? Infinity : performance.now() + timeout
        const startedAt = this.observer !== null ? performance.now() : 0
        const ready = await this.selector.select(timeout)
        const selectedAt = this.observer !== null ? performance.now() : 0
        this.waitingUntil = -Infinity
        if (this.trace) this.traceRound(timeout, ready)
        // startedAt is 0 when an observer arrived during the wait: that round is not reported.
        const observed = this.observer !== null && startedAt !== 0
        if (observed) this.beginRound(ready, timeout, startedAt, selectedAt)
        let dispatched = 0
        for (let i = 0; i < ready.length; i++) {
          const fileobj = ready[i][0].fileobj
          // An earlier callback of this round may have unregistered or modified this object.
          const key = this.selector.lookup(fileobj)
          if (key === undefined) continue
          const mask = ready[i][1] & key.events
          if (mask === 0) continue
          if (fileobj === this.waker) {
            this.waker.drain()
            continue
          }
          this.dispatch(key, mask)
          dispatched++
        }
        this.runDueTimers()
        if (observed && this.observer !== null) this.reportRound(dispatched, selectedAt)
      }
    } finally {
      this.running = false
      if (!this.selector.closed && this.selector.lookup(this.waker)) this.selector.unregister(this.waker)
    }
  }

  /** Makes run() return after the current round; wakes a select() that is waiting. */
  stop(): void {
    this.running = false
    this.waker.wake()
  }

  /** Stops the loop (if running) and closes its selector. */
  close(): void {
    this.stop()
    this.selector.close()
  }

  private beginRound(ready: SelectResult, timeout: number | undefined, startedAt: number, selectedAt: number): void {
    const r = this.roundInfo
    r.round++
    r.ready = ready
    r.dispatched = 0
    r.timeoutMs = timeout
    r.waitedMs = selectedAt - startedAt
    r.busyMs = 0
    this.observer!.roundStarted?.(r)
  }

  private reportRound(dispatched: number, selectedAt: number): void {
    const r = this.roundInfo
    r.dispatched = dispatched
    r.busyMs = performance.now() - selectedAt
    this.observer!.roundDone(r)
    r.ready = []
  }

  private dispatch(key: SelectorKey, mask: number): void {
    const callback = key.data as Callback
    if (this.trace) this.trace(`  dispatch fd ${key.fd} ${eventNames(mask)} → ${callback.name || 'callback'}`)
    try {
      callback(key.fileobj, mask)
    } catch (err) {
      this.onError(err, key)
    }
  }

  private nextTimeout(): number | undefined {
    const next = this.timers.peek()
    if (!next) return undefined
    return Math.max(0, next.when - performance.now())
  }

  private runDueTimers(): void {
    const now = performance.now()
    // Only timers due now: one that a callback schedules for 0 ms runs next round, not in a loop.
    let timer = this.timers.peek()
    const count = this.timers.size
    for (let n = 0; timer && timer.when <= now && n < count; n++) {
      this.timers.pop()
      timer.cancelled = true
      try {
        timer.callback()
      } catch (err) {
        process.stderr.write(`selectloop: timer callback failed: ${(err as Error)?.stack ?? err}\n`)
      }
      timer = this.timers.peek()
    }
  }

  private traceRound(timeout: number | undefined, ready: Array<[SelectorKey, number]>): void {
    const t = timeout === undefined ? '∞' : `${timeout.toFixed(1)}ms`
    const list = ready
      .filter(([key]) => key.fileobj !== this.waker)
      .map(([key, mask]) => `fd ${key.fd} ${eventNames(mask)}`)
      .join(', ')
    this.trace!(`select #${++this.round} (timeout ${t}) → ${list ? list : 'nothing ready'}`)
  }

  private defaultOnError(err: unknown, key: SelectorKey): void {
    process.stderr.write(`selectloop: callback for fd ${key.fd} failed, closing it: ${(err as Error)?.stack ?? err}\n`)
    if (this.selector.lookup(key.fileobj)) this.selector.unregister(key.fileobj)
    const closable = key.fileobj as Selectable & { close?: () => void }
    if (typeof closable.close === 'function') closable.close()
  }
}
