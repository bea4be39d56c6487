// The CPU figures the bench reads from /proc (bench/proc.ts), user and system apart, on real
// processes: one that only computes (its time is user time), one that only asks the kernel to
// zero memory for it (system time), and the same behind a shell that does not exec (the times of
// a process's children are its own, as a `--workers` server's are the primary's).
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { readChildren, readCpuMs, readCpuTimes } from '../bench/proc.js'
import { stopChild } from '../bench/child.js'

/** How much CPU each process is given time to use: enough ticks (10 ms each) for a clear split. */
const CPU_MS = 400

function started(t: Test, command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: 'ignore' })
  t.teardown(async () => {
    // A shell's own children first (by their pids), so none is left running without it.
    for (const pid of readChildren(child.pid!)) process.kill(pid, 'SIGKILL')
    await stopChild(child, { signal: 'SIGKILL' })
  })
  return child
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

/** Its times once it has used CPU_MS in all (however busy the machine is), or the last read after 15 s. */
async function timesAfterWork(pid: number) {
  for (let waited = 0; ; waited += 50) {
    const times = readCpuTimes(pid)
    if (times === null || times.userMs + times.systemMs >= CPU_MS || waited >= 15_000) return times
    await sleep(50)
  }
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
  const total = readCpuMs(child.pid!)!
  t.ok(total >= times!.userMs + times!.systemMs, `the total (${total} ms) is the two together, read a moment later`)
})

t.test("a shell's child counts as the shell's", async t => {
  // `; true` keeps bash from exec'ing dd: bash is the parent, and idle.
  const shell = started(t, 'bash', ['-c', `dd ${ZEROES.join(' ')} 2>/dev/null; true`])
  const times = await timesAfterWork(shell.pid!)
  t.ok(times, 'read from /proc')
  t.ok(times!.systemMs >= CPU_MS / 2, `system ${times!.systemMs} ms: the dd inside it`)
  t.equal(readCpuTimes(2 ** 22 + 12345), null, 'a process that is not there: null')
})
