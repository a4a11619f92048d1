/**
 * What the Redis benchmarks share: a deployment as the README's "Run on several processes"
 * describes it, on a redis-server of its own (free loopback port, temp folder), with fake
 * Telegram and a fake LLM in this process: one gateway and agents of the real daemon, as
 * bench/daemon-main.ts runs it, at log level info. Agents are added between measurements, as an
 * operator scales out: `scaleTo` waits until the inbound partitions are spread over all of them.
 */
import { Redis } from 'ioredis';
import { RedisKeys } from '../src/core/redis/keys.ts';
import { FakeOpenAI } from '../test/fakes/openai.ts';
import { FakeTelegram } from '../test/fakes/telegram.ts';
import { fakesConfig } from '../test/helpers/config.ts';
import type { Daemon } from '../test/helpers/daemon.ts';
import { Deployment } from '../test/helpers/deployment.ts';
import { RedisServer } from '../test/helpers/redis-server.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { LoadRig, processCpuMs } from './load.ts';

/** bus.partitions and bus.redis_prefix as the daemon has them by default. */
const PARTITIONS = 32;
const KEYS = new RedisKeys('mybot');
/** Each process as the load benchmarks run the daemon, logging at info as in production. */
const LAUNCH = { entry: 'bench/daemon-main.ts', env: { MYBOT_LOG_LEVEL: 'info' } };

/** CPU time used so far, in ms, by each part of the deployment and by this process (the fakes). */
export interface CpuReading {
  gateway: number;
  agents: number;
  redis: number;
  fakes: number;
}

export class RedisRig {
  private constructor(
    readonly redis: RedisServer,
    readonly deployment: Deployment,
    readonly load: LoadRig,
    /** The benchmark's own connection: reads leases and the server's CPU time. */
    private readonly client: Redis,
  ) {}

  /** A gateway and one agent; `server`: settings of config.user.yaml's server section (max_concurrency). */
  static async start(server: Record<string, unknown> = {}): Promise<RedisRig> {
    const redis = await RedisServer.start();
    const [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    const deployment = new Deployment(redis, () => ({ ...fakesConfig({ llm, telegram }), server }));
    const rig = new RedisRig(redis, deployment, LoadRig.over(telegram, llm), new Redis(redis.url, { lazyConnect: true }));
    try {
      await rig.client.connect();
      rig.load.watch(await deployment.start('gateway', LAUNCH));
      await rig.load.until(() => telegram.heldPolls > 0, 'the gateway to poll Telegram');
      await rig.scaleTo(1);
      return rig;
    } catch (err) {
      await rig.close();
      throw err;
    }
  }

  get gateway(): Daemon {
    return this.deployment.of('gateway')[0]!;
  }

  get agents(): Daemon[] {
    return this.deployment.of('agent');
  }

  /** Starts agents until there are `count`, and waits until each holds its share of the partitions. */
  async scaleTo(count: number): Promise<void> {
    const more = Array.from({ length: count - this.agents.length }, () => this.deployment.start('agent', LAUNCH));
    for (const agent of await Promise.all(more)) this.load.watch(agent);
    const leases = Array.from({ length: PARTITIONS }, (_, n) => KEYS.lease(KEYS.inbound(n)));
    await waitFor(
      async () => {
        const owners = await this.client.mget(leases);
        const held = new Map<string, number>();
        for (const owner of owners) if (owner) held.set(owner, (held.get(owner) ?? 0) + 1);
        return held.size === count && [...held.values()].every((n) => n === Math.ceil(PARTITIONS / count) || n === Math.floor(PARTITIONS / count));
      },
      30_000,
      `the ${PARTITIONS} partitions to spread over ${count} agents`,
    );
  }

  async cpuMs(): Promise<CpuReading> {
    const redis = await redisCpuMs(this.client);
    const own = process.cpuUsage();
    return {
      gateway: processCpuMs(this.gateway.child.pid!),
      agents: this.agents.reduce((sum, agent) => sum + processCpuMs(agent.child.pid!), 0),
      redis,
      fakes: (own.user + own.system) / 1000,
    };
  }

  /** Stops every process, the fakes and redis-server, and removes their folders; also after a failed start. */
  async close(): Promise<void> {
    this.client.disconnect();
    await this.load.close().catch(() => undefined);
    await this.deployment.dispose();
    await this.redis.dispose();
  }
}

/** CPU time redis-server has used so far, in ms, as its INFO says. */
export async function redisCpuMs(client: Redis): Promise<number> {
  const info = await client.info('cpu');
  const seconds = (field: string) => Number(new RegExp(`${field}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
  return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1000;
}

/** CPU used between two readings, per message, in ms. */
export function cpuPerMessage(before: CpuReading, after: CpuReading, messages: number): CpuReading {
  const per = (key: keyof CpuReading) => (after[key] - before[key]) / messages;
  return { gateway: per('gateway'), agents: per('agents'), redis: per('redis'), fakes: per('fakes') };
}
