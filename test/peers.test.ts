// The reference servers of peers/ as programs: their command lines, their stops, and what they do
// when descriptors run out. What they serve (the echo and chat protocols) is tested by the
// behaviour suites, where they run beside our models (echo, chat, faults-echo, faults-chat).
import t from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { execFile } from 'node:child_process'
import { PEERS, PYTHON, isPeer, peerCommand, peerNames, peerScript, pythonExecutable, type PeerProtocol } from '../bench/peers.js'
import { startCommandServer } from './helpers/process.js'
import { Collector, connect, patternBytes } from './helpers/net.js'
import { joinChat } from './helpers/chat.js'
import { requireCommand } from './helpers/system.js'

const ALL = (Object.keys(PEERS) as PeerProtocol[]).flatMap(protocol => peerNames(protocol).map(name => ({ protocol, name })))

t.test('the table of reference servers', async t => {
  t.same(peerNames('echo'), ['py-threads', 'py-selectors'])
  t.same(peerNames('chat'), ['py-threads'])
  t.ok(isPeer('echo', 'py-selectors') && !isPeer('chat', 'py-selectors') && !isPeer('echo', 'selector'), 'peers are per protocol, never our models')
  t.match(peerScript('chat', 'py-threads'), /\/peers\/chat_threads\.py$/)
  t.same(peerCommand('echo', 'py-threads', ['--port', '0']), [pythonExecutable(), peerScript('echo', 'py-threads'), '--port', '0'])
  t.throws(() => peerScript('echo', 'selector'), /no reference echo server called selector \(py-threads, py-selectors\)/)
})

t.test('command lines: help, bad options, a port in use, an address not here', async t => {
  if (!requireCommand(t, PYTHON, 'the reference servers of peers/')) return
  const blocker = net.createServer().listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  t.teardown(() => blocker.close())
  const busy = (blocker.address() as net.AddressInfo).port
  // All at once: each is a Python start (slow on a busy machine), and none depends on another.
  const run = (script: string, ...args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>(resolve => {
      execFile(pythonExecutable(), [script, ...args], { encoding: 'utf8', timeout: 15_000 }, (err, stdout, stderr) =>
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr }),
      )
    })
  await Promise.all(
    ALL.map(async ({ protocol, name }) => {
      const path = peerScript(protocol, name)
      const script = path.split('/').at(-1)!
      const [help, bad, inUse, away] = await Promise.all([
        run(path, '--help'),
        run(path, '--port', 'eighty'),
        run(path, '--port', String(busy)),
        run(path, '--host', '192.0.2.1', '--port', '0'),
      ])
      t.equal(help.status, 0, `${script} --help: exit 0`)
      t.match(help.stdout, /--host HOST.*--port PORT/s, `${script} --help: names its options`)
      t.equal(bad.status, 2, `${script} --port eighty: exit 2`)
      t.match(bad.stderr, /argument --port: must be an integer, got 'eighty'\n$/, `${script} --port eighty: says why`)
      t.equal(inUse.status, 1, `${script}: a port in use exits 1`)
      t.equal(inUse.stderr, `${script}: cannot listen on 127.0.0.1:${busy}: Address already in use\n`, `${script}: one line, no traceback`)
      t.equal(away.status, 1, `${script}: an address not on this machine exits 1`)
      t.equal(away.stderr, `${script}: cannot listen on 192.0.2.1:0: Cannot assign requested address\n`, `${script}: one line`)
    }),
  )
})

// SIGTERM with clients connected is the behaviour suites' (echo, chat): SIGINT is the same stop.
t.test('SIGINT (Ctrl-C): a clean stop, exit 0', async t => {
  if (!requireCommand(t, PYTHON, 'the reference servers of peers/')) return
  for (const { protocol, name } of ALL) {
    const server = await startCommandServer(peerCommand(protocol, name, ['--port', '0']))
    t.teardown(() => server.stop('SIGKILL'))
    const client = await connect(server.port)
    const got = new Collector(client)
    if (protocol === 'echo') {
      client.end('ping') // a finished client: its echo, then the server closes it
      await got.end()
      t.equal(got.text(), 'ping')
    } else {
      client.write('ana\n') // a member still here: told goodbye
      await got.match(/^welcome ana,/)
    }
    t.equal(await server.stop('SIGINT'), 0, `${name} ${protocol}: SIGINT → exit 0`)
    t.match(server.stderr(), /SIGINT: shutting down/, 'and says so')
    await got.end()
    if (protocol === 'chat') t.match(got.text(), /\nserver closing\n$/, 'the chat says goodbye last')
    client.destroy()
  }
})

for (const name of peerNames('echo')) {
  t.test(`echo ${name} out of descriptors (ulimit -n 32): those in are served, accepting rests, then recovers`, async t => {
    if (!requireCommand(t, PYTHON, 'the reference servers of peers/')) return
    const server = await startCommandServer(peerCommand('echo', name, ['--port', '0', '--quiet']), {
      wrapper: ['bash', '-c', 'ulimit -n 32 && exec "$@"', 'bash'],
    })
    t.teardown(() => server.stop('SIGKILL'))
    const first = await connect(server.port)
    const firstGot = new Collector(first)
    const flood: net.Socket[] = []
    for (let i = 0; i < 40; i++) flood.push(net.connect(server.port, '127.0.0.1').on('error', () => {}))
    t.teardown(() => flood.forEach(s => s.destroy()))
    await server.waitForOutput(/accept failed: EMFILE; accepting again in 0\.1 s/)
    const payload = patternBytes(32 * 1024, 7)
    first.write(payload)
    await firstGot.bytes(payload.length)
    t.ok(firstGot.buffer().equals(payload), 'a client already in is still echoed exactly')
    // Resting between tries: a few log lines a second at most, not one per select() round.
    const lines = () => server.stderr().split('\n').filter(l => l.includes('accept failed')).length
    const before = lines()
    await new Promise(r => setTimeout(r, 500)) // a measured interval, not a synchronisation
    t.ok(lines() - before <= 10, `${lines() - before} accept errors logged in 0.5 s`)
    flood.forEach(s => s.destroy())
    first.destroy()
    // Once the flood is gone (closed in the backlog or served and closed), a newcomer is echoed.
    const again = await connect(server.port)
    const againGot = new Collector(again)
    again.write('back')
    await againGot.bytes(4, 15_000)
    t.equal(againGot.text(), 'back', 'served again')
    again.destroy()
  })
}

t.test('chat py-threads out of descriptors (ulimit -n 40): the members keep chatting, then a newcomer joins', async t => {
  if (!requireCommand(t, PYTHON, 'the reference servers of peers/')) return
  const server = await startCommandServer(peerCommand('chat', 'py-threads', ['--port', '0', '--quiet']), {
    wrapper: ['bash', '-c', 'ulimit -n 40 && exec "$@"', 'bash'],
  })
  t.teardown(() => server.stop('SIGKILL'))
  const ana = await joinChat(server.port, 'ana')
  const bob = await joinChat(server.port, 'bob')
  t.teardown(() => [ana, bob].forEach(c => c.socket.destroy()))
  const flood: net.Socket[] = []
  for (let i = 0; i < 50; i++) flood.push(net.connect(server.port, '127.0.0.1').on('error', () => {}))
  t.teardown(() => flood.forEach(s => s.destroy()))
  await server.waitForOutput(/accept failed: EMFILE; accepting again in 0\.1 s/)
  ana.say('still here')
  t.equal(await bob.next(/^ana: /), 'ana: still here', 'the members are still served')
  flood.forEach(s => s.destroy())
  const cid = await joinChat(server.port, 'cid')
  t.teardown(() => cid.socket.destroy())
  await ana.next(/^cid joined$/)
  t.pass('and a newcomer joins once descriptors are free')
})
