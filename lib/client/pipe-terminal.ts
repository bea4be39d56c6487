// Stdin and stdout as pipes (a script, a test, `cat file | selectloop client echo`): typed lines
// are cut at `\n`, what the server sends goes out byte for byte, and nothing is drawn: no
// prompt, no escape sequences. A question (`your name: `) is printed once.
import { MessageFramer } from '../chat/framing.js'
import type { Terminal, TerminalEvents } from './terminal.js'

export class PipeTerminal implements Terminal {
  private readonly input: MessageFramer
  private closed = false

  constructor(
    private readonly events: TerminalEvents,
    private readonly maxLine: number,
  ) {
    this.input = new MessageFramer('line', maxLine)
  }

  feed(data: Buffer): void {
    if (this.closed) return
    const { messages, tooLong } = this.input.push(data)
    for (const line of messages) if (!this.closed) this.events.onLine(line)
    if (tooLong && !this.closed) this.events.onOverflow(this.maxLine)
  }

  end(): void {
    if (this.closed) return
    // The last line may have no newline (`printf 'bye' | ...`): it still counts.
    for (const line of this.input.end()) if (!this.closed) this.events.onLine(line)
    if (!this.closed) this.events.onEnd()
  }

  show(data: Buffer): void {
    process.stdout.write(data)
  }

  setPrompt(): void {}

  ask(question: string): void {
    process.stdout.write(question)
  }

  close(): void {
    this.closed = true
  }
}
