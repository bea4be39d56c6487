// The servers' log: timestamped lines on stderr (stdout is kept for `listening on` and data),
// and a rate-limited variant for lines a flood could repeat.

/** The time of day a log line starts with, HH:MM:SS.mmm (UTC). */
export function timestamp(date = new Date()): string {
  return date.toISOString().slice(11, 23)
}

/** Put after the time on every line: a worker's `[w2]`, so lines from several processes can be told apart. */
let prefix = ''

/** Sets what every later log line of this process carries after its time ('' for nothing). */
export function setLogPrefix(text: string): void {
  prefix = text ? `${text} ` : ''
}

/** A timestamped log line on stderr. */
export function log(message: string): void {
  process.stderr.write(`${timestamp()} ${prefix}${message}\n`)
}

/**
 * A log line that may repeat in a flood (refused connections, EMFILE on accept): the first one is
 * printed, the rest are counted and summarised at most once per interval, so a flood cannot turn
 * into a flood of log lines.
 */
export class RateLimitedLog {
  private lastAt = -Infinity
  private suppressed = 0

  constructor(private readonly intervalMs = 1000) {}

  log(message: string): void {
    const now = performance.now()
    if (now - this.lastAt < this.intervalMs) {
      this.suppressed++
      return
    }
    const more = this.suppressed ? ` (+${this.suppressed} more like this)` : ''
    this.suppressed = 0
    this.lastAt = now
    log(message + more)
  }
}
