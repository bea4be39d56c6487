// The connection threads: worker_threads that each serve one connection at a time.
//
// A thread is spawned for a connection when none is parked, up to the cap. When its handler is
// done it is parked (idle in its event loop, for the next connection) while fewer than `keep`
// are parked, else it exits. The pool knows nothing of sockets: a connection is an opaque `C`
// handed back in the events, and what a thread needs to serve it is a ServeMessage.
//
//   STARTING ──ready──▶ PARKED ──assign──▶ BUSY ──done──▶ PARKED (or EXITING)
//      └──assign (queued before ready)──▶ BUSY                       │
//   any ──exit requested / terminated──▶ EXITING ──'exit'──▶ (gone)  ◀┘
import { Worker } from 'node:worker_threads'
import { RateLimitedLog } from '../log.js'
import type { HostMessage, Outcome, ServeMessage, ThreadBoot, ThreadMessage } from './handler.js'

export const ThreadState = {
  /** Spawned; loading the handler module (it may already have a connection queued). */
  STARTING: 'STARTING',
  /** Idle in its event loop, waiting for a connection. */
  PARKED: 'PARKED',
  /** Running handle() for a connection. */
  BUSY: 'BUSY',
  /** Asked to exit, or terminated; still counted until its 'exit' event. */
  EXITING: 'EXITING',
} as const
export type ThreadState = (typeof ThreadState)[keyof typeof ThreadState]

/** What the pool tells its owner (all on the main thread). */
export interface ThreadPoolEvents<C> {
  /** The handler serving `conn` returned or threw (`outcome`, with the error's text). */
  handlerDone(conn: C, outcome: Outcome, error: string | undefined, threadId: number): void
  /** The thread serving `conn` ended before its handler did: `terminated` by us, or it died. */
  threadLost(conn: C, threadId: number, terminated: boolean): void
  /** A thread has gone (the pool may now be empty). */
  threadGone(): void
  /** For a watcher: a thread is now in `state` (EXITED: gone), serving `conn` or nothing. */
  threadChanged?(threadId: number, state: ThreadState | 'EXITED', conn: C | null): void
  /** A handler emitted `event` (ThreadInit.emit). */
  handlerEvent?(event: unknown, threadId: number): void
}

export interface ThreadPoolOptions {
  /** The worker entry, as built JavaScript. */
  workerUrl: URL
  /** workerData of every thread. */
  boot: ThreadBoot
  /** Live threads at most (parked and exiting ones count). */
  maxThreads: number
  /** Threads started up front, and finished ones kept parked, at most. */
  keep: number
  log(message: string): void
}

/** One thread, as the pool sees it. */
class ThreadRecord<C> {
  state: ThreadState = ThreadState.STARTING
  conn: C | null = null
  /** Who it serves, for the log line of a thread that dies under its connection. */
  peer = ''
  readonly id: number

  constructor(readonly worker: Worker) {
    this.id = worker.threadId
  }
}

/** A thread ready to be given a connection (from ThreadPool.acquire). */
export type ThreadHandle<C> = Pick<ThreadRecord<C>, 'id'>

export class ThreadPool<C> {
  private readonly threads = new Set<ThreadRecord<C>>()
  private readonly parked: ThreadRecord<C>[] = []
  private readonly failures = new RateLimitedLog()
  private closing = false

  constructor(
    private readonly options: ThreadPoolOptions,
    private readonly events: ThreadPoolEvents<C>,
  ) {}

  /** Live threads: starting, parked, busy and exiting. */
  get size(): number {
    return this.threads.size
  }

  /** Starts `keep` threads and resolves once each is parked (or has failed). */
  async start(): Promise<void> {
    const starting = Array.from({ length: this.options.keep }, () => this.spawn())
    await Promise.all(
      starting.map(
        t => new Promise<void>(resolve => {
          const done = () => resolve()
          t.worker.once('message', done)
          t.worker.once('exit', done)
        }),
      ),
    )
  }

  /** A parked thread, else a new one if the cap allows; null at the cap (or once closing). */
  acquire(): ThreadHandle<C> | null {
    if (this.closing) return null
    return this.parked.pop() ?? (this.threads.size < this.options.maxThreads ? this.spawn() : null)
  }

  /** Gives `conn` to a thread from acquire(); it starts serving as soon as it is ready. */
  assign(handle: ThreadHandle<C>, conn: C, msg: ServeMessage): void {
    const t = handle as ThreadRecord<C> // acquire() hands out nothing else
    t.conn = conn
    t.peer = `${msg.remoteAddress}:${msg.remotePort}`
    if (t.state === ThreadState.PARKED) t.state = ThreadState.BUSY
    this.changed(t)
    t.worker.postMessage(msg)
  }

  /** No more parking: parked threads, and starting ones with nothing to serve, exit now. */
  close(): void {
    this.closing = true
    for (const t of this.parked.splice(0)) this.exitThread(t)
    for (const t of this.threads) if (t.state === ThreadState.STARTING && !t.conn) this.exitThread(t)
  }

  /** Ends every thread: idle ones exit, busy ones are terminated (their handlers cut short). */
  terminateAll(): void {
    this.closing = true
    for (const t of this.threads) this.exitThread(t)
  }

  private spawn(): ThreadRecord<C> {
    const worker = new Worker(this.options.workerUrl, { workerData: this.options.boot })
    const t = new ThreadRecord<C>(worker)
    this.threads.add(t)
    this.changed(t)
    worker.on('message', (m: ThreadMessage) => this.onMessage(t, m))
    worker.on('error', err => this.onError(t, err))
    worker.on('exit', code => this.onExit(t, code))
    return t
  }

  private onMessage(t: ThreadRecord<C>, m: ThreadMessage): void {
    switch (m.type) {
      case 'ready':
        if (t.state !== ThreadState.STARTING) return
        if (t.conn) {
          t.state = ThreadState.BUSY
          this.changed(t)
        } else this.park(t)
        return
      case 'done':
        return this.onDone(t, m.outcome, m.error)
      case 'print': {
        const stream = m.stream === 'stdout' ? process.stdout : process.stderr
        if (!stream.destroyed) stream.write(m.text) // a closed stdout (EPIPE) costs only the output
        return
      }
      case 'event':
        this.events.handlerEvent?.(m.event, t.id)
        return
    }
  }

  private onDone(t: ThreadRecord<C>, outcome: Outcome, error: string | undefined): void {
    const conn = t.conn
    t.conn = null
    if (conn) this.events.handlerDone(conn, outcome, error, t.id)
    if (t.state !== ThreadState.BUSY) return
    if (!this.closing && this.parked.length < this.options.keep) this.park(t)
    else this.exitThread(t)
  }

  private park(t: ThreadRecord<C>): void {
    t.state = ThreadState.PARKED
    this.parked.push(t)
    this.changed(t)
  }

  /** Ends a thread: an idle one is asked to exit (code 0), a busy one is terminated. */
  private exitThread(t: ThreadRecord<C>): void {
    if (t.state === ThreadState.EXITING) return
    const idle = !t.conn
    t.state = ThreadState.EXITING
    this.changed(t)
    if (idle) t.worker.postMessage({ type: 'exit' } satisfies HostMessage)
    else void t.worker.terminate()
  }

  /** Tells a watcher, if there is one, the thread's state now. */
  private changed(t: ThreadRecord<C>): void {
    this.events.threadChanged?.(t.id, t.state, t.conn)
  }

  private onError(t: ThreadRecord<C>, err: Error & { code?: string }): void {
    // A thread that cannot start (EMFILE, out of memory) is one line, rate-limited; a crash gets its stack.
    if (err.code === 'ERR_WORKER_INIT_FAILED' || t.state === ThreadState.STARTING) this.failures.log(`thread ${t.id} failed to start: ${err.message}`)
    else this.options.log(`thread ${t.id}: ${err.stack ?? err.message}`)
  }

  private onExit(t: ThreadRecord<C>, code: number): void {
    const terminated = t.state === ThreadState.EXITING
    this.threads.delete(t)
    const i = this.parked.indexOf(t)
    if (i >= 0) this.parked.splice(i, 1)
    this.events.threadChanged?.(t.id, 'EXITED', null)
    if (t.conn) {
      // It ended under its connection (a crash, or terminated at shutdown): that connection is lost.
      const conn = t.conn
      t.conn = null
      if (!terminated) this.failures.log(`thread ${t.id} ended while serving ${t.peer}: connection reset`)
      this.events.threadLost(conn, t.id, terminated)
    }
    this.events.threadGone()
  }
}
