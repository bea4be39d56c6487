// Child processes the bench, the soak and the tests start: a bash wrapper that raises the
// open-files limit first (Node cannot call setrlimit), a bounded tail of an output stream for
// error messages, a one-line account of how a process ended, and stopping one (SIGTERM, then
// SIGKILL if it lingers).
import type { ChildProcess } from 'node:child_process'

/**
 * A bash prologue raising the soft open-files limit: to 65536 where allowed, else to the hard
 * limit. Idle-connection tests need thousands of descriptors.
 */
export const RAISE_FD_LIMIT = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null'

/**
 * A command prefix running `prologue` in bash, then exec-ing the command appended to it: the
 * command keeps bash's pid, so the pid to sample and to signal is the command's own.
 */
export function bashWrapper(prologue: string): string[] {
  return ['bash', '-c', `${prologue}; exec "$@"`, 'bash']
}

/** Keeps the last `bytes` characters of a stream; returns a getter for them. */
export function outputTail(stream: NodeJS.ReadableStream | null, bytes = 4096): () => string {
  let text = ''
  stream?.setEncoding('utf8')
  stream?.on('data', (d: string) => {
    text = (text + d).slice(-bytes)
  })
  return () => text
}

/** True once the process has exited (or was killed). */
export function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null
}

/** The last non-blank line of `text` (trimmed), or ''. */
export function lastLine(text: string): string {
  return text.split('\n').map(l => l.trim()).filter(Boolean).at(-1) ?? ''
}

/** `exited with status N` or `killed by SIGNAL`, then `: ` and the last line of `stderr` when there is one. */
export function describeExit(child: ChildProcess, stderr = ''): string {
  const how = child.signalCode ? `killed by ${child.signalCode}` : `exited with status ${child.exitCode}`
  const why = lastLine(stderr)
  return why ? `${how}: ${why}` : how
}

export interface StopOptions {
  /** The first signal (default SIGTERM). */
  signal?: NodeJS.Signals
  /** SIGKILL after this long without an exit (default 5 s). */
  graceMs?: number
  /** Signal the whole process group (a child spawned `detached`, with whatever it started). */
  group?: boolean
}

/** Stops the process; resolves with its exit status (null: ended by a signal) once it has exited. */
export async function stopChild(child: ChildProcess, o: StopOptions = {}): Promise<number | null> {
  if (hasExited(child)) return child.exitCode
  const kill = (signal: NodeJS.Signals) => {
    try {
      if (o.group && child.pid) process.kill(-child.pid, signal)
      else child.kill(signal)
    } catch {
      // already gone
    }
  }
  // Not events.once: it would reject on an 'error' event (a signal that could not be sent).
  const exited = new Promise(resolve => child.once('exit', resolve))
  kill(o.signal ?? 'SIGTERM')
  const timer = setTimeout(() => kill('SIGKILL'), o.graceMs ?? 5000)
  await exited
  clearTimeout(timer)
  return child.exitCode
}
