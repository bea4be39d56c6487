// The self-pipe trick: a file object that becomes readable when wake() is called, so that another
// part of the program (stop(), a new earlier timer) can interrupt a select() that is waiting.
import { EVENT_READ, Selectable } from './selectable.js'

export class Waker extends Selectable {
  private pending = false
  private isClosed = false

  readiness(): number {
    return this.pending && !this.isClosed ? EVENT_READ : 0
  }

  get closed(): boolean {
    return this.isClosed
  }

  /** Makes the waker readable (idempotent until drain()). */
  wake(): void {
    if (this.pending) return
    this.pending = true
    this.changed()
  }

  /** Consumes the wake-up, as reading the pipe empty. */
  drain(): void {
    this.pending = false
  }

  close(): void {
    this.isClosed = true
  }
}
