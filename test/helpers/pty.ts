// The built CLI on a real pseudo-terminal (python3's pty module, through pty-run.py), its output
// read through a Screen: a test types keys and waits for what a person would see.
import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { CLI } from './process.js'
import { Screen } from './screen.js'

const PTY_RUN = fileURLToPath(new URL('./pty-run.py', import.meta.url))

/** Why terminal tests cannot run here (no python3 with a pty module), or null when they can. */
export function ptyUnavailable(): string | null {
  const r = spawnSync('python3', ['-c', 'import pty, termios, fcntl'], { encoding: 'utf8' })
  return r.status === 0 ? null : 'python3 with its pty module is needed to run the CLI on a pseudo-terminal'
}

export interface PtyProcess {
  screen: Screen
  /** Types on the terminal: '\r' is Enter, '\x04' Ctrl-D, '\x03' Ctrl-C, '\x1b[D' the left arrow. */
  type(keys: string): void
  /** Resolves once `check(screen)` holds; rejects after `timeoutMs`, or if the process ends first. */
  waitFor(what: string, check: (screen: Screen) => boolean, timeoutMs?: number): Promise<void>
  /** Resolves with the exit status. */
  exited: Promise<number | null>
  kill(): void
}

/** Starts `node dist/bin/selectloop.js ...args` on a `cols` × `rows` pseudo-terminal. */
export function spawnOnPty(args: string[], cols = 40, rows = 12): PtyProcess {
  const child = spawn('python3', [PTY_RUN, String(cols), String(rows), '--', process.execPath, CLI, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const screen = new Screen(cols, rows)
  const waiters: Array<() => void> = []
  const poke = () => waiters.splice(0).forEach(w => w())
  let ended = false
  child.stdout.setEncoding('utf8').on('data', (d: string) => (screen.write(d), poke()))
  child.stdin.on('error', () => {})
  const exited = new Promise<number | null>(resolve =>
    child.on('exit', code => {
      ended = true
      resolve(code)
      poke()
    }),
  )
  const waitFor = (what: string, check: (s: Screen) => boolean, timeoutMs = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const fail = (why: string) => reject(new Error(`${why} waiting for ${what}; the cursor at ${screen.cursor().join(',')}, the screen:\n${screen.visible().map(l => `|${l}|`).join('\n')}`))
      const timer = setTimeout(() => fail('timed out'), timeoutMs)
      const poll = () => {
        if (check(screen)) {
          clearTimeout(timer)
          resolve()
        } else if (ended) {
          clearTimeout(timer)
          fail('the process ended')
        } else waiters.push(poll)
      }
      poll()
    })
  return {
    screen,
    type: keys => void child.stdin.write(keys),
    waitFor,
    exited,
    kill: () => void child.kill('SIGKILL'),
  }
}

/** The last `n` visible lines of the screen. */
export function lastLines(screen: Screen, n: number): string[] {
  return screen.visible().slice(-n)
}
