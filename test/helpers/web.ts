// The web side for tests: a server started with --web (its console and chat addresses read from
// its stdout), a console feed read as a page reads it (WebSocket, token, our own Origin,
// acknowledging each sample), and plain HTTP requests with chosen headers.
import http from 'node:http'
import type { Test } from 'tap'
import WebSocket from 'ws'
import { startServer, type ServerProcess } from './process.js'

export interface WebServerProcess extends ServerProcess {
  /** http://HOST:PORT of the web side. */
  base: string
  token: string
  consoleUrl: string
}

/** Starts `selectloop COMMAND ...args --web 0` and reads where its web side is; stopped when `t` ends. */
export async function startWithWeb(t: Test, command: 'chat' | 'echo', args: string[]): Promise<WebServerProcess> {
  const server = await startServer([command, '--port', '0', ...args, '--web', '0'])
  t.teardown(() => server.stop())
  const line = await server.waitForOutput(/^web console: \S+$/m)
  const consoleUrl = line.slice('web console: '.length)
  const url = new URL(consoleUrl)
  return { ...server, base: `${url.protocol}//${url.host}`, token: url.searchParams.get('token')!, consoleUrl }
}

export interface HttpAnswer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

/** One request; `headers` replace the defaults (Host included). */
export function request(url: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', d => (body += d))
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** A WebSocket opened as our own page opens one (Origin = the server's), unless told otherwise. */
export function openSocket(base: string, path: string, headers: Record<string, string> = {}): WebSocket {
  const url = base.replace(/^http/, 'ws') + path
  return new WebSocket(url, { headers: { Origin: base, ...headers } })
}

/** How an upgrade went: the socket opened, or the HTTP status it was refused with. */
export function upgradeOutcome(ws: WebSocket): Promise<{ opened: true } | { opened: false; status: number; body: string }> {
  return new Promise(resolve => {
    ws.once('open', () => resolve({ opened: true }))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d))
      res.on('end', () => resolve({ opened: false, status: res.statusCode!, body }))
    })
    ws.once('error', () => {}) // after unexpected-response ws also reports an error
  })
}

export interface FeedSample {
  seq: number
  sample: {
    protocol: string
    model: string
    clients: { count: number; listed: Array<{ id: number; peer: string; name: string | null; state: string; web: boolean; bytesIn: number; bytesOut: number; queued: number; fd: number | null; interest: string | null; thread: number | null }> }
    loop: { roundsPerSecond: number; keys: Array<{ fd: number; kind: string; interest: string; who: string; state: string }>; keyCount: number } | null
    threads: { live: number; busy: number; parked: number; lock: { acquiredPerSecond: number; acquired: number; contended: number; held: boolean } | null } | null
  }
  events: { lines: Array<{ at: number; text: string }>; skipped: number }
  conversation: { lines: Array<{ at: number; text: string }>; skipped: number }
}

/**
 * The console's live feed as a page reads it: acknowledges every sample (unless `ack` is false),
 * keeps them all, and the answers to what it said.
 */
export class Feed {
  readonly samples: FeedSample[] = []
  readonly answers: string[] = []
  readonly events: string[] = []
  readonly conversation: string[] = []
  hello: { protocol: string; model: string; operator: boolean } | null = null
  closed: { code: number; reason: string } | null = null
  private waiters: Array<() => void> = []

  constructor(
    readonly ws: WebSocket,
    private readonly token: string,
    public ack = true,
  ) {
    ws.on('message', data => {
      const m = JSON.parse(data.toString())
      if (m.type === 'hello') this.hello = m
      if (m.type === 'answer') this.answers.push(m.text)
      if (m.type === 'sample') {
        this.samples.push(m)
        for (const l of m.events.lines) this.events.push(l.text)
        for (const l of m.conversation.lines) this.conversation.push(l.text)
        if (this.ack) ws.send(JSON.stringify({ type: 'ack', seq: m.seq }))
      }
      this.poke()
    })
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() }
      this.poke()
    })
    ws.on('error', () => {})
  }

  /** Opens the feed of a server started by startWithWeb. */
  static async open(t: Test, server: WebServerProcess, ack = true): Promise<Feed> {
    const ws = openSocket(server.base, `/console/feed?token=${server.token}`)
    t.teardown(() => ws.terminate())
    const feed = new Feed(ws, server.token, ack) // listening before it opens: the hello may come with the handshake
    const outcome = await upgradeOutcome(ws)
    if (!outcome.opened) throw new Error(`feed refused: ${outcome.status} ${outcome.body}`)
    return feed
  }

  get last(): FeedSample | undefined {
    return this.samples[this.samples.length - 1]
  }

  /** A line for the operator's console, as the page's message box sends it. */
  say(text: string, token = this.token): void {
    this.ws.send(JSON.stringify({ type: 'say', token, text }))
  }

  /** Waits until `predicate()` holds, checked on every message; rejects after `timeoutMs`. */
  until(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; last sample: ${JSON.stringify(this.last?.sample.clients)}`)), timeoutMs)
      const check = () => {
        if (predicate()) {
          clearTimeout(timer)
          resolve()
        } else if (this.closed) {
          clearTimeout(timer)
          reject(new Error(`the feed closed (${this.closed.code} ${this.closed.reason}) while waiting for ${what}`))
        } else this.waiters.push(check)
      }
      check()
    })
  }

  /** Waits for a sample for which `predicate` holds; returns it. */
  async sampleWhere(predicate: (s: FeedSample) => boolean, what: string, timeoutMs?: number): Promise<FeedSample> {
    await this.until(() => this.last !== undefined && predicate(this.last), what, timeoutMs)
    return this.last!
  }

  private poke(): void {
    this.waiters.splice(0).forEach(w => w())
  }
}
