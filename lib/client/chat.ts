// The chat client's behaviour: the name is the first line sent (from --name, or asked for);
// every typed line goes out; a quit word, or the end of input, leaves cleanly. What the server
// sends is shown as it arrives. It assumes nothing more of the server than lines, so it works
// against any line-based chat server.
import { isQuitWord } from '../chat/commands.js'
import type { LinkBehaviour, TerminalLink } from './terminal-link.js'

/** Sent when the input ends, so the server announces `left` as for a typed quit word. */
const QUIT_ON_END = 'salir'

export function chatBehaviour(name: string | undefined): LinkBehaviour {
  let named = name !== undefined
  return {
    onConnected(link: TerminalLink) {
      process.stderr.write(`connected to ${link.where}; type salir (or bye, /quit) to leave\n`)
      if (name !== undefined) link.send(name)
      else link.print('your name: ')
    },
    onLine(link: TerminalLink, text: string) {
      named = true
      link.send(text)
      if (isQuitWord(text)) link.leave()
    },
    onInputEnd(link: TerminalLink) {
      if (named) link.send(QUIT_ON_END)
      link.leave()
    },
  }
}
