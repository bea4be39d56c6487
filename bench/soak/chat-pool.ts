// The well-behaved chat clients: a fixed number of slots, each running one client after another.
// A client joins with a unique name, talks for a while (each message numbered, sizes mixed), and
// leaves: mostly with a quit word, sometimes with a reset. Everything goes through the ledger.
//
// stop() is the final phase: no new clients, no new messages; wait (bounded) until everyone
// still here has everything the others wrote; then whatever is missing is a loss; then everyone
// quits cleanly (so the `left` checks run once more for each of them).
import { setTimeout as sleep } from 'node:timers/promises'
import { DeliveryLedger } from './ledger.js'
import { TrackedClient } from './tracked-client.js'
import { chance, randInt } from './rand.js'

const CONVERGE_TIMEOUT_MS = 15_000
const STALL_TIMEOUT_MS = 3000

export interface ChatPoolStats {
  sessions: number
  quits: number
  resets: number
}

/** Body length in code points: mostly short lines, some paragraphs, a few near the line limit. */
export function messageLength(): number {
  const r = Math.random()
  if (r < 0.7) return randInt(5, 100)
  if (r < 0.95) return randInt(100, 800)
  return randInt(800, 3000)
}

export class ChatPool {
  readonly stats: ChatPoolStats = { sessions: 0, quits: 0, resets: 0 }
  private running = false
  private slots: Promise<void>[] = []
  /** Clients still chatting when stop() came. */
  private parked: TrackedClient[] = []
  private serial = 0

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly clients: number,
    private readonly ledger: DeliveryLedger,
    private readonly prefix: string,
  ) {}

  start(): void {
    this.running = true
    // Staggered, so that the first joins do not all land in the same instant.
    this.slots = Array.from({ length: this.clients }, (_, i) => sleep(i * 50).then(() => this.slot()))
  }

  async stop(): Promise<void> {
    this.running = false
    await Promise.all(this.slots)
    // Until everything has arrived; or 3 s with nothing more arriving (what is missing then is lost).
    const deadline = Date.now() + CONVERGE_TIMEOUT_MS
    let owed = this.ledger.outstanding()
    let progressAt = Date.now()
    while (owed > 0 && Date.now() < deadline && Date.now() - progressAt < STALL_TIMEOUT_MS) {
      await sleep(50)
      const now = this.ledger.outstanding()
      if (now < owed) progressAt = Date.now()
      owed = now
    }
    this.ledger.finish()
    await Promise.all(this.parked.map(c => c.quit()))
    this.stats.quits += this.parked.length
  }

  private async slot(): Promise<void> {
    while (this.running) {
      const client = new TrackedClient(`${this.prefix}${this.serial++}`, this.ledger)
      this.stats.sessions++
      if (!(await client.join(this.host, this.port))) {
        await sleep(100) // a loss is recorded; do not spin against a dead server
        continue
      }
      const messages = randInt(5, 60)
      for (let i = 0; i < messages && this.running && client.chatting; i++) {
        await sleep(randInt(30, 300))
        client.say(messageLength())
      }
      if (!client.chatting) continue
      if (!this.running) {
        this.parked.push(client)
        return
      }
      if (chance(0.85)) {
        this.stats.quits++
        await client.quit()
      } else {
        this.stats.resets++
        client.reset()
      }
    }
  }
}
