// Shared pieces of the command-line programs: argument parsing with one-line errors,
// the "listening on HOST:PORT" line, and clean shutdown on SIGINT/SIGTERM.
import { parseArgs, type ParseArgsConfig } from 'node:util'

/** A bad command line: printed as one line (plus usage), exit status 2, no stack trace. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/** Prints a fatal error as one clear line and sets the exit status (2 for usage, 1 otherwise). */
export function reportFatal(err: unknown): void {
  if (err instanceof UsageError) {
    process.stderr.write(`selectloop: ${err.message}\n`)
    process.exitCode = 2
    return
  }
  const e = err as NodeJS.ErrnoException
  process.stderr.write(`selectloop: ${describeError(e)}\n`)
  if (process.env.SELECTLOOP_DEBUG) process.stderr.write(`${e?.stack ?? e}\n`)
  process.exitCode = 1
}

/** A one-line, human description of a system error (EADDRINUSE, ECONNREFUSED, ...). */
export function describeError(e: NodeJS.ErrnoException): string {
  const { address, port } = e as { address?: string; port?: number }
  const where = address ? ` (${address}${port === undefined ? '' : `:${port}`})` : ''
  switch (e?.code) {
    case 'EADDRINUSE':
      return `address already in use${where}`
    case 'EADDRNOTAVAIL':
      return `cannot bind: address not available on this machine${where}`
    case 'EACCES':
      return `permission denied${where}`
    case 'ECONNREFUSED':
      return `connection refused${where}: is the server running?`
    case 'ENOTFOUND':
      return `unknown host ${(e as { hostname?: string }).hostname ?? ''}`.trimEnd()
    default:
      return e?.message ?? String(e)
  }
}

type Options = NonNullable<ParseArgsConfig['options']>

/**
 * parseArgs in strict mode, with `--help` built in.
 * Returns the parsed values, or null when help was printed. Raises UsageError on bad input.
 */
export function parseCommandArgs<O extends Options>(
  argv: string[],
  options: O,
  usage: string,
  allowPositionals = false,
) {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals,
    })
  } catch (err) {
    throw new UsageError(`${(err as Error).message.split('\n')[0]}\n${usage}`)
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(usage + '\n')
    return null
  }
  return parsed
}

/** Parses a TCP port (0..65535); raises UsageError otherwise. */
export function parsePort(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  return parseIntegerOption('--port', value, 0, 65535)
}

/** Parses an integer option within [min, max]; raises UsageError naming the option otherwise. */
export function parseIntegerOption(name: string, value: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(value.trim())) throw new UsageError(`${name} must be an integer, got '${value}'`)
  const n = Number(value)
  if (n < min || n > max) throw new UsageError(`${name} must be between ${min} and ${max}, got ${n}`)
  return n
}

/** Parses a number option (may be fractional) within [min, max]. */
export function parseNumberOption(name: string, value: string, min: number, max: number): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${name} must be a number, got '${value}'`)
  if (n < min || n > max) throw new UsageError(`${name} must be between ${min} and ${max}, got ${n}`)
  return n
}

/** Checks a value against a list of choices; raises UsageError otherwise. */
export function parseChoice<T extends string>(name: string, value: string | undefined, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`${name} must be one of ${choices.join(', ')}, got '${value}'`)
  }
  return value as T
}

/** A running server as the CLI sees it: its address and a graceful stop. */
export interface RunningServer {
  readonly host: string
  readonly port: number
  /** Stops accepting, finishes or says goodbye to clients, closes; resolves when done. */
  stop(): Promise<void>
  /** Resolves when the server has stopped for any reason. */
  readonly done: Promise<void>
}

/**
 * Prints `listening on HOST:PORT` (the first stdout line, which tests and the benchmark read),
 * then stops the server cleanly on SIGINT/SIGTERM; a second signal exits at once.
 */
export async function serveUntilSignalled(server: RunningServer): Promise<void> {
  process.stdout.write(`listening on ${server.host}:${server.port}\n`)
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`${signal} again: exiting now\n`)
      process.exit(130)
    }
    stopping = true
    process.stderr.write(`${signal}: shutting down\n`)
    server.stop().catch(reportFatal)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  await server.done
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
}

/** A timestamped log line on stderr (stdout is kept for the `listening on` line and data). */
export function log(message: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${message}\n`)
}

/**
 * A log line that may repeat in a flood (refused connections, EMFILE on accept): the first one is
 * printed, the rest are counted and summarised at most once per interval, so a flood cannot turn
 * into a flood of log lines.
 */
export class RateLimitedLog {
  private lastAt = -Infinity
  private suppressed = 0

  constructor(private readonly intervalMs = 1000) {}

  log(message: string): void {
    const now = performance.now()
    if (now - this.lastAt < this.intervalMs) {
      this.suppressed++
      return
    }
    const more = this.suppressed ? ` (+${this.suppressed} more like this)` : ''
    this.suppressed = 0
    this.lastAt = now
    log(message + more)
  }
}
