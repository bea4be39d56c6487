// The `threads` model of the echo server: one OS thread per connection. The main thread accepts
// and owns the sockets; lib/threads/host.ts moves the bytes to and from each connection's thread,
// which runs threads-handler.ts.
import { listenNetServer, stoppableServer, type RunningServer } from '../server-lifecycle.js'
import { builtSibling } from '../built.js'
import { ThreadHost } from '../threads/host.js'
import type { EchoOptions } from './options.js'
import { createStreamServer } from '../tls/server.js'

export async function startThreadsEcho(options: EchoOptions): Promise<RunningServer> {
  const host = new ThreadHost({
    handler: builtSibling(import.meta.url, './threads-handler.js'),
    maxThreads: options.maxThreads,
    pool: options.pool,
    maxConnections: options.maxConnections,
    idleTimeoutMs: options.idleTimeoutMs,
    verbose: options.verbose,
    observer: options.observer,
  })
  options.observer?.serverStarted({ protocol: 'echo', model: 'threads', loop: null, operator: null, lock: null })
  await host.start()
  const server = createStreamServer(options.tls, socket => host.serve(socket), options.maxConnections)
  const address = await listenNetServer(server, options)
  // Stop accepting; every handler sees end of input and finishes its echo, then FIN. After the
  // grace period the rest are closed with what they had echoed (ThreadHost.stop).
  return stoppableServer(address, async () => {
    const closed = new Promise<void>(r => server.close(() => r()))
    await host.stop(options.shutdownGraceMs)
    await closed
  })
}
