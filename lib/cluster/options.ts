// `--workers N` and `--schedule rr|os`, declared once and spread into the option tables of the
// commands that can run as several processes (echo, chat).
import { availableParallelism } from 'node:os'
import { UsageError, parseChoice, parseIntegerOption } from '../cli/args.js'

/** How connections are shared out (Node's cluster scheduling policies). */
export const SCHEDULES = ['rr', 'os'] as const
export type Schedule = (typeof SCHEDULES)[number]

export interface WorkerOptions {
  /** Worker processes, each with its own reactor. */
  workers: number
  schedule: Schedule
}

/** More than this many workers is a typo rather than a plan on any machine this runs on. */
export const MAX_WORKERS = 256

export const WORKER_OPTIONS = {
  workers: { type: 'string' },
  schedule: { type: 'string' },
} as const

/** The options' help, one entry per option: its name and its lines. */
const HELP: Array<[string, string[]]> = [
  [
    '--workers',
    ['run N worker processes sharing the port, each with its own reactor, and a primary', 'that only supervises them; auto = one per CPU (default: one process)'],
  ],
  [
    '--schedule',
    ['with --workers: rr, the primary accepts and deals connections round-robin', '(default); os, every worker accepts from the shared socket and the kernel picks'],
  ],
]

/**
 * The options' lines for a command's --help, the names padded to `width` as the command's others
 * are; `note` is one more line under --workers (what it means for that command).
 */
export function workerUsage(width: number, note?: string): string {
  return HELP.flatMap(([name, lines]) => [...lines, ...(name === '--workers' && note ? [note] : [])].map((text, i) => `  ${(i === 0 ? name : '').padEnd(width)}${text}`)).join('\n')
}

/** The worker options, or null without --workers. Raises UsageError on a bad value. */
export function parseWorkerOptions(v: { workers?: string; schedule?: string }): WorkerOptions | null {
  if (v.workers === undefined) {
    if (v.schedule !== undefined) throw new UsageError('--schedule needs --workers')
    return null
  }
  if (v.workers !== 'auto' && !/^\s*-?\d+\s*$/.test(v.workers)) throw new UsageError(`--workers must be a number or auto, got '${v.workers}'`)
  const workers = v.workers === 'auto' ? availableParallelism() : parseIntegerOption('--workers', v.workers, 1, MAX_WORKERS)
  return { workers, schedule: parseChoice('--schedule', v.schedule, SCHEDULES, 'rr') }
}
