// `--web`: the operator's window and a window on the loop, served from the server's own process.
// A WebSide is made before the server starts (its ServerWatch is the server's observer, so it sees
// everything from the first connection on), attached once the server listens (the HTTP server
// starts then, and stops after it), and announced after `listening on ...`.
import type { RunningServer } from '../server-lifecycle.js'
import { newToken } from './guard.js'
import type { WebOptions } from './options.js'
import { ServerWatch } from './watch.js'
import { WebServer } from './web-server.js'
import { log } from '../log.js'
import type { TlsServerConfig } from '../tls/options.js'

export class WebSide {
  /** The server's observer: give it to the server as `observer`. */
  readonly watch: ServerWatch
  readonly token: string
  private web: WebServer | null = null

  constructor(
    private readonly options: WebOptions,
    private readonly protocol: 'echo' | 'chat',
    private readonly verbose: boolean,
  ) {
    this.token = options.token ?? newToken()
    this.watch = new ServerWatch(peer => this.web?.bridged.has(peer) ?? false)
  }

  /**
   * Starts the web server beside `server` (a running chat or echo server that was given `watch`
   * as its observer). Returns the server with the web side's life tied to it: stopping stops
   * both, the web side last (browser users hear `server closing` from the chat first). If the web
   * server cannot start (its port is taken), `server` is stopped and the error is thrown.
   * `chat`: the chat's --max-clients (browser users at once) and --max-outbuf (how far behind a
   * browser user may fall before it is dropped); null for echo. `tls`: the server's TLS (--tls), for
   * the browser users' connections to the chat; the web side itself stays plain HTTP.
   */
  async attach(server: RunningServer, chat: { maxClients: number; maxOutbuf: number } | null, tls: TlsServerConfig | null = null): Promise<RunningServer> {
    this.watch.setAddress(`${server.host}:${server.port}`)
    if (tls && !isLoopback(this.options.host)) {
      log(`web: plain HTTP on ${this.options.host}, not TLS: the console's token${chat ? ' and the browser chat' : ''} can be read on the network (bind --web to loopback, or put it behind a TLS proxy)`)
    }
    try {
      this.web = await WebServer.start(
        {
          host: this.options.host,
          port: this.options.port,
          token: this.token,
          maxViewers: this.options.maxViewers,
          maxBridges: chat?.maxClients ?? 0,
          maxQueued: chat?.maxOutbuf ?? 0,
          chat: chat ? { host: loopbackFor(server.host), port: server.port, fingerprint: tls?.certificate.fingerprint ?? null } : null,
          names: [this.options.host, server.host],
          verbose: this.verbose,
        },
        this.watch,
      )
    } catch (err) {
      await server.stop()
      throw err
    }
    const web = this.web
    const close = async () => {
      this.watch.detach()
      await web.close()
    }
    const done = server.done.then(close)
    return {
      host: server.host,
      port: server.port,
      done,
      async stop() {
        await server.stop()
        await done
      },
    }
  }

  /** The lines printed after `listening on ...`: where the console (and the browser chat) are. */
  readonly announce = (): void => {
    if (!this.web) return
    const base = `http://${this.web.address}`
    process.stdout.write(`web console: ${base}/console?token=${this.token}\n`)
    if (this.protocol === 'chat') process.stdout.write(`web chat: ${base}/\n`)
  }
}

/** Whether `host` is only reachable from this machine. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}

/** Where the web side reaches a server bound to `host`: a wildcard address is reached on loopback. */
function loopbackFor(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1'
  if (host === '::' || host === '::0') return '::1'
  return host
}
