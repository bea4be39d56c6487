// The chat protocol's behaviour suite, run against every concurrency model as a real process,
// through real sockets: netcat-style line clients and Python-seed-style chunk clients. The
// reference server of peers/ (the classic Python lab's threaded chat) runs it too.
import t, { type Test } from 'tap'
import { spawnCli, type ServerProcess } from './helpers/process.js'
import { canRun, isPeer, oursOnly, peerNames, startSubject, subject } from './helpers/peers.js'
import { connect } from './helpers/net.js'
import { connectChat, eventually, joinChat, joinWhenServed, sleep, spaceOut, type ChatClient } from './helpers/chat.js'
import { rssBytes } from './helpers/proc-stats.js'

const MODELS = ['selector', 'threads', ...peerNames('chat')]

const MAX_LINE = 1000
const MAX_NAME = 12

async function chatServer(t: Test, model: string, extra: string[] = []): Promise<ServerProcess> {
  const server = await startSubject('chat', model, ['--port', '0', ...extra])
  t.teardown(() => server.stop())
  return server
}

/** Closes every client when the (sub)test ends. */
function closing(t: Test, ...clients: ChatClient[]): void {
  t.teardown(() => clients.forEach(c => c.socket.destroy()))
}

for (const model of MODELS) {
  t.test(`chat (${isPeer('chat', model) ? subject('chat', model) : model})`, async t => {
    if (!canRun(t, 'chat', model)) return
    const server = await chatServer(t, model, ['--max-line', String(MAX_LINE), '--max-name', String(MAX_NAME)])
    const port = server.port

    t.test('join and leave are announced: quit words, FIN and reset', async t => {
      const ana = await joinChat(port, 'ana')
      const bob = await joinChat(port, 'bob')
      closing(t, ana, bob)
      await ana.next(/^bob joined$/)
      bob.quit('salir')
      await ana.next(/^bob left$/)
      await bob.closed()

      for (const word of ['bye', '/quit', 'BYE ']) {
        const carl = await joinChat(port, 'carl')
        closing(t, carl)
        await ana.next(/^carl joined$/)
        carl.quit(word)
        await ana.next(/^carl left$/)
        await carl.closed()
      }

      const dora = await joinChat(port, 'dora', 'chunk')
      closing(t, dora)
      await ana.next(/^dora joined$/)
      dora.end() // a Python seed client's sock.close(), no quit word
      await ana.next(/^dora left$/)

      const eve = await joinChat(port, 'eve')
      closing(t, eve)
      await ana.next(/^eve joined$/)
      eve.reset() // a crashed client
      await ana.next(/^eve left$/)
      t.ok(await server.waitForOutput(/eve left: connection reset \(\d+ chatting/), 'the leave is logged with the active count')
      t.ok(await server.waitForOutput(/ana joined from 127\.0\.0\.1:\d+ \(\d+ chatting, \d+ connected\)/), 'so is the join')
      ana.quit()
    })

    t.test('a message goes to everyone else, never back to the sender', async t => {
      const [ana, bob, cid] = [await joinChat(port, 'ana'), await joinChat(port, 'bob'), await joinChat(port, 'cid')]
      closing(t, ana, bob, cid)
      ana.say('hola a todos')
      t.equal(await bob.next(/^ana: /), 'ana: hola a todos')
      t.equal(await cid.next(/^ana: /), 'ana: hola a todos')
      await ana.sync()
      t.same(ana.matching(/hola a todos/), [], 'the sender does not get its own message')
      bob.say('  spaced   out  ')
      t.equal(await ana.next(/^bob: /), 'bob:   spaced   out  ', 'the text is relayed as typed')
      bob.say('   ')
      bob.say('after blank')
      t.equal(await ana.next(/^bob: /), 'bob: after blank', 'blank messages are not relayed')
      cid.say('bell\x07 and escape\x1b[2J')
      t.equal(await ana.next(/^cid: /), 'cid: bell\uFFFD and escape\uFFFD[2J', 'control characters are neutralised')
      bob.say('//who is there')
      t.equal(await ana.next(/^bob: /), 'bob: /who is there', '// sends a message that starts with /')
    })

    t.test('names: empty, too long, bad characters, taken → told why, another try', async t => {
      const ana = await joinChat(port, 'ana')
      const x = await connectChat(port)
      closing(t, ana, x)
      x.say('')
      t.match(await x.next(/^name refused/), /cannot be empty/)
      x.say('x'.repeat(MAX_NAME + 1))
      t.match(await x.next(/^name refused/), new RegExp(`at most ${MAX_NAME} characters`))
      x.say('ana maria')
      t.match(await x.next(/^name refused/), /cannot contain spaces/)
      x.say('bad\x01name')
      t.match(await x.next(/^name refused/), /control characters/)
      x.say('\u202Eana') // RIGHT-TO-LEFT OVERRIDE: shown reversed, it could pose as another name
      t.equal(await x.next(/^name refused/), 'name refused: a name cannot contain bidirectional control characters; try another name')
      x.say('\u2067bob\u2069')
      t.match(await x.next(/^name refused/), /bidirectional control characters/, 'isolates too (the whole Bidi_Control set)')
      x.say('an\u200Ba') // ZERO WIDTH SPACE: looks like "ana"
      t.equal(await x.next(/^name refused/), 'name refused: a name cannot contain invisible characters; try another name')
      x.say('a\u200Dna')
      t.match(await x.next(/^name refused/), /invisible characters/, 'a joiner between letters is invisible too')
      x.say('\u3164')
      t.match(await x.next(/^name refused/), /invisible characters/, 'so is the Hangul filler')
      x.say('/who')
      t.match(await x.next(/^name refused/), /cannot start with \//)
      x.say('ANA')
      t.match(await x.next(/^name refused/), /the name ANA is taken/, 'names are unique ignoring case')
      x.say(`  ${'ñ'.repeat(MAX_NAME)}  `)
      t.match(await x.next(/^welcome /), new RegExp(`^welcome ${'ñ'.repeat(MAX_NAME)}, 2 here now`), 'trimmed; characters, not bytes, are counted')
      await ana.next(new RegExp(`^${'ñ'.repeat(MAX_NAME)} joined$`))
      t.same(ana.matching(/^(ANA|x+|ana maria|.*\u202E.*|.*\u200B.*) joined/), [], 'refused names were never announced')

      // Emoji sequences keep their joiners and variation selectors, which names are compared without.
      const y = await connectChat(port)
      const z = await connectChat(port)
      closing(t, y, z)
      y.say('\u2764\uFE0F') // ❤️
      t.match(await y.next(/^welcome /), /^welcome \u2764\uFE0F, /, 'an emoji with its variation selector is a name')
      z.say('\u2764') // ❤ as text: the same name
      t.equal(await z.next(/^name refused/), 'name refused: the name \u2764 is taken; try another name', 'a variation selector makes no other name')
      z.say('\u{1F469}\u200D\u{1F4BB}') // 👩‍💻
      t.match(await z.next(/^welcome /), /^welcome \u{1F469}\u200D\u{1F4BB}, /u, 'a joiner inside an emoji sequence is allowed')
    })

    t.test('/who and /msg', async t => {
      const ana = await joinChat(port, 'ana')
      const bob = await joinChat(port, 'bob')
      const cid = await joinChat(port, 'cid')
      closing(t, ana, bob, cid)
      ana.say('/who')
      t.equal(await ana.next(/^here now/), 'here now (3): ana, bob, cid')
      ana.say('/msg BOB  psst, only  you')
      t.equal(await bob.next(/private/), 'ana (private): psst, only  you')
      await cid.sync()
      await ana.sync()
      t.same(cid.matching(/psst/), [], 'nobody else sees a private message')
      t.same(ana.matching(/psst/), [], 'nor does its sender')
      ana.say('/msg zed hello')
      t.equal(await ana.next(/^no one/), 'no one called zed is here')
      ana.say('/msg bob')
      t.equal(await ana.next(/^usage/), 'usage: /msg NAME text')
      ana.say('/dance')
      t.match(await ana.next(/^unknown command/), /^unknown command \/dance/)
    })

    t.test('auto framing: a netcat-style line client and a Python-style chunk client together', async t => {
      const nc = await joinChat(port, 'nc', 'line')
      const py = await connectChat(port, 'chunk')
      closing(t, nc, py)
      py.write('py') // sock.send(name.encode()): no newline
      await py.next(/^welcome py,/)
      await nc.next(/^py joined$/)
      py.write('hola desde python')
      t.equal(await nc.next(/^py: /), 'py: hola desde python') // read and relayed: the next write is another read
      py.write('¿qué tal?')
      t.equal(await nc.next(/^py: /), 'py: ¿qué tal?', 'each send is one message')
      py.write('one\ntwo\n')
      t.equal(await nc.next(/^py: /), 'py: one', 'a read with several lines is several messages')
      t.equal(await nc.next(/^py: /), 'py: two')
      nc.say('hola python')
      t.equal(await py.next(/^nc: /), 'nc: hola python', 'what the server sends is \\n-terminated lines')
      py.end()
      await nc.next(/^py left$/)

      // Auto framing: a line client's last line with no newline before its end of input still counts (`printf 'ana\nhi' | nc`).
      const pf = await connectChat(port, 'line')
      closing(t, pf)
      pf.write('printf\nlast words, no newline')
      await nc.next(/^printf joined$/)
      pf.end()
      t.equal(await nc.next(/^printf: /), 'printf: last words, no newline')
      await nc.next(/^printf left$/)
    })

    t.test('forced framing: --framing line waits for the newline; with none before the end, no message', async t => {
      const s = await chatServer(t, model, ['--framing', 'line'])
      const ana = await joinChat(s.port, 'ana')
      const py = await connectChat(s.port, 'chunk')
      closing(t, ana, py)
      py.write('py')
      await spaceOut()
      py.write('thon\n')
      t.match(await py.next(/^welcome /), /^welcome python, /, 'the first write was not a name on its own')
      py.write('par')
      await spaceOut()
      py.write('tial\n')
      t.equal(await ana.next(/^python: /), 'python: partial')

      // A name with no newline, then the end of input (`printf 'eve' | nc`): never a join.
      const eve = await connectChat(s.port, 'chunk')
      closing(t, eve)
      eve.write('eve')
      eve.end()
      await eve.closed()
      t.same(eve.lines(), [], 'nothing was said to it: it never named itself')
      // A last line with no newline (`printf 'bob\nbye' | nc`): that tail is not a message.
      const bob = await connectChat(s.port, 'chunk')
      closing(t, bob)
      bob.write('bob\nbye, with no newline')
      await ana.next(/^bob joined$/)
      bob.end()
      await ana.next(/^bob left$/)
      await ana.sync()
      t.same(ana.matching(/^(eve joined|bob: )/), [], 'neither unfinished line was taken as a message')
    })

    t.test('\\r\\n line endings', async t => {
      const ana = await joinChat(port, 'ana')
      const win = await connectChat(port)
      closing(t, ana, win)
      win.write('win\r\n')
      t.match(await win.next(/^welcome /), /^welcome win, /, 'the name has no \\r')
      win.write('hello\r\nsecond\r\n')
      t.equal(await ana.next(/^win: /), 'win: hello')
      t.equal(await ana.next(/^win: /), 'win: second')
      ana.say('/msg win hi')
      await win.next(/^ana \(private\): hi$/)
    })

    t.test('UTF-8 arrives intact when a character is split across reads', async t => {
      const ana = await joinChat(port, 'ana')
      const nc = await joinChat(port, 'ñc')
      const py = await joinChat(port, 'py', 'chunk')
      closing(t, ana, nc, py)
      const line = Buffer.from('señor 😀 ok\n')
      const cut1 = line.indexOf(0xc3) + 1 // inside ñ
      const cut2 = line.indexOf(0xf0) + 2 // inside the emoji
      nc.write(line.subarray(0, cut1))
      await spaceOut()
      nc.write(line.subarray(cut1, cut2))
      await spaceOut()
      nc.write(line.subarray(cut2))
      t.equal(await ana.next(/^ñc: /), 'ñc: señor 😀 ok', 'line client')

      // A chunk client: a read that ends inside a character waits for the rest.
      const word = Buffer.from('año😀')
      py.write(word.subarray(0, 2))
      await spaceOut()
      py.write(word.subarray(2, 6))
      await spaceOut()
      py.write(word.subarray(6))
      t.equal(await ana.next(/^py: /), 'py: año😀', 'chunk client')

      nc.write(Buffer.from([0x66, 0xff, 0xfe, 0x6f, 0xc3, 0x0a]))
      t.equal(await ana.next(/^ñc: /), 'ñc: f\uFFFD\uFFFDo\uFFFD', 'invalid UTF-8 becomes U+FFFD')
      nc.say('still here')
      t.equal(await ana.next(/^ñc: /), 'ñc: still here', 'and the server carries on')
    })

    t.test('an overlong line is refused: that client is told and closed, nobody else is affected', async t => {
      const ana = await joinChat(port, 'ana')
      const big = await joinChat(port, 'big')
      closing(t, ana, big)
      big.say('x'.repeat(MAX_LINE))
      t.equal((await ana.next(/^big: /)).length, 'big: '.length + MAX_LINE, 'a line of exactly the maximum passes')
      big.say('y'.repeat(MAX_LINE + 1))
      t.equal(await big.next(/^line too long/), `line too long (over ${MAX_LINE} bytes); closing the connection`)
      await big.closed()
      await ana.next(/^big left$/)
      t.same(ana.matching(/^big: y/), [], 'the overlong line was not relayed')

      // No newline at all: refused as soon as the pending bytes pass the limit.
      const flood = await joinChat(port, 'flood')
      closing(t, flood)
      await ana.next(/^flood joined$/)
      flood.write('z'.repeat(MAX_LINE + 100))
      await flood.next(/^line too long/)
      await flood.closed()
      await ana.next(/^flood left$/)

      const nameless = await connectChat(port)
      closing(t, nameless)
      nameless.write('w'.repeat(MAX_LINE + 1)) // before a name: the same
      await nameless.next(/^line too long/)
      await nameless.closed()

      const cid = await joinChat(port, 'cid')
      closing(t, cid)
      ana.say('/who')
      t.equal(await ana.next(/^here now/), 'here now (2): ana, cid', 'the others are still here')
      ana.say('still chatting')
      t.equal(await cid.next(/^ana: /), 'ana: still chatting')
    })

    t.test('a client that never reads is dropped; 20 others chatting still get everything', async t => {
      // Flood control off: the chatters send far above --max-rate on purpose, to fill the sleeper.
      const s = await chatServer(t, model, ['--max-outbuf', '65536', '--max-rate', '0', '--quiet'])
      const sleeper = await connect(s.port) // a socket nobody reads: no 'data' listener
      sleeper.on('error', () => {}) // it will be reset by the server
      t.teardown(() => sleeper.destroy())
      sleeper.write('sleeper\n')
      const chatters: ChatClient[] = []
      for (let i = 0; i < 20; i++) chatters.push(await joinChat(s.port, `c${i}`))
      closing(t, ...chatters)
      const rssBefore = rssBytes(s.child.pid!)

      // The sleeper's kernel buffers alone hold several MB (both ends autotune), so the chat goes
      // on, at a lively pace rather than in one burst, until the sleeper has been dropped.
      const body = 'm'.repeat(2000)
      const received = chatters.map(() => 0)
      // Counted as they arrive (only message lines end in "m\n"), including across chunk boundaries.
      chatters.forEach((c, i) => {
        let last = 0
        c.socket.on('data', (d: Buffer) => {
          if (last === 0x6d && d[0] === 0x0a) received[i]++
          for (let at = d.indexOf('m\n'); at !== -1; at = d.indexOf('m\n', at + 2)) received[i]++
          last = d[d.length - 1]
        })
      })
      const dropped = () => /dropping sleeper \(127\.0\.0\.1:\d+\): not reading/.test(s.stderr())
      let rounds = 0
      let roundsAfterDrop = 0
      while (roundsAfterDrop < 20 && rounds < 1500) {
        for (const c of chatters) c.say(`${rounds} ${body}`)
        rounds++
        if (dropped()) roundsAfterDrop++
        await sleep(5) // the pace of a lively chat (not one burst: healthy readers keep up); not a synchronisation
      }
      t.ok(dropped(), `the sleeper was dropped, with a log line (after ${rounds - roundsAfterDrop} rounds)`)
      const expected = rounds * (chatters.length - 1)
      // On a timeout the assertion below says who is missing what.
      await eventually(() => received.every(n => n >= expected), 'every message at every chatter', 20_000).catch(() => {})
      const drops = s.stderr().split('\n').filter(l => /dropping|left/.test(l)).join('; ')
      t.same(received, chatters.map(() => expected), `every chatter got all ${expected} messages of the others (server: ${drops})`)
      await chatters[0].next(/^sleeper left$/)
      const rssAfter = rssBytes(s.child.pid!)
      t.ok(rssAfter - rssBefore < 64 * 1024 * 1024, `server RSS stays bounded (${Math.round(rssBefore / 2 ** 20)} → ${Math.round(rssAfter / 2 ** 20)} MB)`)
    })

    t.test('200 clients at once: every message reaches every other client exactly once', async t => {
      const N = 200
      const clients = await Promise.all(Array.from({ length: N }, (_, i) => joinChat(port, `p${i}`, i % 2 ? 'chunk' : 'line')))
      closing(t, ...clients)
      clients.forEach((c, i) => c.say(`note from p${i}`))
      await Promise.all(
        clients.map(c =>
          c.got.until(() => c.matching(/^p\d+: note from p\d+$/).length >= N - 1, 'all notes', 30_000),
        ),
      )
      await Promise.all(clients.map(c => c.sync(30_000)))
      let exact = 0
      clients.forEach((c, i) => {
        const notes = c.matching(/^p\d+: note from p\d+$/)
        const senders = new Set(notes.map(l => l.split(':')[0]))
        const ok = notes.length === N - 1 && senders.size === N - 1 && !senders.has(`p${i}`) &&
          notes.every(l => l === `${l.split(':')[0]}: note from ${l.split(':')[0]}`)
        if (ok) exact++
      })
      t.equal(exact, N, `each of ${N} clients got ${N - 1} notes, one from each other client, none of its own`)
    })

    t.test('--max-clients: one more is told the server is full', { skip: oursOnly('chat', model, 'the peer has no --max-clients') }, async t => {
      const s = await chatServer(t, model, ['--max-clients', '2'])
      const a = await joinChat(s.port, 'a')
      const b = await connectChat(s.port)
      closing(t, a, b)
      const c = await connectChat(s.port)
      closing(t, c)
      t.equal(await c.next(/^server full/), 'server full (2 clients); try again later')
      await c.closed()
      // The log line may come after the refusal itself (threads log through the main thread).
      t.match(await s.waitForOutput(/refused 127\.0\.0\.1:\d+: server full/), /server full/)
      b.say('b')
      await a.next(/^b joined$/)
      b.end()
      await a.next(/^b left$/)
      // b's place is free once the server has seen it go (threads: once its thread is done).
      const { client: d, refusals } = await joinWhenServed(s.port, 'd')
      closing(t, d)
      await a.next(/^d joined$/)
      t.pass(`the place b left is taken by a newcomer (turned away ${refusals} times first)`)
    })

    t.test('a port in use and bad options: one clear line each', { skip: oursOnly('chat', model, 'our CLI\'s messages (test/peers.test.ts has the peers\')') }, async t => {
      const busy = spawnCli(['chat', '--model', model, '--port', String(port)])
      t.equal(await busy.exited, 1)
      t.match(busy.stderr(), /^selectloop: address already in use \(127\.0\.0\.1:\d+\)\n$/)
      const bad = spawnCli(['chat', '--model', model, '--max-name', '0'])
      t.equal(await bad.exited, 2)
      t.match(bad.stderr(), /^selectloop: --max-name must be between 1 and 1024, got 0\n/)
    })

    t.test('SIGTERM: everyone is told the server is closing, then it exits 0', async t => {
      const s = await startSubject('chat', model, ['--port', '0'])
      t.teardown(() => s.stop('SIGKILL'))
      const ana = await joinChat(s.port, 'ana')
      const nameless = await connectChat(s.port)
      closing(t, ana, nameless)
      await s.waitForOutput(new RegExp(`connect 127\\.0\\.0\\.1:${nameless.socket.localPort} \\(`)) // the server has it
      const code = await s.stop('SIGTERM')
      t.equal(code, 0, 'exit status 0')
      await ana.next(/^server closing$/)
      await nameless.next(/^server closing$/)
      await ana.closed()
      await nameless.closed()
    })
  })
}
