// The user's side of a client: lines typed in, what the server sent shown out. Two kinds, chosen
// once: a real terminal gets a line editor that keeps what you are typing whole when a message
// arrives (tty-terminal.ts); pipes get plain lines in and the server's bytes out, untouched
// (pipe-terminal.ts). Neither knows of the socket or the loop: the link feeds them stdin's bytes.
import { PipeTerminal } from './pipe-terminal.js'
import { TtyTerminal } from './tty-terminal.js'

/** What a terminal tells its owner. */
export interface TerminalEvents {
  /** One line the user typed (without its newline). */
  onLine(text: string): void
  /** The user's input ended: Ctrl-D on an empty line, Ctrl-C, the end of a pipe. */
  onEnd(): void
  /** A typed line passed `limit` bytes before its newline (pipes; nothing more is read). */
  onOverflow(limit: number): void
}

export interface Terminal {
  /** Bytes read from stdin. */
  feed(data: Buffer): void
  /** stdin reached its end. */
  end(): void
  /** Shows bytes the server sent (above the line being typed, on a terminal). */
  show(data: Buffer): void
  /** The standing prompt before what you type (`> `). Terminals only: a pipe has nobody to prompt. */
  setPrompt(text: string): void
  /** A question that wants an answer (`your name: `): the prompt on a terminal, printed once on a pipe. */
  ask(question: string): void
  /** No more input: restores the terminal as it was; later show() calls print plainly. */
  close(): void
}

/** Longest typed line read from a pipe; more is an error, not memory. */
export const MAX_INPUT_LINE = 1024 * 1024

/** A line editor when stdin and stdout are both a terminal (and not a dumb one), plain pipes otherwise. */
export function openTerminal(events: TerminalEvents): Terminal {
  const tty = process.stdin.isTTY && process.stdout.isTTY && process.env.TERM !== 'dumb'
  return tty ? new TtyTerminal(events) : new PipeTerminal(events, MAX_INPUT_LINE)
}
