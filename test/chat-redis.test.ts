// The chat across servers (chat --redis): real servers as processes, a real redis-server on a free
// loopback port (test/helpers/redis.ts), real sockets. Each case uses a room of its own on the one
// Redis. Names expire after 1 s here (--name-expiry) so a killed server's names free up in seconds.
import t, { type Test } from 'tap'
import { startRedis, type RedisServer } from './helpers/redis.js'
import { spawnCli, startServer, type ServerProcess } from './helpers/process.js'
import { Chatters, connectChat, eventually, joinChat, type ChatClient } from './helpers/chat.js'
import { freePort } from './helpers/net.js'

const EXPIRY_S = '1'

let rooms = 0

/** Starts `count` chat servers in one new room, named A, B, C... */
async function room(t: Test, redis: RedisServer, count: number, extra: string[] = []): Promise<ServerProcess[]> {
  const name = `room${++rooms}`
  const servers: ServerProcess[] = []
  for (let i = 0; i < count; i++) {
    const server = await startServer(['chat', '--port', '0', '--redis', redis.url, '--room', name, '--server-name', String.fromCharCode(65 + i), '--name-expiry', EXPIRY_S, ...extra])
    t.teardown(() => server.stop())
    servers.push(server)
  }
  return servers
}

function closing(t: Test, ...clients: ChatClient[]): void {
  t.teardown(() => clients.forEach(c => c.socket.destroy()))
}

t.test('chat across servers on Redis', async t => {
  const redis = await startRedis(t)
  if (!redis) return

  t.test('three servers are one room: joins, messages, /who with servers, /msg, names unique, leaves', async t => {
    const [a, b, c] = await room(t, redis, 3)
    const ana = await joinChat(a.port, 'ana')
    const bob = await joinChat(b.port, 'bob')
    closing(t, ana, bob)
    t.match(bob.lines()[0], /^welcome bob, 2 here now/, 'the welcome counts the members on every server')
    await ana.next(/^bob joined$/)
    const cid = await joinChat(c.port, 'cid', 'chunk') // a Python-seed-style client: no newlines
    closing(t, cid)
    await ana.next(/^cid joined$/)
    await bob.next(/^cid joined$/)

    ana.say('hola a todos')
    t.equal(await bob.next(/^ana: /), 'ana: hola a todos', 'a message on A reaches B')
    t.equal(await cid.next(/^ana: /), 'ana: hola a todos', 'and C')

    cid.say('/who')
    const who = await cid.next(/^here now/)
    t.match(who, /^here now \(3\): cid \(on C\); /, '/who: everyone, this server first')
    t.match(who, /ana \(on A\)/)
    t.match(who, /bob \(on B\)/)

    bob.say('/msg ANA psst')
    t.equal(await ana.next(/private/), 'bob (private): psst', '/msg reaches a member on another server (name ignoring case)')
    await cid.sync()
    t.same(cid.matching(/psst/), [], 'and nobody else')
    bob.say('/msg nobody hi')
    t.equal(await bob.next(/^no one/), 'no one called nobody is here')

    const clash = await connectChat(c.port)
    closing(t, clash)
    clash.say('Bob')
    t.equal(await clash.next(/^name refused/), 'name refused: the name Bob is taken; try another name', 'a name held on another server is refused')
    clash.say('dan')
    await clash.next(/^welcome dan, 4 here now/)
    await ana.next(/^dan joined$/)

    bob.quit()
    await ana.next(/^bob left$/)
    await cid.next(/^bob left$/)
    cid.reset() // a crashed client on C
    await ana.next(/^cid left$/)
    await clash.next(/^cid left$/)

    const bob2 = await joinChat(a.port, 'BOB')
    closing(t, bob2)
    t.pass('a name is free on every server once its member left')
    ana.say('/who')
    t.match(await ana.next(/^here now/), /^here now \(3\): ana, BOB \(on A\); dan \(on C\)$/)
  })

  t.test('the operator speaks to the whole room; /msg and /kick reach other servers', async t => {
    const [a, b] = await room(t, redis, 2)
    const ana = await joinChat(a.port, 'ana')
    const bob = await joinChat(b.port, 'bob')
    closing(t, ana, bob)
    await ana.next(/^bob joined$/)
    a.write('hello room\n')
    t.equal(await bob.next(/^\[server\]/), '[server] hello room')
    const mark = a.mark()
    a.write('/who\n')
    t.match(await a.waitForOutput(/here now \(2\): ana \(on A\); bob \(on B\)/, 10_000, mark), /bob \(on B\)/, 'the console lists every server')
    a.write('/msg bob just you\n')
    t.equal(await bob.next(/private/), '[server] (private): just you')
    await a.waitForOutput(/sent to bob \(on B\)/, 10_000, mark)
    a.write('/kick bob\n')
    t.equal(await bob.next(/removed/), 'you were removed from the chat by the operator')
    await bob.closed()
    await ana.next(/^bob left$/)
    await a.waitForOutput(/kicked bob \(on B\)/, 10_000, mark)
    t.ok(await b.waitForOutput(/bob: kicked by the operator on A/), 'the server it was on logs who kicked it')
  })

  t.test('two servers: every message of every sender arrives once, in order, under load', async t => {
    const [a, b] = await room(t, redis, 2, ['--max-rate', '0'])
    const chatters = await Chatters.join([a.port, b.port], { count: 6, intervalMs: 2, length: (i, seq) => 20 + ((i * 31 + seq * 17) % 300) })
    t.teardown(() => chatters.close())
    chatters.talk()
    const { losses, sent, delivered } = await chatters.settle(30_000, 300)
    t.same(losses, [], 'no loss, duplicate or reordering, on the same server or across')
    t.ok(sent >= 6 * 300, `${sent} messages sent`)
    t.equal(delivered, sent * 5, 'each delivered to the 5 others')
  })

  t.test('a server killed with SIGKILL: its members leave and their names are free after the expiry', async t => {
    const [a, b] = await room(t, redis, 2)
    const ana = await joinChat(a.port, 'ana')
    const bob = await joinChat(b.port, 'bob')
    closing(t, ana, bob)
    await ana.next(/^bob joined$/)
    const taken = await connectChat(a.port)
    closing(t, taken)
    taken.say('bob')
    await taken.next(/^name refused: the name bob is taken/)
    const killedAt = Date.now()
    b.child.kill('SIGKILL')
    await b.exited
    await ana.next(/^bob left$/, 10_000)
    t.ok(Date.now() - killedAt >= 500, 'not before its claim could have expired')
    t.ok(await a.waitForOutput(/bob \(on B\) left: its server stopped renewing its name/), 'logged as such')
    taken.say('bob')
    await taken.next(/^welcome bob, 2 here now/)
    t.pass('its name can be taken again')
  })

  t.test('Redis stopped and started again mid-chat', async t => {
    const [a, b] = await room(t, redis, 2)
    const ana = await joinChat(a.port, 'ana')
    const al = await joinChat(a.port, 'al')
    const bob = await joinChat(b.port, 'bob')
    closing(t, ana, al, bob)
    await ana.next(/^bob joined$/)
    await redis.stop()
    for (const c of [ana, al, bob]) await c.next(/^the other servers of this room are out of reach; you can still talk to those on this one$/)
    t.pass('every member is told the other servers are out of reach')
    ana.say('still here')
    t.equal(await al.next(/^ana: /), 'ana: still here', 'chat on one server goes on')
    const late = await connectChat(a.port)
    closing(t, late)
    late.say('carl')
    t.match(await late.next(/^name refused/), /out of reach, so no name can be checked now/, 'a new name cannot be checked: refused, saying why')
    await redis.start()
    for (const c of [ana, al, bob]) await c.next(/^the other servers of this room are back$/, 20_000)
    // A server sends what it queued as soon as it is back, which may be before the other one says so.
    await eventually(() => bob.matching(/^ana: still here$/).length === 1, 'ana: still here, on B')
    t.pass('what was said meanwhile arrives once the servers are back')
    bob.say('hola de nuevo')
    t.equal(await ana.next(/^bob: /), 'bob: hola de nuevo')
    late.say('carl')
    await late.next(/^welcome carl, 4 here now/)
    await bob.next(/^carl joined$/)
    bob.say('/who')
    t.match(await bob.next(/^here now/), /^here now \(4\): bob \(on B\); (?=.*ana)(?=.*al)(?=.*carl)/, 'names claimed again after Redis lost them all')
    const lost = a.stderr().match(/lost Redis at/g) ?? []
    t.equal(lost.length, 1, 'the loss is one log line, however many reconnection attempts')
    t.match(a.stderr(), /Redis back at redis:\/\/127\.0\.0\.1:\d+ after [\d.]+ s: \d+ queued messages sent/)
  })

  t.test('chat --workers 2: two workers on one port are one room; the console goes to worker 1', async t => {
    const server = await startServer(['chat', '--port', '0', '--workers', '2', '--redis', redis.url, '--room', `room${++rooms}`, '--name-expiry', EXPIRY_S])
    t.teardown(() => server.stop())
    const ana = await joinChat(server.port, 'ana')
    const bob = await joinChat(server.port, 'bob')
    closing(t, ana, bob)
    await ana.next(/^bob joined$/)
    bob.say('hola')
    t.equal(await ana.next(/^bob: /), 'bob: hola')
    const mark = server.mark()
    server.write('/who\n')
    const who = await server.waitForOutput(/here now \(2\)[^\n]*/, 10_000, mark)
    t.match(who, /\/w1\)/, '/who names the workers as servers')
    t.equal(server.stdout().split('\n').filter(l => l.startsWith('listening on')).length, 1, "'listening on' is printed once")
    t.equal(await server.stop('SIGTERM'), 0, 'SIGTERM stops every worker cleanly')
    await ana.next(/^server closing$/)
    await bob.next(/^server closing$/)
  })

  t.test('bad or missing Redis is one clear line', async t => {
    const noWorkersRoom = spawnCli(['chat', '--port', '0', '--workers', '2'])
    t.equal(await noWorkersRoom.exited, 2)
    t.match(noWorkersRoom.stderr(), /^selectloop: --workers needs --redis: each worker is a server of its own, and Redis is what makes them one room\n/)
    const badUrl = spawnCli(['chat', '--port', '0', '--redis', 'localhost:6379'])
    t.equal(await badUrl.exited, 2)
    t.match(badUrl.stderr(), /--redis must start with redis:\/\//)
    const closed = await freePort()
    const nobody = spawnCli(['chat', '--port', '0', '--no-console', '--redis', `redis://127.0.0.1:${closed}`])
    t.equal(await nobody.exited, 1)
    t.equal(nobody.stderr(), `selectloop: cannot reach Redis at redis://127.0.0.1:${closed}: connection refused\n`)
    t.equal(nobody.stdout(), '', 'never says it listens')
  })
})

