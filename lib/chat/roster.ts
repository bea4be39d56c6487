// What the chat room (room.ts) needs of a concurrency model: where its connections and members
// live, and how a line reaches a connection. The room makes every decision of the protocol; a
// Roster only keeps state and carries lines. Two implementations:
//
//   map-roster.ts   the selector model's: two Maps, one thread, no lock
//   client-list.ts  the threads model's: shared memory that every connection's thread sees,
//                   behind a futex mutex (the Python seeds' `clients` and `lock`); every call
//                   is made with the lock held
//
// A connection is a number: the selector's connection id, the threads' slot.

/** One connection's state in the room: AWAITING_NAME → CHATTING → CLOSING (see room.ts). */
export const SessionState = {
  AWAITING_NAME: 'AWAITING_NAME',
  CHATTING: 'CHATTING',
  CLOSING: 'CLOSING',
} as const
export type SessionState = (typeof SessionState)[keyof typeof SessionState]

/** Why a connection is CLOSING (the first reason given stays). Numbers: the threads store them in shared memory. */
export const Why = {
  NONE: 0,
  QUIT: 1,
  LINE_TOO_LONG: 2,
  IDLE: 3,
  KICKED: 4,
  DROPPED: 5,
  SHUTDOWN: 6,
  NAME_LOST: 7,
} as const
export type Why = (typeof Why)[keyof typeof Why]

/** The reasons as `NAME left: REASON` log lines say them. */
export const WHY_TEXT: Record<Why, string> = {
  [Why.NONE]: 'closed',
  [Why.QUIT]: 'quit',
  [Why.LINE_TOO_LONG]: 'line too long',
  [Why.IDLE]: 'idle',
  [Why.KICKED]: 'kicked by the operator',
  [Why.DROPPED]: 'dropped: not reading',
  [Why.SHUTDOWN]: 'server closing',
  [Why.NAME_LOST]: 'name taken on another server while cut off',
}

/** One connection as the room sees it. The model creates it and passes it to every call. */
export interface Session {
  /** Its number in the roster. */
  readonly id: number
  /** Unique for the life of the server: an id may be reused (the threads' slots are), a serial never. */
  readonly serial: number
  /** "host:port" of the peer, for log lines. */
  readonly peer: string
}

export interface Roster {
  // ---- connections ----

  /** A new connection, AWAITING_NAME. False once the server is shutting down (it is then CLOSING). */
  open(id: number, serial: number): boolean
  /** Its state; null once removed (or never opened). */
  state(id: number): SessionState | null
  /** Why it is CLOSING (Why.NONE while it is not). */
  why(id: number): Why
  /**
   * CLOSING for `why` (a no-op if it already is): nothing more is sent to it or read from it,
   * and the model closes it once what was queued for it has been sent.
   */
  close(id: number, why: Why): void
  /** The connection is gone: forgotten (taken out of the members too if it still was one). */
  remove(id: number): void
  /** The server stops: new connections are refused; returns those still AWAITING_NAME or CHATTING. */
  shutdown(): number[]
  /** Connections opened and not yet removed. */
  readonly connectionCount: number

  // ---- members: connections that joined, in joining order, until unlisted ----

  /** Joins the members as `name` (CHATTING); returns how many members there are now. */
  join(id: number, name: string): number
  /** Out of the members (its name is free again); returns its name if it was one, else null. */
  unlist(id: number): string | null
  /** The name it joined with, or null if it never did (kept until it is removed, for log lines). */
  nameOf(id: number): string | null
  /** Held by a member, ignoring case (one CLOSING but not yet unlisted still holds it). */
  isTaken(name: string): boolean
  /** The CHATTING member called `name` (ignoring case), or null. */
  find(name: string): number | null
  /** The CHATTING members' names, in joining order. */
  names(): string[]
  readonly memberCount: number

  // ---- lines ----

  /**
   * Queues one `\n`-terminated line for a connection. Bounded: a recipient that is not reading is
   * dropped, never waited for (the model reports it when the connection goes: room.closed()).
   * Never calls back into the room. The buffer may be shared: never mutated.
   */
  deliver(id: number, line: Buffer): void
  /** One line to every CHATTING member except `except`. */
  broadcast(line: Buffer, except: number | null): void
}
