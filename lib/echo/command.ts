// `selectloop echo [--model selector|threads|net] [--host H] [--port P] [--trace] [--quiet]`
import {
  parseChoice,
  parseCommandArgs,
  parseIntegerOption,
  parseNumberOption,
  parsePort,
  serveUntilSignalled,
  type RunningServer,
} from '../cli-support.js'
import { capConnections } from '../fd-limit.js'
import { ECHO_DEFAULTS, ECHO_MODELS, type EchoModel, type EchoOptions } from './options.js'

const USAGE = `usage: selectloop echo [--model selector|threads|net] [--host HOST] [--port PORT]
                       [--max-conns N] [--idle-timeout S] [--trace] [--quiet]

  --model   concurrency model (default selector)
  --host    address to bind (default ${ECHO_DEFAULTS.host})
  --port    port to bind, 0 for any free port (default ${ECHO_DEFAULTS.port})
  --max-conns     connections served at once; more are refused and logged (default ${ECHO_DEFAULTS.maxConnections})
  --idle-timeout  close a connection silent for S seconds (default off)
  --trace   print each select round and dispatch (selector), thread starts and exits (threads)
  --quiet   do not log connects and disconnects`

export async function startEcho(model: EchoModel, options: EchoOptions): Promise<RunningServer> {
  switch (model) {
    case 'selector':
      return (await import('./selector.js')).startSelectorEcho(options)
    case 'net':
      return (await import('./net.js')).startNetEcho(options)
    default:
      throw new Error(`model '${model}' is not available yet`)
  }
}

export async function run(argv: string[]): Promise<void> {
  const parsed = parseCommandArgs(
    argv,
    {
      model: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      trace: { type: 'boolean' },
      quiet: { type: 'boolean' },
      'max-conns': { type: 'string' },
      'idle-timeout': { type: 'string' },
    },
    USAGE,
  )
  if (!parsed) return
  const v = parsed.values
  const model = parseChoice('--model', v.model, ECHO_MODELS, 'selector')
  const options: EchoOptions = {
    ...ECHO_DEFAULTS,
    host: v.host ?? ECHO_DEFAULTS.host,
    port: parsePort(v.port, ECHO_DEFAULTS.port),
    trace: Boolean(v.trace),
    verbose: !v.quiet,
    maxConnections: capConnections(
      v['max-conns'] === undefined ? undefined : parseIntegerOption('--max-conns', v['max-conns'], 1, 1_000_000),
      ECHO_DEFAULTS.maxConnections,
    ),
    idleTimeoutMs: v['idle-timeout'] === undefined ? 0 : parseNumberOption('--idle-timeout', v['idle-timeout'], 0, 86_400) * 1000,
  }
  const server = await startEcho(model, options)
  await serveUntilSignalled(server)
}
