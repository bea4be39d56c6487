// The chat-across-servers options, declared once and spread into `selectloop chat`'s option table:
// --redis URL, --room NAME, --name-expiry S, --server-name NAME.
import { UsageError, parseNumberOption } from '../../cli/args.js'

export interface BusOptions {
  /** redis://HOST:PORT[/DB]: every server with the same Redis and room is one room; null: this server alone. */
  redis: string | null
  /** The room's name in Redis (servers of different rooms can share one Redis). */
  room: string
  /** A name's claim in Redis lasts this long unless its server renews it: a crashed server's names are free after it. */
  nameExpiryMs: number
  /** How /who names this server; null: HOSTNAME:PORT. */
  serverName: string | null
}

export const BUS_DEFAULTS: BusOptions = { redis: null, room: 'lobby', nameExpiryMs: 15_000, serverName: null }

export const BUS_OPTIONS = {
  redis: { type: 'string' },
  room: { type: 'string' },
  'name-expiry': { type: 'string' },
  'server-name': { type: 'string' },
} as const

const HELP: Array<[string, string[]]> = [
  ['--redis', ['redis://HOST:PORT[/DB]: one room with every server on that Redis (and --room)']],
  ['--room', [`the room's name on that Redis (default ${BUS_DEFAULTS.room})`]],
  [
    '--name-expiry',
    ['seconds a name stays claimed in Redis unless its server renews it: a crashed', `server's names are free again after it (default ${BUS_DEFAULTS.nameExpiryMs / 1000})`],
  ],
  ['--server-name', ['how /who names this server (default HOSTNAME:PORT)']],
]

/** The options' lines for --help, the names padded to `width` as the command's others are. */
export function busUsage(width: number): string {
  return HELP.flatMap(([name, lines]) => lines.map((text, i) => `  ${(i === 0 ? name : '').padEnd(width)}${text}`)).join('\n')
}

const ROOM = /^[A-Za-z0-9_.-]{1,64}$/

/** Checks the bus options; raises UsageError naming the bad one. */
export function parseBusOptions(v: { redis?: string; room?: string; 'name-expiry'?: string; 'server-name'?: string }): BusOptions {
  const redis = v.redis === undefined ? null : parseRedisUrl(v.redis)
  if (redis === null) {
    const stray = (['room', 'name-expiry', 'server-name'] as const).find(k => v[k] !== undefined)
    if (stray) throw new UsageError(`--${stray} needs --redis (it is about the room across servers)`)
  }
  const room = v.room ?? BUS_DEFAULTS.room
  if (!ROOM.test(room)) throw new UsageError(`--room must be 1 to 64 letters, digits, '_', '.' or '-', got '${room}'`)
  const serverName = v['server-name'] ?? null
  if (serverName !== null && !/^\S{1,64}$/u.test(serverName)) throw new UsageError(`--server-name must be 1 to 64 characters with no spaces, got '${serverName}'`)
  return {
    redis,
    room,
    nameExpiryMs: v['name-expiry'] === undefined ? BUS_DEFAULTS.nameExpiryMs : Math.round(parseNumberOption('--name-expiry', v['name-expiry'], 0.3, 3600) * 1000),
    serverName,
  }
}

function parseRedisUrl(value: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new UsageError(`--redis must be a URL such as redis://127.0.0.1:6379, got '${value}'`)
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new UsageError(`--redis must start with redis:// (or rediss:// for TLS), got '${value}'`)
  if (!/^\/?(\d+)?$/.test(url.pathname)) throw new UsageError(`--redis: the path is a database number (redis://HOST:PORT/DB), got '${url.pathname}'`)
  return value
}
