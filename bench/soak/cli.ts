// `selectloop soak [--duration S] [--models selector[,threads]] [--echo-clients N] [--chat-clients N]
//                  [--hostile N] [--json]`
//
// For each model: start the echo and the chat server from the built CLI, run a mixed load against
// both (echo churn, chat churn, hostile clients), sample the servers' memory after warm-up and at
// the end, then stop everything and judge: no loss of any kind, memory within +10%, both servers
// alive and stopping cleanly. Exit status 1 when any model fails.
import { setTimeout as sleep } from 'node:timers/promises'
import { parseCommandArgs, parseIntegerOption, UsageError } from '../../lib/cli/args.js'
import { CHAT_MODELS } from '../../lib/chat/options.js'
import { ECHO_MODELS } from '../../lib/echo/options.js'
import { ChatPool } from './chat-pool.js'
import { EchoChurn } from './echo-churn.js'
import { HostilePool } from './hostile.js'
import { DeliveryLedger } from './ledger.js'
import { externalServer, ResourceSampler, startServer, type SoakServer } from './servers.js'
import { formatReport, verdict, type ModelReport, type ServerReport } from './summary.js'
import { useTls } from './dial.js'
import { benchCertificate } from '../tls-certificate.js'
import { readFileSync } from 'node:fs'

/** Models with both an echo and a chat server. */
const MODELS: readonly string[] = CHAT_MODELS.filter(m => (ECHO_MODELS as readonly string[]).includes(m))

const DEFAULTS = { duration: 120, echoClients: 16, chatClients: 24, hostile: 3 }
/**
 * The first memory sample is taken after this fraction of the load. Memory outside V8's heap
 * (Buffers in malloc's arenas) reaches its high-water mark over the first minute or so of this
 * load; what comes after is what we judge.
 */
const WARMUP_FRACTION = 0.5
/** Each memory figure is the median over this many seconds of samples. */
const RSS_WINDOW_S = 3

/**
 * V8 flags for the servers under soak. Left alone, V8 starts a process's young generation at 1 MB
 * per semi-space and doubles it under load up to 16 MB: about +30 MB of resident memory, in steps,
 * at moments that depend on the load, and bounded by design: not growth of the server's own
 * memory, but enough to hide it or to pass for it. So the servers start with the young
 * generation at that full size. Single-isolate models only: V8 flags are process-wide, and a
 * thread-per-connection model would give every worker's isolate a 32 MB young generation.
 */
function v8FlagsFor(model: string): string[] {
  return model === 'threads' ? [] : ['--min-semi-space-size=16', '--max-semi-space-size=16']
}

const USAGE = `usage: selectloop soak [--duration S] [--models ${MODELS.join('[,')}${']'.repeat(MODELS.length - 1)}] [--echo-clients N]
                       [--chat-clients N] [--hostile N] [--tls] [--json]

  --duration      seconds in all, split between the models (default ${DEFAULTS.duration})
  --models        models to soak, comma-separated (default: ${MODELS.join(',')})
  --echo-clients  echo connections at any time, each coming and going (default ${DEFAULTS.echoClients})
  --chat-clients  well-behaved chat clients at any time, each joining, talking, leaving (default ${DEFAULTS.chatClients})
  --hostile       hostile chat clients at any time (default ${DEFAULTS.hostile})
  --tls           the servers speak TLS (one certificate made for the run), every client
                  connects with TLS and verifies it
  --json          print the results as JSON

Fails (exit 1) on any lost, duplicated, reordered or corrupted message, any echo byte wrong,
any hostile client not handled, server memory growing more than 10% after warm-up, or a
server that died or did not stop cleanly.`

interface SoakOptions {
  seconds: number
  echoClients: number
  chatClients: number
  hostile: number
  /** Hidden, for testing the soak itself: a chat server someone else runs (HOST:PORT). */
  chatServer: string | undefined
  /** The servers' extra arguments: --tls --cert F --key K, or none. */
  serverArgs: string[]
}

export async function run(argv: string[]): Promise<void> {
  const parsed = parseCommandArgs(
    argv,
    {
      duration: { type: 'string' },
      models: { type: 'string' },
      'echo-clients': { type: 'string' },
      'chat-clients': { type: 'string' },
      hostile: { type: 'string' },
      json: { type: 'boolean' },
      tls: { type: 'boolean' },
      'chat-server': { type: 'string' },
    },
    USAGE,
  )
  if (!parsed) return
  const v = parsed.values
  const int = (name: string, value: string | undefined, fallback: number, min: number, max: number) =>
    value === undefined ? fallback : parseIntegerOption(name, value, min, max)
  const models = parseModels(v.models)
  const duration = int('--duration', v.duration, DEFAULTS.duration, 4 * models.length, 86_400)
  const options: SoakOptions = {
    seconds: duration / models.length,
    echoClients: int('--echo-clients', v['echo-clients'], DEFAULTS.echoClients, 0, 1000),
    chatClients: int('--chat-clients', v['chat-clients'], DEFAULTS.chatClients, 2, 1000),
    hostile: int('--hostile', v.hostile, DEFAULTS.hostile, 0, 100),
    chatServer: v['chat-server'],
    serverArgs: [],
  }
  if (v.tls) {
    const cert = benchCertificate()
    options.serverArgs = ['--tls', '--cert', cert.certFile, '--key', cert.keyFile]
    useTls({ ca: readFileSync(cert.certFile, 'utf8') })
  }
  const reports: ModelReport[] = []
  for (const model of models) {
    const report = await soakModel(model, options)
    reports.push(report)
    if (!v.json) process.stdout.write(formatReport(report) + '\n')
  }
  const pass = reports.every(r => r.failures.length === 0)
  if (v.json) process.stdout.write(JSON.stringify({ pass, duration, reports }, null, 2) + '\n')
  else if (reports.length > 1) process.stdout.write(pass ? 'soak: PASS\n' : 'soak: FAIL\n')
  if (!pass) process.exitCode = 1
}

function parseModels(value: string | undefined): string[] {
  if (value === undefined) return [...MODELS]
  const models = [...new Set(value.split(',').map(m => m.trim()))]
  for (const m of models) {
    if (!MODELS.includes(m)) throw new UsageError(`--models: '${m}' is not a model with both an echo and a chat server (${MODELS.join(', ')})`)
  }
  return models
}

const started = performance.now()

/** A progress line on stderr (stdout is the summary, or the JSON). */
function progress(message: string): void {
  process.stderr.write(`soak: [${((performance.now() - started) / 1000).toFixed(1)} s] ${message}\n`)
}

async function soakModel(model: string, o: SoakOptions): Promise<ModelReport> {
  const flags = v8FlagsFor(model)
  const echo = await startServer('echo', ['echo', '--model', model, '--port', '0', '--quiet', ...o.serverArgs], flags)
  let chat: SoakServer
  try {
    chat = o.chatServer
      ? externalServer('chat', o.chatServer)
      : await startServer('chat', ['chat', '--model', model, '--port', '0', '--quiet', '--no-console', ...o.serverArgs], flags)
  } catch (err) {
    await echo.stop()
    throw err
  }
  const ledger = new DeliveryLedger()
  const pool = new ChatPool(chat.host, chat.port, o.chatClients, ledger, 'u')
  const churn = new EchoChurn(echo.host, echo.port, o.echoClients)
  const hostile = new HostilePool(chat.host, chat.port, o.hostile, ledger, 'h')
  const sampler = new ResourceSampler([echo, chat])

  // The load runs for the model's share of the time, minus a reserve for the final phase.
  const loadSeconds = o.seconds - Math.min(6, o.seconds * 0.2)
  const warmupSeconds = loadSeconds * WARMUP_FRACTION
  progress(`model ${model}: ${loadSeconds.toFixed(0)} s of load against echo ${echo.host}:${echo.port} and chat ${chat.host}:${chat.port}`)
  const t0 = performance.now()
  sampler.start()
  pool.start()
  churn.start()
  hostile.start()
  await sleep(loadSeconds * 1000)
  const t1 = performance.now()
  const alive = { echo: echo.alive(), chat: chat.alive() }
  sampler.stop()
  progress(`model ${model}: final phase (everyone stops talking, every message accounted for, everyone leaves)`)
  await hostile.stop()
  await Promise.all([pool.stop(), churn.stop()])
  progress(`model ${model}: clients done; stopping the servers`)
  const exits = { echo: await echo.stop(), chat: await chat.stop() }
  progress(`model ${model}: done`)

  const warmAt = t0 + warmupSeconds * 1000
  const server = (s: SoakServer, label: 'echo' | 'chat'): ServerReport => {
    const at = (what: 'rss' | 'fds') => ({
      warm: sampler.median(s, what, warmAt, warmAt + RSS_WINDOW_S * 1000),
      end: sampler.median(s, what, t1 - RSS_WINDOW_S * 1000, t1),
    })
    const rss = at('rss')
    const fds = at('fds')
    const report: ServerReport = {
      alive: alive[label],
      exit: exits[label],
      external: s.pid === null,
      rss: rss.warm !== null && rss.end !== null ? { warm: rss.warm, end: rss.end } : null,
      fds: fds.warm !== null && fds.end !== null ? { warm: fds.warm, end: fds.end } : null,
    }
    if (!alive[label] || (s.pid !== null && exits[label] !== 0)) report.stderrTail = s.stderrTail().slice(-2000)
    return report
  }

  const losses: Record<string, number> = {}
  const lossDetails: string[] = []
  for (const [kind, n] of ledger.lossCounts) losses[kind] = n
  for (const l of ledger.losses) lossDetails.push(`${l.kind}: ${l.receiver}${l.sender ? ` ← ${l.sender}` : ''}: ${l.detail}`)
  for (const [kind, n] of churn.losses.counts) losses[kind] = n
  lossDetails.push(...churn.losses.details)
  const hostileStats: ModelReport['hostile'] = {}
  for (const [kind, s] of hostile.stats) {
    hostileStats[kind] = s
    if (s.runs > s.handled) {
      losses[`hostile-unhandled:${kind}`] = s.runs - s.handled
      lossDetails.push(...s.notes.map(n => `hostile ${kind}: ${n}`))
    }
  }
  const report: Omit<ModelReport, 'failures'> = {
    model,
    seconds: (t1 - t0) / 1000,
    warmupSeconds,
    chat: { ...pool.stats, sent: ledger.sent, delivered: ledger.delivered },
    echo: { ...churn.stats },
    hostile: hostileStats,
    servers: { echo: server(echo, 'echo'), chat: server(chat, 'chat') },
    losses,
    lossDetails,
  }
  return { ...report, failures: verdict(report) }
}
