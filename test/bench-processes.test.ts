// Starting the built CLI as a server (bench/cli-process.ts, which the bench, the soak and every
// server-using test rely on): it resolves once the server listens, says why when it never does,
// leaves no process behind, and a bash wrapper's ulimit reaches the server itself.
import t from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { StartFailure, spawnCli, startCliServer, waitForListening } from '../bench/cli-process.js'
import { bashWrapper, hasExited, stopChild } from '../bench/child.js'
import { readFdLimit } from '../lib/fd-limit.js'

t.test('a server that listens: its address, alive until stopped, then how it ended', async t => {
  const server = await startCliServer(['echo', '--model', 'net', '--port', '0', '--quiet'])
  t.teardown(() => stopChild(server.child, { signal: 'SIGKILL' }))
  t.equal(server.host, '127.0.0.1')
  const socket = net.connect(server.port, server.host)
  await once(socket, 'connect')
  socket.end('ping')
  const [echoed] = await once(socket, 'data')
  t.equal(String(echoed), 'ping', 'it serves on the port it announced')
  t.equal(server.exitInfo(), null, 'running')
  t.equal(await stopChild(server.child), 0, 'SIGTERM: a clean exit')
  t.match(server.exitInfo(), /^exited with status 0/)
})

t.test('a server that exits before listening: the status and its last words', async t => {
  await t.rejects(startCliServer(['echo', '--port', 'x']), {
    name: 'StartFailure',
    message: /^exited with status 2 before listening: selectloop: .*--port/,
  })
})

t.test('a server that never says it listens: killed at the deadline, gone when the promise rejects', async t => {
  // The wrapper runs something that prints nothing (exec: its pid is the one spawned).
  const child = spawnCli(['echo'], { wrapper: ['bash', '-c', 'exec sleep 30', 'bash'] })
  t.teardown(() => stopChild(child, { signal: 'SIGKILL' }))
  let failure: unknown
  await waitForListening(child, { timeoutMs: 300 }).catch(e => (failure = e))
  t.ok(failure instanceof StartFailure, 'a StartFailure')
  t.match((failure as Error).message, /^no 'listening on' line within 0\.3 s$/)
  t.ok(hasExited(child), 'the process is gone')
})

t.test('a bash wrapper: its ulimit applies to the server, whose pid is the one to sample', async t => {
  const server = await startCliServer(['echo', '--model', 'net', '--port', '0', '--quiet'], { wrapper: bashWrapper('ulimit -n 200') })
  t.teardown(() => stopChild(server.child, { signal: 'SIGKILL' }))
  t.equal(readFdLimit(server.child.pid!)?.soft, 200, "the server's soft limit, read by pid")
  const own = readFdLimit()
  t.ok(own && own.soft > 0 && own.soft <= own.hard, `this process's own: soft ${own?.soft} ≤ hard ${own?.hard}`)
  t.notOk(hasExited(server.child), 'still running')
})
