// Real server processes for behaviour tests: spawn the built CLI (dist/), wait for its
// `listening on HOST:PORT` line, and stop it by its own pid when the test ends. Spawning and the
// wait are bench/cli-process.ts's (the bench and the soak start their servers the same way);
// this adds what tests need: all of the output, waits for any of it, and stdin.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { spawnCli as spawnBuiltCli, waitForListening, type CliSpawnOptions } from '../../bench/cli-process.js'
import { stopChild } from '../../bench/child.js'
import { uninstrumentedWrapper } from './subprocess-coverage.js'

export { CLI } from '../../bench/cli-process.js'

/** A CLI process started by spawnCli: its output so far, its stdin, and a way to stop it. */
export interface CliProcess {
  child: ChildProcessWithoutNullStreams
  /** Everything the process wrote to stdout/stderr so far. */
  stdout(): string
  stderr(): string
  /**
   * Resolves when stderr (or stdout) matches `re` — only output after `since` (from mark()) when
   * given, so an earlier line cannot satisfy a later wait; rejects after `timeoutMs`.
   */
  waitForOutput(re: RegExp, timeoutMs?: number, since?: OutputMark): Promise<string>
  /** The current end of stdout and stderr, for waitForOutput(re, timeout, since). */
  mark(): OutputMark
  /** Types on the process's stdin. */
  write(text: string | Buffer): void
  /** Resolves with the exit code (null if killed by a signal) when the process exits. */
  exited: Promise<number | null>
  /** SIGTERM (or the given signal), then the exit code; SIGKILL if it has not exited in `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>
}

export interface OutputMark {
  out: number
  err: number
}

export interface ServerProcess extends CliProcess {
  host: string
  port: number
}

export type SpawnOptions = CliSpawnOptions

/**
 * A `threads`-model server runs without tap's preloads. tap puts `--import=@tapjs/processinfo...`
 * in NODE_OPTIONS (and re-adds it to every child it sees spawned), and Node runs such preloads in
 * every worker thread too — each with its own loader-hooks thread: a connection-thread then starts
 * in ~150 ms instead of ~30, and 200 concurrent clients cost half a minute of start-up. `env -u`
 * drops them just before node starts. Their coverage, threads included, is V8's own
 * (thread-coverage.ts).
 */
function preloadFree(args: string[]): string[] {
  const i = args.indexOf('--model')
  return i >= 0 && args[i + 1] === 'threads' ? uninstrumentedWrapper() : []
}

/** Spawns `node dist/bin/selectloop.js ...args` with piped stdin/stdout/stderr (a server, a client). */
export function spawnCli(args: string[], opts: SpawnOptions = {}): CliProcess {
  return watch(spawnBuiltCli(args, { ...opts, wrapper: [...(opts.wrapper ?? []), ...preloadFree(args)], stdin: 'pipe' }))
}

/**
 * Spawns any other program (`command` is its argv, e.g. a reference server of peers/) with piped
 * stdin/stdout/stderr, watched as spawnCli's processes are.
 */
export function spawnCommand(command: string[], opts: Pick<SpawnOptions, 'wrapper' | 'env'> = {}): CliProcess {
  const [file, ...rest] = [...(opts.wrapper ?? []), ...command]
  return watch(spawn(file, rest, { stdio: 'pipe', env: { ...process.env, ...opts.env } }))
}

/** A CliProcess over a child with piped stdio: its output collected, waits on it, a way to stop it. */
function watch(child: ChildProcessWithoutNullStreams): CliProcess {
  let out = ''
  let err = ''
  const waiters: Array<() => void> = []
  const poke = () => waiters.splice(0).forEach(w => w())
  child.stdout.setEncoding('utf8').on('data', d => ((out += d), poke()))
  child.stderr.setEncoding('utf8').on('data', d => ((err += d), poke()))
  child.stdin.on('error', () => {}) // writing to a process that has exited is the test's business
  const exited = new Promise<number | null>(resolve => child.on('exit', code => (resolve(code), poke())))

  const waitForOutput = (re: RegExp, timeoutMs = 10_000, since: OutputMark = { out: 0, err: 0 }) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}\nstdout: ${out}\nstderr: ${err}`)), timeoutMs)
      const check = () => {
        const m = re.exec(out.slice(since.out)) ?? re.exec(err.slice(since.err))
        if (m) {
          clearTimeout(timer)
          resolve(m[0])
        } else if (child.exitCode !== null || child.signalCode !== null) {
          clearTimeout(timer)
          reject(new Error(`process exited (${child.exitCode ?? child.signalCode}) before ${re}\nstdout: ${out}\nstderr: ${err}`))
        } else waiters.push(check)
      }
      check()
    })

  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitForOutput,
    mark: () => ({ out: out.length, err: err.length }),
    write: text => void child.stdin.write(text),
    exited,
    stop: (signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000) => stopChild(child, { signal, graceMs }),
  }
}

/** Spawns `node dist/bin/selectloop.js ...args` and resolves once it prints `listening on H:P`. */
export async function startServer(
  args: string[],
  opts: SpawnOptions & { timeoutMs?: number } = {},
): Promise<ServerProcess> {
  return listening(spawnCli(args, opts), opts.timeoutMs)
}

/** spawnCommand(command), resolved once it prints `listening on H:P` (as our servers do). */
export async function startCommandServer(
  command: string[],
  opts: Pick<SpawnOptions, 'wrapper' | 'env'> & { timeoutMs?: number } = {},
): Promise<ServerProcess> {
  return listening(spawnCommand(command, opts), opts.timeoutMs)
}

async function listening(proc: CliProcess, timeoutMs = 15_000): Promise<ServerProcess> {
  const { host, port } = await waitForListening(proc.child, { timeoutMs }).catch((err: Error) => {
    throw new Error(`${err.message}\nstdout: ${proc.stdout()}\nstderr: ${proc.stderr()}`)
  })
  return { ...proc, host, port }
}
