// `selectloop chat [--model selector|threads] [--host H] [--port P] [--framing auto|line|chunk]
//                  [--max-clients N] [--max-line BYTES] [--max-name N] [--max-outbuf BYTES]
//                  [--max-rate BYTES] [--idle-timeout S] [--max-threads N] [--pool N]
//                  [--no-console] [--quiet] [--trace] [--redis URL] [--room NAME] [--name-expiry S]
//                  [--server-name NAME] [--workers N|auto] [--schedule rr|os]`
import { Tracer, bothObservers } from '../trace.js'
import { WORKER_OPTIONS, isWorkerProcess, parseWorkerOptions, serveWithWorkers, workerUsage, type WorkerContext } from '../cluster/index.js'
import { BUS_OPTIONS, busUsage, parseBusOptions } from './bus/options.js'
import type { ChatIo } from './selector-server.js'
import { UsageError, parseChoice, parseCommandArgs, parseIntegerOption, parseNumberOption, parsePort } from '../cli/args.js'
import { serveUntilSignalled, type RunningServer } from '../server-lifecycle.js'
import { capConnections } from '../fd-limit.js'
import { MAX_THREADS_LIMIT } from '../threads/host.js'
import { WEB_OPTIONS, prepareWeb, webUsage } from '../web/options.js'
import { CHAT_DEFAULTS, CHAT_MODELS, FRAMINGS, type ChatModel, type ChatOptions } from './options.js'
import { TLS_SERVER_OPTIONS, TLS_SERVER_SYNOPSIS, certificateArgs, serverTls, tlsServerUsage } from '../tls/options.js'

const D = CHAT_DEFAULTS
const USAGE = `usage: selectloop chat [--model ${CHAT_MODELS.join('|')}] [--host HOST] [--port PORT] [--framing auto|line|chunk]
                       [--max-clients N] [--max-line BYTES] [--max-name N] [--max-outbuf BYTES]
                       [--max-rate BYTES] [--idle-timeout S] [--max-threads N] [--pool N]
                       [--no-console] [--quiet] [--trace]
                       [--redis URL] [--room NAME] [--name-expiry S] [--server-name NAME]
                       [--workers N|auto] [--schedule rr|os]
                       [--web [HOST:]PORT] [--web-token T] [--web-viewers N]
                       ${TLS_SERVER_SYNOPSIS}

  --model        concurrency model (default selector)
  --host         address to bind (default ${D.host})
  --port         port to bind, 0 for any free port (default ${D.port})
  --framing      line: messages end with \\n; chunk: each read is a message (Python-style
                 clients that send with no newline); auto: decided per connection from its
                 first read (default ${D.framing})
  --max-clients  connections beyond this are told the server is full (default ${D.maxClients})
  --max-line     longest message in bytes; longer closes that connection (default ${D.maxLine})
  --max-name     longest user name in characters (default ${D.maxName})
  --max-outbuf   bytes queued for one client before it is dropped as not reading (default ${D.maxOutbuf})
  --max-threads  threads model: live threads at most (default ${D.maxThreads}, limit ${MAX_THREADS_LIMIT});
                 a client beyond it is told "server busy" and closed
  --pool         threads model: threads started up front and kept parked for reuse (default ${D.pool})
  --max-rate     bytes per second read from one client at most, a second's worth at once;
                 a faster sender is slowed down, 0 for no limit (default ${D.maxRate})
  --idle-timeout close a connection silent for S seconds, telling it why (default off)
  --no-console   do not read operator commands from stdin (for servers run in the background)
  --quiet        do not log connects, joins and leaves, nor show the chat on stdout
  --trace        print what the server does, one line per event: select rounds, registrations and
                 interest changes, bytes, state changes, threads and the lock (docs/trace.md)
${busUsage(15)}
${workerUsage(15, 'the chat needs --redis with it: Redis is what makes the workers one room')}
${webUsage(17, 'chat')}
${tlsServerUsage(15)}

Operator console (type on the server's stdin): text goes to everyone as [server] text;
/who, /msg NAME text, /kick NAME.`

/** Starts `model` (parseChoice has checked it is one of CHAT_MODELS; the switch covers them all). */
export async function startChat(model: ChatModel, options: ChatOptions, io: ChatIo = {}): Promise<RunningServer> {
  switch (model) {
    case 'selector':
      return (await import('./selector-server.js')).startSelectorChat(options, io)
    case 'threads':
      return (await import('./threads-server.js')).startThreadsChat(options)
  }
}

export async function run(argv: string[]): Promise<void> {
  const parsed = parseCommandArgs(
    argv,
    {
      model: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      framing: { type: 'string' },
      'max-clients': { type: 'string' },
      'max-line': { type: 'string' },
      'max-name': { type: 'string' },
      'max-outbuf': { type: 'string' },
      'max-threads': { type: 'string' },
      pool: { type: 'string' },
      'idle-timeout': { type: 'string' },
      'max-rate': { type: 'string' },
      'no-console': { type: 'boolean' },
      quiet: { type: 'boolean' },
      trace: { type: 'boolean' },
      ...BUS_OPTIONS,
      ...WORKER_OPTIONS,
      ...WEB_OPTIONS,
      ...TLS_SERVER_OPTIONS,
    },
    USAGE,
  )
  if (!parsed) return
  const v = parsed.values
  const int = (name: string, value: string | undefined, fallback: number, min: number, max: number) =>
    value === undefined ? fallback : parseIntegerOption(name, value, min, max)
  const model = parseChoice('--model', v.model, CHAT_MODELS, 'selector')
  const options: ChatOptions = {
    ...D,
    ...parseBusOptions(v),
    host: v.host ?? D.host,
    port: parsePort(v.port, D.port),
    framing: parseChoice('--framing', v.framing, FRAMINGS, D.framing),
    // Lowered (with a log line) when the file-descriptor limit would be reached first.
    maxClients: capConnections(
      v['max-clients'] === undefined ? undefined : parseIntegerOption('--max-clients', v['max-clients'], 1, 1_000_000),
      D.maxClients,
    ),
    maxLine: int('--max-line', v['max-line'], D.maxLine, 16, 16 * 1024 * 1024),
    maxName: int('--max-name', v['max-name'], D.maxName, 1, 1024),
    maxOutbuf: int('--max-outbuf', v['max-outbuf'], D.maxOutbuf, 1024, 1024 * 1024 * 1024),
    maxRate: int('--max-rate', v['max-rate'], D.maxRate, 0, 1024 * 1024 * 1024),
    idleTimeoutMs: v['idle-timeout'] === undefined ? 0 : parseNumberOption('--idle-timeout', v['idle-timeout'], 0, 86_400) * 1000,
    console: !v['no-console'],
    verbose: !v.quiet,
    trace: Boolean(v.trace),
    maxThreads: int('--max-threads', v['max-threads'], D.maxThreads, 1, MAX_THREADS_LIMIT),
    pool: int('--pool', v.pool, D.pool, 0, MAX_THREADS_LIMIT),
    tls: null,
  }
  if (options.pool > options.maxThreads) throw new UsageError(`--pool (${options.pool}) cannot exceed --max-threads (${options.maxThreads})`)
  if (options.redis !== null && model !== 'selector') throw new UsageError('--redis works with --model selector')
  const workers = parseWorkerOptions(v)
  if (workers) {
    if (v.web !== undefined) throw new UsageError('--web works without --workers: one process serves the web console')
    if (options.redis === null) throw new UsageError('--workers needs --redis: each worker is a server of its own, and Redis is what makes them one room')
    if (model !== 'selector') throw new UsageError('--workers works with --model selector')
  }
  options.tls = serverTls(v, isWorkerProcess())
  if (workers) {
    const start = (w: WorkerContext) =>
      startChat(
        model,
        { ...options, console: options.console && w.console !== null, observer: options.trace ? new Tracer() : null },
        // Worker 0 has the console and shows the chat; every worker is a server of the room, named apart.
        { consoleInput: w.console ?? undefined, showChat: w.index === 0, serverSuffix: `/w${w.index + 1}` },
      )
    const workerArgs = () => (options.tls ? certificateArgs(options.tls) : [])
    return serveWithWorkers({ ...workers, console: options.console, shutdownGraceMs: options.shutdownGraceMs, workerArgs }, start)
  }
  const web = await prepareWeb(v, options.host, 'chat', options.verbose)
  const server = await startChat(model, { ...options, observer: bothObservers(web?.watch, options.trace ? new Tracer() : null) })
  await serveUntilSignalled(web ? await web.attach(server, options, options.tls) : server, web?.announce)
}
