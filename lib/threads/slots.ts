// Every connection's pair of rings lives in one SharedArrayBuffer, allocated once and given to every
// thread at start. A connection is a *slot* number: its own thread uses that slot's rings, and a
// handler that must write to other connections (the chat's broadcast) can reach any slot's
// outbound ring through the same table, behind a lock of its own.
//
// Memory is reserved, not touched: Linux gives the buffer zero pages lazily, so RSS grows only
// with the ring space connections actually use.
import { Ring } from './ring.js'

const SLOT_COUNT = 0
const RING_BYTES = 1
const STOPPING = 2
const HEADER_BYTES = 64

export class SlotTable {
  readonly sab: SharedArrayBuffer
  readonly slotCount: number
  readonly ringBytes: number
  private readonly header: Int32Array
  private readonly rings: Array<Ring | undefined>

  /** A new table of `slotCount` connections, each with two rings of `ringBytes` (a power of two). */
  static create(slotCount: number, ringBytes: number): SlotTable {
    const sab = new SharedArrayBuffer(HEADER_BYTES + slotCount * 2 * Ring.bytesFor(ringBytes))
    const header = new Int32Array(sab, 0, 4)
    header[SLOT_COUNT] = slotCount
    header[RING_BYTES] = ringBytes
    return new SlotTable(sab)
  }

  /** The same table, seen from another thread (the buffer came through workerData). */
  static attach(sab: SharedArrayBuffer): SlotTable {
    return new SlotTable(sab)
  }

  private constructor(sab: SharedArrayBuffer) {
    this.sab = sab
    this.header = new Int32Array(sab, 0, 4)
    this.slotCount = this.header[SLOT_COUNT]
    this.ringBytes = this.header[RING_BYTES]
    this.rings = new Array(this.slotCount * 2)
  }

  /** socket → handler thread */
  inbound(slot: number): Ring {
    return this.ring(slot * 2)
  }

  /** handler thread → socket */
  outbound(slot: number): Ring {
    return this.ring(slot * 2 + 1)
  }

  /** Set once the server has begun to shut down; handlers may look (e.g. to say goodbye). */
  get stopping(): boolean {
    return Atomics.load(this.header, STOPPING) !== 0
  }

  markStopping(): void {
    Atomics.store(this.header, STOPPING, 1)
  }

  private ring(index: number): Ring {
    if (!(index >= 0 && index < this.rings.length)) throw new RangeError(`no slot ${index >> 1}`)
    let ring = this.rings[index]
    if (!ring) {
      ring = new Ring(this.sab, HEADER_BYTES + index * Ring.bytesFor(this.ringBytes), this.ringBytes)
      this.rings[index] = ring
    }
    return ring
  }
}
