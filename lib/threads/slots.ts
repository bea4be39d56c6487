// Every connection's pair of rings lives in one SharedArrayBuffer, allocated once and given to every
// thread at start. A connection is a *slot* number: its own thread uses that slot's rings, and a
// handler that must write to other connections (the chat's broadcast) can reach any slot's
// outbound ring through the same table, behind a lock of its own.
//
// Memory is reserved, not touched: Linux gives the buffer zero pages lazily, so RSS grows only
// with the ring space connections actually use. A page once used stays resident, for the slot's
// next connections: nothing in JavaScript can hand pages of a live SharedArrayBuffer back. Free
// slots are reused last-freed first, so after a flood that is at most (peak connections) × (ring
// bytes each touched), and later floods reuse it rather than add to it. The two directions may
// have different sizes (the chat's outbound ring is its per-recipient output bound; its inbound
// one can stay small).
import { Ring } from './ring.js'

const SLOT_COUNT = 0
const IN_BYTES = 1
const STOPPING = 2
const OUT_BYTES = 3
const HEADER_BYTES = 64

export class SlotTable {
  readonly sab: SharedArrayBuffer
  readonly slotCount: number
  /** Bytes of each inbound (socket → thread) ring. */
  readonly inboundBytes: number
  /** Bytes of each outbound (thread → socket) ring. */
  readonly outboundBytes: number
  private readonly header: Int32Array
  private readonly rings: Array<Ring | undefined>
  private readonly slotBytes: number

  /**
   * A new table of `slotCount` connections, each with an inbound ring of `inboundBytes` and an
   * outbound one of `outboundBytes` (powers of two; the same size when only one is given).
   */
  static create(slotCount: number, inboundBytes: number, outboundBytes = inboundBytes): SlotTable {
    const sab = new SharedArrayBuffer(HEADER_BYTES + slotCount * (Ring.bytesFor(inboundBytes) + Ring.bytesFor(outboundBytes)))
    const header = new Int32Array(sab, 0, 4)
    header[SLOT_COUNT] = slotCount
    header[IN_BYTES] = inboundBytes
    header[OUT_BYTES] = outboundBytes
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
    this.inboundBytes = this.header[IN_BYTES]
    this.outboundBytes = this.header[OUT_BYTES]
    this.slotBytes = Ring.bytesFor(this.inboundBytes) + Ring.bytesFor(this.outboundBytes)
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
      const slotStart = HEADER_BYTES + (index >> 1) * this.slotBytes
      ring =
        index & 1
          ? new Ring(this.sab, slotStart + Ring.bytesFor(this.inboundBytes), this.outboundBytes)
          : new Ring(this.sab, slotStart, this.inboundBytes)
      this.rings[index] = ring
    }
    return ring
  }
}
