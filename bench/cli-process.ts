// The built CLI as a child process, run as a user runs it: where it is, how it is spawned (node
// flags, a wrapper such as bashWrapper(RAISE_FD_LIMIT), extra environment), and how a server
// started this way is awaited: its `listening on HOST:PORT` line on stdout. The bench runner, the
// soak, threads-costs and the tests' process helper all start the CLI through here.
import { spawn, type ChildProcess, type ChildProcessByStdio, type ChildProcessWithoutNullStreams } from 'node:child_process'
import type { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { builtSibling } from '../lib/built.js'
import { describeExit, hasExited, lastLine, outputTail, stopChild } from './child.js'

/** dist/bin/selectloop.js: the CLI always runs from tsc's output, never through a loader. */
export const CLI = fileURLToPath(builtSibling(import.meta.url, '../bin/selectloop.js'))

/** What a server prints on stdout once it accepts connections (lib/server-lifecycle.ts). */
const LISTENING = /listening on (\S+):(\d+)\n/
/** Stdout kept while waiting for that line (a line split across reads still matches). */
const STDOUT_KEPT = 4096

export interface CliSpawnOptions {
  /** Node's own options, before the script (V8 flags, say). */
  nodeArgs?: string[]
  /** A command the node invocation is appended to, e.g. ['bash', '-c', 'ulimit -n 64 && exec "$@"', 'bash']. */
  wrapper?: string[]
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv
}

/** The command line: [...wrapper, node, ...nodeArgs, CLI, ...args]. */
export function cliCommand(args: string[], o: CliSpawnOptions = {}): string[] {
  return [...(o.wrapper ?? []), process.execPath, ...(o.nodeArgs ?? []), CLI, ...args]
}

/**
 * Spawns the built CLI with `args`; stdout and stderr are piped, stdin too with `stdin: 'pipe'`
 * (a client, an operator console), else it is /dev/null.
 */
export function spawnCli(args: string[], o: CliSpawnOptions & { stdin: 'pipe' }): ChildProcessWithoutNullStreams
export function spawnCli(args: string[], o?: CliSpawnOptions & { stdin?: 'ignore' }): ChildProcessByStdio<null, Readable, Readable>
export function spawnCli(args: string[], o: CliSpawnOptions & { stdin?: 'pipe' | 'ignore' } = {}): ChildProcess {
  const [file, ...rest] = cliCommand(args, o)
  return spawn(file, rest, { stdio: [o.stdin ?? 'ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } })
}

/** A server that did not come up: why, in one line; `stderr` holds what it said, when known. */
export class StartFailure extends Error {
  override name = 'StartFailure'
  constructor(
    message: string,
    readonly stderr = '',
  ) {
    super(message)
  }
}

export interface ListenAddress {
  host: string
  port: number
}

export interface WaitOptions {
  /** How long the server has to say it listens (default 15 s). */
  timeoutMs?: number
  /** Its stderr so far, for the failure's message. */
  stderr?: () => string
}

/**
 * Waits for the server's `listening on HOST:PORT` line. Resolves with that address. Rejects with
 * a StartFailure when the process ends first or cannot be spawned, or when no such line comes
 * within the timeout: then it is killed, and gone, before the promise rejects. Stdout keeps
 * flowing afterwards, so a chatty server never blocks on a full pipe.
 */
export function waitForListening(child: ChildProcess, o: WaitOptions = {}): Promise<ListenAddress> {
  const stdout = child.stdout!
  const timeoutMs = o.timeoutMs ?? 15_000
  const stderr = o.stderr ?? (() => '')
  return new Promise((resolve, reject) => {
    let text = ''
    const settle = () => {
      clearTimeout(timer)
      stdout.off('data', onData)
      child.off('close', onClose)
      child.off('error', onError)
      stdout.resume()
    }
    const onData = (d: string) => {
      const m = LISTENING.exec(text + d)
      text = (text + d).slice(-STDOUT_KEPT)
      if (!m) return
      settle()
      resolve({ host: m[1], port: Number(m[2]) })
    }
    // 'close', not 'exit': by then its last words on stderr have been read too.
    const onClose = () => {
      settle()
      const why = lastLine(stderr())
      reject(new StartFailure(`${describeExit(child)} before listening${why ? `: ${why}` : ''}`, stderr()))
    }
    const onError = (e: Error) => {
      settle()
      reject(new StartFailure(`cannot start: ${e.message}`, stderr()))
    }
    const timer = setTimeout(() => {
      settle()
      const said = text.trim() ? ` (stdout: ${JSON.stringify(text.trim().split('\n')[0])})` : ''
      const failure = new StartFailure(`no 'listening on' line within ${timeoutMs / 1000} s${said}`, stderr())
      void stopChild(child, { signal: 'SIGKILL' }).then(() => reject(failure))
    }, timeoutMs)
    stdout.setEncoding('utf8').on('data', onData)
    child.once('close', onClose)
    child.once('error', onError)
    if (hasExited(child)) onClose()
  })
}

export interface CliServer extends ListenAddress {
  readonly child: ChildProcessByStdio<null, Readable, Readable>
  /** The end of its stderr (the last `stderrKept` characters). */
  stderr(): string
  /** Null while it runs; otherwise how it ended, with the last line of its stderr. */
  exitInfo(): string | null
}

export interface CliServerOptions extends CliSpawnOptions {
  /** How long it has to say it listens (default 15 s). */
  timeoutMs?: number
  /** Characters of its stderr kept to explain a failure (default 4096). */
  stderrKept?: number
}

/**
 * Starts a server from the built CLI (`args` such as ['echo', '--port', '0', '--quiet']) and
 * resolves once it listens. Rejects with a StartFailure; the process is gone by then.
 */
export async function startCliServer(args: string[], o: CliServerOptions = {}): Promise<CliServer> {
  const child = spawnCli(args, o)
  const stderr = outputTail(child.stderr, o.stderrKept)
  const { host, port } = await waitForListening(child, { timeoutMs: o.timeoutMs, stderr })
  return {
    child,
    host,
    port,
    stderr,
    exitInfo: () => (hasExited(child) ? describeExit(child, stderr()) : null),
  }
}
