// What stands between a browser and the operator's powers: the console's token, and checks that a
// request comes from our own pages (same origin) on a name that is ours (not a rebound DNS name).
//
// - The token: random per run (or --web-token), required by /console and its live feed, and
//   carried by every action. Compared in constant time.
// - Origin: a WebSocket is not bound by the same-origin policy, so any page could open one to
//   127.0.0.1; the upgrade is refused unless its Origin is this server's own.
// - Host: a page on evil.example whose name is made to resolve to 127.0.0.1 (DNS rebinding) would
//   be "same origin" with us; requests are refused unless the Host is an address, localhost, this
//   machine's name, or the host given to --web / --host.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import net from 'node:net'
import os from 'node:os'

/** A new random token: 144 bits, URL-safe. */
export function newToken(): string {
  return randomBytes(18).toString('base64url')
}

/** True when `given` is the token (constant time, whatever the lengths). */
export function tokenMatches(given: string | null | undefined, token: string): boolean {
  if (typeof given !== 'string') return false
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(token).digest()
  return timingSafeEqual(a, b)
}

/** The `token` query parameter of a request's URL, or null. */
export function tokenOf(req: IncomingMessage): string | null {
  return new URL(req.url ?? '/', 'http://x').searchParams.get('token')
}

/** The host part of a Host header (`[::1]:8081` → `::1`), lower case. */
function hostName(host: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(host)
  if (bracketed) return bracketed[1].toLowerCase()
  return host.replace(/:\d+$/, '').toLowerCase()
}

export class RequestGuard {
  private readonly names: Set<string>

  /** `names`: host names of ours besides addresses and localhost (the --web and --host values). */
  constructor(names: string[]) {
    const machine = os.hostname().toLowerCase()
    this.names = new Set(['localhost', machine, `${machine}.local`, ...names.map(n => n.toLowerCase())])
  }

  /** The Host header names this server: an IP address, localhost (or *.localhost), or one of its names. */
  hostAllowed(req: IncomingMessage): boolean {
    const host = req.headers.host
    if (!host) return false
    const name = hostName(host)
    return net.isIP(name) !== 0 || this.names.has(name) || name.endsWith('.localhost')
  }

  /** The request's Origin is this server's own page (http, the same host and port as the Host header). */
  sameOrigin(req: IncomingMessage): boolean {
    const origin = req.headers.origin
    if (!origin || !req.headers.host) return false
    try {
      const url = new URL(origin)
      return url.protocol === 'http:' && url.host === new URL(`http://${req.headers.host}`).host
    } catch {
      return false
    }
  }
}
