// No silent bad cell: why a bench row cannot be taken at face value, each reason said in words.
// A flagged cell is marked in the table, the charts and the JSON; `bench --strict` fails on any
// flagged cell of the selector or net model.
import { describeErrors, ERROR_KINDS, type ErrorCounts } from './load-errors.js'
import { describeFailures, type LoadResult } from './load.js'
import { spread } from './stats.js'

export const FlagKind = {
  /** No run produced figures. */
  FAILED: 'failed',
  /** Connections that could not be made. */
  CONNECT: 'connect',
  /** Timeouts, resets, early closes, wrong bytes: each one lost its connection. */
  ERRORS: 'errors',
  /** Connections the server ended before echoing anything (a thread cap's "server busy", a connection limit). */
  REFUSED: 'refused',
  /** Connections took longer to get their first echo than a message may take. */
  RAMP: 'ramp',
  /** Measured on a busy machine, or runs that disagree. */
  NOISE: 'noise',
} as const
export type FlagKind = (typeof FlagKind)[keyof typeof FlagKind]

export interface Flag {
  kind: FlagKind
  reason: string
}

/** Runs of one cell whose figures disagree by more than this ((max - min) / median of msgs/s) are noise. */
export const MAX_SPREAD = 0.25

export interface FlagLimits {
  timeoutMs: number
  maxNoisePct: number
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)
const pct = (x: number) => `${Math.round(x)}%`

/** The flags of a load cell (closed or rate) from its runs' results; `failure` when none produced any. */
export function loadFlags(results: LoadResult[], failure: string | null, limits: FlagLimits): Flag[] {
  if (results.length === 0) return [{ kind: FlagKind.FAILED, reason: failure ?? 'no result' }]
  const flags: Flag[] = []
  const runs = results.length === 1 ? '' : ` over ${results.length} runs`
  const conns = sum(results.map(r => r.conns))

  const notMade = sum(results.map(r => r.conns - r.connected))
  if (notMade > 0) {
    const failures: Record<string, number> = {}
    for (const r of results) for (const [k, n] of Object.entries(r.connectFailures)) failures[k] = (failures[k] ?? 0) + n
    flags.push({ kind: FlagKind.CONNECT, reason: `${notMade} of ${conns} connections not made${runs} (${describeFailures(failures)})` })
  }

  const errors = Object.fromEntries(ERROR_KINDS.map(k => [k, sum(results.map(r => r.errors[k] ?? 0))])) as ErrorCounts
  const refused = errors.refused
  errors.refused = 0
  const lost = sum(Object.values(errors))
  if (lost > 0) {
    const mismatch = results.find(r => r.mismatch)?.mismatch
    const hint = mismatch ? `; the first wrong byte came at offset ${mismatch.offset} of a connection's replies: "${mismatch.said}"` : ''
    flags.push({ kind: FlagKind.ERRORS, reason: `${lost} of ${conns} connections lost to errors${runs} (${describeErrors(errors)})${hint}` })
  }
  if (refused > 0) {
    const said = results.find(r => r.refusal)?.refusal
    const words = said ? `: the server said "${said}"` : ', closed without a word (a connection limit?)'
    flags.push({ kind: FlagKind.REFUSED, reason: `${refused} of ${conns} connections refused before any echo${runs}${words}` })
  }

  flags.push(...rampAndNoise(results, limits))
  return flags
}

/**
 * The flags of a churn cell: a connection per message, so failed connects, lost cycles and
 * refusals are counted over every cycle of the run, not per connection kept open.
 */
export function churnFlags(results: LoadResult[], failure: string | null, limits: FlagLimits): Flag[] {
  if (results.length === 0) return [{ kind: FlagKind.FAILED, reason: failure ?? 'no result' }]
  const flags: Flag[] = []
  const runs = results.length === 1 ? '' : ` over ${results.length} runs`
  const failures: Record<string, number> = {}
  for (const r of results) for (const [k, n] of Object.entries(r.connectFailures)) failures[k] = (failures[k] ?? 0) + n
  const failed = sum(Object.values(failures))
  if (failed > 0) flags.push({ kind: FlagKind.CONNECT, reason: `${failed} connects failed${runs} (${describeFailures(failures)})` })
  const errors = Object.fromEntries(ERROR_KINDS.map(k => [k, sum(results.map(r => r.errors[k] ?? 0))])) as ErrorCounts
  const refused = errors.refused
  errors.refused = 0
  const lost = sum(Object.values(errors))
  if (lost > 0) {
    const mismatch = results.find(r => r.mismatch)?.mismatch
    const hint = mismatch ? `; the first wrong byte came at offset ${mismatch.offset} of a cycle's reply: "${mismatch.said}"` : ''
    flags.push({ kind: FlagKind.ERRORS, reason: `${lost} cycles lost to errors after connecting${runs} (${describeErrors(errors)})${hint}` })
  }
  if (refused > 0) {
    const said = results.find(r => r.refusal)?.refusal
    const words = said ? `: the server said "${said}"` : ', closed without a word (a connection limit?)'
    flags.push({ kind: FlagKind.REFUSED, reason: `${refused} connections refused before any echo${runs}${words}` })
  }
  flags.push(...rampAndNoise(results, limits))
  return flags
}

/** A long ramp-up, a busy machine, runs that disagree: what any load cell may be flagged for. */
function rampAndNoise(results: LoadResult[], limits: FlagLimits): Flag[] {
  const flags: Flag[] = []
  const runs = results.length === 1 ? '' : ` over ${results.length} runs`
  const ramp = Math.max(...results.map(r => r.rampMs ?? 0))
  if (ramp > limits.timeoutMs) {
    flags.push({ kind: FlagKind.RAMP, reason: `ramp-up ${(ramp / 1000).toFixed(1)} s, longer than the ${limits.timeoutMs / 1000} s a message may take: connections waited that long for their first echo` })
  }

  const noisy = results.map(r => r.otherCpuPct).filter((x): x is number => x !== null && x > limits.maxNoisePct)
  if (noisy.length > 0) {
    flags.push({ kind: FlagKind.NOISE, reason: `the rest of the machine used ${pct(Math.max(...noisy))} of a core (limit ${limits.maxNoisePct}%)${runs}: measured on a busy machine` })
  }
  const s = spread(results.map(r => r.msgsPerSec))
  if (s !== null && s > MAX_SPREAD) {
    flags.push({ kind: FlagKind.NOISE, reason: `runs disagree: msgs/s spread ${pct(s * 100)} of the median (limit ${pct(MAX_SPREAD * 100)})` })
  }
  return flags
}

/** "errors, noise": the kinds of a row's flags, short, for a table column. */
export function flagCodes(flags: Flag[]): string {
  return [...new Set(flags.map(f => f.kind))].join(',')
}
