// The open loop's schedule (`load --rate R`): a fixed timetable, whatever the server does.
// Message m (0, 1, 2, ...) falls due at start + m / R seconds and belongs to connection m mod N,
// so the connections take turns and each sends every N / R seconds, evenly out of phase.
// A connection's messages are therefore due at start + (c + kN) / R: its k-th message's due time
// is arithmetic, and the messages it has not sent yet (its backlog) are just a count, not a queue.
// That is what keeps a stalled server from costing the generator memory.

export class RateSchedule {
  private readonly msPerMessage: number

  /**
   * `rate`: messages per second over all `conns` connections; `startMs`: when message 0 falls
   * due (performance.now() time). Raises RangeError for a rate or a connection count below 1 message or 1 connection.
   */
  constructor(
    readonly rate: number,
    readonly conns: number,
    readonly startMs: number,
  ) {
    if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`a rate must be a positive number, got ${rate}`)
    if (!Number.isInteger(conns) || conns < 1) throw new RangeError(`a schedule needs at least one connection, got ${conns}`)
    this.msPerMessage = 1000 / rate
  }

  /** When message m falls due. */
  dueMs(m: number): number {
    return this.startMs + m * this.msPerMessage
  }

  /** How many messages have fallen due at `nowMs` (messages 0 .. n-1): 0 before the start. */
  dueBy(nowMs: number): number {
    if (nowMs < this.startMs) return 0
    return Math.floor((nowMs - this.startMs) / this.msPerMessage) + 1
  }

  /** The connection message m belongs to. */
  connOf(m: number): number {
    return m % this.conns
  }

  /** When connection c's k-th message (k = 0, 1, ...) falls due. */
  connDueMs(c: number, k: number): number {
    return this.dueMs(c + k * this.conns)
  }
}
