// Reading a process's resource use from Linux's /proc: resident memory, threads, CPU time, open files.
// (Its open-files limit is lib/fd-limit.ts's readFdLimit: the servers read it too.)
// Every reader returns null when the process is gone or /proc is not there (not Linux).
import { readdirSync, readFileSync } from 'node:fs'

/** /proc reports CPU times in USER_HZ ticks, which the kernel ABI fixes at 100 a second. */
const TICKS_PER_SECOND = 100

export interface ProcStatus {
  rssKb: number
  threads: number
}

/**
 * VmRSS and Threads from /proc/PID/status, summed over the process and its child processes (a
 * `--workers` server is a primary and its workers; for any other server the sum is itself).
 */
export function readStatus(pid: number): ProcStatus | null {
  const own = readOwnStatus(pid)
  if (!own) return null
  for (const child of readChildren(pid)) {
    const s = readStatus(child)
    if (s) (own.rssKb += s.rssKb), (own.threads += s.threads)
  }
  return own
}

function readOwnStatus(pid: number): ProcStatus | null {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return null
  }
  const rss = /^VmRSS:\s+(\d+) kB/m.exec(text)
  const threads = /^Threads:\s+(\d+)/m.exec(text)
  if (!rss || !threads) return null // a zombie has no VmRSS
  return { rssKb: Number(rss[1]), threads: Number(threads[1]) }
}

/** CPU time in milliseconds, split as the kernel counts it: in the program (user) and in the kernel on its behalf (system). */
export interface CpuTimes {
  userMs: number
  systemMs: number
}

/** User + system CPU time of the process (all its threads) and its child processes (as readStatus), in milliseconds. */
export function readCpuMs(pid: number): number | null {
  const t = readCpuTimes(pid)
  return t === null ? null : t.userMs + t.systemMs
}

/**
 * The process's CPU time (all its threads, and its child processes as readStatus), user and
 * system apart: system time is the system calls' work (reads, writes, epoll, TCP on loopback),
 * user time the program's own. Null when the process is gone.
 */
export function readCpuTimes(pid: number): CpuTimes | null {
  const own = readOwnCpuTimes(pid)
  if (own === null) return null
  for (const child of readChildren(pid)) {
    const c = readCpuTimes(child)
    if (c) (own.userMs += c.userMs), (own.systemMs += c.systemMs)
  }
  return own
}

function readOwnCpuTimes(pid: number): CpuTimes | null {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return null
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11]) // field 14 of the whole line
  const stime = Number(fields[12]) // field 15
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null
  return { userMs: (utime * 1000) / TICKS_PER_SECOND, systemMs: (stime * 1000) / TICKS_PER_SECOND }
}

/** How many file descriptors the process has open (/proc/PID/fd). */
export function readFdCount(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length
  } catch {
    return null
  }
}

/** The pids of a process's children (for a server started through a shell that did not exec). */
export function readChildren(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(' ')
      .filter(Boolean)
      .map(Number)
  } catch {
    return []
  }
}

/** The process's command name (/proc/PID/comm), or null. */
export function readComm(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  } catch {
    return null
  }
}

/**
 * CPU time the whole machine spent busy (every process, the kernel, and time stolen by a
 * hypervisor), summed over all CPUs, in milliseconds: the noise meter of a shared machine.
 */
export function readMachineBusyMs(): number | null {
  let text: string
  try {
    text = readFileSync('/proc/stat', 'utf8')
  } catch {
    return null
  }
  const m = /^cpu\s+(.*)$/m.exec(text)
  if (!m) return null
  // user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user)
  const f = m[1].trim().split(/\s+/).map(Number)
  const busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)
  return (busy * 1000) / TICKS_PER_SECOND
}
