import { Redis } from 'ioredis';
import type { Logger } from '../../log.ts';

/** Reconnect backoff: fast first, at most this far apart, so every process is back within about a second of Redis. */
const MAX_RETRY_DELAY_MS = 1000;

/**
 * A Redis connection that never gives up: commands issued while Redis is away wait in the
 * client's offline queue and go out when it is back (nothing in flight is dropped), and the
 * outage is logged once, with its end.
 */
export function connectRedis(url: string, name: string, log: Logger): Redis {
  const redis = new Redis(url, {
    connectionName: name,
    lazyConnect: false,
    // null: a command waits for the reconnect however long it takes, instead of failing after 20 tries
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), MAX_RETRY_DELAY_MS),
    // the address is logged without the password (the URL may carry one)
    showFriendlyErrorStack: false,
  });
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    log.warn({ connection: name, reason: err.message, redis: addressOf(url) }, 'Redis is unreachable: holding what is in flight and retrying');
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    log.info({ connection: name, redis: addressOf(url) }, 'Redis is back');
  });
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
