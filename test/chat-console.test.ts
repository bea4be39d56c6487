// The operator console and the chat client, driven as a person would: real processes, typing on
// their stdin and reading their stdout.
import t, { type Test } from 'tap'
import { freePort } from './helpers/net.js'
import { spawnCli, startServer } from './helpers/process.js'
import { joinChat } from './helpers/chat.js'

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
