// The echo client against real echo server processes, typed into through stdin.
import t, { type Test } from 'tap'
import { freePort } from './helpers/net.js'
import { spawnCli, startServer } from './helpers/process.js'
import { lastLines, ptyUnavailable, spawnOnPty } from './helpers/pty.js'
import type { Screen } from './helpers/screen.js'

const MODELS = ['selector', 'threads', 'net']

function echoClient(t: Test, port: number) {
  const client = spawnCli(['client', 'echo', '--port', String(port)])
  t.teardown(() => client.stop('SIGKILL'))
  return client
}

for (const model of MODELS) {
  t.test(`client echo against echo --model ${model}`, async t => {
    const server = await startServer(['echo', '--model', model, '--port', '0'])
    t.teardown(() => server.stop())

    t.test('each typed line is echoed, marked `< `; salir leaves', async t => {
      const c = echoClient(t, server.port)
      c.write('hola\n')
      await c.waitForOutput(/^< hola\n/)
      c.write('ñandú 😀\n')
      await c.waitForOutput(/^< hola\n< ñandú 😀\n/)
      c.write('salir\nnever sent\n')
      t.equal(await c.exited, 0)
      t.equal(c.stdout(), '< hola\n< ñandú 😀\n', 'exactly the echoes, each marked, nothing after salir')
      t.match(c.stderr(), /^connected to 127\.0\.0\.1:\d+; type salir \(or bye\) to leave\n$/)
    })

    t.test('end of input leaves after the last echo has come back', async t => {
      const c = echoClient(t, server.port)
      const lines = Array.from({ length: 200 }, (_, i) => `line ${i} ${'x'.repeat(i)}`)
      c.write(lines.join('\n') + '\n')
      c.child.stdin.end()
      t.equal(await c.exited, 0)
      t.equal(c.stdout(), lines.map(l => `< ${l}\n`).join(''), 'every line echoed, in order, each marked once')
    })
  })
}

t.test('client echo: the server going away, and no server at all', async t => {
  const server = await startServer(['echo', '--port', '0'])
  t.teardown(() => server.stop())
  const c = echoClient(t, server.port)
  c.write('ping\n')
  await c.waitForOutput(/^< ping\n/)
  await server.stop('SIGTERM')
  t.equal(await c.exited, 1)
  t.equal(c.stderr().split('\n').slice(1).join('\n'), 'server closed the connection\n')

  const port = await freePort()
  const lonely = echoClient(t, port)
  t.equal(await lonely.exited, 1)
  t.equal(lonely.stderr(), `cannot connect to 127.0.0.1:${port}: connection refused\n`)
})

t.test('client echo on a terminal: `> ` what you type, `< ` what came back', { skip: ptyUnavailable() ?? false }, async t => {
  const server = await startServer(['echo', '--port', '0'])
  t.teardown(() => server.stop())
  const c = spawnOnPty(['client', 'echo', '--port', String(server.port)], 40, 12)
  t.teardown(() => c.kill())
  const endsWith = (...lines: string[]) => (s: Screen) => JSON.stringify(lastLines(s, lines.length)) === JSON.stringify(lines)
  await c.waitFor('the prompt', endsWith('>'))
  c.type('uno\rdos') // the echo of uno comes back while dos is being typed
  await c.waitFor('the echo above the line being typed', endsWith('> uno', '< uno', '> dos'))
  t.equal(c.screen.cursor()[1], '> dos'.length, 'the cursor after dos')
  c.type('\r')
  await c.waitFor('the second echo', endsWith('> uno', '< uno', '> dos', '< dos', '>'))
  c.type('salir\r')
  t.equal(await c.exited, 0, 'salir leaves, exit 0')
  t.notOk(c.screen.all().includes('< salir'), 'the quit word is not sent')
})
