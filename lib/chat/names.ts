// User names: what is accepted, and how two names are compared.
//
// Rules (each refusal says which one was broken, and the client gets another try):
//   - surrounding whitespace is trimmed; the result must not be empty;
//   - at most maxName characters (code points, so "ñ" and "😀" count as one each);
//   - no control characters, and no U+FFFD (what invalid UTF-8 decodes to);
//   - no bidirectional controls (U+202E RIGHT-TO-LEFT OVERRIDE and the rest of Bidi_Control):
//     they reorder what a terminal shows, so one name could pose as another;
//   - no invisible characters (Default_Ignorable_Code_Point: zero-width space, word joiner,
//     soft hyphen, the Hangul filler, tag characters...), which make a name look like another
//     or like nothing. Two exceptions keep emoji names possible: a zero-width joiner after an
//     emoji (👩‍💻, 👨‍👩‍👧) and the emoji variation selector after one (❤️). Both are ignored
//     when names are compared, so neither can make a look-alike of a name that is here;
//   - no spaces or other whitespace inside (so `/msg NAME text` is never ambiguous);
//   - it must not start with `/` (that is how commands look);
//   - unique, ignoring case: "Ana" is taken when "ana" is here (no look-alike impersonation).

export type NameCheck = { ok: true; name: string } | { ok: false; reason: string }

const BIDI_CONTROL = /\p{Bidi_Control}/u
/** Default-ignorable characters, except a ZWJ or an emoji variation selector that follows an emoji. */
const INVISIBLE = /(?!(?<=[\p{Extended_Pictographic}\p{Emoji_Modifier}\uFE0F])\u200D|(?<=\p{Extended_Pictographic})\uFE0F)\p{Default_Ignorable_Code_Point}/u
/** What does not tell two names apart: joiners and variation selectors change no letter. */
const NOT_COMPARED = /[\u200D\p{Variation_Selector}]/gu

/** The key under which a name is unique: case-folded, without joiners and variation selectors. */
export function nameKey(name: string): string {
  return name.normalize('NFC').replace(NOT_COMPARED, '').toLowerCase()
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
  if (BIDI_CONTROL.test(name)) return { ok: false, reason: 'a name cannot contain bidirectional control characters' }
  if (INVISIBLE.test(name)) return { ok: false, reason: 'a name cannot contain invisible characters' }
  if (/\s/u.test(name)) return { ok: false, reason: 'a name cannot contain spaces' }
  if (name.startsWith('/')) return { ok: false, reason: 'a name cannot start with /' }
  if (isTaken(name)) return { ok: false, reason: `the name ${name} is taken` }
  return { ok: true, name }
}
