// The Atomics mutex, proven on real threads: a non-atomic read-modify-write loses updates without
// it and never with it; plus the main thread's non-blocking lockAsync and the misuse checks.
import t from 'tap'
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { builtUrl } from '../lib/built.js'
import { Mutex, MutexStats } from '../lib/threads/mutex.js'
import type { MutexJob } from './fixtures/mutex-worker.js'

const WORKER = builtUrl(new URL('./fixtures/mutex-worker.ts', import.meta.url))
const THREADS = 4
const ITERATIONS = 20_000
const SPIN = 200
// Shared layout: the mutex (Int32 words 0–1), then a start gate, the counter, a ready count.
const GATE = 2
const COUNTER = 3
const READY = 4
const WORDS = 8

/** Runs THREADS workers on one fresh shared counter, released together; returns the final count. */
async function race(useLock: boolean, stats?: MutexStats): Promise<number> {
  const sab = new SharedArrayBuffer(WORDS * 4)
  const words = new Int32Array(sab)
  const job: MutexJob = { sab, useLock, iterations: ITERATIONS, spin: SPIN, gate: GATE, counter: COUNTER, ready: READY, stats: stats?.sab }
  const workers = Array.from({ length: THREADS }, () => new Worker(WORKER, { workerData: job, execArgv: [] }))
  const exits = workers.map(w => once(w, 'exit'))
  const deadline = setTimeout(() => workers.forEach(w => void w.terminate()), 30_000)
  // Wait (without blocking the main thread) until all are at the gate, then open it.
  while (Atomics.load(words, READY) < THREADS) {
    const seen = Atomics.load(words, READY)
    const r = Atomics.waitAsync(words, READY, seen, 1000)
    if (r.async) await r.value
  }
  Atomics.store(words, GATE, 1)
  Atomics.notify(words, GATE)
  const codes = await Promise.all(exits)
  clearTimeout(deadline)
  for (const [code] of codes) if (code !== 0) throw new Error(`a worker exited with ${code}`)
  return Atomics.load(words, COUNTER)
}

const EXPECTED = THREADS * ITERATIONS

t.test('without the mutex, concurrent read-modify-writes lose updates', async t => {
  const total = await race(false)
  t.ok(total < EXPECTED, `lost updates: ${total} < ${EXPECTED}`)
  t.ok(total > 0)
})

t.test('with the mutex, the total is exact, every time', async t => {
  for (let round = 1; round <= 3; round++) {
    t.equal(await race(true), EXPECTED, `round ${round}: exactly ${EXPECTED}`)
  }
})

t.test('the main thread waits for it with lockAsync, never blocking', async t => {
  const sab = new SharedArrayBuffer(WORDS * 4)
  const words = new Int32Array(sab)
  const m = new Mutex(sab, 0)
  const job: MutexJob = { sab, useLock: true, iterations: 0, spin: 0, gate: GATE, counter: COUNTER, ready: READY, holdMs: 300 }
  const worker = new Worker(WORKER, { workerData: job, execArgv: [] })
  const exit = once(worker, 'exit')
  await once(worker, 'message') // the worker holds the lock now
  t.ok(m.locked, 'the worker holds it')
  t.notOk(m.tryLock(), 'held by the worker: tryLock fails at once')
  t.throws(() => m.lock(), /main thread/, 'lock() refuses to block the main thread')
  let ticks = 0
  const ticker = setInterval(() => ticks++, 10)
  await m.lockAsync()
  clearInterval(ticker)
  t.equal(Atomics.load(words, COUNTER), 1, 'acquired only after the worker released it')
  t.ok(ticks > 0, 'the main thread kept running while it waited')
  m.unlock()
  t.notOk(m.locked, 'released')
  await exit
})

t.test('watched: every acquisition counted, the waits timed, across threads', async t => {
  const stats = MutexStats.create()
  const unwatched = Mutex.create()
  t.equal(await race(true, stats), EXPECTED, 'still exact while counted')
  const sample = stats.sample(unwatched)
  t.equal(sample.acquired, EXPECTED, 'one count per lock() of every thread')
  t.ok(sample.contended > 0 && sample.contended <= EXPECTED, `${sample.contended} of them had to wait`)
  t.ok(sample.waitedMs > 0 && sample.maxWaitMs > 0 && sample.maxWaitMs <= sample.waitedMs, `waited ${sample.waitedMs} ms in all, ${sample.maxWaitMs} ms at most`)
  t.same(stats.sample(unwatched), { acquired: 0, contended: 0, waitedMs: 0, maxWaitMs: 0, held: false }, 'a sample is what happened since the last one')

  // The main thread's lockAsync, waiting for a worker that holds the lock.
  const sab = new SharedArrayBuffer(WORDS * 4)
  const m = new Mutex(sab, 0)
  m.watch(stats)
  const job: MutexJob = { sab, useLock: true, iterations: 0, spin: 0, gate: GATE, counter: COUNTER, ready: READY, holdMs: 200, stats: stats.sab }
  const worker = new Worker(WORKER, { workerData: job, execArgv: [] })
  const exit = once(worker, 'exit')
  await once(worker, 'message')
  t.equal(stats.sample(m).held, true, 'held, as the sample says')
  await m.lockAsync()
  m.unlock()
  t.ok(m.tryLock(), 'tryLock counts too')
  m.unlock()
  const waited = stats.sample(m)
  t.equal(waited.acquired, 2, "since the last sample (which counted the worker's): lockAsync and tryLock")
  t.equal(waited.contended, 1, 'only lockAsync waited')
  t.ok(waited.maxWaitMs > 0 && waited.maxWaitMs === waited.waitedMs, `it waited ${waited.maxWaitMs} ms`)
  await exit
})

t.test('misuse fails loudly', async t => {
  const m = Mutex.create()
  t.throws(() => m.unlock(), /does not hold it/, 'unlock without holding')
  m.tryLock()
  await t.rejects(m.lockAsync(), /already held by this thread/, 'relocking is a deadlock, refused')
  m.unlock()
})
