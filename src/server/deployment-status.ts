import { Redis } from 'ioredis';
import type { Config } from '../config/schema.ts';
import { addressOf } from '../core/redis/client.ts';
import { RedisKeys } from '../core/redis/keys.ts';
import type { ProcessReport } from '../core/redis/ownership.ts';

/** What `npm run status` says of a deployment on Redis: every process, from the reports they beat into Redis. */
export async function deploymentStatus(config: Config): Promise<{ text: string; running: boolean }> {
  const { bus } = config;
  const keys = new RedisKeys(bus.redis_prefix);
  // a status check must answer quickly: one try, no offline queue
  const redis = new Redis(bus.redis_url!, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null, connectTimeout: 3000 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const [time, reports, beats, inbound, outbound] = await Promise.all([
      redis.time(),
      redis.hgetall(keys.processes),
      redis.zrange(keys.beats, 0, -1, 'WITHSCORES'),
      Promise.all(Array.from({ length: bus.partitions }, (_, n) => redis.xlen(keys.inbound(n)))),
      redis.keys(`${bus.redis_prefix}:out:*`).then((streams) => Promise.all(streams.filter((s) => !s.endsWith(':owner')).map(async (s) => [s.slice(`${bus.redis_prefix}:out:`.length), await redis.xlen(s)] as const))),
    ]);
    const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    const lastBeat = new Map<string, number>();
    for (let i = 0; i < beats.length; i += 2) lastBeat.set(beats[i]!, Number(beats[i + 1]));
    const processes = Object.values(reports)
      .map((json) => JSON.parse(json) as ProcessReport)
      .sort((a, b) => a.role.localeCompare(b.role) || a.id.localeCompare(b.id));
    const alive = processes.filter((p) => now - (lastBeat.get(p.id) ?? 0) < bus.claim_idle_ms);
    const lines = [
      `deployment on Redis ${addressOf(bus.redis_url!)} (prefix ${bus.redis_prefix}): ${alive.length} process(es) alive`,
      ...processes.map((p) => {
        const ago = now - (lastBeat.get(p.id) ?? 0);
        const state = ago < bus.claim_idle_ms ? 'alive' : 'silent (dead?)';
        return `  ${p.role.padEnd(7)} pid ${p.pid} on ${p.host}: ${state}, last heartbeat ${(ago / 1000).toFixed(1)}s ago, sessions in flight ${p.inFlight}, queued ${p.queued}, streams ${p.streams.length}`;
      }),
      `  inbound events not yet done: ${inbound.reduce((a, b) => a + b, 0)} (over ${bus.partitions} partitions)`,
      ...outbound.map(([channel, length]) => `  replies not yet delivered on ${channel}: ${length}`),
    ];
    return { text: lines.join('\n'), running: alive.length > 0 };
  } catch (err) {
    return { text: `Redis at ${addressOf(bus.redis_url!)} (bus.redis_url) is unreachable: ${err instanceof Error ? err.message : String(err)}`, running: false };
  } finally {
    redis.disconnect();
  }
}
