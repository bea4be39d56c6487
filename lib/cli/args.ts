// Command-line arguments: strict parsing with `--help` built in, and the value checks every
// command shares. Every bad value is a UsageError: one line naming the option, exit status 2.
import { parseArgs, type ParseArgsConfig } from 'node:util'

/** A bad command line: printed as one line (plus usage), exit status 2, no stack trace. */
export class UsageError extends Error {
  override name = 'UsageError'
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
