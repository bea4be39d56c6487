// Cross-server chat delivery: how many messages a second, and how fast, go from clients on chat
// server A to a client on chat server B through Redis, beside the same messages to a client on A
// itself (the same-server baseline, measured in the same run).
//
//   node dist/bench/cross-server.js [--redis URL] [--senders N] [--window W | --rate R]
//                                   [--size BYTES] [--duration S] [--warmup S] [--json]
//
// Without --redis it starts a redis-server of its own on a free loopback port (Debian's
// redis-server must be installed) and stops it at the end. The servers are `selectloop chat
// --redis` from the built CLI, quiet, without flood control (--max-rate 0). Closed loop (default):
// each sender keeps W messages on their way to B's client; open loop (--rate R): R messages a
// second in all, latency counted from when each was due. Every message is checked at both
// receivers: none lost, none out of order per sender.
import { spawn, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import { once } from 'node:events'
import { parseCommandArgs, parseIntegerOption, parseNumberOption, UsageError } from '../lib/cli/args.js'
import { reportFatal } from '../lib/cli/fatal.js'
import { stopChild } from './child.js'
import { startCliServer, type CliServer } from './cli-process.js'
import { createHistogram, summarize, type LatencyHistogram, type LatencySummary } from './histogram.js'
import { freePort } from './servers.js'

const USAGE = `usage: node dist/bench/cross-server.js [--redis URL] [--senders N] [--window W | --rate R]
                                       [--size BYTES] [--duration S] [--warmup S] [--json]

  --redis     the Redis the two chat servers share (default: a redis-server started for the run)
  --senders   clients on server A sending (default 4)
  --window    closed loop: messages each sender keeps on their way to B (default 16)
  --rate      open loop instead: messages a second from all senders together
  --size      bytes per message line (default 128)
  --duration  measured seconds (default 5)
  --warmup    seconds before measuring (default 1)
  --json      print one JSON object`

interface Options {
  redis: string | null
  senders: number
  window: number
  rate: number | null
  size: number
  durationMs: number
  warmupMs: number
  json: boolean
}

export interface CrossServerResult {
  senders: number
  mode: string
  size: number
  durationS: number
  /** Messages a second that reached the client on B (A → Redis → B). */
  acrossPerSec: number
  /** The same messages, at the client on A. */
  samePerSec: number
  acrossMs: LatencySummary
  sameMs: LatencySummary
  /** Lost or out-of-order messages at either receiver (expected: 0). */
  errors: number
}

/** A client that joins as `name` and hands each complete line to onLine. */
class LineClient {
  private tail = ''
  onLine: (line: string) => void = () => {}
  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => {
      const parts = (this.tail + d).split('\n')
      this.tail = parts.pop()!
      for (const line of parts) this.onLine(line)
    })
  }

  static async join(port: number, name: string): Promise<LineClient> {
    const socket = net.connect(port, '127.0.0.1')
    socket.setNoDelay(true)
    await once(socket, 'connect')
    const c = new LineClient(socket)
    const welcomed = new Promise<void>((resolve, reject) => {
      c.onLine = line => (line.startsWith(`welcome ${name},`) ? resolve() : line.startsWith('name refused') && reject(new Error(line)))
    })
    socket.write(name + '\n')
    await welcomed
    return c
  }
}

/** What one receiver saw: per-sender order, and latencies once measuring. */
class Receiver {
  readonly latency: LatencyHistogram = createHistogram()
  count = 0
  errors = 0
  private readonly last = new Map<string, number>()
  measuring = false

  constructor(
    client: LineClient,
    private readonly onMessage: (sender: string, seq: number) => void = () => {},
  ) {
    client.onLine = line => this.line(line)
  }

  private line(line: string): void {
    const m = /^(s\d+): #(\d+) (\d+) /.exec(line)
    if (!m) return // joins and the like
    const [, sender, seqText, dueText] = m
    const seq = Number(seqText)
    if (seq !== (this.last.get(sender) ?? 0) + 1) this.errors++
    this.last.set(sender, seq)
    if (this.measuring) {
      this.count++
      this.latency.recordValue(Math.max(1, Math.round(performance.now() * 1000 - Number(dueText))))
    }
    this.onMessage(sender, seq)
  }
}

function parse(argv: string[]): Options | null {
  const parsed = parseCommandArgs(
    argv,
    {
      redis: { type: 'string' },
      senders: { type: 'string' },
      window: { type: 'string' },
      rate: { type: 'string' },
      size: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      json: { type: 'boolean' },
    },
    USAGE,
  )
  if (!parsed) return null
  const v = parsed.values
  if (v.rate !== undefined && v.window !== undefined) throw new UsageError('--window and --rate: one or the other')
  return {
    redis: v.redis ?? null,
    senders: v.senders === undefined ? 4 : parseIntegerOption('--senders', v.senders, 1, 1000),
    window: v.window === undefined ? 16 : parseIntegerOption('--window', v.window, 1, 10_000),
    rate: v.rate === undefined ? null : parseIntegerOption('--rate', v.rate, 1, 10_000_000),
    size: v.size === undefined ? 128 : parseIntegerOption('--size', v.size, 32, 4000),
    durationMs: (v.duration === undefined ? 5 : parseNumberOption('--duration', v.duration, 0.5, 3600)) * 1000,
    warmupMs: (v.warmup === undefined ? 1 : parseNumberOption('--warmup', v.warmup, 0, 3600)) * 1000,
    json: Boolean(v.json),
  }
}

/** A redis-server of our own on a free loopback port. */
async function ownRedis(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  child.on('error', () => {})
  for (const deadline = Date.now() + 10_000; ; ) {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) throw new Error('redis-server did not start (is the Debian package redis-server installed? or pass --redis URL)')
    const ok = await new Promise<boolean>(resolve => {
      const s = net.connect(port, '127.0.0.1', () => s.write('PING\r\n'))
      s.once('data', d => (s.destroy(), resolve(d.toString().startsWith('+PONG'))))
      s.once('error', () => resolve(false))
    })
    if (ok) return { url: `redis://127.0.0.1:${port}`, child }
    if (Date.now() > deadline) throw new Error('redis-server not answering after 10 s')
    await new Promise(r => setTimeout(r, 50))
  }
}

export async function measure(o: Options, redisUrl: string): Promise<CrossServerResult> {
  const room = `bench${process.pid}`
  const args = (name: string) => ['chat', '--port', '0', '--redis', redisUrl, '--room', room, '--server-name', name, '--quiet', '--no-console', '--max-rate', '0', '--max-outbuf', String(64 * 1024 * 1024)]
  const servers: CliServer[] = []
  const clients: LineClient[] = []
  try {
    servers.push(await startCliServer(args('A')), await startCliServer(args('B')))
    const [a, b] = servers
    const sameClient = await LineClient.join(a.port, 'rxa')
    const acrossClient = await LineClient.join(b.port, 'rxb')
    clients.push(sameClient, acrossClient)
    const senders: LineClient[] = []
    for (let i = 0; i < o.senders; i++) senders.push(await LineClient.join(a.port, `s${i}`))
    clients.push(...senders)

    const seqs = senders.map(() => 0)
    const pad = 'x'.repeat(o.size)
    const send = (i: number, dueUs: number) => {
      const head = `#${++seqs[i]} ${Math.round(dueUs)} `
      senders[i].socket.write(head + pad.slice(0, Math.max(1, o.size - head.length - 1)) + '\n')
    }
    const same = new Receiver(sameClient)
    // Closed loop: each message that reaches B lets its sender send the next one.
    const across = new Receiver(acrossClient, o.rate === null ? sender => !stopped && send(Number(sender.slice(1)), performance.now() * 1000) : undefined)
    let stopped = false
    let timer: NodeJS.Timeout | null = null
    const start = performance.now()
    if (o.rate === null) {
      for (let i = 0; i < senders.length; i++) for (let k = 0; k < o.window; k++) send(i, performance.now() * 1000)
    } else {
      // Open loop: messages are due on a fixed schedule; each is stamped with when it was due.
      const interval = 1e6 / o.rate
      let next = 0
      timer = setInterval(() => {
        const now = (performance.now() - start) * 1000
        for (; next * interval <= now; next++) send(next % senders.length, start * 1000 + next * interval)
      }, 1)
    }
    await new Promise(r => setTimeout(r, o.warmupMs))
    same.measuring = across.measuring = true
    const t0 = performance.now()
    await new Promise(r => setTimeout(r, o.durationMs))
    const seconds = (performance.now() - t0) / 1000
    same.measuring = across.measuring = false
    stopped = true
    if (timer) clearInterval(timer)
    return {
      senders: o.senders,
      mode: o.rate === null ? `closed loop, window ${o.window}` : `open loop, ${o.rate} msgs/s`,
      size: o.size,
      durationS: Math.round(seconds * 100) / 100,
      acrossPerSec: Math.round(across.count / seconds),
      samePerSec: Math.round(same.count / seconds),
      acrossMs: summarize(across.latency),
      sameMs: summarize(same.latency),
      errors: across.errors + same.errors,
    }
  } finally {
    clients.forEach(c => c.socket.destroy())
    await Promise.all(servers.map(s => stopChild(s.child)))
  }
}

function format(r: CrossServerResult): string {
  const row = (what: string, perSec: number, l: LatencySummary) =>
    `${what.padEnd(22)} ${perSec.toLocaleString('en-US').padStart(9)}  ${[l.p50, l.p99, l.p999, l.max].map(x => String(x ?? '-').padStart(8)).join(' ')}`
  return [
    `cross-server chat delivery: ${r.senders} senders on A, ${r.mode}, ${r.size}-byte lines, ${r.durationS} s measured`,
    `${'to a client on'.padEnd(22)} ${'msgs/s'.padStart(9)}  ${['p50 ms', 'p99 ms', 'p99.9 ms', 'max ms'].map(h => h.padStart(8)).join(' ')}`,
    row('B (A → Redis → B)', r.acrossPerSec, r.acrossMs),
    row('A (same server)', r.samePerSec, r.sameMs),
    `lost or out of order: ${r.errors}`,
  ].join('\n')
}

async function main(argv: string[]): Promise<void> {
  const o = parse(argv)
  if (!o) return
  const own = o.redis === null ? await ownRedis() : null
  try {
    const result = await measure(o, o.redis ?? own!.url)
    process.stdout.write((o.json ? JSON.stringify(result) : format(result)) + '\n')
    if (result.errors > 0) process.exitCode = 1
  } finally {
    if (own) await stopChild(own.child)
  }
}

main(process.argv.slice(2)).catch(reportFatal)
