// Command-line arguments: strict parsing with `--help` built in, and the value checks every
// command shares. Every bad value is a UsageError: one line naming the option, exit status 2.
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { didYouMean } from './suggest.js'

/** A bad command line: printed as one line (plus usage), exit status 2, no stack trace. */
export class UsageError extends Error {
  override name = 'UsageError'
}

type Options = NonNullable<ParseArgsConfig['options']>

/** A value that is a negative number (`-1`, `-0.5`, `-.5`), not an option. */
const NEGATIVE_NUMBER = /^-\.?\d/

/**
 * parseArgs in strict mode, with `--help` built in.
 * Returns the parsed values, or null when help was printed. Raises UsageError on bad input: an
 * unknown option names the closest known one (`Unknown option '--prot' (did you mean --port?)`).
 */
export function parseCommandArgs<O extends Options>(
  argv: string[],
  options: O,
  usage: string,
  allowPositionals = false,
) {
  const config = {
    args: joinNegativeValues(argv, options),
    options: { ...options, help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals,
  } as const
  let parsed
  try {
    parsed = parseArgs(config)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const message = e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? unknownOption(config) : undefined
    throw new UsageError(`${message ?? e.message.split('\n')[0]}\n${usage}`)
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(usage + '\n')
    return null
  }
  return parsed
}

/**
 * parseArgs reads the `-1` of `--port -1` as an option of its own and calls `--port` ambiguous.
 * A string option followed by a negative number takes it as its value (`--port=-1`), so the
 * value gets its range check like any other.
 */
function joinNegativeValues(argv: string[], options: Options): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--') return out.concat(argv.slice(i))
    const name = optionName(arg, options)
    const next = argv[i + 1]
    if (name !== undefined && options[name].type === 'string' && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      out.push(`--${name}=${next}`)
      i++
    } else out.push(arg)
  }
  return out
}

/** The option `arg` names on its own (`--port`, or a short alias `-p`), if it is one. */
function optionName(arg: string, options: Options): string | undefined {
  if (/^--[^=]+$/.test(arg)) return Object.hasOwn(options, arg.slice(2)) ? arg.slice(2) : undefined
  if (/^-[^-]$/.test(arg)) return Object.keys(options).find(name => options[name].short === arg[1])
  return undefined
}

/** "Unknown option '--prot' (did you mean --port?)" for the first unknown option, from parseArgs' own tokens. */
function unknownOption(config: { args: string[]; options: Options }): string | undefined {
  const { tokens } = parseArgs({ ...config, strict: false, allowPositionals: true, tokens: true })
  const token = tokens.find(t => t.kind === 'option' && !Object.hasOwn(config.options, t.name))
  if (token?.kind !== 'option') return undefined
  const hint = token.rawName.startsWith('--') ? didYouMean(token.name, Object.keys(config.options), '--') : ''
  return `Unknown option '${token.rawName}'${hint}`
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
    throw new UsageError(`${name} must be one of ${choices.join(', ')}, got '${value}'${didYouMean(value, choices)}`)
  }
  return value as T
}
