// `--workers N` (lib/cluster/): a primary that supervises and N worker processes, each with its own
// reactor, as real processes on real sockets. Which worker holds a client is read from the
// workers' log lines (`[w2] connect 127.0.0.1:PORT`), their pids from the primary's.
import net from 'node:net'
import t, { type Test } from 'tap'
import { spawnCli, startServer, type ServerProcess } from './helpers/process.js'
import { Collector, connect, patternBytes } from './helpers/net.js'
import { eventually } from './helpers/chat.js'

async function echoWorkers(t: Test, args: string[]): Promise<ServerProcess> {
  const server = await startServer(['echo', '--port', '0', ...args])
  t.teardown(() => server.stop())
  return server
}

/** The workers' pids, in slot order, from the primary's `N workers ready (pids A, B; ...)` line. */
async function workerPids(server: ServerProcess): Promise<number[]> {
  const line = await server.waitForOutput(/workers ready \(pids [\d, ]+;/)
  return line.match(/\d+/g)!.map(Number)
}

interface Client {
  socket: net.Socket
  got: Collector
  /** Which worker (1-based) took it. */
  worker: number
}

/** Connects, and resolves once the worker that took the connection has logged it. */
async function client(server: ServerProcess): Promise<Client> {
  const socket = await connect(server.port)
  const got = new Collector(socket)
  const line = await server.waitForOutput(new RegExp(`\\[w(\\d+)\\] connect 127\\.0\\.0\\.1:${socket.localPort} `))
  return { socket, got, worker: Number(/\[w(\d+)\]/.exec(line)![1]) }
}

async function echoes(c: { socket: net.Socket; got: Collector }, size = 4096, seed = 1): Promise<boolean> {
  const data = patternBytes(size, seed)
  const before = c.got.length
  c.socket.write(data)
  await c.got.bytes(before + size)
  return c.got.buffer().subarray(before, before + size).equals(data)
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

t.test('echo --workers 2 (round-robin): one listening line, every worker serves, bytes exact', async t => {
  const server = await echoWorkers(t, ['--workers', '2'])
  t.equal(server.stdout().match(/listening on/g)?.length, 1, "'listening on' once, when both workers listen")
  t.equal((await workerPids(server)).length, 2)
  const clients: Client[] = []
  for (let i = 0; i < 6; i++) clients.push(await client(server))
  t.teardown(() => clients.forEach(c => c.socket.destroy()))
  t.same(new Set(clients.map(c => c.worker)), new Set([1, 2]), 'connections are dealt to both workers')
  for (const [i, c] of clients.entries()) t.ok(await echoes(c, 64 * 1024, i + 1), `client ${i + 1} (worker ${c.worker}): 64 KiB echoed exactly`)
})

t.test('echo --model net --workers 2 --schedule os: the kernel picks, every byte still comes back', async t => {
  const server = await echoWorkers(t, ['--model', 'net', '--workers', '2', '--schedule', 'os'])
  await server.waitForOutput(/schedule os\)/)
  const c = { socket: await connect(server.port), got: null as unknown as Collector }
  c.got = new Collector(c.socket)
  t.teardown(() => c.socket.destroy())
  t.ok(await echoes(c, 100_000))
})

t.test('a worker that dies is replaced: its clients are cut, the others are not', async t => {
  const server = await echoWorkers(t, ['--workers', '2'])
  const pids = await workerPids(server)
  const clients = [await client(server), await client(server), await client(server)]
  t.teardown(() => clients.forEach(c => c.socket.destroy()))
  const victim = clients[0].worker
  const mark = server.mark()
  process.kill(pids[victim - 1], 'SIGKILL')
  for (const c of clients.filter(c => c.worker === victim)) await c.got.end()
  t.pass(`worker ${victim}'s clients were cut`)
  for (const c of clients.filter(c => c.worker !== victim)) t.ok(await echoes(c, 8192, 7), "the other worker's client is still served")
  await server.waitForOutput(new RegExp(`worker ${victim} \\(pid ${pids[victim - 1]}\\) ended \\(killed by SIGKILL\\): its clients were cut; starting another`), 10_000, mark)
  await server.waitForOutput(new RegExp(`worker ${victim} \\(pid \\d+\\) ready`), 15_000, mark)
  const fresh: Client[] = []
  for (let i = 0; i < 4; i++) fresh.push(await client(server))
  t.teardown(() => fresh.forEach(c => c.socket.destroy()))
  t.ok(fresh.some(c => c.worker === victim), 'the replacement serves new connections')
  for (const c of fresh) t.ok(await echoes(c))
  t.equal(server.stdout().match(/listening on/g)?.length, 1, 'and no second listening line')
})

t.test('Ctrl-C (SIGINT to the primary and every worker at once) is one clean stop', async t => {
  const server = await echoWorkers(t, ['--workers', '2'])
  const pids = await workerPids(server)
  const c = await client(server)
  t.teardown(() => c.socket.destroy())
  t.ok(await echoes(c))
  for (const pid of [server.child.pid!, ...pids]) process.kill(pid, 'SIGINT')
  t.equal(await server.exited, 0, 'the primary exits 0 once its workers have stopped')
  await c.got.end()
  t.pass('the client got its FIN')
  await eventually(() => pids.every(pid => !alive(pid)), 'every worker gone')
  t.match(server.stderr(), /SIGINT: shutting down 2 workers/)
  t.notMatch(server.stderr(), /again|killing/, 'one signal each, not taken for a second Ctrl-C')
})

t.test('a worker that cannot start stops the lot: status 1, one clear reason', async t => {
  const holder = net.createServer().listen(0, '127.0.0.1')
  await new Promise(r => holder.once('listening', r))
  t.teardown(() => holder.close())
  const port = (holder.address() as net.AddressInfo).port
  const proc = spawnCli(['echo', '--port', String(port), '--workers', '2'])
  t.equal(await proc.exited, 1)
  t.match(proc.stderr(), new RegExp(`selectloop: address already in use \\(127\\.0\\.0\\.1:${port}\\)`))
  t.match(proc.stderr(), /worker \d could not start \(exit status 1\); stopping/)
  t.equal(proc.stdout(), '', 'never says it listens')
})

t.test('worker options: bad combinations are one line, status 2', async t => {
  const cases: Array<[string[], RegExp]> = [
    [['echo', '--workers', '2', '--model', 'threads'], /--workers works with --model selector or net/],
    [['echo', '--schedule', 'os'], /--schedule needs --workers/],
    [['echo', '--workers', '0'], /--workers must be between 1 and 256, got 0/],
    [['echo', '--workers', 'many'], /--workers must be a number or auto, got 'many'/],
    [['echo', '--workers', '2', '--schedule', 'rand'], /--schedule must be one of rr, os, got 'rand'/],
    [['chat', '--workers', '2', '--model', 'threads', '--redis', 'redis://127.0.0.1:1'], /--redis works with --model selector/],
  ]
  for (const [args, re] of cases) {
    const p = spawnCli(args)
    t.equal(await p.exited, 2, args.join(' '))
    t.match(p.stderr(), re)
  }
})

t.test('bench --workers 1,2: selector and net once per count, the rest as they are', async t => {
  const { withWorkers } = await import('../bench/servers.js')
  const specs = [{ name: 'selector', model: 'selector' }, { name: 'threads', model: 'threads' }, { name: 'net', model: 'net' }, { name: 'py', command: 'python3 x.py {port}' }]
  t.same(
    withWorkers(specs, [1, 2]).map(s => [s.name, s.workers]),
    [['selector×1', 1], ['selector×2', 2], ['threads', undefined], ['net×1', 1], ['net×2', 2], ['py', undefined]],
  )
  t.equal(withWorkers(specs, []), specs, 'no --workers: unchanged')
})
