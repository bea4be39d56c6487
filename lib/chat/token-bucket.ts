// Flood control (--max-rate), as both models meter one client's input. Each line a client sends
// is copied to every other member, so one client sending as fast as it can would fill everyone's
// output faster than they read, and get them dropped as not reading. A token bucket per client
// holds a second's worth of bytes and refills at the rate; a client whose bucket is empty is
// simply not read until it refills (its bytes wait in the socket, TCP slows it down: nothing is
// lost). A read is never cut short by the bucket: it may overdraw, and the next read waits.

export class TokenBucket {
  private tokens: number
  private refilledAt = performance.now()

  /** `rate` bytes per second, at most `capacity` at once. */
  constructor(
    readonly rate: number,
    readonly capacity: number,
  ) {
    this.tokens = capacity
  }

  /**
   * The chat's bucket for --max-rate: a second's worth, but at least two maximal lines (so one
   * line always fits). Null for 0, no limit.
   */
  static forChat(maxRate: number, maxLine: number): TokenBucket | null {
    return maxRate > 0 ? new TokenBucket(maxRate, Math.max(maxRate, 2 * (maxLine + 1))) : null
  }

  /** Tops up for the time gone by; returns the bytes it holds now (0 or less: do not read). */
  refill(): number {
    const now = performance.now()
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.refilledAt) * this.rate) / 1000)
    this.refilledAt = now
    return this.tokens
  }

  /** How much the next read may take: at most `max`, at least 1, what the bucket holds. */
  readSize(max: number): number {
    return Math.max(1, Math.min(max, Math.floor(this.refill())))
  }

  /** Takes the `n` bytes a read got; returns true when the bucket is now empty (stop reading). */
  take(n: number): boolean {
    this.tokens -= n
    return this.tokens <= 0
  }
}
