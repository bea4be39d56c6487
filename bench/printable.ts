// Bytes a server sent, shown as one line of text: printable ASCII as it is, everything else
// escaped (\n, \r, \t, \xNN), so that a report or a terminal never receives raw control bytes.

/** Up to `max` bytes of `bytes` as one printable line; '…' marks a cut. */
export function printable(bytes: Uint8Array, max = 80): string {
  let out = ''
  const n = Math.min(bytes.length, max)
  for (let i = 0; i < n; i++) out += printableByte(bytes[i])
  return bytes.length > max ? `${out}…` : out
}

/** One byte as printable text: 'a', '\n', '\x00'. */
export function printableByte(b: number): string {
  if (b >= 0x20 && b < 0x7f && b !== 0x5c) return String.fromCharCode(b)
  switch (b) {
    case 0x0a:
      return '\\n'
    case 0x0d:
      return '\\r'
    case 0x09:
      return '\\t'
    case 0x5c:
      return '\\\\'
    default:
      return `\\x${b.toString(16).padStart(2, '0')}`
  }
}
