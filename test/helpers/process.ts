// Real server processes for behaviour tests: spawn the built CLI (dist/), wait for its
// `listening on HOST:PORT` line, and stop it by its own pid when the test ends.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'

export const CLI = fileURLToPath(new URL('../../dist/lib/cli.js', import.meta.url))

export interface ServerProcess {
  child: ChildProcessWithoutNullStreams
  host: string
  port: number
  /** Everything the process wrote to stdout/stderr so far. */
  stdout(): string
  stderr(): string
  /** Resolves when stderr (or stdout) has a line matching `re`; rejects after `timeoutMs`. */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<string>
  /** SIGTERM (or the given signal), then the exit code; SIGKILL if it has not exited in `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>
}

/** Spawns `node dist/lib/cli.js ...args` and resolves once it prints `listening on H:P`. */
export async function startServer(
  args: string[],
  opts: {
    timeoutMs?: number
    env?: NodeJS.ProcessEnv
    nodeArgs?: string[]
    /** A command the node invocation is appended to, e.g. ['bash', '-c', 'ulimit -n 64 && exec "$@"', 'bash']. */
    wrapper?: string[]
  } = {},
): Promise<ServerProcess> {
  const command = [...(opts.wrapper ?? []), process.execPath, ...(opts.nodeArgs ?? []), CLI, ...args]
  const child = spawn(command[0], command.slice(1), {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...opts.env },
  })
  let out = ''
  let err = ''
  const waiters: Array<() => void> = []
  const poke = () => waiters.splice(0).forEach(w => w())
  child.stdout.setEncoding('utf8').on('data', d => ((out += d), poke()))
  child.stderr.setEncoding('utf8').on('data', d => ((err += d), poke()))
  child.on('exit', poke)

  const waitForOutput = (re: RegExp, timeoutMs = 10_000) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}\nstdout: ${out}\nstderr: ${err}`)), timeoutMs)
      const check = () => {
        const m = re.exec(out) ?? re.exec(err)
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

  const line = await waitForOutput(/listening on (\S+):(\d+)\n/, opts.timeoutMs ?? 15_000)
  const [, host, port] = /listening on (\S+):(\d+)/.exec(line)!
  return {
    child,
    host,
    port: Number(port),
    stdout: () => out,
    stderr: () => err,
    waitForOutput,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      child.kill(signal)
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      const [code] = await once(child, 'exit')
      clearTimeout(timer)
      return code as number | null
    },
  }
}
