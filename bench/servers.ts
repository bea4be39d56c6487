// Servers under benchmark, started and stopped by the runner: each model's echo server from the
// built CLI, or any external echo server command. Both are started through bash so that the
// open-files limit can be raised first (Node cannot call setrlimit); a server that fails to start
// is "not available" with the reason, never an abort.
import { spawn } from 'node:child_process'
import net from 'node:net'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { RAISE_FD_LIMIT, bashWrapper, describeExit, hasExited, outputTail, stopChild } from './child.js'
import { StartFailure, startCliServer } from './cli-process.js'
import { readChildren, readComm } from './proc.js'

export class NotAvailable extends Error {
  override name = 'NotAvailable'
}

export interface ServerSpec {
  name: string
  /** A model of `selectloop echo`, or an external command with {port} in it. */
  model?: string
  command?: string
  /** The model run as `--workers N` (a primary and N worker processes). */
  workers?: number
  /** More arguments for the model's server (bench --tls: --tls --cert F --key K). */
  args?: string[]
}

/** Models of `selectloop echo` that can run as workers. */
const WORKER_MODELS = ['selector', 'net']

/**
 * bench --workers 1,2: each model that can run as workers, once per count (named `selector×2`),
 * in place of the one-process run; other servers as they are. No counts: `specs` unchanged.
 */
export function withWorkers(specs: ServerSpec[], counts: number[]): ServerSpec[] {
  if (counts.length === 0) return specs
  return specs.flatMap(spec =>
    spec.model && WORKER_MODELS.includes(spec.model) ? counts.map(workers => ({ ...spec, name: `${spec.name}×${workers}`, workers })) : [spec],
  )
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

/** Starts `selectloop echo --model M --port 0 --quiet` (fd limit raised) and waits until it listens. */
export async function startModelServer(spec: ServerSpec, timeoutMs = 20_000): Promise<RunningBenchServer> {
  let server
  try {
    const workers = spec.workers ? ['--workers', String(spec.workers)] : []
    server = await startCliServer(['echo', '--model', spec.model!, '--port', '0', '--quiet', ...workers, ...(spec.args ?? [])], { wrapper: bashWrapper(RAISE_FD_LIMIT), timeoutMs })
  } catch (e) {
    throw e instanceof StartFailure ? new NotAvailable(e.message) : e
  }
  const { child, host, port } = server
  return {
    spec,
    host,
    port,
    pid: child.pid!, // bash exec'd node: the same process
    exitInfo: server.exitInfo,
    stop: async () => void (await stopChild(child)),
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
  const stderr = outputTail(child.stderr)
  let failure: string | null = null
  child.on('error', e => (failure = e.message))
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (failure) throw new NotAvailable(failure)
    if (hasExited(child)) throw new NotAvailable(`${describeExit(child, stderr())} before accepting connections`)
    if (await accepts(host, port)) break
    if (Date.now() > deadline) {
      await stopChild(child, { group: true })
      throw new NotAvailable(`not accepting connections on ${host}:${port} after ${timeoutMs / 1000} s (${command})`)
    }
    await sleep(100)
  }
  return {
    spec,
    host,
    port,
    pid: serverPid(child.pid!),
    exitInfo: () => (hasExited(child) ? describeExit(child, stderr()) : null),
    stop: async () => void (await stopChild(child, { group: true })),
  }
}

export function startServerSpec(spec: ServerSpec): Promise<RunningBenchServer> {
  return spec.model !== undefined ? startModelServer(spec) : startExternalServer(spec)
}
