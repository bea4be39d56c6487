// A real Redis for the cross-server suites: Debian's redis-server on a free loopback port, with no
// persistence, started by the test and stopped by it (by its own pid). It can be stopped and
// started again on the same port, to test a chat that loses Redis and gets it back.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import type { Test } from 'tap'
import { requireCommand } from './system.js'
import { freePort } from './net.js'

export interface RedisServer {
  readonly port: number
  /** redis://127.0.0.1:PORT */
  readonly url: string
  readonly pid: number | null
  /** Stops the server (SIGTERM, then SIGKILL after 5 s); resolves when it has exited. */
  stop(): Promise<void>
  /** Starts it again on the same port (after stop()); resolves when it answers PING. */
  start(): Promise<void>
}

/** Starts redis-server for `t` (stopped when `t` ends); null when it is not installed (SKIPPED). */
export async function startRedis(t: Test): Promise<RedisServer | null> {
  const binary = requireCommand(t, 'redis-server', 'the chat across servers (Redis pub/sub)')
  if (!binary) return null
  const port = await freePort()
  let child: ChildProcess | null = null

  async function start(): Promise<void> {
    if (child && child.exitCode === null && child.signalCode === null) return
    const c = spawn(binary!, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child = c
    let output = ''
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (output = (output + d).slice(-4096)))
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (output = (output + d).slice(-4096)))
    const deadline = Date.now() + 10_000
    while (!(await answersPing(port))) {
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`redis-server exited (${c.exitCode ?? c.signalCode}): ${output}`)
      if (Date.now() > deadline) throw new Error(`redis-server not answering on ${port} after 10 s: ${output}`)
      await new Promise(r => setTimeout(r, 50))
    }
  }

  async function stop(): Promise<void> {
    const c = child
    if (!c || c.exitCode !== null || c.signalCode !== null) return
    const exited = once(c, 'exit')
    c.kill('SIGTERM')
    const timer = setTimeout(() => c.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }

  await start()
  t.teardown(stop)
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child?.pid ?? null
    },
    stop,
    start,
  }
}

/** True when something on the port answers a RESP PING with +PONG. */
function answersPing(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const s = net.connect({ port, host: '127.0.0.1' })
    let got = ''
    const done = (ok: boolean) => {
      s.destroy()
      resolve(ok)
    }
    s.setTimeout(1000, () => done(false))
    s.once('connect', () => s.write('PING\r\n'))
    s.on('data', d => {
      got += d.toString('latin1')
      if (got.includes('\r\n')) done(got.startsWith('+PONG'))
    })
    s.once('error', () => done(false))
  })
}
