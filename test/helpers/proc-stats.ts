// Reads a process's resident memory from /proc (Linux), for tests that bound server memory.
import { readStatus } from '../../bench/proc.js'

/** Resident set size of `pid` in bytes; throws if it cannot be read (the process is gone). */
export function rssBytes(pid: number): number {
  const status = readStatus(pid)
  if (!status) throw new Error(`no VmRSS for pid ${pid}`)
  return status.rssKb * 1024
}
