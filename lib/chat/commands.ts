// What a line means: a chat message, a quit word, or a slash command.
// Shared by the clients' lines (parseUserLine) and the operator's console (parseOperatorLine).

/** Words that leave the chat cleanly (compared trimmed and ignoring case). */
export const QUIT_WORDS: readonly string[] = ['salir', 'bye', '/quit']

export type ChatCommand =
  | { kind: 'empty' }
  | { kind: 'quit' }
  | { kind: 'say'; text: string }
  | { kind: 'who' }
  | { kind: 'msg'; to: string; text: string }
  | { kind: 'kick'; name: string }
  | { kind: 'usage'; usage: string }
  | { kind: 'unknown'; command: string }

export const USER_HELP = '/who lists who is here, /msg NAME text speaks to one person, salir (or bye, /quit) leaves'
export const OPERATOR_HELP = 'text goes to everyone; /who, /msg NAME text, /kick NAME'

export function isQuitWord(text: string): boolean {
  return QUIT_WORDS.includes(text.trim().toLowerCase())
}

/** A line from a chatting client. `//text` sends `/text` as an ordinary message. */
export function parseUserLine(text: string): ChatCommand {
  if (isQuitWord(text)) return { kind: 'quit' }
  return parseCommon(text, false)
}

/** A line typed on the server's console. */
export function parseOperatorLine(text: string): ChatCommand {
  return parseCommon(text, true)
}

function parseCommon(text: string, operator: boolean): ChatCommand {
  const trimmed = text.trim()
  if (trimmed === '') return { kind: 'empty' }
  if (!trimmed.startsWith('/')) return { kind: 'say', text }
  if (trimmed.startsWith('//')) return { kind: 'say', text: text.replace('/', '') }
  const [word, ...rest] = trimmed.split(/\s+/u)
  const command = word.toLowerCase()
  switch (command) {
    case '/who':
      return { kind: 'who' }
    case '/msg': {
      // The text keeps its inner spacing: take everything after the name.
      const m = /^\S+\s+(\S+)\s+(.*)$/su.exec(trimmed)
      return m ? { kind: 'msg', to: m[1], text: m[2] } : { kind: 'usage', usage: 'usage: /msg NAME text' }
    }
    case '/kick':
      if (!operator) break
      return rest.length === 1 ? { kind: 'kick', name: rest[0] } : { kind: 'usage', usage: 'usage: /kick NAME' }
  }
  return { kind: 'unknown', command }
}
