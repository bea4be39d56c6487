// The echo client's behaviour: every typed line goes out and its echo is shown when it comes
// back, marked `< ` so that it is not taken for what you typed (on a terminal the prompt is `> `);
// a quit word or the end of input half-closes, and the client exits once the server has echoed
// everything and closed its side.
import type { LinkBehaviour, TerminalLink } from './terminal-link.js'

const ECHO_QUIT_WORDS = ['salir', 'bye']
const PROMPT = '> '
/** Put before every line that comes back. */
export const ECHO_MARK = '< '

const NEWLINE = 0x0a

/** Puts a mark at the start of every line of a byte stream that arrives in arbitrary pieces. */
export class LineMarker {
  private atLineStart = true

  constructor(private readonly mark: Buffer) {}

  /** Returns `data` with the mark before each line that starts in it. */
  apply(data: Buffer): Buffer {
    const parts: Buffer[] = []
    let start = 0
    while (start < data.length) {
      if (this.atLineStart) parts.push(this.mark)
      const nl = data.indexOf(NEWLINE, start)
      const end = nl === -1 ? data.length : nl + 1
      parts.push(data.subarray(start, end))
      this.atLineStart = nl !== -1
      start = end
    }
    return Buffer.concat(parts)
  }
}

export function echoBehaviour(): LinkBehaviour {
  const marker = new LineMarker(Buffer.from(ECHO_MARK))
  return {
    onConnected(link: TerminalLink) {
      process.stderr.write(`connected to ${link.where}; type salir (or bye) to leave\n`)
      link.setPrompt(PROMPT)
    },
    onLine(link: TerminalLink, text: string) {
      if (ECHO_QUIT_WORDS.includes(text.trim().toLowerCase())) link.leave()
      else link.send(text)
    },
    onInputEnd(link: TerminalLink) {
      link.leave()
    },
    onReceived(link: TerminalLink, data: Buffer) {
      link.print(marker.apply(data))
    },
  }
}
