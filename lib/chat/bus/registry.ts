// The room's names in Redis: one key per name, holding its claim (owner server, server name,
// name) with an expiry that the owning server renews, plus an index of the names (a sorted set,
// scored by expiry) so a server can list the room without scanning Redis's whole keyspace.
//
//   selectloop:{ROOM}:name:NAMEKEY   the claim, SET NX PX: the first server to set it holds it
//   selectloop:{ROOM}:index          sorted set: NAMEKEY → when its claim expires (Redis's clock)
//   selectloop:{ROOM}:log            the room's events, a capped stream (redis.ts)
//
// The {ROOM} braces are a Redis Cluster hash tag: a room's keys live in one slot. Each operation
// is one Lua script, so a claim and its index entry change together. A server that dies stops
// renewing: its claims expire and every other server's next tick no longer lists them.
import type { RedisClientType } from '@redis/client'
import { nameKey } from '../names.js'
import { decodeClaim, encodeClaim, type ClaimValue } from './wire.js'

/** Now in ms, from Redis's clock (every server agrees on it, whatever their own clocks say). */
const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

/** KEYS: claim, index. ARGV: value, ttl ms, namekey. 1 if claimed, 0 if someone holds it. */
const CLAIM = `${NOW}
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3])
return 1`

/** KEYS: claim, index. ARGV: value, namekey. Deletes the claim only if it is still this one. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
return 1`

/**
 * The renewal and the listing in one round trip.
 * KEYS: index, then one claim key per name held. ARGV: ttl ms, key prefix, then (namekey, value)
 * per name held. Renews each claim still ours; takes back one that expired meanwhile (Redis was
 * restarted, or this server was cut off past the expiry); reports the names now held by someone
 * else. Then drops expired index entries and returns every live claim in the room.
 * Returns { lost namekeys, claims }.
 */
const TICK = `${NOW}
local ttl = tonumber(ARGV[1])
local lost = {}
for i = 2, #KEYS do
  local nk, value = ARGV[2 * i - 1], ARGV[2 * i]
  local current = redis.call('GET', KEYS[i])
  if current == value then
    redis.call('PEXPIRE', KEYS[i], ttl)
    redis.call('ZADD', KEYS[1], now + ttl, nk)
  elseif not current then
    redis.call('SET', KEYS[i], value, 'PX', ttl)
    redis.call('ZADD', KEYS[1], now + ttl, nk)
  else
    lost[#lost + 1] = nk
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local claims = {}
for _, nk in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local value = redis.call('GET', ARGV[2] .. nk)
  if value then claims[#claims + 1] = value else redis.call('ZREM', KEYS[1], nk) end
end
return { lost, claims }`

export type RedisClient = RedisClientType

export interface TickResult {
  /** Name keys this server held that another server holds now. */
  lost: string[]
  /** Every claim in the room, this server's included. */
  claims: ClaimValue[]
}

export class NameRegistry {
  private readonly prefix: string
  private readonly index: string

  constructor(
    private readonly client: RedisClient,
    room: string,
    private readonly ttlMs: number,
  ) {
    this.prefix = `selectloop:{${room}}:name:`
    this.index = `selectloop:{${room}}:index`
  }

  /** Claims `name` with `value`: true if it is ours now, false if someone holds it. Rejects when Redis cannot be asked. */
  async claim(name: string, value: ClaimValue): Promise<boolean> {
    const nk = nameKey(name)
    const reply = await this.client.eval(CLAIM, { keys: [this.prefix + nk, this.index], arguments: [encodeClaim(value), String(this.ttlMs), nk] })
    return reply === 1
  }

  /** Frees `name` if `value` still holds it. */
  async release(name: string, value: ClaimValue): Promise<void> {
    const nk = nameKey(name)
    await this.client.eval(RELEASE, { keys: [this.prefix + nk, this.index], arguments: [encodeClaim(value), nk] })
  }

  /** Renews the claims `held` (by name key) and lists the room. Rejects when Redis cannot be asked. */
  async tick(held: ReadonlyMap<string, ClaimValue>): Promise<TickResult> {
    const keys = [this.index]
    const args = [String(this.ttlMs), this.prefix]
    for (const [nk, value] of held) {
      keys.push(this.prefix + nk)
      args.push(nk, encodeClaim(value))
    }
    const [lost, claims] = (await this.client.eval(TICK, { keys, arguments: args })) as [string[], string[]]
    return { lost, claims: claims.map(decodeClaim).filter((c): c is ClaimValue => c !== null) }
  }
}
