// The chat across machines, as separate hosts: each chat server in a network namespace of its
// own, Redis on a third, the clients on the servers' hosts (`selectloop client chat` through pipes).
// Run alone with `make test-netns`. SKIPPED (saying why) where namespaces cannot be made.
import { execFileSync, spawn } from 'node:child_process'
import t from 'tap'
import { makeHosts } from './helpers/netns.js'
import { spawnCli, startServer } from './helpers/process.js'
import { eventually } from './helpers/chat.js'
import { findCommand } from './helpers/system.js'

t.test('two chat servers on two hosts, Redis on a third: one room', async t => {
  const redisServer = findCommand('redis-server')
  if (!redisServer) {
    console.error('SKIPPED: redis-server is not installed (Debian package redis-server)')
    t.plan(0, 'SKIPPED: redis-server is not installed (Debian package redis-server)')
    return
  }
  const hosts = makeHosts(t, ['redis', 'a', 'b'])
  if (!hosts) return
  const [r, a, b] = hosts

  const redis = spawn(r.wrapper[0], [...r.wrapper.slice(1), redisServer, '--bind', r.address, '--port', '6379', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: 'ignore' })
  t.teardown(() => void redis.kill('SIGKILL'))
  const pings = () => {
    try {
      return execFileSync(a.wrapper[0], [...a.wrapper.slice(1), 'redis-cli', '-h', r.address, 'ping'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() === 'PONG'
    } catch {
      return false
    }
  }
  await eventually(pings, `Redis answering on ${r.address} from host a`)

  const url = `redis://${r.address}:6379`
  const servers = []
  for (const [host, name] of [[a, 'hostA'], [b, 'hostB']] as const) {
    const server = await startServer(['chat', '--host', host.address, '--port', '8070', '--redis', url, '--server-name', name, '--no-console'], { wrapper: host.wrapper })
    t.teardown(() => server.stop())
    servers.push(server)
  }
  t.same(servers.map(s => `${s.host}:${s.port}`), [`${a.address}:8070`, `${b.address}:8070`], 'each listens on its own host, on the same port')

  const ana = spawnCli(['client', 'chat', '--host', a.address, '--port', '8070', '--name', 'ana'], { wrapper: a.wrapper })
  const bob = spawnCli(['client', 'chat', '--host', b.address, '--port', '8070', '--name', 'bob'], { wrapper: b.wrapper })
  t.teardown(() => void ana.stop())
  t.teardown(() => void bob.stop())
  // Both start at once: whoever joins second sees the other in its welcome's count, whoever joins
  // first sees the other's join line (across Redis); either way each knows of the other.
  await ana.waitForOutput(/welcome ana, 2 here now|bob joined/)
  await bob.waitForOutput(/welcome bob, 2 here now|ana joined/)
  bob.write('hola desde b\n')
  await ana.waitForOutput(/bob: hola desde b/)
  ana.write('/who\n')
  t.match(await ana.waitForOutput(/here now \(2\)[^\n]*/), /ana \(on hostA\); bob \(on hostB\)/, '/who says which host each member is on')
  ana.write('/msg bob solo para ti\n')
  await bob.waitForOutput(/ana \(private\): solo para ti/)
  bob.write('salir\n')
  await ana.waitForOutput(/bob left/)
  t.equal(await bob.exited, 0)
})
