// `selectloop echo [--model selector|threads|net] [--host H] [--port P] [--max-conns N] [--idle-timeout S]
//                  [--grace S] [--max-threads N] [--pool N] [--trace] [--quiet] [--workers N|auto] [--schedule rr|os]`
import { WORKER_OPTIONS, isWorkerProcess, parseWorkerOptions, workerUsage, serveWithWorkers } from '../cluster/index.js'
import { UsageError, parseChoice, parseCommandArgs, parseIntegerOption, parseNumberOption, parsePort } from '../cli/args.js'
import { serveUntilSignalled, type RunningServer } from '../server-lifecycle.js'
import { capConnections } from '../fd-limit.js'
import { MAX_THREADS_LIMIT } from '../threads/host.js'
import { WEB_OPTIONS, prepareWeb, webUsage } from '../web/options.js'
import { Tracer, bothObservers } from '../trace.js'
import { ECHO_DEFAULTS, ECHO_MODELS, type EchoModel, type EchoOptions } from './options.js'
import { TLS_SERVER_OPTIONS, TLS_SERVER_SYNOPSIS, certificateArgs, serverTls, tlsServerUsage } from '../tls/options.js'

const USAGE = `usage: selectloop echo [--model selector|threads|net] [--host HOST] [--port PORT]
                       [--max-conns N] [--idle-timeout S] [--grace S] [--max-threads N] [--pool N]
                       [--trace] [--quiet] [--workers N|auto] [--schedule rr|os]
                       [--web [HOST:]PORT] [--web-token T] [--web-viewers N]
                       ${TLS_SERVER_SYNOPSIS}

  --model         concurrency model (default selector)
  --host          address to bind (default ${ECHO_DEFAULTS.host})
  --port          port to bind, 0 for any free port (default ${ECHO_DEFAULTS.port})
  --max-conns     connections served at once; more are refused and logged (default ${ECHO_DEFAULTS.maxConnections})
  --idle-timeout  close a connection silent for S seconds (default off)
  --grace         on SIGINT/SIGTERM, seconds the connections still open may take to finish before
                  they are closed (default ${ECHO_DEFAULTS.shutdownGraceMs / 1000})
  --max-threads   threads model: live threads at most (default ${ECHO_DEFAULTS.maxThreads}, limit ${MAX_THREADS_LIMIT});
                  a client beyond it is told "server busy" and closed
  --pool          threads model: threads started up front and kept parked for reuse
                  (default ${ECHO_DEFAULTS.pool}: a new thread per connection, ~30 ms start-up each)
  --trace         print what the server does, one line per event: select rounds, registrations and
                  interest changes, bytes per recv/send, state changes (docs/trace.md)
  --quiet         do not log connects and disconnects
${workerUsage(16)}
${webUsage(18, 'echo')}
${tlsServerUsage(16)}`

/** Starts `model` (parseChoice has checked it is one of ECHO_MODELS; the switch covers them all). */
export async function startEcho(model: EchoModel, options: EchoOptions): Promise<RunningServer> {
  switch (model) {
    case 'selector':
      return (await import('./selector-server.js')).startSelectorEcho(options)
    case 'threads':
      return (await import('./threads-server.js')).startThreadsEcho(options)
    case 'net':
      return (await import('./net-server.js')).startNetEcho(options)
  }
}

export async function run(argv: string[]): Promise<void> {
  const parsed = parseCommandArgs(
    argv,
    {
      model: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'max-threads': { type: 'string' },
      pool: { type: 'string' },
      trace: { type: 'boolean' },
      quiet: { type: 'boolean' },
      'max-conns': { type: 'string' },
      'idle-timeout': { type: 'string' },
      grace: { type: 'string' },
      ...WORKER_OPTIONS,
      ...WEB_OPTIONS,
      ...TLS_SERVER_OPTIONS,
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
    shutdownGraceMs: v.grace === undefined ? ECHO_DEFAULTS.shutdownGraceMs : parseNumberOption('--grace', v.grace, 0, 3600) * 1000,
    maxThreads: v['max-threads'] === undefined ? ECHO_DEFAULTS.maxThreads : parseIntegerOption('--max-threads', v['max-threads'], 1, MAX_THREADS_LIMIT),
    pool: v.pool === undefined ? ECHO_DEFAULTS.pool : parseIntegerOption('--pool', v.pool, 0, MAX_THREADS_LIMIT),
    tls: null,
  }
  if (options.pool > options.maxThreads) throw new UsageError(`--pool (${options.pool}) cannot exceed --max-threads (${options.maxThreads})`)
  const workers = parseWorkerOptions(v)
  if (workers) {
    if (v.web !== undefined) throw new UsageError('--web works without --workers: one process serves the web console')
    if (model === 'threads') throw new UsageError('--workers works with --model selector or net (threads: one process is the model)')
  }
  options.tls = serverTls(v, isWorkerProcess())
  if (workers) {
    const workerArgs = () => (options.tls ? certificateArgs(options.tls) : [])
    const traced = () => ({ ...options, observer: options.trace ? new Tracer() : null })
    return serveWithWorkers({ ...workers, console: false, shutdownGraceMs: options.shutdownGraceMs, workerArgs }, () => startEcho(model, traced()))
  }
  const web = await prepareWeb(v, options.host, 'echo', options.verbose)
  const server = await startEcho(model, { ...options, observer: bothObservers(web?.watch, options.trace ? new Tracer() : null) })
  await serveUntilSignalled(web ? await web.attach(server, null, options.tls) : server, web?.announce)
}
