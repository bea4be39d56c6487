// A worker process of `--workers N`: one server with its own reactor, run by the primary. It says
// when it listens (the primary prints `listening on` once all do), stops when the primary asks,
// and takes the operator's console from the primary rather than from stdin (one process reads
// the terminal, not N).
import cluster from 'node:cluster'
import { PassThrough, type Readable } from 'node:stream'
import { reportFatal } from '../cli/fatal.js'
import type { RunningServer } from '../server-lifecycle.js'
import { type FromPrimary, type FromWorker, WORKER_INDEX_ENV } from './messages.js'

/** This worker's slot, 0..N-1. */
export function workerIndex(): number {
  return Number(process.env[WORKER_INDEX_ENV] ?? 0)
}

/**
 * The operator's console as the primary forwards it: a stream to read as stdin would be. Only
 * worker 0 gets anything.
 */
export function consoleFromPrimary(): Readable {
  const input = new PassThrough()
  process.on('message', (m: FromPrimary) => {
    if (m?.kind === 'console') input.write(Buffer.from(m.data, 'base64'))
    else if (m?.kind === 'console-end') input.end()
  })
  return input
}

/**
 * Starts the server (`start`), tells the primary, and serves until the primary asks it to stop
 * (or a SIGTERM sent to this process alone). A start that fails ends the process with status 1,
 * after the usual one-line error. Ctrl-C on the terminal reaches every process of the group: the
 * workers leave it to the primary, which stops them all in order.
 */
export async function serveAsWorker(start: () => Promise<RunningServer>): Promise<void> {
  process.on('SIGINT', () => {})
  let server: RunningServer
  try {
    server = await start()
  } catch (err) {
    reportFatal(err)
    process.exit(process.exitCode ?? 1)
  }
  let stopping = false
  const stop = () => {
    if (stopping) return
    stopping = true
    server.stop().catch(reportFatal)
  }
  process.on('SIGTERM', stop)
  process.on('message', (m: FromPrimary) => m?.kind === 'stop' && stop())
  const ready: FromWorker = { kind: 'ready', host: server.host, port: server.port }
  process.send!(ready)
  await server.done
  // Closes what is left and the IPC channel; the primary sees a clean exit.
  cluster.worker?.disconnect()
}
