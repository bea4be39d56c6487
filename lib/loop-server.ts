// A server that runs on the reactor's EventLoop, seen as the CLI's RunningServer: the listener
// gives the address, the loop's run() is `done`, and stop() is the server's own graceful stop.
import type { EventLoop, Listener } from '../reactor/index.js'
import type { RunningServer } from './cli-support.js'

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
