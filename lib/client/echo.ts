// The echo client's behaviour: every typed line goes out and its echo is shown when it comes
// back; a quit word or the end of input half-closes, and the client exits once the server has
// echoed everything and closed its side.
import type { LinkBehaviour, TerminalLink } from './terminal-link.js'

const ECHO_QUIT_WORDS = ['salir', 'bye']

export function echoBehaviour(): LinkBehaviour {
  return {
    onConnected(link: TerminalLink) {
      process.stderr.write(`connected to ${link.where}; type salir (or bye) to leave\n`)
    },
    onLine(link: TerminalLink, text: string) {
      if (ECHO_QUIT_WORDS.includes(text.trim().toLowerCase())) link.leave()
      else link.send(text)
    },
    onInputEnd(link: TerminalLink) {
      link.leave()
    },
  }
}
