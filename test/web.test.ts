// The web side without a browser: what guards the operator's console (token, origin, host, CSP),
// the bounds (viewers, a viewer or a browser chat user that stops reading, the update rate), the
// live feed's picture of every model (echo: selector, threads, net; chat: selector, threads), and
// the --web command line. The pages themselves are driven in a real browser by web-browser.test.ts.
import t from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { spawnCli } from './helpers/process.js'
import { Collector, connect, patternBytes } from './helpers/net.js'
import { eventually, joinChat } from './helpers/chat.js'
import { Feed, openSocket, request, startWithWeb, upgradeOutcome } from './helpers/web.js'

t.test('the command line: --web options are checked, and a taken web port is one clear line', async t => {
  const bad: Array<[string[], RegExp]> = [
    [['chat', '--web-token', 'abcdefgh'], /--web-token needs --web \[HOST:\]PORT/],
    [['echo', '--web', 'nope'], /--web must be an integer, got 'nope'/],
    [['echo', '--web', 'a:b:1'], /--web must be PORT, HOST:PORT or \[IPv6\]:PORT/],
    [['chat', '--web', '0', '--web-token', 'short'], /--web-token must be 8 to 128 characters/],
    [['echo', '--web', '0', '--web-viewers', '0'], /--web-viewers must be between 1 and 1000/],
  ]
  for (const [args, message] of bad) {
    const p = spawnCli([...args, '--port', '0'])
    t.equal(await p.exited, 2, `${args.join(' ')}: exit 2`)
    t.match(p.stderr(), message)
  }
  const taken = net.createServer().listen(0, '127.0.0.1')
  await once(taken, 'listening')
  t.teardown(() => taken.close())
  const port = (taken.address() as net.AddressInfo).port
  const p = spawnCli(['chat', '--port', '0', '--no-console', '--web', `127.0.0.1:${port}`])
  t.equal(await p.exited, 1, 'exit 1')
  t.match(p.stderr(), new RegExp(`^selectloop: address already in use \\(127\\.0\\.0\\.1:${port}\\)$`, 'm'))
  t.notMatch(p.stderr(), /\n\s+at /, 'no stack trace')
})

t.test('the console is guarded: token, same origin, our host names, a CSP, nothing leaked', async t => {
  const token = 'class-token-1234'
  const server = await startWithWeb(t, 'chat', ['--no-console', '--web-token', token])
  const out = server.stdout().split('\n')
  t.match(out[0], /^listening on 127\.0\.0\.1:\d+$/, '`listening on` stays the first line')
  t.equal(out[1], `web console: ${server.base}/console?token=${token}`)
  t.equal(out[2], `web chat: ${server.base}/`)
  const ana = await joinChat(server.port, 'ana_secret')

  const none = await request(`${server.base}/console`)
  t.equal(none.status, 401, 'no token: 401')
  const wrong = await request(`${server.base}/console?token=nope-nope-nope`)
  t.equal(wrong.status, 403, 'a wrong token: 403')
  for (const refused of [none, wrong]) {
    t.notMatch(refused.body, /ana_secret|class-token/, 'nothing about the server in a refusal')
  }
  const page = await request(`${server.base}/console?token=${token}`)
  t.equal(page.status, 200)
  const csp = String(page.headers['content-security-policy'])
  t.match(csp, /default-src 'none'/)
  t.match(csp, /script-src 'self'/)
  t.notMatch(csp, /unsafe-inline|unsafe-eval/)
  t.match(csp, /frame-ancestors 'none'/)
  t.equal(page.headers['x-content-type-options'], 'nosniff')
  t.equal(page.headers['referrer-policy'], 'no-referrer')
  t.notMatch(page.body, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script in the page')
  t.notMatch(page.body, /ana_secret/, 'the page itself holds no data: it comes over the feed')

  const host = (await request(`${server.base}/console?token=${token}`, { headers: { Host: 'evil.example' } })).status
  t.equal(host, 421, 'a rebound host name (DNS rebinding) is refused')
  t.equal((await request(`${server.base}/console?token=${token}`, { method: 'POST' })).status, 405)
  t.equal((await request(`${server.base}/static/console.js`)).status, 200)
  t.equal((await request(`${server.base}/static/console.html`)).status, 404, 'the console page only behind its token')
  t.equal((await request(`${server.base}/static/%2e%2e/index.ts`)).status, 404)

  const feed = async (path: string, headers: Record<string, string> = {}) => {
    const ws = openSocket(server.base, path, headers)
    const outcome = await upgradeOutcome(ws)
    ws.terminate()
    return outcome.opened ? 101 : outcome.status
  }
  t.equal(await feed('/console/feed'), 401, 'feed without a token')
  t.equal(await feed('/console/feed?token=nope-nope-nope'), 403, 'feed with a wrong token')
  t.equal(await feed(`/console/feed?token=${token}`, { Origin: 'http://evil.example' }), 403, 'feed from another origin, even with the token')
  t.equal(await feed(`/console/feed?token=${token}`, { Origin: 'null' }), 403, 'feed from an opaque origin')
  t.equal(await feed('/chat', { Origin: 'http://evil.example' }), 403, 'browser chat from another origin')
  t.equal(await feed(`/console/feed?token=${token}`), 101, 'our own page with the token')

  // A message on an open feed that carries a wrong token speaks for nobody and closes the feed.
  const f = await Feed.open(t, server)
  f.say('I am not the operator', 'nope-nope-nope')
  await f.until(() => f.closed !== null, 'the feed to close')
  t.same(f.closed, { code: 1008, reason: 'wrong token' })
  await ana.sync()
  t.notOk(ana.lines().some(l => l.includes('not the operator')), 'nothing was said to the room')
})

t.test('viewers are bounded; one that stops reading is dropped and the others go on', async t => {
  const server = await startWithWeb(t, 'echo', ['--web-viewers', '2'])
  const reader = await Feed.open(t, server)
  const stalled = await Feed.open(t, server, false)
  const third = openSocket(server.base, `/console/feed?token=${server.token}`)
  t.teardown(() => third.terminate())
  t.match(await upgradeOutcome(third), { opened: false, status: 503, body: /too many console viewers \(at most 2\)/ })

  await stalled.until(() => stalled.closed !== null, 'the stalled viewer to be dropped', 15_000)
  t.same(stalled.closed, { code: 1008, reason: 'not reading' })
  t.ok(stalled.samples.length <= 2, `it was sent ${stalled.samples.length} samples, no backlog`)
  await server.waitForOutput(/web console: dropping viewer \S+: not reading/)
  const before = reader.samples.length
  await reader.until(() => reader.samples.length >= before + 3, 'the other viewer to go on being fed')
  const again = await Feed.open(t, server)
  await again.until(() => again.samples.length > 0, 'a new viewer, in the place freed')
})

t.test('the page is updated at a bounded rate however busy the server is', async t => {
  const server = await startWithWeb(t, 'echo', ['--quiet'])
  const feed = await Feed.open(t, server)
  await feed.until(() => feed.samples.length > 0, 'a first sample')
  // Busy: connections coming and going and echoing as fast as they can, for about 2 s.
  const startedAt = Date.now()
  const first = feed.samples.length
  const payload = patternBytes(256 * 1024, 7)
  let echoed = 0
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (Date.now() - startedAt < 2000) {
        const s = await connect(server.port)
        const got = new Collector(s)
        s.write(payload)
        await got.bytes(payload.length)
        echoed += got.length
        s.destroy()
      }
    }),
  )
  const seconds = (Date.now() - startedAt) / 1000
  const samples = feed.samples.slice(first)
  t.ok(echoed > 0, `${echoed} bytes echoed meanwhile`)
  t.ok(samples.length <= Math.ceil(seconds * 4) + 2, `${samples.length} samples in ${seconds.toFixed(1)} s: at most 4 a second`)
  const events = samples.reduce((n, s) => n + s.events.lines.length, 0)
  t.ok(samples.every(s => s.events.lines.length <= 60), 'at most 60 event lines per sample')
  const told = samples.reduce((n, s) => n + s.events.lines.length + s.events.skipped, 0)
  t.ok(told >= events, `${told} events happened, ${events} sent`)
})

for (const model of ['selector', 'threads', 'net']) {
  t.test(`echo --web (${model}): the console sees each connection, its bytes and its state`, async t => {
    const server = await startWithWeb(t, 'echo', ['--model', model])
    const feed = await Feed.open(t, server)
    await feed.until(() => feed.hello !== null, 'hello')
    t.match(feed.hello, { protocol: 'echo', model, operator: false })
    const s = await connect(server.port)
    const got = new Collector(s)
    s.write(patternBytes(3000))
    await got.bytes(3000)
    const local = `127.0.0.1:${s.localPort}`
    const seen = await feed.sampleWhere(x => x.sample.clients.listed.some(c => c.peer === local && c.bytesIn >= 3000 && c.bytesOut >= 3000), 'the client with its bytes')
    const c = seen.sample.clients.listed.find(c => c.peer === local)!
    t.equal(seen.sample.clients.count, 1)
    t.equal(c.state, model === 'threads' ? 'SERVING' : 'OPEN')
    t.equal(c.web, false)
    if (model === 'selector') {
      t.equal(c.interest, 'R')
      t.match(seen.sample.loop!.keys, [{ kind: 'listener', interest: 'R' }, { kind: 'connection', fd: c.fd, interest: 'R', who: local, state: 'OPEN' }])
      t.ok(feed.events.some(e => e === `fd ${c.fd} connected: ${local}`), 'the connection in the events, by its fd')
      // A client behind on reading its echoes: WRITE interest while output waits, READ dropped
      // above the high-water mark (both may happen in one step: R → W), and R again once it has
      // read everything. Megabytes: the kernel's buffers take the first few.
      const behind = await connect(server.port)
      behind.on('error', () => {})
      behind.pause()
      behind.write(patternBytes(24 * 1024 * 1024, 3))
      const behindLocal = `127.0.0.1:${behind.localPort}`
      const interest = (to: string) => new RegExp(`${behindLocal} interest R?W? → ${to}$`)
      await feed.until(() => feed.events.some(e => interest('W').test(e)), 'its interest to drop READ')
      await feed.sampleWhere(x => x.sample.clients.listed.some(c => c.peer === behindLocal && c.interest === 'W' && c.queued >= 64 * 1024), 'output queued, W only')
      const back = new Collector(behind)
      behind.resume()
      await back.bytes(24 * 1024 * 1024)
      await feed.until(() => feed.events.some(e => interest('R').test(e)), 'its interest back to R')
      behind.destroy()
      await feed.sampleWhere(x => x.sample.clients.count === 1, 'it gone')
    } else t.equal(seen.sample.loop, null, 'no select loop of ours')
    if (model === 'threads') {
      t.ok(c.thread !== null, `served by thread ${c.thread}`)
      t.match(seen.sample.threads, { live: 1, busy: 1 })
      t.equal(seen.sample.threads!.lock, null, 'echo shares no lock')
    } else t.equal(seen.sample.threads, null)
    feed.say('/who')
    await feed.until(() => feed.answers.length > 0, 'an answer')
    t.match(feed.answers[0], /no operator commands/)

    s.end()
    await got.end()
    await feed.sampleWhere(x => x.sample.clients.count === 0, 'the client gone')
    t.ok(feed.events.some(e => e.endsWith(': closed') || e.includes('closed: closed')), `its close in the events: ${feed.events.slice(-3)}`)
  })
}

for (const model of ['selector', 'threads']) {
  t.test(`chat --web (${model}): states, names, the conversation and the operator over the feed`, async t => {
    const server = await startWithWeb(t, 'chat', ['--model', model, '--no-console'])
    const feed = await Feed.open(t, server)
    const ana = await joinChat(server.port, 'ana')
    const bob = await joinChat(server.port, 'bob')
    ana.say('hola')
    await bob.next(/^ana: hola$/)
    await feed.sampleWhere(x => x.sample.clients.listed.filter(c => c.state === 'CHATTING').length === 2, 'two members chatting')
    await feed.until(() => feed.conversation.includes('ana: hola'), 'the conversation')
    t.same(feed.conversation.slice(0, 3), ['ana joined', 'bob joined', 'ana: hola'])
    t.ok(feed.events.some(e => /ana AWAITING_NAME → CHATTING$/.test(e)), 'the state change as it happened')
    const named = feed.last!.sample.clients.listed.find(c => c.name === 'ana')!
    if (model === 'threads') {
      t.ok(named.thread !== null, 'each member has its thread')
      // Every join and message took the client list's lock: counted by the threads that took it.
      const locked = await feed.sampleWhere(x => (x.sample.threads?.lock?.acquired ?? 0) >= 3, 'the lock counted')
      t.match(locked.sample.threads, { live: 2, busy: 2, lock: { held: Boolean, contended: Number, longestWaitMs: Number } })
    } else t.match(named, { fd: Number, interest: 'R' })

    feed.say('/who')
    await feed.until(() => feed.answers.includes('here now (2): ana, bob'), '/who answered to the page')
    feed.say('/msg bob psst')
    await bob.next(/^\[server\] \(private\): psst$/)
    await feed.until(() => feed.answers.includes('sent to bob'), '/msg answered')
    feed.say('hello class')
    await ana.next(/^\[server\] hello class$/)
    await feed.until(() => feed.conversation.includes('[server] hello class'), 'the operator in the conversation')
    feed.say('/kick bob')
    await bob.next(/^you were removed from the chat by the operator$/)
    await bob.closed()
    await ana.next(/^bob left$/)
    await feed.until(() => feed.answers.includes('kicked bob') && feed.conversation.includes('bob left'), 'the kick answered and seen')
    t.notMatch(server.stdout(), /here now|sent to bob|kicked bob/, "the page's answers are not printed on the server's stdout")
  })
}

t.test('a browser chat user is a member like any TCP client, and is dropped like one when it stops reading', async t => {
  const server = await startWithWeb(t, 'chat', ['--no-console', '--max-outbuf', '4096', '--max-rate', '0'])
  const feed = await Feed.open(t, server)
  const ana = await joinChat(server.port, 'ana')
  const web = openSocket(server.base, '/chat')
  t.teardown(() => web.terminate())
  const heard: string[] = []
  web.on('message', d => heard.push(...JSON.parse(d.toString()).lines))
  t.match(await upgradeOutcome(web), { opened: true })
  const closed = new Promise<[number, string]>(r => web.once('close', (code, reason) => r([code, reason.toString()])))
  const line = (text: string) => web.send(JSON.stringify({ type: 'line', text }))
  line('ANA')
  await eventually(() => heard.some(l => l.startsWith('name refused: the name ANA is taken')), 'the same name rule')
  line('web1')
  await ana.next(/^web1 joined$/)
  await eventually(() => heard.some(l => l.startsWith('welcome web1, 2 here now')), 'the welcome')
  line('hi from a browser')
  await ana.next(/^web1: hi from a browser$/)
  ana.say('hola web1')
  await eventually(() => heard.includes('ana: hola web1'), 'ana heard by the browser')
  await feed.sampleWhere(x => x.sample.clients.listed.some(c => c.name === 'web1' && c.web) && x.sample.clients.listed.some(c => c.name === 'ana' && !c.web), 'web1 marked as web')

  // It stops reading: once more than the chat's --max-outbuf waits for it, the web side drops it,
  // as the chat drops a TCP client that does not read. Everyone else carries on.
  ;(web as unknown as { _socket: net.Socket })._socket.pause()
  const flooder = await joinChat(server.port, 'flooder')
  const big = 'x'.repeat(3000)
  for (let i = 0; i < 4000 && !ana.lines().includes('web1 left'); i++) {
    flooder.say(`${i} ${big}`)
    if (i % 50 === 49) await ana.next(new RegExp(`^flooder: ${i} `), 20_000)
  }
  // (next() may have read past it while waiting for the flood: look at every line)
  await eventually(() => ana.lines().includes('web1 left'), 'ana to hear `web1 left`', 20_000)
  await server.waitForOutput(/web chat: dropping browser 127\.0\.0\.1:\d+ \(127\.0\.0\.1:\d+\): not reading, \d+ bytes queued for it \(max 4096\)/)
  flooder.say('still here')
  await ana.next(/^flooder: still here$/)
  ;(web as unknown as { _socket: net.Socket })._socket.resume()
  const [code, reason] = await closed
  t.ok((code === 1008 && reason === 'not reading') || code === 1006, `its WebSocket was closed (${code} ${reason})`)

  // Quit words, as any client.
  const web2 = openSocket(server.base, '/chat')
  t.teardown(() => web2.terminate())
  await upgradeOutcome(web2)
  const closed2 = new Promise<[number, string]>(r => web2.once('close', (code, reason) => r([code, reason.toString()])))
  web2.send(JSON.stringify({ type: 'line', text: 'web2' }))
  await ana.next(/^web2 joined$/)
  web2.send(JSON.stringify({ type: 'line', text: 'bye' }))
  await ana.next(/^web2 left$/)
  t.same(await closed2, [1000, 'the chat closed the connection'])
  const junk = openSocket(server.base, '/chat')
  t.teardown(() => junk.terminate())
  await upgradeOutcome(junk)
  junk.send('not json')
  t.same((await once(junk, 'close')).map(String), ['1003', 'expected {"type": "line", "text": "..."}'])
})

t.test('stopping the server: browser users hear `server closing`, viewers are closed, exit 0', async t => {
  const server = await startWithWeb(t, 'chat', ['--no-console'])
  const feed = await Feed.open(t, server)
  const web = openSocket(server.base, '/chat')
  const heard: string[] = []
  web.on('message', d => heard.push(...JSON.parse(d.toString()).lines))
  await upgradeOutcome(web)
  web.send(JSON.stringify({ type: 'line', text: 'web1' }))
  await eventually(() => heard.some(l => l.startsWith('welcome web1')), 'joined')
  const webClosed = once(web, 'close')
  t.equal(await server.stop('SIGTERM'), 0, 'exit 0')
  await webClosed
  t.ok(heard.includes('server closing'), 'the browser user was told')
  await feed.until(() => feed.closed !== null, 'the feed closed')
  t.equal(feed.closed!.code, 1001)
  const port = Number(new URL(server.base).port)
  await t.rejects(connect(port), /ECONNREFUSED/, 'the web port is closed too')
})
