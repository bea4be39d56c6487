// The main thread's half of one connection of the `threads` model: it pumps bytes between the
// socket (which only the main thread may own) and the connection's two shared-memory rings,
// `inbound` (socket → handler thread) and `outbound` (handler thread → socket). It never blocks:
// when a ring is full or empty it waits with Atomics.waitAsync.
//
// Three state machines, one per concern:
//
//   phase  SERVING ──handler done──▶ LINGERING ──socket closed──▶ CLOSED ──waits settled──▶ RELEASED
//             └──socket closed──▶ ORPHANED ──handler done──▶ CLOSED
//   in     READING ⇄ BLOCKED (ring full) ──FIN / stop──▶ EOF;   any ──handler gone, ring dead──▶ DISCARDING
//   out    PUMPING ──handler's EOF, flushed──▶ ENDED;   any ──reset, closed──▶ DONE
//
// Shutdown, in three steps, each a FIN and never a reset (a reset makes the kernel drop what it
// still holds for the client, echo already sent included):
//   endInput  the handler sees end of input after every byte received before the stop;
//   wrapUp    the grace is over: a handler still running is woken, what it wrote is still sent;
//   abandon   what could not be flushed by then is dropped; the kernel still delivers what it holds.
import type { ObservedConnection, ServerObserver } from '../observer.js'
import type net from 'node:net'
import { FLAG_CLOSED, FLAG_EOF, FLAG_RESET, ResetReason, type Ring } from './ring.js'

export const Phase = {
  /** Its thread is running the handler. */
  SERVING: 'SERVING',
  /** The handler has finished; the socket is still flushing or half-open. */
  LINGERING: 'LINGERING',
  /** The socket has closed; the handler has not finished yet. */
  ORPHANED: 'ORPHANED',
  /** Both finished; waiting for outstanding ring waits to settle before the slot is reused. */
  CLOSED: 'CLOSED',
  /** Slot returned to the free list. */
  RELEASED: 'RELEASED',
} as const
export type Phase = (typeof Phase)[keyof typeof Phase]

export const InState = {
  /** Socket flowing into the ring. */
  READING: 'READING',
  /** Ring full: socket paused, `pending` waits for space. */
  BLOCKED: 'BLOCKED',
  /** The client's FIN (or the server's stop) has been passed on. */
  EOF: 'EOF',
  /** The handler stopped reading (or the ring is dead): input is dropped. */
  DISCARDING: 'DISCARDING',
} as const
export type InState = (typeof InState)[keyof typeof InState]

export const OutState = {
  /** Moving ring bytes to the socket, or waiting for some. */
  PUMPING: 'PUMPING',
  /** The handler's EOF reached the socket (end() called). */
  ENDED: 'ENDED',
  /** Reset or destroyed. */
  DONE: 'DONE',
} as const
export type OutState = (typeof OutState)[keyof typeof OutState]

/** After our FIN, how long a finished connection may wait for the client's before it is dropped. */
const LINGER_MS = 10_000

/** What a pump needs of the host that owns it. */
export interface PumpOwner {
  readonly verbose: boolean
  log(message: string): void
  /** The connection is finished on both sides (phase CLOSED): its slot may be reused once no wait of ours is left. */
  release(pump: ConnectionPump): void
}

export class ConnectionPump {
  phase: Phase = Phase.SERVING
  inState: InState = InState.READING
  outState: OutState = OutState.PUMPING
  /** Bytes read from the socket that did not fit in the ring yet. */
  private pending: Buffer | null = null
  /** The client's FIN has arrived. */
  private sawEof = false
  /** Bytes of input to pass on at most: all until the server stops, then what had arrived by then. */
  private inputLimit = Infinity
  /** Bytes of input passed on (into the ring, or `pending`). */
  private accepted = 0
  /** The grace is over: close as soon as the output is flushed, without waiting for the client's FIN. */
  private closing = false
  /** Outbound bytes handed to socket.write and not yet written (their ring space is still held). */
  private inFlight = 0
  private readonly writeSizes: number[] = []
  /** Outstanding Atomics.waitAsync waits on this slot's rings (the slot is reused only at 0). */
  private waits = 0
  private finished = false
  private lingerTimer: NodeJS.Timeout | null = null
  readonly remote: string
  /** Who is told of each chunk moved (lib/observer.ts), and as what; null: nobody, one check a chunk. */
  private observer: ServerObserver | null = null
  private seen: ObservedConnection | null = null

  constructor(
    private readonly owner: PumpOwner,
    readonly id: number,
    readonly slot: number,
    readonly socket: net.Socket,
    readonly inbound: Ring,
    readonly outbound: Ring,
  ) {
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`
  }

  /** Tells `observer` of every chunk moved between the socket and the rings, as connection `seen`. */
  watch(observer: ServerObserver, seen: ObservedConnection): void {
    this.observer = observer
    this.seen = seen
  }

  /** Starts pumping: the rings must have been reset. */
  start(): void {
    const s = this.socket
    s.on('data', this.onData)
    s.on('end', this.onEnd)
    s.on('error', this.onError)
    s.on('finish', this.onFinish)
    s.on('close', this.onClose)
    s.on('drain', this.onDrain)
    this.pumpOut()
  }

  // -- socket → inbound ring --

  private readonly onData = (chunk: Buffer): void => {
    switch (this.inState) {
      case InState.READING: {
        const data = this.admit(chunk)
        if (this.observer !== null && data.length > 0) this.observer.received(this.seen!, data.length)
        const n = this.inbound.write(data)
        if (this.inbound.flags() & (FLAG_CLOSED | FLAG_RESET)) return this.discardInput()
        if (n < data.length) {
          this.pending = data.subarray(n)
          this.inState = InState.BLOCKED
          this.socket.pause()
          this.fillRing()
        } else if (this.inputComplete()) this.passEof()
        return
      }
      case InState.BLOCKED: {
        // Paused, but a chunk already on its way may still come: queue it.
        const data = this.admit(chunk)
        if (data.length > 0) this.pending = this.pending ? Buffer.concat([this.pending, data]) : data
        return
      }
      case InState.EOF:
      case InState.DISCARDING:
        return
    }
  }

  private readonly onEnd = (): void => {
    this.sawEof = true
    if (this.inState === InState.READING) this.passEof()
  }

  /**
   * The server is stopping: the handler sees end of input (recv returns b''), as if the client had
   * sent FIN, after every byte the server had received by now. Some may still be on their way to
   * the ring (queued while it was full, or in the paused socket's buffer): they are passed on first.
   */
  endInput(): void {
    if (this.inputLimit !== Infinity) return
    this.inputLimit = this.socket.bytesRead
    if (this.inState === InState.READING && this.inputComplete()) this.passEof()
  }

  /** The part of `chunk` still to be passed on (all of it, until the server stops). */
  private admit(chunk: Buffer): Buffer {
    const room = this.inputLimit - this.accepted
    const data = chunk.length <= room ? chunk : chunk.subarray(0, room)
    this.accepted += data.length
    return data
  }

  /** No more input will be passed on: the client's FIN, or all that had arrived before the stop. */
  private inputComplete(): boolean {
    return this.sawEof || this.accepted >= this.inputLimit
  }

  /** The handler will read EOF after what is in the ring; the socket rests until it is done. */
  private passEof(): void {
    this.inState = InState.EOF
    this.socket.pause()
    this.inbound.end()
  }

  private discardInput(): void {
    this.inState = InState.DISCARDING
    this.pending = null
    this.socket.resume() // keep reading and dropping, so the client is never stuck writing to us
  }

  /** Moves `pending` into the ring as space appears; resumes the socket when it is all in. */
  private fillRing(): void {
    while (this.inState === InState.BLOCKED && this.pending) {
      if (this.inbound.flags() & (FLAG_CLOSED | FLAG_RESET)) return this.discardInput()
      const seq = this.inbound.spaceSeq() // before looking at the space: no lost wake-up
      const n = this.inbound.write(this.pending)
      if (n === this.pending.length) {
        this.pending = null
        if (this.inputComplete()) return this.passEof()
        this.inState = InState.READING
        this.socket.resume()
        return
      }
      this.pending = this.pending.subarray(n)
      const wait = this.inbound.whenSpace(seq, this.pending.length)
      if (wait) {
        this.waits++
        wait.then(this.afterSpaceWait)
        return
      }
    }
  }

  private readonly afterSpaceWait = (): void => {
    this.waits--
    if (this.phase === Phase.CLOSED) return this.owner.release(this)
    this.fillRing()
  }

  // -- outbound ring → socket --

  /** Writes every readable region of the ring straight from shared memory (no copy). */
  private pumpOut(): void {
    for (;;) {
      if (this.outState !== OutState.PUMPING || this.phase === Phase.CLOSED || this.phase === Phase.RELEASED) return
      const seq = this.outbound.dataSeq()
      const flags = this.outbound.flags()
      if (flags & FLAG_RESET) {
        this.outState = OutState.DONE
        if (this.outbound.resetReason() === ResetReason.LOCAL_RESET) this.socket.resetAndDestroy()
        else this.socket.destroy()
        return
      }
      const view = this.outbound.peek(this.inFlight, this.outbound.capacity)
      if (view.length > 0) {
        this.inFlight += view.length
        this.writeSizes.push(view.length)
        // The ring bounds what is in flight, so socket.write's "buffer full" answer needs no
        // extra pause: once the ring is full the handler blocks in sendall. It is published
        // (SINK_FULL) for producers that must not wait on a client that is not reading.
        if (!this.socket.write(view, this.onWritten)) this.outbound.markSinkFull(true)
        if (this.observer !== null) this.observer.sent(this.seen!, view.length, view.length)
        continue
      }
      if (flags & FLAG_EOF) {
        this.outState = OutState.ENDED
        this.socket.end()
        return
      }
      const wait = this.outbound.whenData(seq)
      if (wait) {
        this.waits++
        wait.then(this.afterDataWait)
        return
      }
    }
  }

  private readonly onWritten = (): void => {
    const n = this.writeSizes.shift()!
    this.inFlight -= n
    if (this.phase === Phase.RELEASED || this.phase === Phase.CLOSED) return
    this.outbound.consume(n)
  }

  private readonly onDrain = (): void => {
    if (this.phase !== Phase.CLOSED && this.phase !== Phase.RELEASED) this.outbound.markSinkFull(false)
  }

  private readonly afterDataWait = (): void => {
    this.waits--
    if (this.phase === Phase.CLOSED) return this.owner.release(this)
    this.pumpOut()
  }

  // -- endings --

  private readonly onError = (err: NodeJS.ErrnoException): void => {
    const reason = err.code === 'EPIPE' ? ResetReason.BROKEN_PIPE : ResetReason.PEER_RESET
    if (this.owner.verbose && err.code !== 'ECONNRESET' && err.code !== 'EPIPE') this.owner.log(`${this.remote}: ${err.message}`)
    this.abortRings(reason)
  }

  private readonly onFinish = (): void => {
    this.finished = true
    this.lingerIfDone()
  }

  private readonly onClose = (): void => {
    this.outState = OutState.DONE
    if (this.lingerTimer) clearTimeout(this.lingerTimer)
    switch (this.phase) {
      case Phase.SERVING:
        // The client is gone while the handler still runs: wake it with a reset.
        this.abortRings(ResetReason.PEER_RESET)
        this.phase = Phase.ORPHANED
        break
      case Phase.LINGERING:
        this.phase = Phase.CLOSED
        this.owner.release(this)
        break
      case Phase.ORPHANED:
      case Phase.CLOSED:
      case Phase.RELEASED:
        break
    }
  }

  /** The handler has returned (or its thread died). */
  handlerDone(): void {
    switch (this.phase) {
      case Phase.SERVING:
        this.phase = Phase.LINGERING
        // Nobody will read the input any more: keep draining it, so that the client's FIN is
        // seen (the socket may be paused: ring full, or the server stopping) and a close never
        // leaves unread bytes behind (the kernel would answer them with a RST).
        if (this.inState !== InState.DISCARDING) this.discardInput()
        this.lingerIfDone()
        break
      case Phase.ORPHANED:
        this.phase = Phase.CLOSED
        this.owner.release(this)
        break
      case Phase.LINGERING:
      case Phase.CLOSED:
      case Phase.RELEASED:
        break
    }
  }

  /**
   * The thread serving this connection ended before its handler did. A crash resets the
   * connection (a reply cut short must not pass for a whole one); a thread terminated at shutdown
   * leaves it closed as every model's shutdown does, with a FIN after what was already sent.
   */
  threadLost(terminated: boolean): void {
    this.abortRings(ResetReason.HANDLER_GONE)
    if (terminated) this.socket.destroy()
    else this.socket.resetAndDestroy()
    this.handlerDone()
  }

  /**
   * Our FIN is out and the handler is done: give the client a while to close its side (unread
   * input left at close would make the kernel send a reset), unless the server's grace is over.
   */
  private lingerIfDone(): void {
    if (this.phase !== Phase.LINGERING || !this.finished) return
    if (this.closing) return void this.socket.destroy()
    this.lingerTimer ??= setTimeout(() => this.socket.destroy(), LINGER_MS).unref()
  }

  /** Marks both rings dead (waking the handler and any wait of ours). */
  abortRings(reason: ResetReason): void {
    this.inbound.abort(reason)
    this.outbound.abort(reason)
  }

  /**
   * The server's grace is over. A handler still running is woken without losing what it wrote:
   * its recv and sendall raise (no more input, no more output accepted), and what its ring holds
   * is still sent, then FIN. A finished connection closes as soon as its output is flushed.
   */
  wrapUp(): void {
    this.closing = true
    switch (this.phase) {
      case Phase.SERVING:
        this.inbound.abort(ResetReason.SHUTDOWN)
        this.outbound.closeReader()
        break
      case Phase.LINGERING:
        this.lingerIfDone()
        break
      case Phase.ORPHANED:
        this.abortRings(ResetReason.SHUTDOWN)
        break
      case Phase.CLOSED:
      case Phase.RELEASED:
        break
    }
  }

  /**
   * Nothing more can be flushed (the client is not reading): the socket is closed, so the kernel
   * still delivers what it holds, then FIN; what Node still held is dropped. Wakes the handler.
   */
  abandon(): void {
    this.closing = true
    this.abortRings(ResetReason.SHUTDOWN)
    this.socket.destroy()
  }

  /**
   * True once the slot may be reused: both sides finished (CLOSED) and no wait of ours left on its
   * rings. Else wakes those waits (the rings are dead anyway); the last to settle calls release again.
   */
  releasable(): boolean {
    if (this.phase !== Phase.CLOSED) return false
    if (this.waits === 0) return true
    this.abortRings(ResetReason.PEER_RESET)
    return false
  }

  /** The slot is free again. */
  markReleased(): void {
    this.phase = Phase.RELEASED
  }
}
