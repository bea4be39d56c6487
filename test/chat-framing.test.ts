// Unit tests of the chat's pure pieces: framing (line/chunk/auto, split UTF-8, limits),
// the name rules and the command parser.
import t from 'tap'
import { MessageFramer, incompleteUtf8Tail } from '../lib/chat/framing.js'
import { checkName, nameKey } from '../lib/chat/names.js'
import { parseOperatorLine, parseUserLine } from '../lib/chat/commands.js'

const b = (s: string) => Buffer.from(s)

/** Feeds the pieces one by one; returns every message and whether a limit was hit. */
function feed(framer: MessageFramer, ...pieces: Buffer[]): { messages: string[]; tooLong: boolean } {
  const messages: string[] = []
  for (const piece of pieces) {
    const r = framer.push(piece)
    messages.push(...r.messages)
    if (r.tooLong) return { messages, tooLong: true }
  }
  return { messages, tooLong: false }
}

t.test('line framing: \\n and \\r\\n, lines split across reads, several per read', async t => {
  const f = new MessageFramer('line', 100)
  t.same(feed(f, b('he'), b('llo\r'), b('\nwor'), b('ld\none\ntwo\n\n')), { messages: ['hello', 'world', 'one', 'two', ''], tooLong: false })
  t.same(f.push(b('no newline yet')).messages, [])
  t.same(f.end(), ['no newline yet'], 'an unfinished last line counts at end of input')
  t.same(f.end(), [])
})

t.test('at end of input: a connection forced to line framing drops its unfinished tail; auto and chunk keep it', async t => {
  const forced = MessageFramer.forConnection('line', 100)
  t.same(forced.push(b('ana\nno newline')).messages, ['ana'])
  t.same(forced.end(), [], '--framing line: no newline, no message')
  t.same(forced.end(), [])
  const nameOnly = MessageFramer.forConnection('line', 100)
  t.same(nameOnly.push(b('ana')).messages, [])
  t.same(nameOnly.end(), [], 'not even a name (`printf ana | nc`)')
  const auto = MessageFramer.forConnection('auto', 100)
  t.same(auto.push(b('ana\nhi')).messages, ['ana'])
  t.equal(auto.mode, 'line')
  t.same(auto.end(), ['hi'], 'auto framing that decided line: the tail still counts')
  const chunk = MessageFramer.forConnection('chunk', 100)
  t.same(chunk.push(Buffer.from([0x61, 0xc3])).messages, [], 'a chunk ending inside a character waits')
  t.same(chunk.end(), ['a\uFFFD'], 'chunk framing: what is left counts at the end')
  const plain = new MessageFramer('line', 100)
  plain.push(b('/who'))
  t.same(plain.end(), ['/who'], 'a plain line framer (the console, the client) keeps its last line')
})

t.test('chunk framing: each read is a message; lines inside a read are split', async t => {
  const f = new MessageFramer('chunk', 100)
  t.same(feed(f, b('ana'), b('hola'), b('a\nb'), b('c\n')), { messages: ['ana', 'hola', 'a', 'b', 'c'], tooLong: false })
  t.equal(f.mode, 'chunk')
})

t.test('auto framing is decided by the first read', async t => {
  const line = new MessageFramer('auto', 100)
  t.equal(line.mode, 'undecided')
  line.push(Buffer.alloc(0))
  t.equal(line.mode, 'undecided', 'an empty read decides nothing')
  t.same(feed(line, b('ana\n'), b('par'), b('tial\n')).messages, ['ana', 'partial'])
  t.equal(line.mode, 'line')
  const chunk = new MessageFramer('auto', 100)
  t.same(feed(chunk, b('ana'), b('par'), b('tial\n')).messages, ['ana', 'par', 'tial'])
  t.equal(chunk.mode, 'chunk')
})

t.test('UTF-8 split across reads is reassembled, in both modes', async t => {
  const text = b('ñ😀€')
  for (const mode of ['line', 'chunk'] as const) {
    for (let cut = 1; cut < text.length; cut++) {
      const f = new MessageFramer(mode, 100)
      const end = mode === 'line' ? b('\n') : Buffer.alloc(0)
      const got = feed(f, text.subarray(0, cut), Buffer.concat([text.subarray(cut), end]))
      // In chunk mode a cut between characters is two reads, so two messages, as sent.
      const boundary = cut === 2 || cut === 6
      const expected = mode === 'chunk' && boundary ? [text.subarray(0, cut).toString(), text.subarray(cut).toString()] : ['ñ😀€']
      t.same(got.messages, expected, `${mode}, cut at byte ${cut}`)
    }
  }
  const f = new MessageFramer('chunk', 100)
  t.same(feed(f, Buffer.from([0xf0]), Buffer.from([0x9f]), Buffer.from([0x98])).messages, [], 'a chunk waits for the rest of a character')
  t.same(f.push(Buffer.from([0x80])).messages, ['😀'])
})

t.test('invalid UTF-8 becomes U+FFFD and never holds a chunk back', async t => {
  const f = new MessageFramer('chunk', 100)
  t.same(f.push(Buffer.from([0x61, 0xff])).messages, ['a\uFFFD'])
  t.same(f.push(Buffer.from([0xe0, 0x80])).messages, ['\uFFFD\uFFFD'], 'E0 80 is not the start of a character')
  const g = new MessageFramer('line', 100)
  t.same(g.push(Buffer.from([0xc3, 0x0a])).messages, ['\uFFFD'], 'a truncated character before \\n')
})

t.test('incompleteUtf8Tail agrees with the decoder about where characters end', async t => {
  t.equal(incompleteUtf8Tail(b('abc')), 0)
  t.equal(incompleteUtf8Tail(Buffer.from([0x61, 0xc3])), 1)
  t.equal(incompleteUtf8Tail(Buffer.from([0xe2, 0x82])), 2)
  t.equal(incompleteUtf8Tail(Buffer.from([0xf0, 0x9f, 0x98])), 3)
  t.equal(incompleteUtf8Tail(b('ñ')), 0)
  t.equal(incompleteUtf8Tail(Buffer.from([0xed, 0xa0])), 0, 'a surrogate is invalid, not incomplete')
  t.equal(incompleteUtf8Tail(Buffer.from([0xf4, 0x90])), 0, 'above U+10FFFF')
  t.equal(incompleteUtf8Tail(Buffer.from([0x80, 0x80, 0x80])), 0, 'stray continuation bytes')
  t.equal(incompleteUtf8Tail(Buffer.from([0xc0])), 0, 'C0 never starts a character')
})

t.test('limits: a line over maxBytes is refused, also before its newline', async t => {
  t.same(new MessageFramer('line', 5).push(b('12345\n')).messages, ['12345'], 'exactly the maximum')
  t.same(new MessageFramer('line', 5).push(b('ok\n123456\nnever\n')), { messages: ['ok'], tooLong: true }, 'messages before it still count')
  const f = new MessageFramer('line', 5)
  t.same(feed(f, b('123'), b('456')), { messages: [], tooLong: true }, 'no newline needed to be refused')
  t.same(new MessageFramer('chunk', 5).push(b('123456')).tooLong, true, 'chunks too')
  t.same(new MessageFramer('line', 5).push(b('1234\r\n')).messages, ['1234'])
})

t.test('names', async t => {
  const none = () => false
  t.same(checkName('  ana  ', 10, none), { ok: true, name: 'ana' })
  t.same(checkName('😀', 1, none), { ok: true, name: '😀' }, 'characters, not bytes or UTF-16 units')
  t.match(checkName('', 10, none), { ok: false, reason: /empty/ })
  t.match(checkName(' \t ', 10, none), { ok: false, reason: /empty/ })
  t.match(checkName('abcdefghijk', 10, none), { ok: false, reason: /at most 10/ })
  t.match(checkName('a b', 10, none), { ok: false, reason: /spaces/ })
  t.match(checkName('a\u0007', 10, none), { ok: false, reason: /control/ })
  t.match(checkName('a\uFFFD', 10, none), { ok: false, reason: /UTF-8/ })
  t.match(checkName('/x', 10, none), { ok: false, reason: /start with \// })
  t.match(checkName('Ana', 10, n => n.toLowerCase() === 'ana'), { ok: false, reason: /the name Ana is taken/ })
})

t.test('names: bidirectional controls and invisible characters are refused; emoji sequences are not', async t => {
  const none = () => false
  const bidi = /bidirectional control characters/
  for (const c of ['\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069', '\u200E', '\u200F', '\u061C']) {
    t.match(checkName(`ana${c}x`, 10, none), { ok: false, reason: bidi }, `U+${c.codePointAt(0)!.toString(16).toUpperCase()}`)
  }
  const invisible = /invisible characters/
  for (const c of ['\u200B', '\u200C', '\u2060', '\u00AD', '\u034F', '\u3164', '\uFFA0', '\u{E0041}', '\u180E']) {
    t.match(checkName(`an${c}a`, 10, none), { ok: false, reason: invisible }, `U+${c.codePointAt(0)!.toString(16).toUpperCase()}`)
  }
  t.match(checkName('a\u200Dna', 10, none), { ok: false, reason: invisible }, 'a joiner between letters')
  t.match(checkName('ana\uFE0F', 10, none), { ok: false, reason: invisible }, 'a variation selector after a letter')
  t.match(checkName('x\uFEFFy', 10, none), { ok: false, reason: invisible }, 'a BOM inside (not taken for a space)')
  for (const name of ['\u{1F469}\u200D\u{1F4BB}', '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}', '\u2764\uFE0F', '\u2764\uFE0F\u200D\u{1F525}', '\u{1F469}\u{1F3FD}\u200D\u{1F4BB}']) {
    t.same(checkName(name, 10, none), { ok: true, name }, `emoji sequence ${name}`)
  }
  t.equal(nameKey('\u2764\uFE0F'), nameKey('\u2764'), 'a variation selector makes no other name')
  t.equal(nameKey('\u{1F600}\u200D'), nameKey('\u{1F600}'), 'nor does a joiner')
  t.equal(nameKey('ANA'), nameKey('ana'))
  t.match(checkName('\u2764', 10, n => nameKey(n) === nameKey('\u2764\uFE0F')), { ok: false, reason: /is taken/ })
})

t.test('commands', async t => {
  t.same(parseUserLine(' Salir '), { kind: 'quit' })
  t.same(parseUserLine('bye'), { kind: 'quit' })
  t.same(parseUserLine('/QUIT'), { kind: 'quit' })
  t.same(parseUserLine('  '), { kind: 'empty' })
  t.same(parseUserLine(' hola '), { kind: 'say', text: ' hola ' })
  t.same(parseUserLine('/who'), { kind: 'who' })
  t.same(parseUserLine('/msg bob  hi  there '), { kind: 'msg', to: 'bob', text: 'hi  there' })
  t.same(parseUserLine('/msg bob'), { kind: 'usage', usage: 'usage: /msg NAME text' })
  t.same(parseUserLine('/kick bob'), { kind: 'unknown', command: '/kick' }, 'only the operator kicks')
  t.same(parseUserLine('//who'), { kind: 'say', text: '/who' })
  t.same(parseOperatorLine('/kick bob'), { kind: 'kick', name: 'bob' })
  t.same(parseOperatorLine('/kick'), { kind: 'usage', usage: 'usage: /kick NAME' })
  t.same(parseOperatorLine('salir'), { kind: 'say', text: 'salir' }, 'the operator has no quit word')
})
