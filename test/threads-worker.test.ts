// The code that runs in connection threads, tested directly: the worker entry (worker.ts) on a
// real thread with handler modules, driven from here through its rings with no socket in between;
// the echo handler the same way; and BlockingConnection's calls and errors (Python's socket).
import t from 'tap'
import { Worker } from 'node:worker_threads'
import { builtUrl } from '../lib/built.js'
import { BlockingConnection, BrokenPipeError, ClosedConnectionError, ConnectionResetError, isDisconnect } from '../lib/threads/connection.js'
import type { HostMessage, ServeMessage, ThreadBoot, ThreadMessage } from '../lib/threads/handler.js'
import { FLAG_CLOSED, FLAG_EOF, FLAG_RESET, ResetReason, Ring } from '../lib/threads/ring.js'
import { SlotTable } from '../lib/threads/slots.js'
import { patternBytes } from './helpers/net.js'

const WORKER = builtUrl(new URL('../lib/threads/worker.ts', import.meta.url))
const PROBE = builtUrl(new URL('./fixtures/probe-handler.ts', import.meta.url))
const NOT_A_HANDLER = builtUrl(new URL('./fixtures/no-handle.ts', import.meta.url))
const ECHO = builtUrl(new URL('../lib/echo/threads-handler.ts', import.meta.url))
const DEADLINE_MS = 20_000

/** Every thread started here: whatever a failed test left running is terminated at the end. */
const started: Worker[] = []
t.teardown(() => Promise.all(started.map(w => w.terminate())))

/** Polls `ok` (a state another thread changes) until it holds; fails after the deadline. */
async function until(ok: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(r => setTimeout(r, 5))
  }
}

type Done = Extract<ThreadMessage, { type: 'done' }>
type Print = Extract<ThreadMessage, { type: 'print' }>

/** A connection thread as the host runs it (worker.ts), its rings driven from this thread. */
class ThreadUnderTest {
  readonly worker: Worker
  readonly messages: ThreadMessage[] = []
  error: Error | null = null
  exitCode: number | null = null
  private taken = 0
  private waiters: Array<() => void> = []

  constructor(
    readonly slots: SlotTable,
    handler: URL,
  ) {
    const boot: ThreadBoot = { handlerUrl: handler.href, slots: slots.sab, shared: { any: 'value' } }
    this.worker = new Worker(WORKER, { workerData: boot })
    started.push(this.worker)
    this.worker.on('message', (m: ThreadMessage) => (this.messages.push(m), this.poke()))
    this.worker.on('error', err => ((this.error = err), this.poke()))
    this.worker.on('exit', code => ((this.exitCode = code), this.poke()))
  }

  private poke(): void {
    this.waiters.splice(0).forEach(w => w())
  }

  /** Resolves once `ok()` holds (checked on every message, error and exit); fails after the deadline. */
  until(ok: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; messages: ${JSON.stringify(this.messages)}`)), DEADLINE_MS)
      const check = () => {
        if (ok()) {
          clearTimeout(timer)
          resolve()
        } else this.waiters.push(check)
      }
      check()
    })
  }

  /** The next message of `type` not yet returned by this method. */
  async next<T extends ThreadMessage['type']>(type: T): Promise<Extract<ThreadMessage, { type: T }>> {
    const find = () => this.messages.findIndex((m, i) => i >= this.taken && m.type === type)
    await this.until(() => find() >= 0, `a '${type}' message`)
    const i = find()
    this.taken = i + 1
    return this.messages[i] as Extract<ThreadMessage, { type: T }>
  }

  /** Hands the thread a connection on `slot` (rings emptied first, as the host does). */
  serve(slot: number, id: number): void {
    this.slots.inbound(slot).reset()
    this.slots.outbound(slot).reset()
    const msg: ServeMessage = { type: 'serve', id, slot, remoteAddress: '10.0.0.1', remotePort: 4242 }
    this.worker.postMessage(msg)
  }

  exit(): void {
    this.worker.postMessage({ type: 'exit' } satisfies HostMessage)
  }
}

/** Writes `data` into `ring` (waiting for space without blocking this thread); then EOF if `end`. */
async function send(ring: Ring, data: Uint8Array, end = false): Promise<void> {
  let off = 0
  while (off < data.length) {
    const seq = ring.spaceSeq()
    off += ring.write(data.subarray(off))
    if (off < data.length) await ring.whenSpace(seq, data.length - off)
  }
  if (end) ring.end()
}

/** Reads `ring` until its producer's EOF (or a reset); resolves with the bytes. */
async function receiveAll(ring: Ring): Promise<Buffer> {
  const chunks: Buffer[] = []
  const scratch = Buffer.alloc(64 * 1024)
  for (;;) {
    const seq = ring.dataSeq()
    const n = ring.readInto(scratch)
    if (n > 0) {
      chunks.push(Buffer.from(scratch.subarray(0, n)))
      continue
    }
    if (ring.flags() & (FLAG_EOF | FLAG_RESET)) return Buffer.concat(chunks)
    await ring.whenData(seq)
  }
}

t.test('worker entry: ready, then one connection after another; init once per thread; exits when told', async t => {
  const slots = SlotTable.create(2, 1024)
  const thread = new ThreadUnderTest(slots, PROBE)
  await thread.next('ready')

  thread.serve(0, 1)
  await send(slots.inbound(0), Buffer.from('inits'))
  t.equal((await receiveAll(slots.outbound(0))).toString(), '1', 'init ran once, before the first connection')
  const first = await thread.next('done')
  t.same(first, { type: 'done', slot: 0, outcome: 'ok', error: undefined }, 'done, ok')
  t.ok(slots.outbound(0).flags() & FLAG_EOF, 'the handler left it open: the thread closed it (our FIN)')
  t.ok(slots.inbound(0).flags() & FLAG_CLOSED, 'and its input is no longer read')

  thread.serve(1, 2) // the same thread, parked in between, serves the next one
  await send(slots.inbound(1), Buffer.from('info'))
  const info = (await receiveAll(slots.outbound(1))).toString()
  t.equal(info, `2 1 10.0.0.1:4242 ${thread.worker.threadId} 2`, 'the connection and context it was given')
  await thread.next('done')
  thread.serve(0, 3)
  await send(slots.inbound(0), Buffer.from('inits'))
  t.equal((await receiveAll(slots.outbound(0))).toString(), '1', 'init did not run again')
  await thread.next('done')

  thread.exit()
  await thread.until(() => thread.exitCode !== null, 'the thread to exit')
  t.equal(thread.exitCode, 0, 'asked to exit, it exits with 0')
  t.equal(thread.error, null)
})

t.test('worker entry: what a handler prints goes through the host, stdout and stderr apart', async t => {
  const slots = SlotTable.create(1, 1024)
  const thread = new ThreadUnderTest(slots, PROBE)
  await thread.next('ready')
  const id = thread.worker.threadId
  thread.serve(0, 1)
  await send(slots.inbound(0), Buffer.from('print'))
  t.equal((await receiveAll(slots.outbound(0))).toString(), 'printed')
  await thread.next('done')
  const prints = thread.messages.filter((m): m is Print => m.type === 'print')
  t.match(prints[0], { stream: 'stderr', text: new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} thread ${id}: init 1\\n$`) }, 'init’s log line')
  t.same(prints[1], { type: 'print', stream: 'stdout', text: 'to stdout\n' }, 'print: stdout, as is')
  t.match(prints[2], { stream: 'stderr', text: new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} thread ${id}: to stderr\\n$`) }, 'log: stderr, timestamped, with the thread’s id')
  thread.exit()
  await thread.until(() => thread.exitCode !== null, 'the thread to exit')
})

t.test('worker entry: a handler that throws, or is reset, costs only that connection', async t => {
  const slots = SlotTable.create(1, 1024)
  const thread = new ThreadUnderTest(slots, PROBE)
  await thread.next('ready')

  thread.serve(0, 1)
  await send(slots.inbound(0), Buffer.from('throw'))
  const bug = await thread.next('done')
  t.equal(bug.outcome, 'error', 'a bug is an error')
  t.match(bug.error, /^Error: a bug in the handler\n\s+at (Module\.)?handle /, 'with its stack')
  t.ok(slots.outbound(0).flags() & FLAG_EOF, 'its connection is closed (FIN)')

  thread.serve(0, 2)
  await send(slots.inbound(0), Buffer.from('throw-string'))
  t.same(await thread.next('done'), { type: 'done', slot: 0, outcome: 'error', error: 'not even an Error' }, 'a throw of something not an Error: said as it is')

  thread.serve(0, 3)
  await send(slots.inbound(0), Buffer.from('wait'))
  await until(() => slots.inbound(0).readersWaiting() > 0, 'the handler to block in recv')
  slots.inbound(0).abort(ResetReason.PEER_RESET)
  const reset: Done = await thread.next('done')
  t.same(reset, { type: 'done', slot: 0, outcome: 'disconnect', error: 'connection reset by peer' }, 'a reset is a disconnect, said in one line')

  thread.serve(0, 4)
  await send(slots.inbound(0), Buffer.from('inits'))
  t.equal((await receiveAll(slots.outbound(0))).toString(), '1', 'the thread serves on')
  t.equal(thread.error, null, 'the thread itself never failed')
  thread.exit()
  await thread.until(() => thread.exitCode !== null, 'the thread to exit')
})

t.test('worker entry: a module that exports no handle() fails the thread at start, saying why', async t => {
  const thread = new ThreadUnderTest(SlotTable.create(1, 1024), NOT_A_HANDLER)
  await thread.until(() => thread.exitCode !== null, 'the thread to end')
  t.match(thread.error?.message, /no-handle\.js does not export handle\(conn, ctx\)/)
  t.equal(thread.exitCode, 1)
  t.notOk(thread.messages.some(m => m.type === 'ready'), 'it never said ready')
})

t.test('echo handler on its thread: 3 MB through 64 KiB rings, byte for byte, then EOF after ours', async t => {
  const slots = SlotTable.create(1, 64 * 1024)
  const thread = new ThreadUnderTest(slots, ECHO)
  await thread.next('ready')
  thread.serve(0, 1)
  const data = patternBytes(3_000_000, 5)
  // Both rings are much smaller than the data: the handler blocks in sendall and in recv_into.
  const [, echoed] = await Promise.all([send(slots.inbound(0), data, true), receiveAll(slots.outbound(0))])
  t.equal(echoed.length, data.length, 'every byte')
  t.ok(echoed.equals(data), 'in order')
  t.ok(slots.outbound(0).flags() & FLAG_EOF, 'then its FIN')
  t.same(await thread.next('done'), { type: 'done', slot: 0, outcome: 'ok', error: undefined })
  thread.exit()
  await thread.until(() => thread.exitCode !== null, 'the thread to exit')
})

// ---- BlockingConnection, on this thread (each call here finds bytes, space or a flag: no blocking)

function connection(capacity = 64): { conn: BlockingConnection; inbound: Ring; outbound: Ring } {
  const inbound = Ring.create(capacity)
  const outbound = Ring.create(capacity)
  return { conn: new BlockingConnection(inbound, outbound, { id: 7, slot: 3, remoteAddress: '127.0.0.1', remotePort: 9 }), inbound, outbound }
}

function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  return null
}

t.test('BlockingConnection: recv, recv_into, send and sendall as Python’s socket', async t => {
  const { conn, inbound, outbound } = connection(16)
  t.same([conn.id, conn.slot, conn.remoteAddress, conn.remotePort], [7, 3, '127.0.0.1', 9])
  inbound.write(Buffer.from('hello world'))
  t.equal(conn.recv(5).toString(), 'hello', 'recv(max): at most max bytes')
  const into = Buffer.alloc(100)
  t.equal(conn.recvInto(into), 6, 'recv_into: what is there')
  t.equal(into.subarray(0, 6).toString(), ' world')
  t.equal(conn.recvInto(Buffer.alloc(0)), 0, 'recv_into an empty buffer: 0, without waiting')

  t.equal(conn.send('0123456789abcdefXYZ'), 16, 'send: what fits (a partial write is real)')
  t.equal(conn.send(''), 0, 'send of nothing: 0')
  outbound.consume(16)
  conn.sendall(new Uint8Array([1, 2, 3]))
  t.equal(outbound.available(), 3, 'sendall: every byte')

  inbound.end()
  t.equal(conn.recv().length, 0, 'EOF: an empty buffer (b"")')
  t.equal(conn.recvInto(into), 0, 'recv_into at EOF: 0')
})

t.test('BlockingConnection: shutdown, close and reset', async t => {
  const half = connection()
  half.inbound.write(Buffer.from('late'))
  half.conn.shutdown()
  half.conn.shutdown() // twice: no harm
  t.ok(half.outbound.flags() & FLAG_EOF, 'shutdown: our FIN')
  t.ok(thrown(() => half.conn.send('x')) instanceof BrokenPipeError, 'send after shutdown: BrokenPipeError')
  t.equal(half.conn.recv().toString(), 'late', 'but the other direction still reads')

  const { conn, inbound, outbound } = connection()
  t.notOk(conn.isClosed)
  conn.close()
  conn.close() // twice: no harm
  t.ok(conn.isClosed)
  t.ok(outbound.flags() & FLAG_EOF, 'close: what was sent, then FIN')
  t.ok(inbound.flags() & FLAG_CLOSED, 'and input is no longer read')
  t.ok(thrown(() => conn.recv()) instanceof ClosedConnectionError, 'recv after close: an error')
  t.ok(thrown(() => conn.sendall('x')) instanceof ClosedConnectionError, 'sendall after close: an error')
  t.ok(thrown(() => conn.shutdown()) instanceof ClosedConnectionError, 'shutdown after close: an error')
  conn.reset() // after close: nothing left to reset
  t.notOk(outbound.flags() & FLAG_RESET)

  const rst = connection()
  rst.conn.reset()
  t.ok(rst.conn.isClosed)
  t.equal(rst.outbound.resetReason(), ResetReason.LOCAL_RESET, 'reset: both rings dead, our own reset (the host sends RST)')
  t.equal(rst.inbound.resetReason(), ResetReason.LOCAL_RESET)
  rst.conn.close() // after a reset: nothing to close
})

t.test('BlockingConnection: why a connection died becomes the right exception', async t => {
  const cases: Array<[ResetReason, new (m: string) => Error, RegExp]> = [
    [ResetReason.PEER_RESET, ConnectionResetError, /reset by peer/],
    [ResetReason.BROKEN_PIPE, BrokenPipeError, /the peer stopped reading/],
    [ResetReason.LOCAL_RESET, ConnectionResetError, /reset by this server/],
    [ResetReason.SHUTDOWN, ConnectionResetError, /the server is shutting down/],
    [ResetReason.HANDLER_GONE, ConnectionResetError, /its thread died/],
  ]
  for (const [reason, type, message] of cases) {
    const { conn, inbound, outbound } = connection()
    inbound.write(Buffer.from('queued'))
    inbound.abort(reason)
    outbound.abort(reason)
    t.equal(conn.recv().toString(), 'queued', `${reason}: what arrived before still reads`)
    const onRecv = thrown(() => conn.recv())
    t.ok(onRecv instanceof type && message.test((onRecv as Error).message), `${reason}: recv then raises ${type.name}: ${(onRecv as Error).message}`)
    t.ok(thrown(() => conn.sendall('x')) instanceof type, `${reason}: and so does sendall`)
    t.ok(isDisconnect(onRecv), 'a disconnect, not a bug')
  }
  t.notOk(isDisconnect(new Error('a bug')), 'other errors are bugs')

  const gone = connection()
  gone.outbound.closeReader()
  t.match(thrown(() => gone.conn.sendall('x')), { name: 'BrokenPipeError', message: /the connection is closed/ }, 'writing after the reader left: broken pipe')
  const late = connection()
  late.inbound.abort(ResetReason.SHUTDOWN) // the grace ran out: input reset, output closed to new writes
  late.outbound.closeReader()
  t.match(thrown(() => late.conn.sendall('x')), { name: 'ConnectionResetError', message: /shutting down/ }, 'writing once the grace has run out says why')
})
