// Things that arrive from outside the loop (a Redis subscription's messages, a supervisor's IPC
// messages) as a selectable queue: readable while something waits, so the loop handles them in its
// own rounds, between its sockets, exactly as it handles stdin. Nothing is acted on from a
// Node callback: the callback only queues and tells the selector.
import { EVENT_READ, Selectable } from '../reactor/index.js'

export class Inbox<T> extends Selectable {
  private items: T[] = []
  private head = 0
  private isClosed = false
  /** Items refused because the inbox was full (see put()). */
  dropped = 0

  /** `max` bounds what may wait: a loop that falls behind cannot make the queue grow without end. */
  constructor(private readonly max = 100_000) {
    super()
  }

  readiness(): number {
    return !this.isClosed && this.size > 0 ? EVENT_READ : 0
  }

  get closed(): boolean {
    return this.isClosed
  }

  /** Items waiting. */
  get size(): number {
    return this.items.length - this.head
  }

  /**
   * Queues an item. Returns false (and counts it in `dropped`) when the inbox is full and the item
   * may be dropped; an item that must not be lost (`droppable` false) is queued past the bound.
   */
  put(item: T, droppable = true): boolean {
    if (this.isClosed) return false
    if (droppable && this.size >= this.max) {
      this.dropped++
      return false
    }
    this.items.push(item)
    if (this.size === 1) this.changed()
    return true
  }

  /** The next item, or null when none waits (would block). */
  take(): T | null {
    if (this.head >= this.items.length) return null
    const item = this.items[this.head++]
    // Compact now and then rather than shift() each time (shift is O(n) on a long queue).
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    } else if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    }
    return item
  }

  /** Forgets what waits; nothing more is queued. Idempotent. */
  close(): void {
    this.isClosed = true
    this.items = []
    this.head = 0
    this.changed()
  }
}
