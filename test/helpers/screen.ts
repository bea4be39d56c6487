// What a terminal would show for a stream of output: just enough of a VT100/xterm to read what
// node:readline and our clients draw (text with auto-wrap, CR, LF, backspace, cursor moves, erase
// to the end of the line or screen), so a test can assert on the screen rather than on escape codes.
// Characters are taken as one column wide: tests that use it type ASCII.

const CSI = /^\x1b\[([0-9;?]*)([A-Za-z])/

export class Screen {
  /** Every line ever shown, scrolled-off ones included; the visible ones are the last `rows` from `top`. */
  private readonly lines: string[][] = [[]]
  private top = 0
  private row = 0
  private col = 0
  /** xterm's pending wrap: a character written in the last column moves to the next line only when another follows. */
  private wrapPending = false

  constructor(
    readonly cols: number,
    readonly rows: number,
  ) {}

  write(text: string): void {
    for (let i = 0; i < text.length; ) {
      const c = text[i]
      if (c === '\x1b') {
        const m = CSI.exec(text.slice(i))
        if (m) this.control(m[1], m[2])
        i += m ? m[0].length : 1
        continue
      }
      i++
      if (c === '\r') this.moveTo(this.row, 0)
      else if (c === '\n') this.lineFeed()
      else if (c === '\b') this.moveTo(this.row, Math.max(0, this.col - 1))
      else if (c >= ' ') this.put(c)
    }
  }

  /** The visible lines, trailing spaces trimmed, trailing empty lines dropped. */
  visible(): string[] {
    const shown = this.lines.slice(this.top, this.top + this.rows).map(l => l.join('').trimEnd())
    while (shown.length > 0 && shown[shown.length - 1] === '') shown.pop()
    return shown
  }

  /** Every line, scrolled-off ones included, as visible() trims them. */
  all(): string[] {
    const shown = this.lines.map(l => l.join('').trimEnd())
    while (shown.length > 0 && shown[shown.length - 1] === '') shown.pop()
    return shown
  }

  /** The cursor, as [row within the visible screen, column]. */
  cursor(): [number, number] {
    return [this.row - this.top, this.col]
  }

  private put(c: string): void {
    if (this.wrapPending) {
      this.lineFeed()
      this.col = 0
      this.wrapPending = false
    }
    const line = this.lines[this.row]
    while (line.length < this.col) line.push(' ')
    line[this.col] = c
    if (this.col === this.cols - 1) this.wrapPending = true
    else this.col++
  }

  private lineFeed(): void {
    this.wrapPending = false
    this.row++
    if (this.row >= this.lines.length) this.lines.push([])
    if (this.row >= this.top + this.rows) this.top = this.row - this.rows + 1
  }

  private moveTo(row: number, col: number): void {
    this.wrapPending = false
    this.row = Math.min(Math.max(row, this.top), this.top + this.rows - 1)
    while (this.row >= this.lines.length) this.lines.push([])
    this.col = Math.min(Math.max(col, 0), this.cols - 1)
  }

  private control(params: string, final: string): void {
    const n = params === '' ? 1 : Number(params.split(';')[0]) || 1
    switch (final) {
      case 'A':
        return this.moveTo(this.row - n, this.col)
      case 'B':
        return this.moveTo(this.row + n, this.col)
      case 'C':
        return this.moveTo(this.row, this.col + n)
      case 'D':
        return this.moveTo(this.row, this.col - n)
      case 'G':
        return this.moveTo(this.row, n - 1)
      case 'K': // erase to the end of the line (the only form readline uses)
        this.lines[this.row].length = Math.min(this.lines[this.row].length, this.col)
        this.wrapPending = false
        return
      case 'J': // erase to the end of the screen
        this.lines[this.row].length = Math.min(this.lines[this.row].length, this.col)
        for (let r = this.row + 1; r < this.lines.length; r++) this.lines[r] = []
        this.wrapPending = false
        return
      default: // modes, colours: nothing on the screen moves
        return
    }
  }
}
