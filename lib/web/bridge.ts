// A browser user of the chat: its WebSocket bridged to a TCP connection of its own to the chat's
// port on loopback. To the chat it is one more client, whatever the model: the same name rules,
// limits (--max-clients counts it, --max-rate slows it, --max-line closes it), quit words, and
// `web1 joined` / `web1 left` for everyone else. Nothing in the chat knows about browsers.
//
// A browser that stops reading is dropped as the chat drops a TCP client that stops reading,
// with the chat's own bound: the bridge reads the chat at once, always (so nothing piles up in
// the chat, nor in the kernel between the two), and once more than --max-outbuf bytes wait to
// be sent to the browser, it is dropped: its connection to the chat is reset (everyone hears
// `web1 left`) and its WebSocket closed (1008, "not reading"). The other way, while the chat's
// socket refuses more (--max-rate), the WebSocket is not read.
//
// On the wire (JSON text messages):
//   browser → us   {"type": "line", "text": "..."}     one line (several, if it holds newlines)
//   us → browser   {"type": "lines", "lines": [...]}   the chat's lines, as they came
// The chat closing the connection closes the WebSocket (1000, "the chat closed the connection").
//
// A chat started with --tls is reached over TLS too (it has no plaintext port): the bridge
// accepts one certificate, the chat's own, pinned by its fingerprint (it is this very process;
// whatever names the certificate is for, the bridge connects to an address).
import net from 'node:net'
import type tls from 'node:tls'
import { StringDecoder } from 'node:string_decoder'
import type { WebSocket, RawData } from 'ws'
import { clientTlsSocket, resetBeneath } from '../../reactor/index.js'

/** A line from the chat longer than this (no newline yet) is passed on as it is. */
const MAX_PENDING_LINE = 64 * 1024

export const CLOSE_NORMAL = 1000
export const CLOSE_UNSUPPORTED = 1003
export const CLOSE_POLICY = 1008
export const CLOSE_UNAVAILABLE = 1013

export interface BridgeHooks {
  /** Connected: the chat sees this browser as `local`. */
  connected(local: string): void
  /** Dropped for not reading: `queued` bytes were waiting for it. */
  dropped(local: string, queued: number): void
  /** The connection to the chat is closed (or never opened: `local` is null). */
  ended(local: string | null): void
}

/** Where the chat is; over TLS, its certificate's SHA-256 fingerprint (null: plain TCP). */
export interface ChatTarget {
  host: string
  port: number
  fingerprint: string | null
}

export class ChatBridge {
  private readonly socket: net.Socket
  /** The TCP socket: the same as `socket`, or the one beneath the TLS socket. */
  private readonly tcp: net.Socket
  private readonly decoder = new StringDecoder('utf8')
  private pendingLine = ''
  private local: string | null = null
  private ended = false

  /** `maxQueued`: bytes waiting for the browser beyond which it is dropped (the chat's --max-outbuf). */
  constructor(
    private readonly ws: WebSocket,
    private readonly target: ChatTarget,
    private readonly maxQueued: number,
    private readonly hooks: BridgeHooks,
  ) {
    if (target.fingerprint === null) {
      this.socket = this.tcp = net.connect({ host: target.host, port: target.port, allowHalfOpen: false })
      this.socket.on('connect', this.onConnect)
    } else {
      const { socket, tcp } = clientTlsSocket(target.host, target.port, { rejectUnauthorized: false })
      this.socket = socket
      this.tcp = tcp
      socket.on('secureConnect', this.onConnect)
      socket.on('end', () => socket.end()) // half-open beneath: the chat's goodbye ends our side too
    }
    this.tcp.setNoDelay(true)
    this.socket.on('data', this.onChatData)
    this.socket.on('drain', () => this.ws.resume())
    this.socket.on('error', () => {}) // 'close' follows, and says it
    this.socket.on('close', this.onChatClose)
    ws.on('message', this.onBrowserMessage)
    ws.on('close', this.onBrowserClose)
    ws.on('error', () => {}) // 'close' follows
    ws.pause() // nothing from the browser until the chat is there
  }

  private readonly onConnect = (): void => {
    if (this.target.fingerprint !== null && (this.socket as tls.TLSSocket).getPeerCertificate().fingerprint256 !== this.target.fingerprint) {
      this.socket.destroy() // not our chat's certificate: 'close' tells the browser it cannot reach the chat
      return
    }
    this.local = `${this.tcp.localAddress}:${this.tcp.localPort}`
    this.hooks.connected(this.local)
    this.ws.resume()
  }

  /** The chat's bytes: whole lines to the browser, which is dropped if it is too far behind. */
  private readonly onChatData = (data: Buffer): void => {
    const text = this.pendingLine + this.decoder.write(data)
    const parts = text.split('\n')
    this.pendingLine = parts.pop()!
    if (this.pendingLine.length > MAX_PENDING_LINE) {
      parts.push(this.pendingLine)
      this.pendingLine = ''
    }
    if (parts.length > 0) this.toBrowser(parts.map(stripCr))
  }

  private toBrowser(lines: string[]): void {
    if (this.ws.readyState !== this.ws.OPEN) return
    this.ws.send(JSON.stringify({ type: 'lines', lines }))
    const queued = this.ws.bufferedAmount
    if (queued > this.maxQueued && this.local !== null) {
      this.hooks.dropped(this.local, queued)
      if (this.tcp === this.socket) this.socket.resetAndDestroy()
      else resetBeneath(this.socket as tls.TLSSocket, this.tcp)
      this.closeBrowser(CLOSE_POLICY, 'not reading')
      // A browser that does not read does not answer the close handshake either.
      setTimeout(() => this.ws.terminate(), 1000).unref()
    }
  }

  /** One message from the browser: a line (or lines) for the chat. Anything else closes it. */
  private readonly onBrowserMessage = (data: RawData, isBinary: boolean): void => {
    let message: unknown
    try {
      message = isBinary ? null : JSON.parse(data.toString())
    } catch {
      message = null
    }
    const text = (message as { type?: unknown; text?: unknown } | null)?.text
    if ((message as { type?: unknown } | null)?.type !== 'line' || typeof text !== 'string') {
      this.ws.close(CLOSE_UNSUPPORTED, 'expected {"type": "line", "text": "..."}')
      return
    }
    if (this.socket.destroyed) return
    const lines = text.split(/\r?\n/).map(l => l + '\n').join('')
    if (!this.socket.write(lines)) this.ws.pause() // until 'drain'
  }

  /** The chat closed the connection (quit word, /kick, a limit, server closing): so does the browser's. */
  private readonly onChatClose = (hadError: boolean): void => {
    const rest = this.pendingLine + this.decoder.end()
    if (rest) this.toBrowser([stripCr(rest)])
    if (this.local === null) this.closeBrowser(CLOSE_UNAVAILABLE, 'cannot reach the chat')
    else this.closeBrowser(CLOSE_NORMAL, hadError ? 'the connection to the chat was reset' : 'the chat closed the connection')
    this.end()
  }

  /** The browser went: so does its connection to the chat (the others hear `NAME left`). */
  private readonly onBrowserClose = (): void => {
    this.socket.end()
    // A chat that does not close its side in time is not waited for.
    setTimeout(() => this.socket.destroy(), 2000).unref()
  }

  private closeBrowser(code: number, reason: string): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code, reason)
  }

  private end(): void {
    if (this.ended) return
    this.ended = true
    this.ws.resume() // its 'close' must still come
    this.hooks.ended(this.local)
  }
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line
}
