// The CPU figures the bench reads from /proc (bench/proc.ts), user and system apart, on real
// processes: one that only computes (its time is user time), one that only asks the kernel to
// zero memory for it (system time), and the same behind a shell that does not exec (the times of
// a process's children are its own, as a `--workers` server's are the primary's).
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { readCpuMs, readCpuTimes, type CpuTimes } from '../bench/proc.js'
import { stopChild } from '../bench/child.js'
import { sleep } from './helpers/chat.js'

/** How much CPU each process is given time to use: enough ticks (10 ms each) for a clear split. */
const CPU_MS = 400

function started(t: Test, command: string, args: string[]): ChildProcess {
  // Its own process group: the teardown ends it with whatever it started (a shell's dd).
  const child = spawn(command, args, { stdio: 'ignore', detached: true })
  t.teardown(() => stopChild(child, { signal: 'SIGKILL', group: true }))
  return child
}

const total = (c: CpuTimes) => c.userMs + c.systemMs

/** Its CPU time reaching `ms` in all (however busy the machine is), or the last read after 15 s. */
async function timesAt(pid: number, ms: number): Promise<CpuTimes | null> {
  for (let waited = 0; ; waited += 50) {
    const times = readCpuTimes(pid)
    if (times === null || total(times) >= ms || waited >= 15_000) return times
    await sleep(50)
  }
}

/**
 * What the process used over CPU_MS of its work, past its start-up (Node's own start is ~100 ms
 * of CPU, much of it system time: mapping and faulting in the binary).
 */
async function timesAfterWork(pid: number): Promise<CpuTimes | null> {
  const start = await timesAt(pid, 150)
  if (start === null) return null
  const end = await timesAt(pid, total(start) + CPU_MS)
  return end && { userMs: end.userMs - start.userMs, systemMs: end.systemMs - start.systemMs }
}

// Bounded: dd stops by itself after 50 GB of zeroes (tens of seconds), and is killed long before.
const ZEROES = ['if=/dev/zero', 'of=/dev/null', 'bs=1M', 'count=50000']

t.test('a process that only computes: its CPU time is user time', async t => {
  const child = started(t, process.execPath, ['-e', `const end = Date.now() + 20000; while (Date.now() < end);`])
  const times = await timesAfterWork(child.pid!)
  t.ok(times, 'read from /proc')
  t.ok(times!.userMs >= CPU_MS / 2, `user ${times!.userMs} ms of spinning`)
  t.ok(times!.systemMs < times!.userMs / 2, `system ${times!.systemMs} ms: far less`)
})

t.test('a process that only has the kernel zero memory: its CPU time is system time', async t => {
  const child = started(t, 'dd', ZEROES)
  const times = await timesAfterWork(child.pid!)
  t.ok(times, 'read from /proc')
  t.ok(times!.systemMs >= CPU_MS / 2, `system ${times!.systemMs} ms of reading /dev/zero`)
  t.ok(times!.userMs < times!.systemMs / 2, `user ${times!.userMs} ms: far less`)
  const now = readCpuTimes(child.pid!)!
  const sum = readCpuMs(child.pid!)!
  t.ok(sum >= total(now), `readCpuMs (${sum} ms) is the two together (${total(now)} ms), read a moment later`)
})

t.test("a shell's child counts as the shell's", async t => {
  // `; true` keeps bash from exec'ing dd: bash is the parent, and idle.
  const shell = started(t, 'bash', ['-c', `dd ${ZEROES.join(' ')} 2>/dev/null; true`])
  const times = await timesAfterWork(shell.pid!)
  t.ok(times, 'read from /proc')
  t.ok(times!.systemMs >= CPU_MS / 2, `system ${times!.systemMs} ms: the dd inside it`)
  t.equal(readCpuTimes(2 ** 22 + 12345), null, 'a process that is not there: null')
})
