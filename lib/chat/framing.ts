// Cutting one connection's bytes into chat messages.
//
//   line   messages end with `\n` (a `\r` before it is dropped): netcat, telnet, our client.
//   chunk  each read is one message, as the classic Python clients send them
//          (`sock.send(msg.encode())`, no newline); a read holding several `\n`-separated
//          lines still gives one message per line.
//   auto   decided by the connection's first read: a `\n` in it → line, otherwise chunk.
//
// At end of input, bytes after the last newline are an unfinished message. Under auto and chunk
// framing they count (`printf 'hi' | nc`); a client connection forced to line framing
// (`--framing line`, forConnection()) drops them: there, a message is what a newline ends.
//
// Decoding works on bytes first and text second. The byte 0x0A never occurs inside a
// multi-byte UTF-8 sequence, so splitting the raw bytes on it is safe; each complete message
// is then decoded in one go, which reassembles a character whose bytes were split across
// reads (a streaming decode without a decoder's hidden state). In chunk mode a read that
// ends part-way through a character is held until the rest arrives. Invalid UTF-8 becomes
// U+FFFD. Memory is bounded: at most maxBytes of an unfinished message are ever kept.
import type { Framing } from './options.js'

const NEWLINE = 0x0a
const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true })

/** How the framer cuts: decided at construction, or by the first read under auto framing. */
export const FramingMode = {
  UNDECIDED: 'undecided',
  LINE: 'line',
  CHUNK: 'chunk',
} as const
export type FramingMode = (typeof FramingMode)[keyof typeof FramingMode]

export interface Framed {
  /** Complete messages, in order, without their line endings. */
  messages: string[]
  /** A message passed maxBytes: the connection should be told and closed. */
  tooLong: boolean
}

export class MessageFramer {
  private modeNow: FramingMode
  /** Bytes of the unfinished message, in arrival order; their total is `pendingBytes`. */
  private pending: Buffer[] = []
  private pendingBytes = 0

  /**
   * `tailAtEnd`: whether end() gives the unfinished last message (the operator's console and the
   * client do: a last line typed before Ctrl-D counts).
   */
  constructor(
    framing: Framing,
    readonly maxBytes: number,
    private readonly tailAtEnd = true,
  ) {
    this.modeNow = framing === 'auto' ? FramingMode.UNDECIDED : framing === 'line' ? FramingMode.LINE : FramingMode.CHUNK
  }

  /** The framer of a client's connection to the chat: forced line framing drops the tail at end of input. */
  static forConnection(framing: Framing, maxBytes: number): MessageFramer {
    return new MessageFramer(framing, maxBytes, framing !== 'line')
  }

  get mode(): FramingMode {
    return this.modeNow
  }

  /** Feeds one read's bytes; returns the messages it completes. */
  push(data: Buffer): Framed {
    const out: Framed = { messages: [], tooLong: false }
    if (data.length === 0) return out
    if (this.modeNow === FramingMode.UNDECIDED) this.modeNow = data.includes(NEWLINE) ? FramingMode.LINE : FramingMode.CHUNK
    let start = 0
    for (let nl = data.indexOf(NEWLINE); nl !== -1; nl = data.indexOf(NEWLINE, start)) {
      if (this.pendingBytes + (nl - start) > this.maxBytes) return { ...out, tooLong: true }
      out.messages.push(this.take(data.subarray(start, nl)))
      start = nl + 1
    }
    if (start < data.length) {
      if (this.pendingBytes + (data.length - start) > this.maxBytes) return { ...out, tooLong: true }
      this.pending.push(data.subarray(start))
      this.pendingBytes += data.length - start
    }
    // Chunk mode: the rest of this read is a message too, unless it ends inside a character.
    if (this.modeNow === FramingMode.CHUNK && this.pendingBytes > 0 && incompleteUtf8Tail(this.joinPending()) === 0) {
      out.messages.push(this.take(Buffer.alloc(0)))
    }
    return out
  }

  /** At end of input: the unfinished last message, if there is one and it counts (see above). */
  end(): string[] {
    if (this.pendingBytes === 0) return []
    const last = this.take(Buffer.alloc(0))
    return this.tailAtEnd ? [last] : []
  }

  /** Joins the pending bytes with `last`, decodes them as one message and starts afresh. */
  private take(last: Buffer): string {
    const bytes = this.pendingBytes === 0 ? last : Buffer.concat([...this.pending, last])
    this.pending = []
    this.pendingBytes = 0
    const text = decoder.decode(bytes)
    return text.endsWith('\r') ? text.slice(0, -1) : text
  }

  private joinPending(): Buffer {
    if (this.pending.length > 1) this.pending = [Buffer.concat(this.pending)]
    return this.pending[0]
  }
}

/**
 * How many bytes at the end of `buf` are the start of a UTF-8 character still waiting for
 * its continuation bytes (0 when `buf` ends on a character boundary or with invalid bytes,
 * which will decode to U+FFFD anyway). Follows the WHATWG decoder's rules for which second
 * bytes are allowed, so it agrees with TextDecoder about what is "incomplete".
 */
export function incompleteUtf8Tail(buf: Buffer): number {
  const end = buf.length
  for (let i = end - 1; i >= 0 && i >= end - 3; i--) {
    const b = buf[i]
    if (b >= 0x80 && b <= 0xbf) continue // a continuation byte: look further back
    const need = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0
    const have = end - i
    if (need === 0 || have >= need) return 0
    if (have >= 2 && !secondByteOk(b, buf[i + 1])) return 0
    return have
  }
  return 0
}

function secondByteOk(lead: number, second: number): boolean {
  switch (lead) {
    case 0xe0:
      return second >= 0xa0 && second <= 0xbf // no overlong 3-byte forms
    case 0xed:
      return second >= 0x80 && second <= 0x9f // no UTF-16 surrogates
    case 0xf0:
      return second >= 0x90 && second <= 0xbf // no overlong 4-byte forms
    case 0xf4:
      return second >= 0x80 && second <= 0x8f // nothing above U+10FFFF
    default:
      return true
  }
}
