// The thread cap of `echo --model threads`, on a real server process: beyond --max-threads a
// client is told so and closed, the clients already in keep being served, the server keeps
// running, and once a client leaves a new one is served.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import type net from 'node:net'
import { CLI, startServer, type ServerProcess } from './helpers/process.js'
import { Collector, connect } from './helpers/net.js'

const REFUSAL = /^server busy: thread limit \(3\) reached\n$/

interface Client {
  socket: net.Socket
  rx: Collector
}

async function client(port: number): Promise<Client> {
  const socket = await connect(port)
  return { socket, rx: new Collector(socket) }
}

/** Sends a line and waits for everything received so far to end with it (an echo). */
async function echoes(c: Client, line: string): Promise<void> {
  const before = c.rx.length
  c.socket.write(line)
  await c.rx.bytes(before + line.length, 10_000)
}

/** Connects until the server serves the client (a finished thread may take a moment to exit). */
async function servedClient(port: number, t: Test): Promise<Client> {
  for (let attempt = 1; attempt <= 50; attempt++) {
    const c = await client(port)
    c.socket.write('ping\n')
    await c.rx.until(() => c.rx.length >= 5 || c.rx.ended, 'an echo or a refusal', 10_000)
    if (c.rx.text() === 'ping\n') {
      t.pass(`served after ${attempt} attempt(s)`)
      return c
    }
    t.match(c.rx.text(), REFUSAL, 'a refusal is the only other answer')
    c.socket.destroy()
    await new Promise(r => setTimeout(r, 50))
  }
  throw new Error('never served')
}

async function capScenario(t: Test, extraArgs: string[]): Promise<void> {
  const server: ServerProcess = await startServer(['echo', '--model', 'threads', '--max-threads', '3', '--port', '0', ...extraArgs])
  t.teardown(() => server.stop('SIGKILL'))

  const inside = await Promise.all([1, 2, 3].map(() => client(server.port)))
  for (const [i, c] of inside.entries()) await echoes(c, `hello from client ${i + 1}\n`)

  // The fourth: told why, then closed by the server.
  const fourth = await client(server.port)
  await fourth.rx.end(10_000)
  t.match(fourth.rx.text(), REFUSAL, 'the 4th client gets the refusal line')
  t.notOk(fourth.rx.error, 'a clean close, not a reset')
  await server.waitForOutput(/refused 127\.0\.0\.1:\d+: thread limit \(3\) reached/)
  fourth.socket.destroy()

  // The three inside are still echoed, byte for byte, including a larger payload.
  const big = 'x'.repeat(200_000) + '\n'
  for (const [i, c] of inside.entries()) await echoes(c, i === 0 ? big : `still here ${i + 1}\n`)
  t.equal(inside[1].rx.text(), 'hello from client 2\nstill here 2\n', 'client 2 got exactly its echoes')

  // One leaves (half-close: it still gets the end of its echo), then a newcomer is served.
  inside[0].socket.end()
  await inside[0].rx.end(10_000)
  t.equal(inside[0].rx.length, 'hello from client 1\n'.length + big.length, 'the leaver got every byte back')
  const newcomer = await servedClient(server.port, t)
  await echoes(newcomer, 'and more\n')
  t.equal(newcomer.rx.text(), 'ping\nand more\n')
  await echoes(inside[2], 'third, last\n')

  for (const c of [newcomer, inside[1], inside[2]]) c.socket.end()
  const code = await server.stop('SIGTERM')
  t.equal(code, 0, 'stops cleanly on SIGTERM')
}

t.test('a thread per connection up to --max-threads; the next client is refused, the server goes on', async t => {
  await capScenario(t, [])
})

t.test('the same with a pool of parked threads (--pool 3)', async t => {
  await capScenario(t, ['--pool', '3'])
})

t.test('bad thread options are usage errors', async t => {
  for (const [args, re] of [
    [['--max-threads', '0'], /--max-threads must be between 1 and/],
    [['--max-threads', 'lots'], /--max-threads must be an integer/],
    [['--max-threads', '2', '--pool', '3'], /--pool \(3\) cannot exceed --max-threads \(2\)/],
  ] as const) {
    const r = spawnSync(process.execPath, [CLI, 'echo', '--model', 'threads', '--port', '0', ...args], { encoding: 'utf8', timeout: 10_000 })
    t.equal(r.status, 2, `${args.join(' ')}: exit status 2`)
    t.match(r.stderr, re)
  }
})
