// Every line the chat server says, in one place, so every model words things the same way.
// Lines are returned without their `\n`; line() makes the bytes a server sends.
import type { RemoteMember } from './bus/bus.js'
import { USER_HELP } from './commands.js'

/** The bytes of one line as the server sends it: UTF-8, `\n`-terminated. */
export function line(text: string): Buffer {
  return Buffer.from(text + '\n', 'utf8')
}

export const replies = {
  welcome: (name: string, count: number) => `welcome ${name}, ${count} here now; ${USER_HELP}`,
  nameRefused: (reason: string) => `name refused: ${reason}; try another name`,
  joined: (name: string) => `${name} joined`,
  left: (name: string) => `${name} left`,
  said: (name: string, text: string) => `${name}: ${text}`,
  whispered: (name: string, text: string) => `${name} (private): ${text}`,
  operatorSaid: (text: string) => `[server] ${text}`,
  operatorWhispered: (text: string) => `[server] (private): ${text}`,
  who: (names: string[]) => `here now (${names.length}): ${names.join(', ')}`,
  /** /who in a room that spans servers: this server's members first, then each other server's. */
  whoAcross: (here: string, local: string[], remote: RemoteMember[]) => {
    const groups = new Map<string, string[]>([[here, local]])
    for (const m of remote) groups.set(m.server, [...(groups.get(m.server) ?? []), m.name])
    const parts = [...groups].filter(([, names]) => names.length > 0).map(([server, names]) => `${names.join(', ')} (on ${server})`)
    return `here now (${local.length + remote.length}): ${parts.join('; ')}`
  },
  /** Said to everyone here when Redis (the way to the other servers) goes away, and when it is back. */
  othersOutOfReach: () => 'the other servers of this room are out of reach; you can still talk to those on this one',
  othersBack: () => 'the other servers of this room are back',
  nameUncheckable: () => 'name refused: the other servers of this room are out of reach, so no name can be checked now; try again in a moment',
  nameLost: (name: string) => `your name ${name} was taken on another server while this one was cut off; closing`,
  // What the client typed is echoed back sanitized too: only to itself, but it is still a terminal.
  noSuchUser: (name: string) => `no one called ${sanitize(name)} is here`,
  unknownCommand: (command: string) => `unknown command ${sanitize(command)} (${USER_HELP})`,
  tooLong: (maxBytes: number) => `line too long (over ${maxBytes} bytes); closing the connection`,
  full: (maxClients: number) => `server full (${maxClients} clients); try again later`,
  idle: (seconds: number) => `idle for ${seconds} s; closing`,
  kicked: () => 'you were removed from the chat by the operator',
  closing: () => 'server closing',
}

/**
 * Control characters in someone's text (terminal escape sequences, bells, NULs) would act on
 * every other client's terminal; they are shown as U+FFFD instead. Tabs pass.
 */
export function sanitize(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g, '\uFFFD')
}
