// What one model's soak found, the verdict on it, and the printed summary. No I/O here.
import type { HostileStats } from './hostile.js'

/** Resident memory may grow at most this much between the end of warm-up and the end of the run. */
export const RSS_GROWTH_LIMIT = 0.1
/** Memory is judged only over a long enough stretch of load (shorter runs still report it). */
export const MIN_RSS_WINDOW_S = 20

export interface RssReport {
  /** Median RSS (bytes) in the seconds after warm-up, and at the end, both under load. */
  warm: number
  end: number
}

/** Open descriptors, the same way: a socket leaked per session would pile up by the hundred. */
export interface FdReport {
  warm: number
  end: number
}

/** More descriptors than this at the end than after warm-up is a leak, not the load varying. */
export function fdLimit(warm: number): number {
  return warm + Math.max(32, warm)
}

export interface ServerReport {
  /** Still running when the load ended. */
  alive: boolean
  /** Exit status after SIGTERM (null: killed by a signal, or a server we did not start). */
  exit: number | null
  external: boolean
  rss: RssReport | null
  fds: FdReport | null
  /** The end of its stderr, kept when something went wrong. */
  stderrTail?: string
}

export interface ModelReport {
  model: string
  /** Seconds of load, and when (after how many) the first memory sample was taken. */
  seconds: number
  warmupSeconds: number
  chat: { sessions: number; quits: number; resets: number; sent: number; delivered: number }
  echo: { connections: number; clean: number; abrupt: number; messages: number; bytes: number }
  hostile: Record<string, HostileStats>
  servers: { echo: ServerReport; chat: ServerReport }
  /** Every loss, by kind (delivery, echo, hostile clients not handled), and the first details. */
  losses: Record<string, number>
  lossDetails: string[]
  /** Why this model failed (empty: it passed). */
  failures: string[]
}

/** The reasons a model's run fails; empty when it passed. */
export function verdict(r: Omit<ModelReport, 'failures'>): string[] {
  const failures: string[] = []
  const lost = Object.values(r.losses).reduce((a, b) => a + b, 0)
  if (lost > 0) failures.push(`${lost} loss${lost === 1 ? '' : 'es'}`)
  for (const [label, s] of Object.entries(r.servers)) {
    if (!s.alive) failures.push(`the ${label} server died`)
    else if (!s.external && s.exit !== 0) failures.push(`the ${label} server exited with ${s.exit ?? 'a signal'} on SIGTERM`)
    const growth = rssGrowth(s.rss)
    if (growth !== null && rssJudged(r) && growth > RSS_GROWTH_LIMIT) {
      failures.push(`the ${label} server's memory grew ${pct(growth)} (limit +${RSS_GROWTH_LIMIT * 100}%)`)
    }
    if (s.fds && s.fds.end > fdLimit(s.fds.warm)) {
      failures.push(`the ${label} server's open descriptors grew from ${s.fds.warm} to ${s.fds.end}`)
    }
  }
  return failures
}

export function rssJudged(r: Pick<ModelReport, 'seconds' | 'warmupSeconds'>): boolean {
  return r.seconds - r.warmupSeconds >= MIN_RSS_WINDOW_S
}

function rssGrowth(rss: RssReport | null): number | null {
  return rss && rss.warm > 0 ? rss.end / rss.warm - 1 : null
}

const MB = 1024 * 1024
const mb = (n: number) => `${(n / MB).toFixed(1)} MB`
const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`
const rate = (n: number, s: number) => `${(n / s).toFixed(1)}/s`

function bytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`
  return `${(n / 1e3).toFixed(1)} kB`
}

/** The human summary of one model's run. */
export function formatReport(r: ModelReport): string {
  const s = r.seconds
  const hostileRuns = Object.values(r.hostile).reduce((a, h) => a + h.runs, 0)
  const hostileHandled = Object.values(r.hostile).reduce((a, h) => a + h.handled, 0)
  const perKind = Object.entries(r.hostile)
    .filter(([, h]) => h.runs > 0)
    .map(([k, h]) => `${k} ${h.handled}/${h.runs}`)
    .join(', ')
  const memory = (['echo', 'chat'] as const)
    .map(label => {
      const rss = r.servers[label].rss
      if (!rss) return `${label} not measured`
      return `${label} ${mb(rss.warm)} → ${mb(rss.end)} (${pct(rssGrowth(rss)!)})`
    })
    .join(', ')
  const descriptors = (['echo', 'chat'] as const)
    .map(label => {
      const fds = r.servers[label].fds
      return fds ? `${label} ${fds.warm} → ${fds.end}` : `${label} not counted`
    })
    .join(', ')
  const judged = rssJudged(r) ? `limit +${RSS_GROWTH_LIMIT * 100}%` : `not judged: under ${MIN_RSS_WINDOW_S} s after warm-up`
  const server = (label: 'echo' | 'chat') => {
    const v = r.servers[label]
    if (v.external) return `${label} external`
    return `${label} ${v.alive ? 'alive' : 'DIED'}, exit ${v.exit ?? 'by signal'} on SIGTERM`
  }
  const losses = Object.entries(r.losses).filter(([, n]) => n > 0)
  const lines = [
    `soak: model ${r.model}, ${s.toFixed(0)} s of load (memory compared from ${r.warmupSeconds.toFixed(0)} s on)`,
    `  chat     ${r.chat.sessions} sessions (${rate(r.chat.sessions, s)}): ${r.chat.quits} quit, ${r.chat.resets} reset; ` +
      `${r.chat.sent} messages sent, ${r.chat.delivered} deliveries (${rate(r.chat.delivered, s)})`,
    `  echo     ${r.echo.connections} connections (${rate(r.echo.connections, s)}): ${r.echo.clean} clean, ${r.echo.abrupt} reset; ` +
      `${r.echo.messages} messages, ${bytes(r.echo.bytes)} echoed and checked byte for byte`,
    `  churn    ${rate(r.chat.sessions + r.echo.connections, s)} connections opened and closed`,
    `  hostile  ${hostileHandled} of ${hostileRuns} handled${perKind ? `: ${perKind}` : ''}`,
    `  memory   ${memory} [${judged}]`,
    `  fds      ${descriptors} (open descriptors, same moments)`,
    `  servers  ${server('echo')}; ${server('chat')}`,
    `  losses   ${losses.length === 0 ? 'none' : losses.map(([k, n]) => `${k} ${n}`).join(', ')}`,
    ...r.lossDetails.slice(0, 10).map(d => `           ${d}`),
    `  ${r.failures.length === 0 ? 'PASS' : `FAIL: ${r.failures.join('; ')}`}`,
  ]
  return lines.join('\n')
}
