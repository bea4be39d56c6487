// A real terminal: node:readline edits the line (arrows, history, Ctrl-A/E/U/W...) in raw mode,
// and a message from the server never lands in the middle of what you are typing: the input line
// is erased, the message printed, and the prompt redrawn with what you had typed and the cursor
// where it was.
//
// readline reads no stream of its own here. The loop owns stdin (it is registered in the same
// selector as the socket) and hands its bytes to readline through a KeyFeed, synchronously, so a
// typed line reaches the link inside the loop's dispatch like any other event.
import { EventEmitter } from 'node:events'
import { StringDecoder } from 'node:string_decoder'
import { clearScreenDown, createInterface, cursorTo, moveCursor, type Interface } from 'node:readline'
import type { ReadStream } from 'node:tty'
import type { Terminal, TerminalEvents } from './terminal.js'

/**
 * What readline reads keys from: the bytes the loop read from stdin, one character at a time.
 * Given several characters in one read, readline takes them for a paste and appends them to the
 * end of the line, wherever the cursor is, without counting the rows it wraps over; one at a
 * time, each is a key press. Raw mode is switched on stdin itself, so that readline's own
 * switching (on start, close, Ctrl-Z and back) still reaches the terminal.
 */
class KeyFeed extends EventEmitter {
  readonly isTTY = true
  private readonly decoder = new StringDecoder('utf8')

  get isRaw(): boolean {
    return (process.stdin as ReadStream).isRaw
  }

  setRawMode(mode: boolean): this {
    ;(process.stdin as ReadStream).setRawMode(mode)
    return this
  }

  // The loop, not readline, decides when stdin is read.
  pause(): this {
    return this
  }
  resume(): this {
    return this
  }

  push(data: Buffer): void {
    for (const character of this.decoder.write(data)) this.emit('data', character)
  }
}

/**
 * A server's control characters would move our cursor and break the redraw (or worse: escape
 * sequences act on the terminal). They are shown as U+FFFD; tabs and newlines pass, and carriage
 * returns (of `\r\n` line ends, perhaps split across reads) are dropped.
 */
function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\r/g, '').replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '\uFFFD')
}

/** The most of a server's unfinished line kept before the prompt, in characters. */
const MAX_PARTIAL = 4096

export class TtyTerminal implements Terminal {
  private readonly out = process.stdout
  private readonly keys = new KeyFeed()
  private readonly rl: Interface
  private readonly decoder = new StringDecoder('utf8')
  /** The server's last line while it has no newline yet: shown before the prompt, kept there. */
  private partial = ''
  private prompt = ''
  private closed = false

  constructor(private readonly events: TerminalEvents) {
    this.rl = createInterface({
      input: this.keys as unknown as NodeJS.ReadableStream,
      output: this.out,
      terminal: true,
      historySize: 100,
      removeHistoryDuplicates: true,
    })
    this.rl.setPrompt('')
    this.rl.on('line', this.onLine)
    this.rl.on('SIGINT', this.onInterrupt)
    this.rl.on('close', this.onClose)
  }

  feed(data: Buffer): void {
    if (!this.closed) this.keys.push(data)
  }

  end(): void {
    if (this.closed) return
    this.close()
    this.events.onEnd()
  }

  show(data: Buffer): void {
    const text = printable(this.decoder.write(data))
    if (this.closed) {
      this.out.write(text)
      return
    }
    let all = this.partial + text
    let cut = all.lastIndexOf('\n') + 1
    // A server that sends on and on with no newline: shown as lines of their own, not as a prompt
    // that grows (and is redrawn whole) with every read.
    if (all.length - cut > MAX_PARTIAL) {
      all += '\n'
      cut = all.length
    }
    this.partial = all.slice(cut)
    const rows = this.eraseInput()
    this.out.write(all.slice(0, cut))
    this.redraw(rows)
  }

  setPrompt(text: string): void {
    if (this.closed || text === this.prompt) return
    this.prompt = text
    this.redraw(this.eraseInput())
  }

  ask(question: string): void {
    this.setPrompt(question)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    // What was being typed is not sent: take it off the screen, leave the server's partial line.
    this.eraseInput()
    this.out.write(this.partial)
    this.partial = ''
    this.rl.close() // back to cooked mode
  }

  /**
   * Erases the prompt and the line being typed, which may wrap over several rows, leaving the
   * cursor at the start of the first. Returns the row the cursor was on, counted from there.
   */
  private eraseInput(): number {
    const { rows } = this.rl.getCursorPos()
    if (rows > 0) moveCursor(this.out, 0, -rows)
    cursorTo(this.out, 0)
    clearScreenDown(this.out)
    return rows
  }

  /**
   * Draws the prompt (after the server's partial line) and what was typed, cursor in place, from
   * the row the cursor is on. readline redraws by first moving up the `rows` its cursor was below
   * the prompt's row (it keeps count as long as keys come one at a time: see KeyFeed): as many
   * newlines make that move land here, and the redrawn input, at least rows + 1 tall, covers them.
   */
  private redraw(rows: number): void {
    this.out.write('\n'.repeat(rows))
    this.rl.setPrompt(this.partial + this.prompt)
    this.rl.prompt(true)
  }

  private readonly onLine = (line: string): void => {
    this.events.onLine(line)
    // readline has moved to a fresh row; the next prompt goes there (unless that line ended us).
    if (!this.closed) this.rl.prompt()
  }

  private readonly onInterrupt = (): void => {
    this.end()
  }

  /** readline closed itself: Ctrl-D on an empty line. */
  private readonly onClose = (): void => {
    if (this.closed) return
    this.closed = true
    this.eraseInput()
    this.out.write(this.partial)
    this.partial = ''
    this.events.onEnd()
  }
}
