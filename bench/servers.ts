// Servers under benchmark, started and stopped by the runner: each model's echo server from the
// built CLI, or any external echo server command. Both are started through bash so that the
// open-files limit can be raised first (Node cannot call setrlimit); a server that fails to start
// is "not available" with the reason, never an abort.
import { spawn, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { readChildren, readComm } from './proc.js'

/** The built CLI (servers under benchmark run from tsc output, never through a loader). */
export function cliPath(): string {
  const url = import.meta.url.endsWith('.ts') ? new URL('../dist/bin/selectloop.js', import.meta.url) : new URL('../bin/selectloop.js', import.meta.url)
  return fileURLToPath(url)
}

/**
 * A bash prologue raising the soft open-files limit: to 65536 where allowed, else to the hard
 * limit. Idle-connection tests need thousands of descriptors.
 */
export const RAISE_FD_LIMIT = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null'

export class NotAvailable extends Error {
  override name = 'NotAvailable'
}

export interface ServerSpec {
  name: string
  /** A model of `selectloop echo`, or an external command with {port} in it. */
  model?: string
  command?: string
}

export interface RunningBenchServer {
  readonly spec: ServerSpec
  readonly host: string
  readonly port: number
  /** The process to sample: the server itself, even when started through a shell. */
  readonly pid: number
  /** Null while running; otherwise a one-line account of how it ended. */
  exitInfo(): string | null
  stop(): Promise<void>
}

function lastLine(text: string): string {
  const lines = text.split('\n').map(l => l.trim()).filter(Boolean)
  return lines.at(-1) ?? ''
}

/** Keeps the last few KB of a stream, for error messages. */
function tail(stream: NodeJS.ReadableStream | null): () => string {
  let text = ''
  stream?.setEncoding('utf8')
  stream?.on('data', (d: string) => {
    text = (text + d).slice(-4096)
  })
  return () => text
}

function describeExit(child: ChildProcess, stderr: string): string {
  const how = child.signalCode ? `killed by ${child.signalCode}` : `exited with status ${child.exitCode}`
  const why = lastLine(stderr)
  return why ? `${how}: ${why}` : how
}

async function stopChild(child: ChildProcess, group: boolean): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const kill = (signal: NodeJS.Signals) => {
    try {
      if (group && child.pid) process.kill(-child.pid, signal)
      else child.kill(signal)
    } catch {
      // already gone
    }
  }
  const exited = once(child, 'exit')
  kill('SIGTERM')
  const timer = setTimeout(() => kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

/** Starts `selectloop echo --model M --port 0 --quiet` and reads its `listening on HOST:PORT` line. */
export async function startModelServer(spec: ServerSpec, timeoutMs = 20_000): Promise<RunningBenchServer> {
  const child = spawn('bash', ['-c', `${RAISE_FD_LIMIT}; exec "$@"`, 'bash', process.execPath, cliPath(), 'echo', '--model', spec.model!, '--port', '0', '--quiet'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const stderr = tail(child.stderr)
  let stdout = ''
  child.stdout!.setEncoding('utf8')
  const listening = new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new NotAvailable(`no 'listening on' line within ${timeoutMs / 1000} s`)), timeoutMs)
    child.stdout!.on('data', (d: string) => {
      stdout += d
      const m = /^listening on (\S+):(\d+)\n/.exec(stdout)
      if (m) {
        clearTimeout(timer)
        resolve(m)
      } else if (stdout.includes('\n')) {
        clearTimeout(timer)
        reject(new NotAvailable(`unexpected first line: ${stdout.split('\n')[0]}`))
      }
    })
    child.on('exit', () => {
      clearTimeout(timer)
      reject(new NotAvailable(describeExit(child, stderr())))
    })
    child.on('error', e => reject(new NotAvailable(e.message)))
  })
  let m: RegExpExecArray
  try {
    m = await listening
  } catch (e) {
    await stopChild(child, false)
    throw e
  }
  child.stdout!.resume()
  return {
    spec,
    host: m[1],
    port: Number(m[2]),
    pid: child.pid!,
    exitInfo: () => (child.exitCode !== null || child.signalCode !== null ? describeExit(child, stderr()) : null),
    stop: () => stopChild(child, false),
  }
}

/** A port that was free a moment ago (the usual race: fine on a benchmark machine). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer()
  server.listen(0, host)
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  server.close()
  await once(server, 'close')
  return port
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise(resolve => {
    const s = net.connect({ host, port })
    s.once('connect', () => (s.destroy(), resolve(true)))
    s.once('error', () => (s.destroy(), resolve(false)))
  })
}

/**
 * The process to sample when a command ran through `bash -c`: bash execs a simple command (the
 * pid is the server), but keeps itself as parent of anything fancier: then use its only child.
 */
function serverPid(pid: number): number {
  if (readComm(pid) !== 'bash') return pid
  const children = readChildren(pid)
  return children.length === 1 ? serverPid(children[0]) : pid
}

/** Starts an external echo server command (`{port}` replaced) and waits until it accepts connections. */
export async function startExternalServer(spec: ServerSpec, timeoutMs = 20_000): Promise<RunningBenchServer> {
  const host = '127.0.0.1'
  const port = await freePort(host)
  const command = spec.command!.replaceAll('{port}', String(port))
  // Its own process group, so that stopping it stops whatever the command started.
  const child = spawn('bash', ['-c', `${RAISE_FD_LIMIT}; ${command}`], { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
  const stderr = tail(child.stderr)
  let failure: string | null = null
  child.on('error', e => (failure = e.message))
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (failure) throw new NotAvailable(failure)
    if (child.exitCode !== null || child.signalCode !== null) throw new NotAvailable(`${describeExit(child, stderr())} before accepting connections`)
    if (await accepts(host, port)) break
    if (Date.now() > deadline) {
      await stopChild(child, true)
      throw new NotAvailable(`not accepting connections on ${host}:${port} after ${timeoutMs / 1000} s (${command})`)
    }
    await sleep(100)
  }
  return {
    spec,
    host,
    port,
    pid: serverPid(child.pid!),
    exitInfo: () => (child.exitCode !== null || child.signalCode !== null ? describeExit(child, stderr()) : null),
    stop: () => stopChild(child, true),
  }
}

export function startServerSpec(spec: ServerSpec): Promise<RunningBenchServer> {
  return spec.model !== undefined ? startModelServer(spec) : startExternalServer(spec)
}
