// The selector model's roster: the room's connections and members in two Maps. No lock: one
// thread runs one callback at a time, each to its end, so nothing else can change a map while a
// broadcast walks it (the threads model's client-list.ts needs its mutex for exactly that).
import { nameKey } from './names.js'
import { SessionState, Why, type Roster } from './roster.js'

/** Where lines and hang-ups go: the model's connections. Neither may call back into the room. */
export interface Outlet {
  /** Queues a line for the connection (the model bounds its queue). */
  deliver(id: number, line: Buffer): void
  /** The connection became CLOSING: the model flushes it, then closes it. */
  hangUp(id: number): void
}

interface Entry {
  state: SessionState
  why: Why
  name: string | null
}

export class MapRoster implements Roster {
  private readonly entries = new Map<number, Entry>()
  /** Member ids by nameKey, in joining order (a Map keeps insertion order). */
  private readonly members = new Map<string, number>()
  private shuttingDown = false

  constructor(private readonly outlet: Outlet) {}

  open(id: number): boolean {
    const entry: Entry = { state: SessionState.AWAITING_NAME, why: Why.NONE, name: null }
    this.entries.set(id, entry)
    if (!this.shuttingDown) return true
    entry.state = SessionState.CLOSING
    entry.why = Why.SHUTDOWN
    return false
  }

  state(id: number): SessionState | null {
    return this.entries.get(id)?.state ?? null
  }

  why(id: number): Why {
    return this.entries.get(id)?.why ?? Why.NONE
  }

  close(id: number, why: Why): void {
    const entry = this.entries.get(id)
    if (!entry || entry.state === SessionState.CLOSING) return
    entry.state = SessionState.CLOSING
    entry.why = why
    this.outlet.hangUp(id)
  }

  remove(id: number): void {
    this.unlist(id)
    this.entries.delete(id)
  }

  shutdown(): number[] {
    this.shuttingDown = true
    return [...this.entries].filter(([, e]) => e.state !== SessionState.CLOSING).map(([id]) => id)
  }

  get connectionCount(): number {
    return this.entries.size
  }

  join(id: number, name: string): number {
    const entry = this.entries.get(id)!
    entry.name = name
    entry.state = SessionState.CHATTING
    this.members.set(nameKey(name), id)
    return this.members.size
  }

  unlist(id: number): string | null {
    const name = this.entries.get(id)?.name ?? null
    if (name === null || this.members.get(nameKey(name)) !== id) return null
    this.members.delete(nameKey(name))
    return name
  }

  nameOf(id: number): string | null {
    return this.entries.get(id)?.name ?? null
  }

  isTaken(name: string): boolean {
    return this.members.has(nameKey(name))
  }

  find(name: string): number | null {
    const id = this.members.get(nameKey(name))
    return id !== undefined && this.state(id) === SessionState.CHATTING ? id : null
  }

  names(): string[] {
    const out: string[] = []
    for (const id of this.members.values()) if (this.state(id) === SessionState.CHATTING) out.push(this.nameOf(id)!)
    return out
  }

  get memberCount(): number {
    return this.members.size
  }

  deliver(id: number, line: Buffer): void {
    this.outlet.deliver(id, line)
  }

  broadcast(line: Buffer, except: number | null): void {
    for (const id of this.members.values()) {
      if (id !== except && this.state(id) === SessionState.CHATTING) this.outlet.deliver(id, line)
    }
  }
}
