import { Redis } from 'ioredis';
import type { Logger } from '../../log.ts';

/** Reconnect backoff: fast first, at most this far apart, so every process is back within about a second of Redis. */
const MAX_RETRY_DELAY_MS = 1000;

/**
 * Whether a process reaches Redis, over all its connections: an outage is logged once when the
 * first connection loses it, and its end once all are back.
 */
export class RedisHealth {
  private readonly down = new Set<string>();

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  get reachable(): boolean {
    return this.down.size === 0;
  }

  lost(connection: string, reason: string): void {
    if (this.down.has(connection)) return;
    if (this.down.size === 0) this.log.warn({ reason, redis: addressOf(this.url) }, 'Redis is unreachable: holding what is in flight and retrying');
    this.down.add(connection);
  }

  back(connection: string): void {
    if (!this.down.delete(connection) || this.down.size > 0) return;
    this.log.info({ redis: addressOf(this.url) }, 'Redis is back');
  }
}

/**
 * A Redis connection that never gives up: commands issued while Redis is away wait in the
 * client's offline queue and go out when it is back (nothing in flight is dropped).
 */
export function connectRedis(url: string, name: string, health: RedisHealth): Redis {
  const redis = new Redis(url, {
    connectionName: name,
    // null: a command waits for the reconnect however long it takes, instead of failing after 20 tries
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), MAX_RETRY_DELAY_MS),
  });
  redis.on('error', (err: Error) => health.lost(name, err.message));
  redis.on('ready', () => health.back(name));
  return redis;
}

/** host:port/db of a redis:// URL: what a log may show of it. */
export function addressOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 6379}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
  } catch {
    return 'an unparsable bus.redis_url';
  }
}
