// A server's life as a program sees it: started, announced (`listening on HOST:PORT`), stopped
// cleanly on SIGINT/SIGTERM. Every model hands the program a RunningServer.
import type net from 'node:net'
import type { EventLoop, Listener } from '../reactor/index.js'
import { reportFatal } from './cli/fatal.js'
import { RateLimitedLog } from './log.js'

/** A running server as the program sees it: its address and a graceful stop. */
export interface RunningServer {
  readonly host: string
  readonly port: number
  /** Stops accepting, finishes or says goodbye to clients, closes; resolves when done. */
  stop(): Promise<void>
  /** Resolves when the server has stopped for any reason. */
  readonly done: Promise<void>
}

/**
 * A server that runs on the reactor's EventLoop as a RunningServer: the listener gives the
 * address, the loop's run() is `done`, and stop() is the server's own graceful stop.
 */
export function runOnLoop(listener: Listener, server: { readonly loop: EventLoop; stop(): void }): RunningServer {
  const done = server.loop.run()
  const { host, port } = listener.address()
  return {
    host,
    port,
    done,
    async stop() {
      server.stop()
      await done
    },
  }
}

/**
 * Listens with a Node server (the models that are not the reactor's): resolves with the address
 * bound, rejects with the listen error (a port in use). After that, an error is an accept that
 * failed (EMFILE, ...): logged, rate-limited, and the server goes on.
 */
export async function listenNetServer(server: net.Server, where: { host: string; port: number; backlog: number }): Promise<{ host: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: where.host, port: where.port, backlog: where.backlog }, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const acceptErrors = new RateLimitedLog()
  server.on('error', err => acceptErrors.log(`accept failed: ${err.message}`))
  const address = server.address() as net.AddressInfo
  return { host: address.address, port: address.port }
}

/**
 * A RunningServer around a stop of its own: stop() runs it once (a second call gets the same
 * promise), and `done` resolves when it has finished.
 */
export function stoppableServer(address: { host: string; port: number }, stopOnce: () => Promise<void>): RunningServer {
  let resolveDone!: () => void
  const done = new Promise<void>(r => (resolveDone = r))
  let stopping: Promise<void> | null = null
  return {
    host: address.host,
    port: address.port,
    done,
    stop() {
      stopping ??= stopOnce().then(resolveDone)
      return stopping
    },
  }
}

/**
 * Prints `listening on HOST:PORT` (the first stdout line, which tests and the benchmark read),
 * then whatever `announce` prints (the web console's address), then stops the server cleanly on
 * SIGINT/SIGTERM; a second signal exits at once.
 */
export async function serveUntilSignalled(server: RunningServer, announce?: () => void): Promise<void> {
  process.stdout.write(`listening on ${server.host}:${server.port}\n`)
  announce?.()
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting now\n`)
      process.exit(130)
    }
    stopping = true
    process.stderr.write(`${signal}: shutting down\n`)
    server.stop().catch(reportFatal)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  await server.done
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
}
