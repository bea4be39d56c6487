// Every server over TLS, as a real process: echo (selector, threads, net) byte-exact from 1 B to
// several MB and with many clients at once; chat (selector, threads) with line and chunk clients;
// the certificate's fingerprint on stderr; the clients' verification (--ca, --insecure, neither);
// --workers sharing the primary's one certificate; --web beside --tls (plain HTTP, its browser
// chat bridged to the chat over TLS).
import t, { type Test } from 'tap'
import { once } from 'node:events'
import type tls from 'node:tls'
import { existsSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { spawnCli, startServer, type ServerProcess } from './helpers/process.js'
import { Collector, patternBytes } from './helpers/net.js'
import { ChatClient, eventually } from './helpers/chat.js'
import { Feed, openSocket, startWithWeb, upgradeOutcome } from './helpers/web.js'
import { testCertificate, tlsPeer } from './helpers/tls.js'

const cert = testCertificate()
const TLS_ARGS = ['--tls', '--cert', cert.certFile, '--key', cert.keyFile]

/** Sends `payload` over TLS (with backpressure), then half-closes; resolves with all echoed bytes. */
async function echoRoundTrip(port: number, payload: Buffer, timeoutMs = 30_000): Promise<Buffer> {
  const socket = await tlsPeer(port)
  const got = new Collector(socket)
  for (let off = 0; off < payload.length; off += 256 * 1024) {
    if (!socket.write(payload.subarray(off, off + 256 * 1024))) await once(socket, 'drain')
  }
  socket.end()
  await got.end(timeoutMs)
  socket.destroy()
  return got.buffer()
}

for (const model of ['selector', 'threads', 'net']) {
  t.test(`echo --model ${model} --tls`, async t => {
    const server = await startServer(['echo', '--model', model, '--port', '0', '--quiet', ...TLS_ARGS])
    t.teardown(() => server.stop('SIGKILL'))

    t.test('prints the certificate and its SHA-256 fingerprint on stderr', async t => {
      await server.waitForOutput(/SHA-256 fingerprint/)
      t.match(server.stderr(), `tls: SHA-256 fingerprint ${cert.fingerprint}`)
      t.match(server.stderr(), `certificate ${cert.certFile}`)
    })

    t.test('byte-exact echo from 1 B to several MB', async t => {
      for (const size of [1, 7, 16_384, 16_385, 65_537, 1_000_000, 4 * 1024 * 1024]) {
        const payload = patternBytes(size, size)
        const echoed = await echoRoundTrip(server.port, payload)
        t.equal(echoed.length, size, `${size} B: length`)
        t.ok(echoed.equals(payload), `${size} B: every byte`)
      }
    })

    t.test('100 concurrent TLS clients, each echoed exactly', async t => {
      const clients = await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          const payload = patternBytes(1000 + i * 53, i + 1)
          return { payload, echoed: await echoRoundTrip(server.port, payload) }
        }),
      )
      t.equal(clients.filter(c => !c.echoed.equals(c.payload)).length, 0, 'no client got anything but its own bytes')
    })

    t.test('half-close: everything sent before our close_notify is echoed, then the server ends', async t => {
      const socket = await tlsPeer(server.port)
      const got = new Collector(socket)
      const payload = patternBytes(300_000, 77)
      socket.end(payload)
      await got.end()
      t.ok(got.buffer().equals(payload))
      socket.destroy()
    })
  })
}

async function chatServer(t: Test, model: string): Promise<ServerProcess> {
  const server = await startServer(['chat', '--model', model, '--port', '0', '--no-console', ...TLS_ARGS])
  t.teardown(() => server.stop())
  return server
}

async function joinTls(t: Test, port: number, name: string, style: 'line' | 'chunk'): Promise<ChatClient> {
  const client = new ChatClient(await tlsPeer(port), style)
  t.teardown(() => client.socket.destroy())
  client.say(name)
  await client.next(new RegExp(`^welcome ${name},`))
  return client
}

for (const model of ['selector', 'threads']) {
  t.test(`chat --model ${model} --tls: line and chunk clients`, async t => {
    const server = await chatServer(t, model)
    const ana = await joinTls(t, server.port, 'ana', 'line')
    const py = await joinTls(t, server.port, 'py', 'chunk')
    await ana.next(/^py joined$/)
    ana.say('hola python')
    t.equal(await py.next(/^ana: /), 'ana: hola python', 'a line client reaches a chunk client')
    py.say('hola desde python')
    t.equal(await ana.next(/^py: /), 'py: hola desde python', 'a chunk client reaches a line client')
    py.say('¿qué tal?')
    t.equal(await ana.next(/^py: /), 'py: ¿qué tal?', 'each send is one message, decrypted as it was sent')
    const big = 'x'.repeat(3000)
    ana.say(big)
    t.equal(await py.next(/^ana: x/), `ana: ${big}`, 'a long line arrives whole')
    py.socket.end()
    await ana.next(/^py left$/)
    ana.say('salir')
    await ana.got.end()
    t.pass('ana left cleanly')
  })
}

t.test('client chat|echo --tls: verified with --ca, refused without, accepted with --insecure (fingerprint shown)', async t => {
  // A self-signed certificate made by the server itself: its fingerprint is the one to compare.
  const echo = await startServer(['echo', '--port', '0', '--tls'])
  t.teardown(() => echo.stop())
  const fingerprint = (await echo.waitForOutput(/SHA-256 fingerprint [0-9A-F:]+/)).split(' ').pop()!
  t.match(echo.stderr(), /a self-signed certificate made now, for DNS:localhost, IP Address:127\.0\.0\.1/)

  const run = async (args: string[], input: string) => {
    const c = spawnCli(['client', 'echo', '--port', String(echo.port), ...args])
    c.write(input)
    c.child.stdin.end()
    return { code: await c.exited, out: c.stdout(), err: c.stderr() }
  }
  const untrusted = await run(['--tls'], 'hola\n')
  t.equal(untrusted.code, 1, 'the default verifies: a self-signed certificate is refused')
  t.match(untrusted.err, /cannot connect to 127\.0\.0\.1:\d+: the server's certificate is not trusted \(self-signed\?\): give --ca FILE/)
  const insecure = await run(['--tls', '--insecure'], 'hola\n')
  t.equal(insecure.code, 0)
  t.equal(insecure.out, '< hola\n')
  t.match(insecure.err, `server certificate SHA-256 ${fingerprint}, NOT verified (--insecure)`, 'the fingerprint to compare')

  const chat = await chatServer(t, 'selector')
  const c = spawnCli(['client', 'chat', '--port', String(chat.port), '--tls', '--ca', cert.certFile, '--name', 'cli'])
  t.teardown(() => c.stop())
  const ana = await joinTls(t, chat.port, 'ana', 'line')
  await ana.next(/^cli joined$/)
  c.write('hola ana\n')
  t.equal(await ana.next(/^cli: /), 'cli: hola ana')
  ana.say('hola cli')
  await c.waitForOutput(/ana: hola cli/)
  t.match(c.stderr(), `server certificate SHA-256 ${cert.fingerprint}, verified`)
  c.child.stdin.end()
  t.equal(await c.exited, 0)
})

t.test('echo --workers 2 --tls: the primary makes one certificate, every worker shows it', async t => {
  const server = await startServer(['echo', '--port', '0', '--workers', '2', '--tls'])
  t.teardown(() => server.stop())
  await server.waitForOutput(/workers ready/)
  const printed = /SHA-256 fingerprint ([0-9A-F:]+)/.exec(server.stderr())![1]
  t.equal(server.stderr().match(/SHA-256 fingerprint/g)?.length, 1, 'said once, by the primary')
  // Round-robin: two connections in a row land on the two workers (read from their log lines).
  const seen: Array<{ worker: string; fingerprint: string }> = []
  const peers: tls.TLSSocket[] = []
  t.teardown(() => peers.forEach(p => p.destroy()))
  for (let i = 0; i < 2; i++) {
    const peer = await tlsPeer(server.port, { rejectUnauthorized: false })
    peers.push(peer)
    const line = await server.waitForOutput(new RegExp(`\\[w(\\d)\\] connect 127\\.0\\.0\\.1:${peer.localPort} `))
    seen.push({ worker: /\[w(\d)\]/.exec(line)![1], fingerprint: peer.getPeerCertificate().fingerprint256 })
    const got = new Collector(peer)
    peer.write(patternBytes(10_000, i))
    await got.bytes(10_000)
    t.ok(got.buffer().equals(patternBytes(10_000, i)), `worker ${seen[i].worker}: echoed over TLS`)
  }
  t.not(seen[0].worker, seen[1].worker, `two workers (${seen.map(s => s.worker)})`)
  t.same(
    seen.map(s => s.fingerprint),
    [printed, printed],
    'one fingerprint, the one printed',
  )
  // The workers were given the primary's files: readable by this user only, gone with the primary.
  const pid = Number(/workers ready \(pids (\d+)/.exec(server.stderr())![1])
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
  const keyFile = argv[argv.lastIndexOf('--key') + 1]
  t.equal(statSync(keyFile).mode & 0o777, 0o600, `the key a worker loads (${keyFile}) is this user's alone`)
  peers.forEach(p => p.end())
  t.equal(await server.stop(), 0)
  t.notOk(existsSync(path.dirname(keyFile)), 'removed when the primary exits')
})

t.test('chat --tls --web: the web side stays plain HTTP; a browser user and a TLS client talk, the console sees both', async t => {
  const server = await startWithWeb(t, 'chat', ['--no-console', ...TLS_ARGS])
  t.match(server.base, /^http:\/\/127\.0\.0\.1:\d+$/, 'the console and the browser chat on plain HTTP, on their own port')
  const feed = await Feed.open(t, server)
  const ana = await joinTls(t, server.port, 'ana', 'line')
  const web = openSocket(server.base, '/chat')
  t.teardown(() => web.terminate())
  const heard: string[] = []
  web.on('message', d => heard.push(...JSON.parse(d.toString()).lines))
  t.match(await upgradeOutcome(web), { opened: true })
  web.send(JSON.stringify({ type: 'line', text: 'web1' }))
  await ana.next(/^web1 joined$/)
  web.send(JSON.stringify({ type: 'line', text: 'hola from a browser' }))
  await ana.next(/^web1: hola from a browser$/)
  ana.say('hola web1')
  await eventually(() => heard.includes('ana: hola web1'), 'ana heard by the browser, through the TLS bridge')
  await feed.sampleWhere(
    x => x.sample.clients.listed.some(c => c.name === 'web1' && c.web) && x.sample.clients.listed.some(c => c.name === 'ana' && !c.web),
    'both members in the console, web1 marked as web',
  )
  feed.say('/who')
  await feed.until(() => feed.answers.includes('here now (2): ana, web1'), '/who answered to the page')
})
