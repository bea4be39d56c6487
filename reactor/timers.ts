// Timers for the loop: a binary min-heap on deadline, cancelled entries dropped lazily, as
// asyncio's BaseEventLoop keeps its _scheduled heap.

export interface TimerHandle {
  /** Cancels the timer; calling it after it ran does nothing. */
  cancel(): void
  readonly cancelled: boolean
}

export class Timer implements TimerHandle {
  cancelled = false
  constructor(
    readonly when: number,
    readonly callback: () => void,
    readonly seq: number,
  ) {}
  cancel(): void {
    this.cancelled = true
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.when < b.when || (a.when === b.when && a.seq < b.seq)
}

export class TimerHeap {
  private heap: Timer[] = []
  private seq = 0

  get size(): number {
    return this.heap.length
  }

  /** Schedules `callback` at `when` (performance.now() milliseconds). */
  push(when: number, callback: () => void): Timer {
    const timer = new Timer(when, callback, this.seq++)
    const heap = this.heap
    heap.push(timer)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(heap[i], heap[parent])) break
      ;[heap[i], heap[parent]] = [heap[parent], heap[i]]
      i = parent
    }
    return timer
  }

  /** The earliest live timer, or undefined (cancelled ones at the top are dropped). */
  peek(): Timer | undefined {
    while (this.heap.length > 0 && this.heap[0].cancelled) this.pop()
    return this.heap[0]
  }

  pop(): Timer | undefined {
    const heap = this.heap
    const top = heap[0]
    const last = heap.pop()
    if (heap.length > 0 && last) {
      heap[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < heap.length && before(heap[l], heap[m])) m = l
        if (r < heap.length && before(heap[r], heap[m])) m = r
        if (m === i) break
        ;[heap[i], heap[m]] = [heap[m], heap[i]]
        i = m
      }
    }
    return top
  }
}
