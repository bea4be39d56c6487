// The shared-memory ring across real threads: exact bytes in order through many wrap-arounds,
// EOF (half-close), CLOSED and RESET wake-ups, and no lost wake-up under many tiny writes.
import t from 'tap'
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { builtUrl } from '../lib/built.js'
import { FLAG_CLOSED, FLAG_EOF, FLAG_RESET, ResetReason, Ring } from '../lib/threads/ring.js'
import { patternBytes } from './helpers/net.js'
import type { RingJob } from './fixtures/ring-worker.js'

const WORKER = builtUrl(new URL('./fixtures/ring-worker.ts', import.meta.url))
const DEADLINE_MS = 20_000

/** Runs a ring job on a real thread; resolves with its messages once it exits (fails after a deadline). */
function runJob(job: RingJob): { done: Promise<Array<Record<string, unknown>>>; worker: Worker } {
  const worker = new Worker(WORKER, { workerData: job, execArgv: [] })
  const messages: Array<Record<string, unknown>> = []
  worker.on('message', m => messages.push(m))
  const done = new Promise<Array<Record<string, unknown>>>((resolve, reject) => {
    const timer = setTimeout(() => {
      void worker.terminate()
      reject(new Error(`ring worker (${job.role}) did not finish in ${DEADLINE_MS} ms: a lost wake-up?`))
    }, DEADLINE_MS)
    worker.on('error', reject)
    worker.on('exit', () => {
      clearTimeout(timer)
      resolve(messages)
    })
  })
  return { done, worker }
}

/** Resolves once `ok()` holds (polled; the other side is a blocking thread), fails after the deadline. */
async function until(ok: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(r => setTimeout(r, 5))
  }
}

/** What a producer went through: writes split across the ring's end, and waits for space. */
interface WriteStats {
  splitWrites: number
  waits: number
}

/**
 * The main thread's side of a producer: writes `data` in pieces, waiting with waitAsync when full.
 * Counts the writes that wrapped around (began before the ring's end and went on at its start)
 * and the times it found the ring full and had to wait.
 */
async function writeAllAsync(ring: Ring, data: Uint8Array, maxChunk: number): Promise<WriteStats> {
  const stats: WriteStats = { splitWrites: 0, waits: 0 }
  let off = 0
  let x = 7
  while (off < data.length) {
    x = (x * 1103515245 + 12345) >>> 0
    const end = Math.min(data.length, off + 1 + ((x >>> 8) % maxChunk))
    while (off < end) {
      const seq = ring.spaceSeq()
      const n = ring.write(data.subarray(off, end))
      if ((off % ring.capacity) + n > ring.capacity) stats.splitWrites++
      off += n
      if (off < end) {
        const wait = ring.whenSpace(seq, end - off)
        if (wait) {
          stats.waits++
          await wait
        }
      }
    }
  }
  ring.end()
  return stats
}

/** The main thread's side of a consumer: reads until EOF, waiting with waitAsync when empty. */
async function readAllAsync(ring: Ring, expectedLength: number): Promise<Buffer> {
  const out = Buffer.alloc(expectedLength + 1)
  let got = 0
  const scratch = new Uint8Array(1000)
  for (;;) {
    const seq = ring.dataSeq()
    const n = ring.readInto(scratch)
    if (n > 0) {
      if (got + n > out.length) throw new Error(`more bytes than expected (${got + n})`)
      out.set(scratch.subarray(0, n), got)
      got += n
      continue
    }
    if (ring.flags() & FLAG_EOF) return out.subarray(0, got)
    await ring.whenData(seq)
  }
}

t.test('main → thread: exact bytes, in order, across thousands of wrap-arounds', async t => {
  const capacity = 4096
  const n = 3_000_000
  const ring = Ring.create(capacity)
  const { done } = runJob({ role: 'consume', sab: ring.ctl.buffer as SharedArrayBuffer, capacity, n, seed: 11, maxChunk: 3000 })
  // Pieces up to 5000 bytes into a 4096-byte ring: partial writes and waits on every lap.
  const [stats, [result]] = await Promise.all([writeAllAsync(ring, patternBytes(n, 11), 5000), done])
  t.equal(result.received, n, 'every byte arrived')
  t.equal(result.mismatchAt, -1, 'every byte in order and intact')
  t.equal(result.available, 0, 'nothing left behind the EOF')
  // What makes the byte checks above mean something: the data really went round the ring's end
  // (copies split in two), and the producer really found it full and waited for the thread.
  t.ok(stats.splitWrites >= 100, `writes split across the ring's end: ${stats.splitWrites}`)
  t.ok(stats.waits >= 100, `waits for space in a full ring: ${stats.waits}`)
})

t.test('thread → main: exact bytes, then EOF after the last one', async t => {
  const capacity = 1024
  const n = 2_000_000
  const ring = Ring.create(capacity)
  const { done } = runJob({ role: 'produce', sab: ring.ctl.buffer as SharedArrayBuffer, capacity, n, seed: 5, maxChunk: 700 })
  const [got, [result]] = await Promise.all([readAllAsync(ring, n), done])
  t.equal(result.sent, n)
  t.equal(got.length, n, 'every byte arrived before EOF')
  t.ok(got.equals(patternBytes(n, 5)), 'bytes exact and in order')
})

t.test('half-close: EOF wakes a blocked reader, after the bytes sent before it', async t => {
  // EOF with nothing before it: the blocked reader wakes and sees the end at once.
  const empty = Ring.create(64)
  const a = runJob({ role: 'consume', sab: empty.ctl.buffer as SharedArrayBuffer, capacity: 64, n: 0, seed: 1, maxChunk: 16 })
  await until(() => empty.readersWaiting() > 0, 'the reader to block')
  empty.end()
  const [ra] = await a.done
  t.equal(ra.received, 0)

  // A few bytes, then EOF: the reader gets them all, then the end.
  const some = Ring.create(64)
  const b = runJob({ role: 'consume', sab: some.ctl.buffer as SharedArrayBuffer, capacity: 64, n: 10, seed: 3, maxChunk: 4 })
  some.write(patternBytes(10, 3))
  some.end()
  const [rb] = await b.done
  t.equal(rb.received, 10)
  t.equal(rb.mismatchAt, -1)
  t.ok(some.flags() & FLAG_EOF)

  // The other direction is independent: a thread that half-closed its output can still be read from.
  const back = Ring.create(64)
  const c = runJob({ role: 'produce', sab: back.ctl.buffer as SharedArrayBuffer, capacity: 64, n: 300, seed: 9, maxChunk: 50 })
  const [got] = await Promise.all([readAllAsync(back, 300), c.done])
  t.ok(got.equals(patternBytes(300, 9)))
})

t.test('RESET wakes a blocked reader; CLOSED wakes a blocked writer', async t => {
  const r1 = Ring.create(64)
  const reader = runJob({ role: 'block-read', sab: r1.ctl.buffer as SharedArrayBuffer, capacity: 64, n: 0, seed: 1, maxChunk: 1 })
  await until(() => r1.readersWaiting() > 0, 'the reader to block')
  r1.abort(ResetReason.PEER_RESET)
  const [, woke] = await reader.done
  t.equal(woke.reset, true, 'the reader woke with RESET set')
  t.equal(r1.resetReason(), ResetReason.PEER_RESET)

  const r2 = Ring.create(64)
  const writer = runJob({ role: 'block-write', sab: r2.ctl.buffer as SharedArrayBuffer, capacity: 64, n: 0, seed: 1, maxChunk: 1 })
  await until(() => r2.writersWaiting() > 0, 'the writer to block')
  r2.closeReader()
  const [, w] = await writer.done
  t.equal(w.closed, true, 'the writer woke with CLOSED set')
  t.equal(w.free, 0, 'and not because space appeared')
  t.ok(r2.flags() & FLAG_CLOSED)
  t.notOk(r2.flags() & FLAG_RESET)
})

t.test('no lost wake-up: 20,000 one-byte round trips main ⇄ thread through 16-byte rings', async t => {
  const rounds = 20_000
  const ask = Ring.create(16)
  const answer = Ring.create(16)
  const job = runJob({
    role: 'pingpong',
    sab: ask.ctl.buffer as SharedArrayBuffer,
    sab2: answer.ctl.buffer as SharedArrayBuffer,
    capacity: 16,
    n: rounds,
    seed: 1,
    maxChunk: 1,
  })
  const one = new Uint8Array(1)
  let wrong = 0
  const ping = async () => {
    for (let i = 0; i < rounds; i++) {
      one[0] = i & 0xff
      while (ask.write(one) === 0) {
        const seq = ask.spaceSeq()
        if (ask.free() === 0) await ask.whenSpace(seq, 1)
      }
      for (;;) {
        const seq = answer.dataSeq()
        if (answer.readInto(one) === 1) break
        await answer.whenData(seq)
      }
      if (one[0] !== ((i + 1) & 0xff)) wrong++
    }
  }
  const [, [result]] = await Promise.all([ping(), job.done])
  t.equal(result.rounds, rounds, 'every round trip completed')
  t.equal(wrong, 0, 'every answer was the right one')
})

t.test('no lost wake-up: thread → thread, 300,000 bytes in pieces of 1–7 through a 16-byte ring, both blocking', async t => {
  const n = 300_000
  const ring = Ring.create(16)
  const sab = ring.ctl.buffer as SharedArrayBuffer
  const consumer = runJob({ role: 'consume', sab, capacity: 16, n, seed: 21, maxChunk: 5 })
  const producer = runJob({ role: 'produce', sab, capacity: 16, n, seed: 21, maxChunk: 7 })
  const [[c], [p]] = await Promise.all([consumer.done, producer.done])
  t.equal(p.sent, n)
  t.equal(c.received, n)
  t.equal(c.mismatchAt, -1)
})

t.test('ring arguments are checked', async t => {
  t.throws(() => Ring.create(1000), /power of two/)
  t.throws(() => new Ring(new SharedArrayBuffer(4096), 4, 1024), /aligned/)
})

t.test('BlockingConnection.settimeout: recv gives up when nothing arrives in time, as Python', async t => {
  const { BlockingConnection, SocketTimeoutError } = await import('../lib/threads/connection.js')
  const inbound = Ring.create(1024)
  const conn = new BlockingConnection(inbound, Ring.create(1024), { id: 1, slot: 0, remoteAddress: '127.0.0.1', remotePort: 1 })
  conn.settimeout(50)
  const t0 = performance.now()
  let err: unknown = null
  try {
    conn.recv()
  } catch (e) {
    err = e
  }
  t.ok(err instanceof SocketTimeoutError && err.name === 'TimeoutError', 'nothing arrived: TimeoutError')
  t.ok(performance.now() - t0 >= 45, 'after the timeout')
  inbound.write(Buffer.from('late'))
  t.equal(conn.recv().toString(), 'late', 'what arrives later is still read')
  conn.settimeout(null)
  inbound.end()
  t.equal(conn.recv().length, 0, 'EOF as usual once the timeout is off')
})
