// The operator's terminal, as every model uses it: stdin cut into lines, each handed to the room
// (room.operator() decides what it means), and stdout for what the room shows the operator. How
// stdin is read is the model's: the selector watches it in its selector, the threads model takes
// its 'data' events on the main thread. A closed stdout (EPIPE) is given up quietly: the chat
// goes on without showing it.
import { log } from '../log.js'
import { MessageFramer } from './framing.js'

export class OperatorConsole {
  private readonly framer: MessageFramer
  private stdoutGone = false

  /**
   * `run` carries out one line; `detach` stops reading stdin (the console is closed: end of
   * input, or a line too long).
   */
  constructor(
    private readonly maxLine: number,
    private readonly run: (line: string) => void,
    private readonly detach: () => void,
  ) {
    this.framer = new MessageFramer('line', maxLine)
    process.stdout.once('error', () => (this.stdoutGone = true))
  }

  /** A line for the operator, on stdout. */
  print(line: string): void {
    if (!this.stdoutGone) process.stdout.write(line + '\n')
  }

  /** Bytes read from stdin. */
  input(data: Buffer): void {
    const { messages, tooLong } = this.framer.push(data)
    for (const text of messages) this.run(text)
    if (tooLong) {
      this.print(`line too long (over ${this.maxLine} bytes); console closed`)
      this.detach()
    }
  }

  /** stdin ended (or cannot be read: EIO and the like count as its end). A last unfinished line still counts. */
  end(): void {
    for (const text of this.framer.end()) this.run(text)
    this.detach()
    log('operator console closed (end of input); still serving')
  }
}
