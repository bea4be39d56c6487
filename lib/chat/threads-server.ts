// The `threads` model of the chat: one OS thread per connection, each running
// threads-handler.ts (the classic Python threaded chat server), all sharing one client list
// behind one mutex (client-list.ts). The main thread accepts and owns the sockets (moving their
// bytes to and from the threads: lib/threads/host.ts), turns away clients past --max-clients,
// and runs the operator console: it reads stdin and speaks into the room through the same list,
// taking the same lock (without blocking: Mutex.lockAsync). The main thread's room (the
// operator's commands, the shutdown, a thread that died) is the same ChatRoom the threads run.
import { log } from '../log.js'
import { listenNetServer, stoppableServer, type RunningServer } from '../server-lifecycle.js'
import { builtSibling } from '../built.js'
import { ThreadHost, slotCountFor } from '../threads/host.js'
import { SharedClientList } from './client-list.js'
import { MutexStats } from '../threads/mutex.js'
import { ObservedRoster, RoomEventQueue, RoomEventSequencer, roomEventCounter, type RoomEvent } from './observed-roster.js'
import { OperatorConsole } from './operator-console.js'
import type { ChatOptions } from './options.js'
import { replies } from './replies.js'
import { ChatRoom } from './room.js'
import type { ChatThreadsShared } from './threads-handler.js'
import { createStreamServer } from '../tls/server.js'

/**
 * Bytes of each connection's inbound ring. Small: chat messages are short (a longer line is the
 * framer's business), and what is in the ring when a client resets is still read and relayed, so
 * it is also how far a throttled flooder's backlog can outlive it.
 */
const INBOUND_RING_BYTES = 16 * 1024
const MIN_OUTBOUND_RING_BYTES = 256 * 1024
const MAX_OUTBOUND_RING_BYTES = 8 * 1024 * 1024
/** Address space reserved for all outbound rings at most (only pages in use are resident). */
const OUTBOUND_RESERVE_BYTES = 4 * 1024 ** 3

/**
 * A connection's outbound ring is its output queue. Twice --max-outbuf: a client is dropped once
 * more than --max-outbuf is queued *and* its socket refuses more; the other half is slack for
 * moments when the main thread is behind moving bytes, which must not look like a client that
 * does not read. Bounded, so that all the rings fit in a sane amount of address space.
 */
export function outboundRingBytes(maxOutbuf: number, slotCount: number): number {
  let bytes = MIN_OUTBOUND_RING_BYTES
  while (bytes < 2 * maxOutbuf && bytes < MAX_OUTBOUND_RING_BYTES) bytes *= 2
  while (bytes > 64 * 1024 && bytes * slotCount > OUTBOUND_RESERVE_BYTES) bytes /= 2
  return bytes
}

export async function startThreadsChat(options: ChatOptions): Promise<RunningServer> {
  // Sized for the thread cap asked for; the host may lower it (ulimit -n), never raise it.
  const slotCount = slotCountFor(options.maxThreads)
  const outBytes = outboundRingBytes(options.maxOutbuf, slotCount)
  if (outBytes < options.maxOutbuf) {
    log(`--max-outbuf ${options.maxOutbuf} is more than a connection's output ring holds here (${outBytes}): clients are dropped when it is full`)
  }
  const observer = options.observer ?? null
  // Watched: how the list's lock is taken, counted by every thread into the same counters.
  const lockStats = observer ? MutexStats.create() : null
  // Watched: the room's events, numbered under the lock by whichever thread has it, replayed here in order.
  const roomEventSeq = observer ? roomEventCounter() : null
  const sequencer = observer ? new RoomEventSequencer(observer) : null
  const shared: ChatThreadsShared = {
    lockStats: lockStats?.sab ?? null,
    roomEvents: roomEventSeq,
    list: SharedClientList.allocate(slotCount, options.maxName),
    options: {
      framing: options.framing,
      maxLine: options.maxLine,
      maxName: options.maxName,
      maxOutbuf: options.maxOutbuf,
      verbose: options.verbose,
      idleTimeoutMs: options.idleTimeoutMs,
      maxRate: options.maxRate,
    },
  }
  // Connections being served: counted when accepted, before their thread exists (it takes ~30 ms
  // to start), so a burst cannot overshoot --max-clients; counted out when their handler is done.
  let admitted = 0
  const host = new ThreadHost({
    handler: builtSibling(import.meta.url, './threads-handler.js'),
    shared,
    maxThreads: options.maxThreads,
    pool: options.pool,
    ringBytes: INBOUND_RING_BYTES,
    outboundRingBytes: outBytes,
    verbose: false, // connects and disconnects are logged by the chat, with its counts
    onHandlerDone: (slot, id) => {
      admitted--
      // Its thread normally leaves the list itself; one that died before it could is removed here.
      if (list.stateNow(slot) !== null) void locked(() => abandon(slot, id))
    },
    observer,
    // The room's changes, as each connection's thread saw them under the lock.
    onHandlerEvent: events => sequencer!.push(events as RoomEvent[]),
  })
  const list = new SharedClientList(shared.list, host.slots, options)
  if (lockStats) list.lock.watch(lockStats)
  /** Runs `fn` holding the list's lock, taken without blocking the main thread. */
  async function locked(fn: () => void): Promise<void> {
    await list.lock.lockAsync()
    try {
      fn()
    } finally {
      list.lock.unlock()
      if (mainEvents !== null && mainEvents.size > 0) sequencer!.push(mainEvents.take())
    }
  }
  // The main thread's deliveries never wait (a full ring is a drop), so its room never blocks.
  const operator = new StdinConsole(options.maxLine, text => locked(() => room.operator(text)))
  const mainEvents = roomEventSeq ? new RoomEventQueue(roomEventSeq) : null
  const roster = mainEvents ? new ObservedRoster(list, mainEvents, slot => list.serialOf(slot)) : list
  const room = new ChatRoom(roster, { log, console: text => operator.print(text) }, options)
  /** Lock held. A thread died before it could leave: its connection goes as any other (unless its slot has moved on). */
  function abandon(slot: number, id: number): void {
    if (list.holds(slot, id)) room.closed({ id: slot, serial: id, peer: `connection ${id}` }, 'its thread died')
  }
  observer?.serverStarted({
    protocol: 'chat',
    model: 'threads',
    loop: null,
    operator: (text, answer) => locked(() => room.operator(text, answer)),
    lock: lockStats ? () => lockStats.sample(list.lock) : null,
  })
  await host.start()

  let stopping = false
  const server = createStreamServer(options.tls, socket => {
    if (stopping) {
      socket.destroy()
      return
    }
    if (admitted >= options.maxClients) {
      host.refuse(socket, replies.full(options.maxClients), `server full (${options.maxClients} clients)`)
      return
    }
    if (host.serve(socket)) admitted++ // else refused by the host (thread limit), which said why
  }, options.maxClients)

  const address = await listenNetServer(server, options)
  if (options.console) operator.open()
  // Stop accepting; under the lock, tell everyone `server closing` and mark them CLOSING (after it
  // nobody is sent anything else); then every thread sees end of input, leaves, and its
  // connection is flushed and closed. What is left after the grace time is closed (FIN).
  return stoppableServer(address, async () => {
    stopping = true
    const closed = new Promise<void>(r => server.close(() => r()))
    operator.close()
    await locked(() => room.shutdown())
    await host.stop(options.shutdownGraceMs)
    await closed
  })
}

/**
 * The server's stdin on the main thread: its 'data' events feed the operator console, and each
 * line is carried out (under the list's lock) after the one before.
 */
class StdinConsole {
  private readonly console: OperatorConsole
  private queue: Promise<void> = Promise.resolve()
  private reading = false

  constructor(maxLine: number, carryOut: (text: string) => Promise<void>) {
    const run = (text: string) => {
      this.queue = this.queue.then(() => carryOut(text)).catch(err => log(`operator console: ${(err as Error).stack ?? err}`))
    }
    this.console = new OperatorConsole(maxLine, run, () => this.close())
  }

  print(text: string): void {
    this.console.print(text)
  }

  open(): void {
    this.reading = true
    process.stdin.on('data', this.onData)
    process.stdin.on('end', this.onEnd)
    process.stdin.on('error', this.onEnd) // an unreadable stdin (EIO, ...) is treated as closed
  }

  close(): void {
    if (!this.reading) return
    this.reading = false
    process.stdin.off('data', this.onData)
    process.stdin.off('end', this.onEnd)
    process.stdin.off('error', this.onEnd)
    process.stdin.destroy() // nothing else keeps the process alive once the threads are gone
  }

  private readonly onData = (data: Buffer): void => this.console.input(data)
  private readonly onEnd = (): void => this.console.end()
}
