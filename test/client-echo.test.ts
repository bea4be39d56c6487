// The echo client against real echo server processes, typed into through stdin.
import t, { type Test } from 'tap'
import { freePort } from './helpers/net.js'
import { spawnCli, startServer } from './helpers/process.js'

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

    t.test('each typed line is echoed; salir leaves', async t => {
      const c = echoClient(t, server.port)
      c.write('hola\n')
      await c.waitForOutput(/^hola\n/)
      c.write('ñandú 😀\n')
      await c.waitForOutput(/^hola\nñandú 😀\n/)
      c.write('salir\nnever sent\n')
      t.equal(await c.exited, 0)
      t.equal(c.stdout(), 'hola\nñandú 😀\n', 'exactly the echoes, nothing after salir')
      t.match(c.stderr(), /^connected to 127\.0\.0\.1:\d+; type salir \(or bye\) to leave\n$/)
    })

    t.test('end of input leaves after the last echo has come back', async t => {
      const c = echoClient(t, server.port)
      const lines = Array.from({ length: 200 }, (_, i) => `line ${i} ${'x'.repeat(i)}`)
      c.write(lines.join('\n') + '\n')
      c.child.stdin.end()
      t.equal(await c.exited, 0)
      t.equal(c.stdout(), lines.join('\n') + '\n', 'every line echoed, in order')
    })
  })
}

t.test('client echo: the server going away, and no server at all', async t => {
  const server = await startServer(['echo', '--port', '0'])
  t.teardown(() => server.stop())
  const c = echoClient(t, server.port)
  c.write('ping\n')
  await c.waitForOutput(/^ping\n/)
  await server.stop('SIGTERM')
  t.equal(await c.exited, 1)
  t.equal(c.stderr().split('\n').slice(1).join('\n'), 'server closed the connection\n')

  const port = await freePort()
  const lonely = echoClient(t, port)
  t.equal(await lonely.exited, 1)
  t.equal(lonely.stderr(), `cannot connect to 127.0.0.1:${port}: connection refused\n`)
})
