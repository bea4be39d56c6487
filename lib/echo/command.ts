// `selectloop echo [--model selector|threads|net] [--host H] [--port P] [--trace] [--quiet]`
import { parseChoice, parseCommandArgs, parsePort, serveUntilSignalled, type RunningServer } from '../cli-support.js'
import { ECHO_DEFAULTS, ECHO_MODELS, type EchoModel, type EchoOptions } from './options.js'

const USAGE = `usage: selectloop echo [--model selector|threads|net] [--host HOST] [--port PORT] [--trace] [--quiet]

  --model   concurrency model (default selector)
  --host    address to bind (default ${ECHO_DEFAULTS.host})
  --port    port to bind, 0 for any free port (default ${ECHO_DEFAULTS.port})
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
  }
  const server = await startEcho(model, options)
  await serveUntilSignalled(server)
}
