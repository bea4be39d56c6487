// What a connection-thread costs: memory per live thread and the start-up a client waits for.
//
//   node dist/bench/threads-costs.js [--threads 50,200] [--samples 30]
//
// Memory: starts `echo --model threads`, opens N connections, has each one echoed once (so its
// thread is running), then reads the server's RSS from /proc: (RSS − RSS before) / N. The same is
// measured for the net model as a yardstick. Start-up: time from connect() to the first echoed
// byte, one connection at a time, with a new thread each (--pool 0) and with parked threads
// (--pool N), and for a burst of N at once.
import net from 'node:net'
import { parseArgs } from 'node:util'
import { stopChild } from './child.js'
import { startCliServer, type CliServer } from './cli-process.js'
import { readStatus } from './proc.js'

function startServer(args: string[]): Promise<CliServer> {
  return startCliServer(['echo', '--port', '0', '--quiet', ...args])
}

async function stopServer(s: CliServer): Promise<void> {
  await stopChild(s.child)
}

/** The server's VmRSS (bytes) and thread count; it must be running. */
function status(s: CliServer): { rss: number; threads: number } {
  const st = readStatus(s.child.pid!)
  if (!st) throw new Error(`cannot read /proc/${s.child.pid}/status`)
  return { rss: st.rssKb * 1024, threads: st.threads }
}

/** Connects, sends one byte, resolves with the socket and the ms from connect() to its echo. */
function echoedConnection(port: number): Promise<{ socket: net.Socket; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true })
    socket.once('error', reject)
    socket.once('connect', () => socket.write('x'))
    socket.once('data', () => resolve({ socket, ms: performance.now() - t0 }))
  })
}

const settle = (ms: number) => new Promise(r => setTimeout(r, ms))

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}

async function memoryPerConnection(model: string, n: number): Promise<{ perConn: number; threads: number }> {
  const server = await startServer(['--model', model, '--max-threads', String(Math.max(n, 1))])
  // One connection first, so code loaded once (handler module, JIT) is not charged to the N.
  const warm = await echoedConnection(server.port)
  warm.socket.destroy()
  await settle(500)
  const before = status(server).rss
  const conns = await Promise.all(Array.from({ length: n }, () => echoedConnection(server.port)))
  await settle(1000)
  const { rss: after, threads } = status(server)
  conns.forEach(c => c.socket.destroy())
  await stopServer(server)
  return { perConn: (after - before) / n, threads }
}

async function startupSequential(poolArgs: string[], samples: number): Promise<number[]> {
  const server = await startServer(['--model', 'threads', ...poolArgs])
  const times: number[] = []
  for (let i = 0; i < samples; i++) {
    const c = await echoedConnection(server.port)
    times.push(c.ms)
    c.socket.destroy()
    await settle(30) // let a finished thread exit (or park) before the next client
  }
  await stopServer(server)
  return times
}

async function startupBurst(poolArgs: string[], n: number): Promise<number[]> {
  const server = await startServer(['--model', 'threads', '--max-threads', String(n), ...poolArgs])
  const conns = await Promise.all(Array.from({ length: n }, () => echoedConnection(server.port)))
  conns.forEach(c => c.socket.destroy())
  await stopServer(server)
  return conns.map(c => c.ms)
}

const fmt = (ms: number) => ms.toFixed(1).padStart(7)

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { threads: { type: 'string' }, samples: { type: 'string' } } })
  const counts = (values.threads ?? '50,200').split(',').map(Number)
  const samples = Number(values.samples ?? 30)

  console.log('memory: RSS growth per live connection (each one echoed once)')
  for (const n of counts) {
    const t = await memoryPerConnection('threads', n)
    const b = await memoryPerConnection('net', n)
    console.log(
      `  ${String(n).padStart(4)} connections: threads ${(t.perConn / 1048576).toFixed(2)} MB each (${t.threads} OS threads in the process),` +
        ` net ${(b.perConn / 1024).toFixed(1)} KB each`,
    )
  }

  console.log(`start-up: connect() → first echoed byte, ms (${samples} clients one after another)`)
  for (const [label, args] of [
    ['cold (--pool 0)', ['--pool', '0']],
    ['pooled (--pool 4)', ['--pool', '4']],
  ] as const) {
    const xs = await startupSequential([...args], samples)
    console.log(`  ${label.padEnd(20)} p50 ${fmt(quantile(xs, 0.5))}  p90 ${fmt(quantile(xs, 0.9))}  max ${fmt(Math.max(...xs))}`)
  }
  const burst = counts[0]
  console.log(`start-up: a burst of ${burst} clients at once, ms`)
  for (const [label, args] of [
    ['cold (--pool 0)', ['--pool', '0']],
    [`pooled (--pool ${burst})`, ['--pool', String(burst)]],
  ] as const) {
    const xs = await startupBurst([...args], burst)
    console.log(`  ${label.padEnd(20)} p50 ${fmt(quantile(xs, 0.5))}  p90 ${fmt(quantile(xs, 0.9))}  max ${fmt(Math.max(...xs))}`)
  }
}

main().catch(err => {
  console.error(err)
  process.exitCode = 1
})
