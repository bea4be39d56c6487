// Bad input against TLS servers, each beside a well-behaved TLS client that must keep being served:
// a plaintext client on the TLS port, a client that stops mid-handshake (cut off by the handshake
// timeout), garbage instead of a ClientHello; then a TLS client on a plaintext port, and
// certificate files that cannot be read or do not match (one line, exit 1).
import t, { type Test } from 'tap'
import net from 'node:net'
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { CLI, spawnCli, startServer, type ServerProcess } from './helpers/process.js'
import { Collector, connect, patternBytes } from './helpers/net.js'
import { ChatClient } from './helpers/chat.js'
import { testCertificate, tlsPeer } from './helpers/tls.js'

const cert = testCertificate()
const TLS_ARGS = ['--tls', '--cert', cert.certFile, '--key', cert.keyFile, '--handshake-timeout', '1']

/** A raw TCP client that writes `bytes` and reports when (and whether) the server closed it. */
async function rawClient(port: number, bytes: Buffer | string): Promise<{ closed: Promise<number>; got: Collector }> {
  const socket = await connect(port)
  socket.on('error', () => {})
  const got = new Collector(socket)
  const t0 = performance.now()
  socket.write(bytes)
  const closed = got.end(15_000).then(() => performance.now() - t0)
  closed.finally(() => socket.destroy()).catch(() => {})
  return { closed, got }
}

const BAD_INPUTS: Array<[string, Buffer | string]> = [
  ['a plaintext client', 'ana\nhola a todos, this is plain text\n'],
  ['a plaintext client with a short first line (less than a record header)', 'bob\n'],
  ['a client that stops mid-handshake', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])],
  ['garbage instead of a ClientHello', Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x80]), patternBytes(128, 42)])],
  ['binary noise', patternBytes(2048, 43)],
]

/** Throws each bad input at `port` at once and checks each is closed within the handshake bound (1 s, plus slack). */
async function badInputs(t: Test, port: number, whileServing: () => Promise<void>): Promise<void> {
  const bad = await Promise.all(BAD_INPUTS.map(([, bytes]) => rawClient(port, bytes)))
  await whileServing()
  const times = await Promise.all(bad.map(b => b.closed))
  BAD_INPUTS.forEach(([what], i) => {
    t.ok(times[i] < 10_000, `${what}: disconnected (after ${times[i].toFixed(0)} ms)`)
    t.notMatch(bad[i].got.text(), /hola|ana|bob/, `${what}: nothing of it echoed or relayed back in the clear`)
  })
  await whileServing()
}

for (const model of ['selector', 'threads', 'net']) {
  t.test(`echo --model ${model} --tls: bad input costs the good client nothing`, async t => {
    const server = await startServer(['echo', '--model', model, '--port', '0', ...TLS_ARGS])
    t.teardown(() => server.stop('SIGKILL'))
    const good = await tlsPeer(server.port)
    t.teardown(() => good.destroy())
    const echoed = new Collector(good)
    let sent = 0
    const roundTrip = async () => {
      for (let i = 0; i < 20; i++) {
        const msg = patternBytes(1000, ++sent)
        good.write(msg)
        await echoed.bytes(sent * 1000)
        if (!echoed.buffer().subarray((sent - 1) * 1000).equals(msg)) throw new Error(`echo ${sent} was not its message`)
      }
    }
    await badInputs(t, server.port, roundTrip)
    t.equal(echoed.length, sent * 1000, `the good client had all ${sent} echoes, exactly`)
    if (model !== 'selector') await server.waitForOutput(/TLS handshake failed: not a TLS client \(plaintext on a TLS port\?\)/)
    else await server.waitForOutput(/error: ERR_SSL_WRONG_VERSION_NUMBER/)
    t.pass('the failure is logged')
  })
}

for (const model of ['selector', 'threads']) {
  t.test(`chat --model ${model} --tls: bad input costs the chatters nothing`, async t => {
    const server = await startServer(['chat', '--model', model, '--port', '0', '--no-console', ...TLS_ARGS])
    t.teardown(() => server.stop('SIGKILL'))
    const join = async (name: string) => {
      const c = new ChatClient(await tlsPeer(server.port), 'line')
      t.teardown(() => c.socket.destroy())
      c.say(name)
      await c.next(new RegExp(`^welcome ${name},`))
      return c
    }
    const ana = await join('ana')
    const bea = await join('bea')
    await ana.next(/^bea joined$/)
    let n = 0
    const talk = async () => {
      for (let i = 0; i < 5; i++) {
        ana.say(`message ${++n}`)
        await bea.next(new RegExp(`^ana: message ${n}$`))
      }
    }
    await badInputs(t, server.port, talk)
    t.equal(bea.matching(/^ana: message/).length, n, `bea got all ${n} messages, once each`)
    t.same(ana.matching(/joined$/), ['bea joined'], 'no bad client ever joined')
    // Who, and why (rate-limited: the first of a burst, the rest counted on the next line).
    await server.waitForOutput(/127\.0\.0\.1:\d+: TLS handshake (failed: .+|not finished: the client closed the connection)/)
    t.pass('a failed handshake is logged, with the peer and the reason')
  })
}

t.test('threads --tls: handshakes under way are capped at --max-conns; past it, closed at once', async t => {
  const server = await startServer(['echo', '--model', 'threads', '--port', '0', '--max-conns', '3', ...TLS_ARGS.slice(0, -1), '3'])
  t.teardown(() => server.stop('SIGKILL'))
  const stall = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
  const stallers = await Promise.all([1, 2, 3].map(() => rawClient(server.port, stall)))
  let extra = await rawClient(server.port, stall)
  // The server may not have counted the three yet when the fourth arrives: try a few times.
  for (let i = 0; i < 20 && !(await server.waitForOutput(/TLS handshakes already under way/, 200).then(() => true, () => false)); i++) {
    extra = await rawClient(server.port, stall)
  }
  const ms = await extra.closed
  t.ok(ms < 2500, `a fourth staller is closed before the handshake timeout (after ${ms.toFixed(0)} ms)`)
  await Promise.all(stallers.map(s => s.closed))
  t.pass('the three are closed by the handshake timeout')
  const good = await tlsPeer(server.port)
  t.teardown(() => good.destroy())
  const got = new Collector(good)
  good.write('served again')
  await got.match(/^served again$/)
  t.pass('then a good client is served')
})

t.test('a TLS client on a plaintext port: it says so and exits 1; the server serves the others', async t => {
  for (const command of ['echo', 'chat']) {
    const server: ServerProcess = await startServer([command, '--port', '0', ...(command === 'chat' ? ['--no-console'] : [])])
    t.teardown(() => server.stop('SIGKILL'))
    const c = spawnCli(['client', command, '--port', String(server.port), '--tls', '--insecure', ...(command === 'chat' ? ['--name', 'tls'] : [])])
    t.teardown(() => c.stop('SIGKILL'))
    t.equal(await c.exited, 1, `${command}: exit status 1`)
    t.match(c.stderr(), /cannot connect to 127\.0\.0\.1:\d+: (the server does not speak TLS \(started without --tls\?\)|TLS: .+)/, `${command}: ${c.stderr().trim()}`)
    // The plaintext server still serves a plaintext client.
    const plain = await connect(server.port)
    t.teardown(() => plain.destroy())
    const got = new Collector(plain)
    plain.write(command === 'chat' ? 'ana\n' : 'hola\n')
    await got.match(command === 'chat' ? /^welcome ana,/ : /^hola\n$/)
    t.pass(`${command}: a plaintext client is served as before`)
  }
})

interface Ran {
  status: number | null
  stdout: string
  stderr: string
}
function run(...args: string[]): Promise<Ran> {
  return new Promise(resolve => {
    const child = execFile(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? ((err as { code?: unknown }).code as number | null) : 0, stdout, stderr })
    })
    child.stdin?.end()
  })
}

t.test('certificate files that cannot be read or do not match: one line, exit 1; options that do not go together: exit 2', async t => {
  const dir = path.dirname(cert.certFile)
  const other = path.join(dir, 'other-key.pem')
  const { generateKeyPairSync } = await import('node:crypto')
  writeFileSync(other, generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }))
  const notPem = path.join(dir, 'not-pem.txt')
  writeFileSync(notPem, 'hello\n')
  const cases: Array<[string[], number, RegExp]> = [
    [['echo', '--tls', '--cert', path.join(dir, 'missing.pem'), '--key', cert.keyFile], 1, /^selectloop: cannot read --cert \S+missing\.pem: no such file\n$/],
    [['chat', '--tls', '--cert', cert.certFile, '--key', path.join(dir, 'missing.pem')], 1, /^selectloop: cannot read --key \S+missing\.pem: no such file\n$/],
    [['echo', '--model', 'net', '--tls', '--cert', cert.certFile, '--key', other], 1, /^selectloop: --key \S+other-key\.pem is not the private key of --cert \S+cert\.pem \(they do not match\)\n$/],
    [['chat', '--tls', '--cert', notPem, '--key', cert.keyFile], 1, /^selectloop: --cert \S+not-pem\.txt: not a PEM certificate\n$/],
    [['echo', '--tls', '--cert', cert.certFile, '--key', notPem], 1, /^selectloop: --key \S+not-pem\.txt: not a usable private key/],
    [['echo', '--tls', '--cert', dir, '--key', cert.keyFile], 1, /^selectloop: cannot read --cert \S+: is a directory\n$/],
    [['echo', '--cert', cert.certFile, '--key', cert.keyFile], 2, /^selectloop: --cert goes with --tls\n/],
    [['chat', '--tls', '--cert', cert.certFile], 2, /^selectloop: --cert and --key go together\n/],
    [['echo', '--tls', '--handshake-timeout', '0'], 2, /^selectloop: --handshake-timeout must be between/],
    [['client', 'echo', '--insecure'], 2, /^selectloop: --insecure goes with --tls\n/],
    [['client', 'chat', '--tls', '--ca', cert.certFile, '--insecure'], 2, /^selectloop: --ca and --insecure: one or the other\n/],
    [['client', 'echo', '--tls', '--ca', path.join(dir, 'missing.pem')], 1, /^selectloop: cannot read --ca \S+missing\.pem: no such file\n$/],
    [['client', 'echo', '--tls', '--ca', notPem], 1, /^selectloop: --ca \S+not-pem\.txt: no PEM certificate in it\n$/],
  ]
  const results = await Promise.all(cases.map(([args]) => run(...args)))
  cases.forEach(([args, status, re], i) => {
    t.equal(results[i].status, status, `${args.join(' ')}: exit ${status}`)
    t.match(results[i].stderr, re, `${args.join(' ')}: ${results[i].stderr.split('\n')[0]}`)
    t.equal(results[i].stdout, '', 'nothing on stdout: it never listened')
  })
})
