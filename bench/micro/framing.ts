// Suite: the chat's line framing (lib/chat/framing.ts), per read: splitting a read that holds many
// lines, reassembling a line that arrives in many small reads (with a character split across two
// of them), and chunk mode (each read one message, as the classic Python clients send).
import { MessageFramer } from '../../lib/chat/framing.js'
import { createBench, printResults, type Suite } from './suite.js'

const MAX_BYTES = 64 * 1024

/** `count` chat lines of about `width` bytes each, some with non-ASCII text, as one buffer. */
function lines(count: number, width: number): Buffer {
  const out: string[] = []
  for (let i = 0; i < count; i++) {
    const text = `${i % 3 === 0 ? 'ñandú ' : 'hello '}${'x'.repeat(width)}`.slice(0, width)
    out.push(text)
  }
  return Buffer.from(out.join('\n') + '\n')
}

export const suite: Suite = {
  name: 'framing',
  about: 'chat line framing: split a read into lines, reassemble a line from small reads',
  async run(options) {
    const many = lines(1000, 40) // one 40 KiB read of 1,000 lines
    const long = Buffer.from(`${'é'.repeat(2000)}\n`) // a 4 KiB line with 2-byte characters
    const pieces: Buffer[] = []
    for (let off = 0; off < long.length; off += 63) pieces.push(long.subarray(off, off + 63)) // odd size: splits 'é'
    const chunk = Buffer.from('hola a todos, ¿qué tal?')
    let sink = 0
    const bench = createBench(options)
      .add('line: split a read of 1,000 lines', () => {
        sink += new MessageFramer('line', MAX_BYTES).push(many).messages.length
      })
      .add('line: reassemble a 4 KiB line from 63-byte reads', () => {
        const framer = new MessageFramer('line', MAX_BYTES)
        for (const p of pieces) sink += framer.push(p).messages.length
      })
      .add('chunk: one read, one message', () => {
        sink += new MessageFramer('chunk', MAX_BYTES).push(chunk).messages.length
      })
    await bench.run()
    printResults(bench, {
      'line: split a read of 1,000 lines': { count: 1000, unit: 'line' },
      'line: reassemble a 4 KiB line from 63-byte reads': { count: pieces.length, unit: 'read' },
    })
    if (sink === 0) throw new Error('no message was framed')
  },
}
