// What the kinds that open many connections (idle, burst, slow) say about the ones a server did
// not take on: refused (and what it said: a thread cap's "server busy"), not connected, or lost.
import { FlagKind, type Flag } from '../flags.js'
import { describeFailures } from '../load.js'

/** The counts and words of one run, as burst, idle and slow results carry them. */
export interface HeldCounts {
  requested: number
  connected: number
  connectFailures: Record<string, number>
  probeFailures: Record<string, number>
  refusal: string | null
}

/** Connections refused in all, over runs. */
export function refusedCount(results: HeldCounts[]): number {
  return results.reduce((n, r) => n + (r.probeFailures.refused ?? 0), 0)
}

/**
 * "256 of 10,000 served; the rest were refused: "server busy: thread limit (256) reached"": why a
 * server served fewer than it was offered, in words, for the table's hover and the notes. Null
 * when it served them all.
 */
export function notServedText(r: HeldCounts, served: number): string | null {
  if (served >= r.requested) return null
  const parts: string[] = []
  const refused = r.probeFailures.refused ?? 0
  if (refused > 0) parts.push(`${refused} refused ${r.refusal ? `("${r.refusal}")` : '(closed without a word)'}`)
  const notMade = r.requested - r.connected
  if (notMade > 0) parts.push(`${notMade} not connected (${describeFailures(r.connectFailures)})`)
  const other = Object.entries(r.probeFailures).filter(([k]) => k !== 'refused')
  if (other.length) parts.push(`${other.reduce((n, [, v]) => n + v, 0)} not echoed (${describeFailures(Object.fromEntries(other))})`)
  return `${served.toLocaleString('en-US')} of ${r.requested.toLocaleString('en-US')} served; ${parts.join(', ') || 'the rest not answered'}`
}

/** The flags of connections not made, refused, or not echoed, over runs. */
export function heldFlags(results: HeldCounts[]): Flag[] {
  const flags: Flag[] = []
  const runs = results.length > 1 ? ` over ${results.length} runs` : ''
  const requested = results.reduce((n, r) => n + r.requested, 0)
  const notMade = results.reduce((n, r) => n + r.requested - r.connected, 0)
  if (notMade > 0) {
    const failures: Record<string, number> = {}
    for (const r of results) for (const [k, n] of Object.entries(r.connectFailures)) failures[k] = (failures[k] ?? 0) + n
    flags.push({ kind: FlagKind.CONNECT, reason: `${notMade} of ${requested} connections not made${runs} (${describeFailures(failures)})` })
  }
  const refused = refusedCount(results)
  if (refused > 0) {
    const said = results.find(r => r.refusal)?.refusal
    flags.push({ kind: FlagKind.REFUSED, reason: `${refused} of ${requested} connections refused before any echo${runs}${said ? `: the server said "${said}"` : ', closed without a word'}` })
  }
  const other: Record<string, number> = {}
  for (const r of results) for (const [k, n] of Object.entries(r.probeFailures)) if (k !== 'refused') other[k] = (other[k] ?? 0) + n
  const lost = Object.values(other).reduce((a, b) => a + b, 0)
  if (lost > 0) flags.push({ kind: FlagKind.ERRORS, reason: `${lost} of ${requested} connections not echoed${runs} (${describeFailures(other)})` })
  return flags
}
