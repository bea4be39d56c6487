// What the servers of one room say to each other on their Redis log, and what a name's claim
// holds: JSON, checked field by field on the way in. Knows nothing of Redis or of sockets; another
// server is a peer, not a trusted one: anything malformed is refused (null), and the room still
// sanitizes every text before a terminal sees it.
import type { Announcement } from './bus.js'

/** Longest name or server name accepted from the wire (a server's own --max-name is far below). */
const MAX_NAME = 1024
/** Longest text accepted from the wire (a server's own --max-line is far below). */
const MAX_TEXT = 1024 * 1024

/** One message on the room's log: an announcement, and the server it comes from. */
export interface WireMessage {
  /** The sending server's id (unique per process), to skip our own and to track its members. */
  from: string
  /** The sending server's --server-name, for /who. */
  server: string
  event: Announcement
}

export function encodeMessage(m: WireMessage): string {
  return JSON.stringify(m)
}

/** An announcement of this server's, as it goes on the log; `from` comes first (the bus skips its own entries by it). */
export function toWire(event: Announcement, from: string, server: string): string {
  return encodeMessage({ from, server, event })
}

/** Parses a log message; null when it is not one a server of this room could have sent. */
export function decodeMessage(raw: string): WireMessage | null {
  let m: { from?: unknown; server?: unknown; event?: Record<string, unknown> }
  try {
    m = JSON.parse(raw)
  } catch {
    return null
  }
  if (typeof m !== 'object' || m === null || !isName(m.from) || !isName(m.server)) return null
  const event = decodeEvent(m.event)
  return event && { from: m.from, server: m.server, event }
}

function decodeEvent(e: Record<string, unknown> | undefined): Announcement | null {
  if (typeof e !== 'object' || e === null) return null
  switch (e.kind) {
    case 'joined':
    case 'left':
    case 'kick':
      return isName(e.name) ? { kind: e.kind, name: e.name } : null
    case 'said':
      return isName(e.name) && isText(e.text) ? { kind: 'said', name: e.name, text: e.text } : null
    case 'operator':
      return isText(e.text) ? { kind: 'operator', text: e.text } : null
    case 'whisper':
      return (e.from === null || isName(e.from)) && isName(e.to) && isText(e.text)
        ? { kind: 'whisper', from: e.from as string | null, to: e.to, text: e.text }
        : null
    default:
      return null
  }
}

/** A name's claim, the value of its key in Redis: who holds it, on which server. */
export interface ClaimValue {
  /** The holding server's id. */
  owner: string
  /** Its --server-name. */
  server: string
  /** The name as its member spelled it. */
  name: string
}

export function encodeClaim(c: ClaimValue): string {
  return JSON.stringify([c.owner, c.server, c.name])
}

export function decodeClaim(raw: string): ClaimValue | null {
  try {
    const v = JSON.parse(raw)
    if (Array.isArray(v) && v.length === 3 && v.every(isName)) return { owner: v[0], server: v[1], name: v[2] }
  } catch {
    // fall through
  }
  return null
}

function isName(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME
}

function isText(v: unknown): v is string {
  return typeof v === 'string' && v.length <= MAX_TEXT
}
