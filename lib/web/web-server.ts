// The web side's HTTP server (node:http, in the server's own process, beside its loop): the pages,
// their scripts, and the two WebSocket endpoints (ws).
//
//   GET /                 the chat in a browser (chat only)
//   GET /console?token=T  the operator's window; 401 without a token, 403 with a wrong one
//   GET /static/NAME      the pages' scripts and style (no data in them)
//   WS  /chat             a browser user of the chat (bridge.ts); our own origin only
//   WS  /console/feed?token=T   the console's live feed and the operator's messages (console-feed.ts);
//                         the token and our own origin, or 401/403
//
// Every response carries a Content-Security-Policy that allows our own scripts, styles and
// WebSocket and nothing else (no inline script, no framing), and nothing here echoes anything a
// client wrote into markup: the pages set it as text.
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { RateLimitedLog, log } from '../log.js'
import { loadAssets, type Asset } from './assets.js'
import { ChatBridge, type ChatTarget } from './bridge.js'
import { ConsoleFeed } from './console-feed.js'
import { RequestGuard, tokenMatches, tokenOf } from './guard.js'
import type { ServerWatch } from './watch.js'

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
}

/** Largest WebSocket message we accept: a chat line (the chat's --max-line still applies) or an operator line. */
const MAX_PAYLOAD = 64 * 1024
/** HTTP connections beyond the viewers and the browser chat users: page loads, scripts, refusals. */
const SPARE_CONNECTIONS = 64

export interface WebServerOptions {
  host: string
  port: number
  token: string
  maxViewers: number
  /** Browser chat users at once (the chat's --max-clients); 0: no browser chat (echo). */
  maxBridges: number
  /** Bytes waiting for a browser chat user beyond which it is dropped (the chat's --max-outbuf). */
  maxQueued: number
  /** The chat's own address (and, with --tls, its certificate's fingerprint), which browser users are bridged to. */
  chat: ChatTarget | null
  /** Host names of ours besides addresses and localhost (see guard.ts). */
  names: string[]
  verbose: boolean
}

export class WebServer {
  private readonly http: http.Server
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD, perMessageDeflate: false })
  private readonly assets: Map<string, Asset>
  private readonly guard: RequestGuard
  readonly feed: ConsoleFeed
  /** The chat-side addresses of the browser users' connections (so the console can mark them as web). */
  readonly bridged = new Set<string>()
  private bridges = 0
  private readonly drops = new RateLimitedLog()
  private closing: Promise<void> | null = null

  private constructor(
    private readonly options: WebServerOptions,
    watch: ServerWatch,
  ) {
    this.assets = loadAssets()
    this.guard = new RequestGuard(options.names)
    this.feed = new ConsoleFeed(watch, options.token, options.maxViewers, options.verbose)
    this.http = http.createServer(this.onRequest)
    this.http.on('upgrade', this.onUpgrade)
    this.http.maxConnections = options.maxViewers + options.maxBridges + SPARE_CONNECTIONS
    this.http.on('clientError', (_err, socket) => socket.destroy())
  }

  /** Starts listening; rejects as listen() does (EADDRINUSE, ...). */
  static async start(options: WebServerOptions, watch: ServerWatch): Promise<WebServer> {
    const server = new WebServer(options, watch)
    await new Promise<void>((resolve, reject) => {
      server.http.once('error', reject)
      server.http.listen({ host: options.host, port: options.port }, () => {
        server.http.off('error', reject)
        resolve()
      })
    })
    return server
  }

  /** Where it listens: "HOST:PORT", with an IPv6 host in brackets (as a URL has it). */
  get address(): string {
    const a = this.http.address() as { address: string; port: number }
    return `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`
  }

  /** Closes the feeds, refuses new requests, and ends every connection (at once after a second). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.feed.close()
      for (const ws of this.wss.clients) ws.close(1001, 'the server is stopping')
      const closed = new Promise<void>(r => this.http.close(() => r()))
      this.http.closeIdleConnections()
      const force = setTimeout(() => {
        for (const ws of this.wss.clients) ws.terminate()
        this.http.closeAllConnections()
      }, 1000)
      await closed
      clearTimeout(force)
    })()
    return this.closing
  }

  // ---- plain requests ------------------------------------------------------------------------

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (!this.guard.hostAllowed(req)) return text(res, 421, 'misdirected request: this server does not answer to that host name')
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD')
      return text(res, 405, 'method not allowed')
    }
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (path === '/') {
      if (this.options.chat === null) return text(res, 404, "this is an echo server: no chat here. The operator's window is /console (its address, with the token, is printed by the server).")
      return this.asset(res, 'index.html', 'no-cache')
    }
    if (path === '/console') {
      const token = tokenOf(req)
      if (token === null) return text(res, 401, 'the console needs its token: open the address the server printed (…/console?token=…)')
      if (!tokenMatches(token, this.options.token)) return text(res, 403, 'wrong token')
      return this.asset(res, 'console.html', 'no-store')
    }
    if (path.startsWith('/static/')) {
      const name = path.slice('/static/'.length)
      if (name.endsWith('.html') || !this.assets.has(name)) return text(res, 404, 'not found')
      return this.asset(res, name, 'no-cache')
    }
    if (path === '/favicon.ico') {
      res.writeHead(204, SECURITY_HEADERS)
      return void res.end()
    }
    text(res, 404, 'not found')
  }

  private asset(res: ServerResponse, name: string, cache: string): void {
    const asset = this.assets.get(name)!
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': asset.type, 'Content-Length': asset.body.length, 'Cache-Control': cache })
    res.end(res.req.method === 'HEAD' ? undefined : asset.body)
  }

  // ---- WebSockets ----------------------------------------------------------------------------

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy())
    if (!this.guard.hostAllowed(req)) return refuse(socket, 421, 'unknown host name')
    // A WebSocket is not bound by the same-origin policy: only our own pages may open one.
    if (!this.guard.sameOrigin(req)) return refuse(socket, 403, 'cross-origin WebSocket refused')
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`
    switch (path) {
      case '/chat': {
        const chat = this.options.chat
        if (chat === null) return refuse(socket, 404, 'no chat here')
        if (this.closing) return refuse(socket, 503, 'the server is stopping')
        if (this.bridges >= this.options.maxBridges) return refuse(socket, 503, `the chat is full (${this.options.maxBridges} clients)`)
        return this.wss.handleUpgrade(req, socket, head, ws => this.bridge(ws, chat, remote))
      }
      case '/console/feed': {
        const token = tokenOf(req)
        if (token === null) return refuse(socket, 401, 'token required')
        if (!tokenMatches(token, this.options.token)) return refuse(socket, 403, 'wrong token')
        if (this.closing) return refuse(socket, 503, 'the server is stopping')
        if (this.feed.full) return refuse(socket, 503, `too many console viewers (at most ${this.options.maxViewers})`)
        return this.wss.handleUpgrade(req, socket, head, ws => this.feed.add(ws, remote))
      }
      default:
        return refuse(socket, 404, 'not found')
    }
  }

  private bridge(ws: WebSocket, chat: ChatTarget, remote: string): void {
    this.bridges++
    new ChatBridge(ws, chat, this.options.maxQueued, {
      connected: local => {
        this.bridged.add(local)
        if (this.options.verbose) log(`web chat: browser ${remote} joins as ${local}`)
      },
      dropped: (local, queued) => this.drops.log(`web chat: dropping browser ${remote} (${local}): not reading, ${queued} bytes queued for it (max ${this.options.maxQueued})`),
      ended: local => {
        this.bridges--
        if (local !== null) this.bridged.delete(local)
      },
    })
  }
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' })
  res.end(body + '\n')
}

/** Answers an upgrade we will not do with a plain HTTP response, and closes. */
function refuse(socket: Duplex, status: number, reason: string): void {
  const body = reason + '\n'
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
}
