// The operator console and the chat client, driven as a person would: real processes, typing on
// their stdin and reading their stdout.
import t, { type Test } from 'tap'
import { freePort } from './helpers/net.js'
import { spawnCli, startServer } from './helpers/process.js'
import { joinChat } from './helpers/chat.js'
import { lastLines, ptyUnavailable, spawnOnPty, type PtyProcess } from './helpers/pty.js'
import type { Screen } from './helpers/screen.js'
import net from 'node:net'
import { once } from 'node:events'

const MODELS = ['selector', 'threads']

function chatClient(t: Test, port: number, ...extra: string[]) {
  const client = spawnCli(['client', 'chat', '--port', String(port), ...extra])
  t.teardown(() => client.stop('SIGKILL'))
  return client
}

for (const model of MODELS) {
  t.test(`operator console and chat clients (${model})`, async t => {
    const server = await startServer(['chat', '--model', model, '--port', '0'])
    t.teardown(() => server.stop())

    const ana = chatClient(t, server.port, '--name', 'ana')
    await ana.waitForOutput(/^welcome ana, 1 here now/m)

    t.test('the operator speaks: every client shows [server] ...', async () => {
      server.write('hello from the operator\n')
      await ana.waitForOutput(/^\[server\] hello from the operator$/m)
    })

    t.test('a client types: the operator sees it on the server stdout', async () => {
      ana.write('hi operator, ñandú 😀\n')
      await server.waitForOutput(/^ana: hi operator, ñandú 😀$/m)
    })

    t.test('a client with no --name is asked for one', async t => {
      const bob = chatClient(t, server.port)
      await bob.waitForOutput(/your name: /)
      bob.write('bob\n')
      await bob.waitForOutput(/welcome bob, 2 here now/)
      await ana.waitForOutput(/^bob joined$/m)
      await server.waitForOutput(/^bob joined$/m)

      server.write('/who\n')
      await server.waitForOutput(/^here now \(2\): ana, bob$/m)
      server.write('/msg bob only for you\n')
      await bob.waitForOutput(/^\[server\] \(private\): only for you$/m)
      await server.waitForOutput(/^sent to bob$/m)
      server.write('/msg nobody x\n')
      await server.waitForOutput(/^no one called nobody is here$/m)
      server.write('/frobnicate\n')
      await server.waitForOutput(/^operator commands: /m)

      server.write('/kick bob\n')
      await server.waitForOutput(/^kicked bob$/m)
      await bob.waitForOutput(/^you were removed from the chat by the operator$/m)
      await ana.waitForOutput(/^bob left$/m)
      t.equal(await bob.exited, 1, 'the kicked client exits 1')
      t.match(bob.stderr(), /server closed the connection/)
      t.notMatch(ana.stdout(), /only for you/, 'the private message went to bob only')
    })

    t.test('a refused name: the client shows why and asks again', async t => {
      const taken = chatClient(t, server.port, '--name', 'ANA')
      await taken.waitForOutput(/^name refused: the name ANA is taken; try another name\nyour name: $/m)
      taken.write('zoe\n')
      await taken.waitForOutput(/welcome zoe, 2 here now/)
      await ana.waitForOutput(/^zoe joined$/m)
      taken.write('salir\n')
      t.equal(await taken.exited, 0)
      t.equal(
        taken.stdout().split('\n').slice(0, 2).join('\n'),
        'name refused: the name ANA is taken; try another name\nyour name: welcome zoe, 2 here now; /who lists who is here, /msg NAME text speaks to one person, salir (or bye, /quit) leaves',
        'the refusal, then the question again, then the welcome: nothing else',
      )
      await ana.waitForOutput(/^zoe left$/m)
    })

    t.test('salir, and the end of input, leave cleanly: the others see `left`', async t => {
      const carol = await joinChat(server.port, 'carol')
      t.teardown(() => carol.socket.destroy())
      ana.write('salir\n')
      await carol.next(/^ana left$/)
      t.equal(await ana.exited, 0, 'salir: exit 0')
      t.notMatch(ana.stderr(), /server closed/, 'no complaint when leaving on purpose')

      const dave = chatClient(t, server.port, '--name', 'dave')
      await carol.next(/^dave joined$/)
      dave.write('last words\n')
      dave.child.stdin.end() // Ctrl-D
      t.equal(await carol.next(/^dave: /), 'dave: last words')
      await carol.next(/^dave left$/)
      t.equal(await dave.exited, 0, 'end of input: exit 0')
      await carol.sync()
      t.same(carol.matching(/^dave: salir$/), [], 'the quit word it sends is not relayed as a message')
    })

    t.test('the console closing (EOF) does not stop the server', async t => {
      server.child.stdin.end()
      await server.waitForOutput(/operator console closed \(end of input\); still serving/)
      const erin = await joinChat(server.port, 'erin')
      t.teardown(() => erin.socket.destroy())
      erin.say('/who')
      t.match(await erin.next(/^here now/), /erin/)
    })

    t.test('the server going away: the client says so and exits 1', async t => {
      const fred = chatClient(t, server.port, '--name', 'fred')
      await fred.waitForOutput(/welcome fred/)
      t.equal(await server.stop('SIGTERM'), 0, 'the server exits 0 on SIGTERM')
      await fred.waitForOutput(/^server closing$/m)
      t.equal(await fred.exited, 1)
      t.match(fred.stderr(), /^server closed the connection$/m)
    })
  })
}

t.test('the chat client with no server: a clear message, exit 1', async t => {
  const port = await freePort()
  const client = chatClient(t, port, '--name', 'ana')
  t.equal(await client.exited, 1)
  t.equal(client.stderr(), `cannot connect to 127.0.0.1:${port}: connection refused\n`, 'one line, no stack trace')
})

t.test('bad client arguments: one line of usage error, exit 2', async t => {
  const client = spawnCli(['client', 'irc'])
  t.equal(await client.exited, 2)
  t.match(client.stderr(), /^selectloop: unknown client 'irc' \(chat or echo\)/)
  const noPort = spawnCli(['client', 'chat', '--port', 'x'])
  t.equal(await noPort.exited, 2)
  t.match(noPort.stderr(), /--port must be an integer/)
})

// On a real terminal (a pseudo-terminal): what arrives while you type never splices into your line.
const noPty = ptyUnavailable()

function ptyClient(t: Test, args: string[], cols = 40, rows = 12): PtyProcess {
  const p = spawnOnPty(['client', ...args], cols, rows)
  t.teardown(() => p.kill())
  return p
}

/** The screen ends with these lines (the prompt's trailing space is trimmed like any other). */
const endsWith = (...lines: string[]) => (s: Screen) => JSON.stringify(lastLines(s, lines.length)) === JSON.stringify(lines)

/**
 * The cursor is at [row, column]. Waited for together with the text: the client's redraw can
 * reach the screen in more than one read, the text before the cursor's move back.
 */
const atCursor = (s: Screen, [row, column]: [number, number]) => s.cursor()[0] === row && s.cursor()[1] === column

/** `text` as a terminal `cols` wide shows it: cut every `cols` characters. */
const wrap = (text: string, cols: number) => Array.from({ length: Math.ceil(text.length / cols) }, (_, i) => text.slice(i * cols, (i + 1) * cols).trimEnd())

t.test('client chat on a terminal', { skip: noPty ?? false }, async t => {
  const server = await startServer(['chat', '--port', '0'])
  t.teardown(() => server.stop())
  const carol = await joinChat(server.port, 'carol')
  t.teardown(() => carol.socket.destroy())
  const ana = ptyClient(t, ['chat', '--port', String(server.port)])

  await ana.waitFor('the name prompt', endsWith('your name:'))
  ana.type('carol\r')
  const refusal = wrap('name refused: the name carol is taken; try another name', 40)
  await ana.waitFor('the refusal and the prompt again, the cursor after it', s => endsWith('your name: carol', ...refusal, 'your name:')(s) && s.cursor()[1] === 'your name: '.length)
  ana.type('ana\r')
  await carol.next(/^ana joined$/)
  await ana.waitFor('the chat prompt', endsWith('> '.trimEnd()))

  ana.type('hello wor')
  await ana.waitFor('the half-typed line', endsWith('> hello wor'))
  carol.say('hi ana')
  await ana.waitFor('the message above the line being typed, the cursor back at its end', s => endsWith('carol: hi ana', '> hello wor')(s) && s.cursor()[1] === '> hello wor'.length)
  t.notOk(ana.screen.all().some(l => /hello wor.*carol|carol.*hello/.test(l)), 'no message spliced into the typing')
  ana.type('ld\r')
  t.equal(await carol.next(/^ana: /), 'ana: hello world', 'the line went out whole')

  // A line longer than the terminal is wide (pasted: one write), the cursor moved back into it.
  const long = 'y'.repeat(50)
  ana.type(long)
  await ana.waitFor('the long line, wrapped', endsWith(`> ${'y'.repeat(38)}`, 'y'.repeat(12)))
  carol.say('one')
  await ana.waitFor('a message above the wrapped line, the cursor back at its end', s => endsWith('carol: one', `> ${'y'.repeat(38)}`, 'y'.repeat(12))(s) && atCursor(s, [11, 12]))
  for (let i = 0; i < 20; i++) {
    ana.type('\x1b[D') // one key at a time, as a person types: the cursor goes back to the first row
    await ana.waitFor(`the cursor ${i + 1} left`, s => s.cursor()[1] === (i < 12 ? 11 - i : 40 - (i - 11)))
  }
  carol.say('two')
  await ana.waitFor('a message, the cursor back on the first row', s => endsWith('carol: one', 'carol: two', `> ${'y'.repeat(38)}`, 'y'.repeat(12))(s) && atCursor(s, [10, 32]))
  ana.type('Z\r')
  t.equal(await carol.next(/^ana: /), `ana: ${'y'.repeat(30)}Z${'y'.repeat(20)}`, 'typed at the cursor, sent whole')

  ana.type('\x04') // Ctrl-D on an empty line
  t.equal(await ana.exited, 0, 'Ctrl-D leaves, exit 0')
  await carol.next(/^ana left$/)
})

t.test('client chat on a terminal against any line server: partial lines, control characters, Ctrl-C', { skip: noPty ?? false }, async t => {
  // A server of our own making that sends what a chat server might: a line in two pieces, an escape sequence.
  const sockets: net.Socket[] = []
  const received: string[] = []
  const server = net.createServer(s => {
    sockets.push(s)
    s.setEncoding('utf8').on('data', (d: string) => received.push(d))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    sockets.forEach(s => s.destroy())
    server.close()
  })
  const port = (server.address() as net.AddressInfo).port
  const ana = ptyClient(t, ['chat', '--port', String(port), '--name', 'ana'])
  await ana.waitFor('the prompt', endsWith('>'))
  const [peer] = sockets
  ana.type('abc')
  await ana.waitFor('typing', endsWith('> abc'))
  peer.write('half a li')
  await ana.waitFor('the partial line before the prompt', endsWith('half a li> abc'))
  peer.write('ne\r\n\x1b[2J\x07beep\n')
  await ana.waitFor('the line completed, control characters shown as U+FFFD', endsWith('half a line', '\uFFFD[2J\uFFFDbeep', '> abc'))
  peer.write('x'.repeat(5010)) // no newline, ever: not a prompt that grows without end
  await ana.waitFor('a long unfinished line shown as lines of its own', endsWith('x'.repeat(10), '> abc'))
  ana.type('\x03') // Ctrl-C: leaves as a quit word would; what was typed is not sent
  t.equal(await ana.exited, 0, 'Ctrl-C leaves cleanly')
  t.equal(received.join(''), 'ana\nsalir\n', 'the name, then the quit word: not the half-typed abc')
  t.notOk(ana.screen.all().some(l => l.includes('abc')), 'the unsent line is taken off the screen')
})
