// The room beyond this server: what the chat room (room.ts) tells the other servers of the room,
// and what they tell it. The room decides what everyone is told; a bus only carries events
// between servers and keeps this server's view of the members that are elsewhere. Two buses:
//
//   SOLO_BUS        one server is the whole room: nobody else to tell, every name is free here
//   RedisBus        (redis.ts) every server with the same Redis URL and room name is one room:
//                   events on the room's log (a Redis stream), names claimed in Redis with an owner and an expiry
//
// The room never knows which one it has. A bus's answers (a claim decided, another server's
// message, Redis lost and back) arrive in its inbox, which the server watches in its selector like
// any socket, so the room only ever runs inside the loop's own rounds.
import type { Inbox } from '../../inbox.js'

/** A member on another server, as /who shows it. */
export interface RemoteMember {
  readonly name: string
  /** The server it is on (its --server-name). */
  readonly server: string
}

/** What this server tells the others (the room's side of the wire). */
export type Announcement =
  | { kind: 'joined'; name: string }
  | { kind: 'left'; name: string }
  | { kind: 'said'; name: string; text: string }
  | { kind: 'operator'; text: string }
  /** `from` null: the operator. */
  | { kind: 'whisper'; from: string | null; to: string; text: string }
  | { kind: 'kick'; name: string }

/** What arrives in the inbox. */
export type BusEvent =
  | { kind: 'joined'; name: string; server: string }
  /** `gone`: its server stopped renewing its name (killed, or cut off) rather than it leaving. */
  | { kind: 'left'; name: string; server: string; gone: boolean }
  | { kind: 'said'; name: string; text: string }
  | { kind: 'operator'; text: string; server: string }
  | { kind: 'whisper'; from: string | null; to: string; text: string }
  | { kind: 'kick'; name: string; server: string }
  /** The answer to a claim that was `pending`. */
  | { kind: 'claim'; ticket: number; name: string; answer: 'granted' | 'taken' | 'unreachable' }
  /** A name this server held was claimed elsewhere while this server was cut off. */
  | { kind: 'lost'; name: string }
  /** The other servers went out of reach / came back. */
  | { kind: 'down' }
  | { kind: 'up' }

export type ClaimAnswer = 'granted' | 'taken' | 'unreachable' | 'pending'

export interface RoomBus {
  /** Events from the other servers and answers to claims; null for a bus that never has any. */
  readonly inbox: Inbox<BusEvent> | null
  /** This server's name in /who; null when the room is this server alone (nothing to tell apart). */
  readonly serverName: string | null
  /** False while the other servers are out of reach. */
  readonly reachable: boolean
  /** True when a member on another server holds `name` (ignoring case), as far as this server knows. */
  heldElsewhere(name: string): boolean
  /** The members on other servers, grouped by server. */
  remoteMembers(): RemoteMember[]
  /** The member on another server called `name` (ignoring case), or null. */
  findRemote(name: string): RemoteMember | null
  /**
   * Claims `name` for a member of this server, across the room. `granted` or `taken` when it can
   * say at once; `unreachable` when the other servers cannot be asked now; `pending` when the
   * answer comes later as a `claim` event with this `ticket`.
   */
  claim(name: string, ticket: number): ClaimAnswer
  /** The name is free again (its member left). */
  release(name: string): void
  /** Tells the other servers. Never throws; what cannot be sent now is queued (bounded) or dropped. */
  announce(event: Announcement): void
  /** Sends what is queued, lets go of the other servers. Resolves when done (never rejects). */
  close(): Promise<void>
}

/** One server, the whole room: nothing to tell, every name free here is free. */
export const SOLO_BUS: RoomBus = {
  inbox: null,
  serverName: null,
  reachable: true,
  heldElsewhere: () => false,
  remoteMembers: () => [],
  findRemote: () => null,
  claim: () => 'granted',
  release: () => {},
  announce: () => {},
  close: async () => {},
}
