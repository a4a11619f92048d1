import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** A Lua script run by its hash, sent whole only when Redis does not know it (first use, or after a restart). */
class Script {
  private readonly sha: string;

  constructor(private readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(redis: Redis, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}

/**
 * Publishes an event once: its id is recorded (with an expiry) and the entry added in one atomic
 * step, so no crash between the two can lose the event or let its redelivery through.
 * KEYS: seen, stream. ARGV: ttl s, payload. Returns the entry id, or null for a duplicate.
 */
export const publishOnce = new Script(`
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return redis.call('XADD', KEYS[2], '*', 'e', ARGV[2])
end
return false`);

/**
 * Done with an entry: acknowledged, deleted from its stream (which stays as short as its backlog),
 * and its progress and retry count forgotten. KEYS: stream, progress, retries. ARGV: group, entry id, event id.
 */
export const ackEntry = new Script(`
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[3])
redis.call('HDEL', KEYS[3], ARGV[3])
return 1`);

/**
 * A process says it is alive, in Redis's own clock so machines need not agree on the time; processes
 * silent for an hour are forgotten. KEYS: beats, agents, processes. ARGV: id, runs agents (1/0), status JSON, forget after ms.
 * Returns [now, every process id and its last beat, the ids of the processes that run agents].
 */
export const heartbeat = new Script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
if ARGV[2] == '1' then redis.call('ZADD', KEYS[2], now, ARGV[1]) end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[4]))
for _, id in ipairs(old) do
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[1], id)
end
return {now, redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES'), redis.call('ZRANGE', KEYS[2], 0, -1)}`);

/** Takes a lease if its holder is still the one expected ('' for none). KEYS: lease. ARGV: expected, me. Returns 1 if taken. */
export const takeLease = new Script(`
local holder = redis.call('GET', KEYS[1]) or ''
if holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1`);

/** Gives a lease up if it is still ours. KEYS: lease. ARGV: me. */
export const releaseLease = new Script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`);

/** A process that stops says so, so nobody waits out its silence. KEYS: beats, agents, processes. ARGV: id. */
export const leave = new Script(`
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1`);
