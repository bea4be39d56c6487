// Suite: the load generator's hot path, which must stay far cheaper than the server it measures:
// verifying an echoed chunk against the sent pattern (Buffer#compare on ranges, i.e. memcmp,
// against a per-byte JavaScript loop for reference) and recording latencies in the HDR histogram.
import { randomFillSync } from 'node:crypto'
import { createHistogram } from '../histogram.js'
import { createBench, printResults, type Suite } from './suite.js'

const CHUNK = 64 * 1024
const MESSAGE = 1024
const SLOTS = 8

function verifyCompare(pattern: Buffer, chunk: Buffer, start: number): boolean {
  let off = start
  for (let pos = 0; pos < chunk.length; ) {
    const n = Math.min(chunk.length - pos, pattern.length - off)
    if (pattern.compare(chunk, pos, pos + n, off, off + n) !== 0) return false
    pos += n
    off = (off + n) % pattern.length
  }
  return true
}

function verifyLoop(pattern: Buffer, chunk: Buffer, start: number): boolean {
  let off = start
  for (let i = 0; i < chunk.length; i++) {
    if (chunk[i] !== pattern[off]) return false
    if (++off === pattern.length) off = 0
  }
  return true
}

export const suite: Suite = {
  name: 'load-verify',
  about: "the load generator's per-chunk verification and latency recording",
  async run(options) {
    const pattern = randomFillSync(Buffer.allocUnsafe(MESSAGE * SLOTS))
    const start = 3 * MESSAGE
    const chunk = Buffer.allocUnsafe(CHUNK)
    for (let pos = 0, off = start; pos < CHUNK; pos++, off = (off + 1) % pattern.length) chunk[pos] = pattern[off]
    const small = chunk.subarray(0, MESSAGE)
    const histogram = createHistogram()
    let sink = 0
    const bench = createBench(options)
      .add('verify 64 KiB chunk: Buffer#compare', () => void (sink += verifyCompare(pattern, chunk, start) ? 1 : 0))
      .add('verify 64 KiB chunk: per-byte loop', () => void (sink += verifyLoop(pattern, chunk, start) ? 1 : 0))
      .add('verify 1 KiB message: Buffer#compare', () => void (sink += verifyCompare(pattern, small, start) ? 1 : 0))
      .add('record 1,000 latencies (HDR histogram)', () => {
        for (let i = 0; i < 1000; i++) histogram.recordValue(50 + ((i * 7919) % 5000))
      })
    await bench.run()
    printResults(bench, {
      'verify 64 KiB chunk: Buffer#compare': { count: CHUNK / 1024, unit: 'KiB' },
      'verify 64 KiB chunk: per-byte loop': { count: CHUNK / 1024, unit: 'KiB' },
      'verify 1 KiB message: Buffer#compare': { count: 1, unit: 'KiB' },
      'record 1,000 latencies (HDR histogram)': { count: 1000, unit: 'value' },
    })
    if (sink === 0) throw new Error('verification never succeeded')
  },
}
