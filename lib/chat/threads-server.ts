// The `threads` model of the chat: one OS thread per connection, each running
// threads-handler.ts (the classic Python threaded chat server), all sharing one client list
// behind one mutex (client-list.ts). The main thread accepts and owns the sockets (moving their
// bytes to and from the threads: lib/threads/host.ts), turns away clients past --max-clients,
// and runs the operator console: it reads stdin and speaks into the room through the same list,
// taking the same lock (without blocking: Mutex.lockAsync).
import net from 'node:net'
import { log, RateLimitedLog } from '../log.js'
import { type RunningServer } from '../server-lifecycle.js'
import { builtSibling } from '../built.js'
import { ThreadHost, slotCountFor } from '../threads/host.js'
import { SharedClientList, Why } from './client-list.js'
import { OPERATOR_HELP, parseOperatorLine } from './commands.js'
import { MessageFramer } from './framing.js'
import type { ChatOptions } from './options.js'
import { replies, sanitize } from './replies.js'
import type { ChatThreadsShared } from './threads-handler.js'

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

const line = (text: string) => Buffer.from(text + '\n', 'utf8')

export async function startThreadsChat(options: ChatOptions): Promise<RunningServer> {
  // Sized for the thread cap asked for; the host may lower it (ulimit -n), never raise it.
  const slotCount = slotCountFor(options.maxThreads)
  const outBytes = outboundRingBytes(options.maxOutbuf, slotCount)
  if (outBytes < options.maxOutbuf) {
    log(`--max-outbuf ${options.maxOutbuf} is more than a connection's output ring holds here (${outBytes}): clients are dropped when it is full`)
  }
  const shared: ChatThreadsShared = {
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
    trace: options.trace,
    verbose: false, // connects and disconnects are logged by the chat, with its counts
    onHandlerDone: (slot, id) => {
      admitted--
      // Its thread normally leaves the list itself; one that died before it could is removed here.
      if (list.stateNow(slot) !== null) void abandon(slot, id)
    },
  })
  const list = new SharedClientList(shared.list, host.slots, options)
  await host.start()

  let stopping = false
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, socket => {
    if (stopping) {
      socket.destroy()
      return
    }
    if (admitted >= options.maxClients) {
      host.refuse(socket, replies.full(options.maxClients), `server full (${options.maxClients} clients)`)
      return
    }
    if (host.serve(socket)) admitted++ // else refused by the host (thread limit), which said why
  })

  async function abandon(slot: number, id: number): Promise<void> {
    await list.lock.lockAsync()
    try {
      const { removed, name } = list.abandon(slot, id)
      if (name !== null) list.broadcast(line(replies.left(name)), -1)
      if (removed) log(`${name ?? `connection ${id}`} left: its thread died (${list.counts()})`)
    } finally {
      list.lock.unlock()
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: options.host, port: options.port, backlog: options.backlog }, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const acceptErrors = new RateLimitedLog()
  server.on('error', err => acceptErrors.log(`accept failed: ${err.message}`))

  const operator = new OperatorConsole(list, options)
  if (options.console) operator.open()

  const address = server.address() as net.AddressInfo
  let resolveDone!: () => void
  const done = new Promise<void>(r => (resolveDone = r))
  let stopped: Promise<void> | null = null
  return {
    host: address.address,
    port: address.port,
    done,
    stop() {
      // Stop accepting; under the lock, tell everyone `server closing` and mark them CLOSING
      // (after it nobody is sent anything else); then every thread sees end of input, leaves,
      // and its connection is flushed and closed. What is left after the grace time is reset.
      stopped ??= (async () => {
        stopping = true
        const closed = new Promise<void>(r => server.close(() => r()))
        operator.close()
        await list.lock.lockAsync()
        try {
          list.shutdown(line(replies.closing()))
        } finally {
          list.lock.unlock()
        }
        await host.stop(options.shutdownGraceMs)
        await closed
        resolveDone()
      })()
      return stopped
    },
  }
}

/** The server's stdin: each line is the operator's, carried out under the list's lock. */
class OperatorConsole {
  private readonly framer: MessageFramer
  /** Lines are carried out one after the other, each waiting for the lock. */
  private queue: Promise<void> = Promise.resolve()
  private reading = false
  /** The operator's stdout was closed (EPIPE): the chat goes on without showing it. */
  private stdoutGone = false

  constructor(
    private readonly list: SharedClientList,
    private readonly options: ChatOptions,
  ) {
    this.framer = new MessageFramer('line', options.maxLine)
    process.stdout.once('error', () => (this.stdoutGone = true))
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

  private readonly onData = (data: Buffer): void => {
    const { messages, tooLong } = this.framer.push(data)
    for (const text of messages) this.enqueue(text)
    if (tooLong) {
      this.say(`line too long (over ${this.options.maxLine} bytes); console closed`)
      this.close()
    }
  }

  private readonly onEnd = (): void => {
    for (const text of this.framer.end()) this.enqueue(text)
    this.close()
    log('operator console closed (end of input); still serving')
  }

  private enqueue(text: string): void {
    this.queue = this.queue.then(() => this.run(text)).catch(err => log(`operator console: ${(err as Error).stack ?? err}`))
  }

  private async run(text: string): Promise<void> {
    const command = parseOperatorLine(text)
    if (command.kind === 'empty') return
    await this.list.lock.lockAsync()
    let answer: string | null
    try {
      answer = this.carryOut(command)
    } finally {
      this.list.lock.unlock()
    }
    if (answer !== null) this.say(answer)
  }

  /** Lock held; never blocks (the main thread's deliveries never wait). Returns the answer to show. */
  private carryOut(command: ReturnType<typeof parseOperatorLine>): string | null {
    const list = this.list
    switch (command.kind) {
      case 'empty':
        return null
      case 'say':
        list.broadcast(line(replies.operatorSaid(sanitize(command.text))), -1)
        return null
      case 'who':
        return replies.who(list.chattingNames())
      case 'msg': {
        const to = list.find(command.to)
        if (to < 0) return replies.noSuchUser(command.to)
        list.deliver(to, line(replies.operatorWhispered(sanitize(command.text))))
        return `sent to ${list.nameOf(to)}`
      }
      case 'kick': {
        const target = list.find(command.name)
        if (target < 0) return replies.noSuchUser(command.name)
        list.deliver(target, line(replies.kicked()))
        list.close(target, Why.KICKED)
        list.endInput(target) // its thread's recv returns b'': it leaves, and the others hear `left`
        return `kicked ${list.nameOf(target)}`
      }
      case 'usage':
        return command.usage
      case 'quit':
      case 'unknown':
        return `operator commands: ${OPERATOR_HELP}`
    }
  }

  private say(text: string): void {
    if (!this.stdoutGone) process.stdout.write(text + '\n')
  }
}
