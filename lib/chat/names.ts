// User names: what is accepted, and how two names are compared.
//
// Rules (each refusal says which one was broken, and the client gets another try):
//   - surrounding whitespace is trimmed; the result must not be empty;
//   - at most maxName characters (code points, so "ñ" and "😀" count as one each);
//   - no spaces or other whitespace inside (so `/msg NAME text` is never ambiguous);
//   - no control characters, and no U+FFFD (what invalid UTF-8 decodes to);
//   - it must not start with `/` (that is how commands look);
//   - unique, ignoring case: "Ana" is taken when "ana" is here (no look-alike impersonation).

export type NameCheck = { ok: true; name: string } | { ok: false; reason: string }

/** The key under which a name is unique: case-folded. */
export function nameKey(name: string): string {
  return name.normalize('NFC').toLowerCase()
}

/**
 * Checks a proposed name (the raw first message). `isTaken` is asked about the trimmed name
 * only once every other rule holds.
 */
export function checkName(raw: string, maxName: number, isTaken: (name: string) => boolean): NameCheck {
  const name = raw.trim().normalize('NFC')
  if (name === '') return { ok: false, reason: 'a name cannot be empty' }
  if ([...name].length > maxName) return { ok: false, reason: `a name can have at most ${maxName} characters` }
  if (/\p{Cc}/u.test(name)) return { ok: false, reason: 'a name cannot contain control characters' }
  if (name.includes('\uFFFD')) return { ok: false, reason: 'a name must be valid UTF-8' }
  if (/\s/u.test(name)) return { ok: false, reason: 'a name cannot contain spaces' }
  if (name.startsWith('/')) return { ok: false, reason: 'a name cannot start with /' }
  if (isTaken(name)) return { ok: false, reason: `the name ${name} is taken` }
  return { ok: true, name }
}
