// Progress on stderr while the runner works: a redrawn bar when stderr is a terminal,
// plain lines otherwise (CI logs, pipes), so that no escape codes end up in files.

export interface Progress {
  /** How many steps there are, once known, and how long they should take in all. */
  setTotal(total: number, estimatedSeconds?: number): void
  /** A step begins: `label` says what runs now. */
  begin(label: string): void
  /** The current step ended; `summary` is a short outcome. */
  end(summary: string): void
  /** A line that must stay visible (a server not available, a crash). */
  note(line: string): void
  done(): void
}

const BAR_WIDTH = 20

function formatSeconds(s: number): string {
  s = Math.max(0, Math.round(s))
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`
}

export function createProgress(total: number, estimatedSeconds: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  let totalSeconds = estimatedSeconds
  let index = 0
  let current = ''
  const started = Date.now()
  const tty = Boolean(stream.isTTY)
  const eta = () => formatSeconds(((total - index) / Math.max(1, total)) * totalSeconds)

  const draw = () => {
    const filled = Math.round((index / Math.max(1, total)) * BAR_WIDTH)
    const bar = '█'.repeat(filled) + '░'.repeat(BAR_WIDTH - filled)
    const line = `${bar} ${index}/${total}  ~${eta()} left  ${current}`
    const width = stream.columns ?? 100
    stream.write(`\r\x1b[K${line.slice(0, width - 1)}`)
  }

  return {
    setTotal(n, seconds) {
      total = n
      if (seconds !== undefined) totalSeconds = seconds
    },
    begin(label) {
      current = label
      if (tty) draw()
    },
    end(summary) {
      index++
      if (tty) draw()
      else stream.write(`bench: [${index}/${total}] ${current}: ${summary}\n`)
    },
    note(line) {
      if (tty) stream.write(`\r\x1b[K${line}\n`)
      else stream.write(`bench: ${line}\n`)
      if (tty && current) draw()
    },
    done() {
      if (tty) stream.write(`\r\x1b[K`)
      stream.write(`bench: done in ${formatSeconds((Date.now() - started) / 1000)}\n`)
    },
  }
}
