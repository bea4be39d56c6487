// How a program ends on an error: one clear line on stderr and an exit status, never a stack
// trace (SELECTLOOP_DEBUG=1 adds it).
import { UsageError } from './args.js'

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
    // An offline machine cannot tell "no such host" from "no DNS": same answer.
    case 'EAI_AGAIN':
      return `unknown host ${(e as { hostname?: string }).hostname ?? ''}`.trimEnd()
    default:
      return e?.message ?? String(e)
  }
}
