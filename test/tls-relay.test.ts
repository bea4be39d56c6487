// The capture lesson, as a test: a relay in the middle (a TCP forwarder on loopback that records
// every byte it passes, as a packet capture would) between chat clients and the server. Without
// --tls it reads the conversation; with --tls it never does, while the clients still talk.
import t, { type Test } from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { startServer } from './helpers/process.js'
import { connect } from './helpers/net.js'
import { ChatClient } from './helpers/chat.js'
import { testCertificate, tlsPeer } from './helpers/tls.js'

/** A forwarder 127.0.0.1:port → target that keeps a copy of everything it passes, both ways. */
class RecordingRelay {
  readonly captured: Buffer[] = []
  private readonly sockets = new Set<net.Socket>()
  readonly server: net.Server

  constructor(private readonly targetPort: number) {
    this.server = net.createServer({ allowHalfOpen: true }, client => {
      const upstream = net.connect({ port: this.targetPort, host: '127.0.0.1', allowHalfOpen: true })
      for (const s of [client, upstream]) {
        this.sockets.add(s)
        s.on('error', () => {
          client.destroy()
          upstream.destroy()
        })
        s.on('close', () => this.sockets.delete(s))
      }
      const record = (d: Buffer) => void this.captured.push(Buffer.from(d))
      client.on('data', record).pipe(upstream)
      upstream.on('data', record).pipe(client)
    })
  }

  async listen(): Promise<number> {
    this.server.listen(0, '127.0.0.1')
    await once(this.server, 'listening')
    return (this.server.address() as net.AddressInfo).port
  }

  /** Everything seen so far, both directions, as one buffer. */
  seen(): Buffer {
    return Buffer.concat(this.captured)
  }

  close(): void {
    this.server.close()
    for (const s of this.sockets) s.destroy()
  }
}

const SECRET = 'the password is swordfish'

/** ana and bob chat through the relay; returns what bob received from ana. */
async function chatThroughRelay(t: Test, serverArgs: string[], open: (port: number) => Promise<net.Socket>): Promise<{ relay: RecordingRelay; heard: string }> {
  const server = await startServer(['chat', '--port', '0', '--no-console', ...serverArgs])
  t.teardown(() => server.stop())
  const relay = new RecordingRelay(server.port)
  t.teardown(() => relay.close())
  const port = await relay.listen()
  const join = async (name: string) => {
    const c = new ChatClient(await open(port), 'line')
    t.teardown(() => c.socket.destroy())
    c.say(name)
    await c.next(new RegExp(`^welcome ${name},`))
    return c
  }
  const ana = await join('ana')
  const bob = await join('bob')
  await ana.next(/^bob joined$/)
  ana.say(SECRET)
  const heard = await bob.next(/^ana: /)
  bob.say('got it')
  await ana.next(/^bob: got it$/)
  return { relay, heard }
}

t.test('without --tls the relay in the middle reads every message', async t => {
  const { relay, heard } = await chatThroughRelay(t, [], port => connect(port))
  t.equal(heard, `ana: ${SECRET}`, 'bob heard ana')
  const seen = relay.seen().toString('latin1')
  t.match(seen, SECRET, 'the relay saw the message in the clear')
  t.match(seen, 'ana: the password is swordfish\n', 'and the copy the server relayed to bob')
  t.match(seen, 'bob joined', 'and everything else the server said')
})

t.test('with --tls the relay sees only ciphertext, and the clients still talk', async t => {
  const cert = testCertificate()
  const { relay, heard } = await chatThroughRelay(t, ['--tls', '--cert', cert.certFile, '--key', cert.keyFile], port => tlsPeer(port))
  t.equal(heard, `ana: ${SECRET}`, 'bob heard ana, through the relay, over TLS')
  const seen = relay.seen()
  t.ok(seen.length > 1000, `the relay passed ${seen.length} bytes`)
  for (const text of [SECRET, 'swordfish', 'password', 'ana: ', 'bob joined', 'welcome', 'got it']) {
    t.equal(seen.indexOf(text), -1, `'${text}' never crossed the relay in the clear`)
    t.equal(seen.indexOf(Buffer.from(text, 'utf16le')), -1, `nor as UTF-16`)
  }
  t.equal(seen[0], 0x16, 'what it saw starts with a TLS handshake record')
})
