// The --web options, declared once and spread into each server command's option table (echo and
// chat, every model), with their usage lines and their parsing. The web side itself (lib/web/
// index.ts and what it loads: node:http, ws) is imported only when --web is given.
import { UsageError, parseIntegerOption } from '../cli/args.js'
import type { WebSide } from './index.js'

export const WEB_OPTIONS = {
  web: { type: 'string' },
  'web-token': { type: 'string' },
  'web-viewers': { type: 'string' },
} as const

export interface WebOptions {
  /** Where the web server binds. */
  host: string
  port: number
  /** The console's token: given with --web-token, else a random one per run (null here). */
  token: string | null
  /** Console viewers at once. */
  maxViewers: number
}

export const WEB_DEFAULTS = { maxViewers: 8 }

/** A token a person can type and a URL can carry as it is. */
const TOKEN = /^[A-Za-z0-9._~-]{8,128}$/

/** The usage lines of the --web options, their descriptions starting at column `width`. */
export function webUsage(width: number, protocol: 'echo' | 'chat'): string {
  const pad = (name: string) => `  ${name.padEnd(width - 2)}`
  const indent = ' '.repeat(width)
  const web =
    protocol === 'chat'
      ? [`${pad('--web')}[HOST:]PORT: serve the chat in a browser (/) and the operator's window`, `${indent}(/console) from this process; 0 for any free port, HOST defaults to --host`]
      : [`${pad('--web')}[HOST:]PORT: serve the operator's window (/console) from this process;`, `${indent}0 for any free port, HOST defaults to --host`]
  return [
    ...web,
    `${pad('--web-token')}the token /console needs (default: a new random one each run)`,
    `${pad('--web-viewers')}console viewers at once (default ${WEB_DEFAULTS.maxViewers})`,
  ].join('\n')
}

/** The --web options from parsed values, or null without --web. Raises UsageError on bad values. */
export function parseWebOptions(
  values: { web?: string; 'web-token'?: string; 'web-viewers'?: string },
  serverHost: string,
): WebOptions | null {
  if (values.web === undefined) {
    if (values['web-token'] !== undefined || values['web-viewers'] !== undefined) {
      throw new UsageError(`${values['web-token'] !== undefined ? '--web-token' : '--web-viewers'} needs --web [HOST:]PORT`)
    }
    return null
  }
  const { host, port } = parseHostPort(values.web, serverHost)
  const token = values['web-token'] ?? null
  if (token !== null && !TOKEN.test(token)) {
    throw new UsageError('--web-token must be 8 to 128 characters, letters, digits and . _ ~ - only')
  }
  const maxViewers = values['web-viewers'] === undefined ? WEB_DEFAULTS.maxViewers : parseIntegerOption('--web-viewers', values['web-viewers'], 1, 1000)
  return { host, port, token, maxViewers }
}

/** `PORT`, `HOST:PORT` or `[IPv6]:PORT`. */
function parseHostPort(value: string, defaultHost: string): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\]:(.+)$/.exec(value)
  if (bracketed) return { host: bracketed[1], port: parseIntegerOption('--web', bracketed[2], 0, 65535) }
  const colon = value.lastIndexOf(':')
  if (colon < 0) return { host: defaultHost, port: parseIntegerOption('--web', value, 0, 65535) }
  const host = value.slice(0, colon)
  if (host === '' || host.includes(':')) throw new UsageError(`--web must be PORT, HOST:PORT or [IPv6]:PORT, got '${value}'`)
  return { host, port: parseIntegerOption('--web', value.slice(colon + 1), 0, 65535) }
}

/** The web side for a server command, or null without --web (nothing of it is loaded then). */
export async function prepareWeb(
  values: { web?: string; 'web-token'?: string; 'web-viewers'?: string },
  serverHost: string,
  protocol: 'echo' | 'chat',
  verbose: boolean,
): Promise<WebSide | null> {
  const options = parseWebOptions(values, serverHost)
  if (options === null) return null
  const { WebSide } = await import('./index.js')
  return new WebSide(options, protocol, verbose)
}
