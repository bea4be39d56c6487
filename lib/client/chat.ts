// The chat client's behaviour: the name is the first line sent (from --name, or asked for);
// every typed line goes out; a quit word, or the end of input, leaves cleanly. What the server
// sends is shown as it arrives.
//
//   ASKING --a line typed (the name)--> NAME_SENT --`welcome ...`--> CHATTING
//      ^                                   |
//      +------ `name refused: ...` --------+      (--name starts in NAME_SENT)
//
// Only the welcome and the refusal are recognised, as our chat server words them (replies.ts);
// a server that says neither is still served: every typed line goes out from NAME_SENT on.
import { isQuitWord } from '../chat/commands.js'
import { MessageFramer } from '../chat/framing.js'
import { replies } from '../chat/replies.js'
import type { LinkBehaviour, TerminalLink } from './terminal-link.js'

export const NameState = {
  ASKING: 'ASKING',
  NAME_SENT: 'NAME_SENT',
  CHATTING: 'CHATTING',
} as const
export type NameState = (typeof NameState)[keyof typeof NameState]

/** Sent when the input ends, so the server announces `left` as for a typed quit word. */
const QUIT_ON_END = 'salir'
const ASK_NAME = 'your name: '
const PROMPT = '> '
/** How the two replies begin: each reply's text up to its first argument. */
const WELCOME = replies.welcome('\0', 0).split('\0')[0]
const REFUSED = replies.nameRefused('\0').split('\0')[0]
/** Server lines are cut only to find those replies; a longer line is not one of them. */
const MAX_REPLY = 64 * 1024

export function chatBehaviour(name: string | undefined): LinkBehaviour {
  let state: NameState = name === undefined ? NameState.ASKING : NameState.NAME_SENT
  let sentAnything = false
  let replyLines = new MessageFramer('line', MAX_REPLY)

  const send = (link: TerminalLink, text: string) => {
    sentAnything = true
    link.send(text)
  }
  /** One line from the server, while the name is not settled. */
  const onReply = (link: TerminalLink, line: string) => {
    if (state === NameState.CHATTING) return
    if (line.startsWith(REFUSED)) {
      state = NameState.ASKING
      link.ask(ASK_NAME)
    } else if (line.startsWith(WELCOME)) {
      state = NameState.CHATTING
      link.setPrompt(PROMPT)
    }
  }

  return {
    onConnected(link: TerminalLink) {
      process.stderr.write(`connected to ${link.where}; type salir (or bye, /quit) to leave\n`)
      if (name === undefined) return link.ask(ASK_NAME)
      send(link, name)
      link.setPrompt(PROMPT)
    },
    onLine(link: TerminalLink, text: string) {
      send(link, text)
      if (isQuitWord(text)) return link.leave()
      if (state === NameState.ASKING) {
        state = NameState.NAME_SENT
        link.setPrompt(PROMPT)
      }
    },
    onInputEnd(link: TerminalLink) {
      if (sentAnything) send(link, QUIT_ON_END)
      link.leave()
    },
    onReceived(link: TerminalLink, data: Buffer) {
      link.print(data)
      if (state === NameState.CHATTING) return
      const { messages, tooLong } = replyLines.push(data)
      for (const line of messages) onReply(link, line)
      if (tooLong) replyLines = new MessageFramer('line', MAX_REPLY)
    },
  }
}
