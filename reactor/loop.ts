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
import { DefaultSelector, type BaseSelector, type SelectorKey } from './selector.js'
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

  constructor(options: EventLoopOptions = {}) {
    this.selector = options.selector ?? new DefaultSelector()
    const trace = options.trace
    this.trace = trace === true ? line => process.stderr.write(line + '\n') : trace || null
    this.onError = options.onError ?? ((err, key) => this.defaultOnError(err, key))
  }

  /** Registers `fileobj` with `callback` as its data; returns the key (errors as the selector's). */
  register<F extends Selectable>(fileobj: F, events: number, callback: Callback<F>): SelectorKey<Callback<F>> {
    return this.selector.register(fileobj, events, callback)
  }

  /** Changes the events (and the callback, if given) of a registration; returns the new key. */
  modify<F extends Selectable>(fileobj: F, events: number, callback?: Callback<F>): SelectorKey {
    const key = this.selector.lookup(fileobj)
    if (key && key.events === events && (callback === undefined || callback === key.data)) return key
    return this.selector.modify(fileobj, events, callback ?? this.selector.getKey(fileobj).data)
  }

  /** Unregisters `fileobj`; returns its key (KeyError if unknown). */
  unregister(fileobj: Selectable): SelectorKey {
    return this.selector.unregister(fileobj)
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
        const ready = await this.selector.select(timeout)
        this.waitingUntil = -Infinity
        if (this.trace) this.traceRound(timeout, ready)
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
        }
        this.runDueTimers()
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
