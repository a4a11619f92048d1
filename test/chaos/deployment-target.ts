import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisKeys } from '../../src/core/redis/keys.ts';
import { Deployment, type Role } from '../helpers/deployment.ts';
import type { FakeClock } from '../helpers/fake-clock.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import type { Rng } from './rng.ts';
import type { ChaosProcess, ChaosTarget } from './target.ts';

const PREFIX = 'chaos';
const PARTITIONS = 32;
const AGENTS = 3;

interface Member extends ChaosProcess {
  role: Role;
}

/**
 * A deployment of one gateway and 3 agents (README "Run on several processes") on a redis-server
 * of the run's own, which asks for a password (the run's secret scan proves it reaches no log).
 * Each SIGKILL hits one of the 4 live processes, picked by the seeded `rng`, and a process of the
 * same role starts in its place. What the bot accepted is what Redis recorded as seen; the work is
 * done when every stream is empty (an entry is deleted when it is acknowledged).
 */
export class DeploymentTarget implements ChaosTarget {
  readonly replays = { msg: 'took over the stream of a process gone silent', what: 'streams taken over from a killed process' };
  private readonly keys = new RedisKeys(PREFIX);
  private readonly members: Member[] = [];

  private constructor(
    private readonly redis: RedisServer,
    private readonly deployment: Deployment,
    private readonly client: Redis,
    private readonly rng: Rng,
    /** The ticker's clock: every process runs on it. */
    private readonly clock: FakeClock,
  ) {}

  static async create(options: { config: () => Record<string, unknown>; clock: FakeClock; files: Record<string, string>; password: string; rng: Rng }): Promise<DeploymentTarget> {
    const redis = await RedisServer.start({ password: options.password });
    const deployment = new Deployment(redis, options.config, { redis_prefix: PREFIX, partitions: PARTITIONS });
    for (const [path, content] of Object.entries(options.files)) {
      mkdirSync(dirname(join(deployment.workspace, path)), { recursive: true });
      writeFileSync(join(deployment.workspace, path), content);
    }
    return new DeploymentTarget(redis, deployment, new Redis(redis.url, { lazyConnect: true }), options.rng, options.clock);
  }

  get workspace(): string {
    return this.deployment.workspace;
  }

  /**
   * Up before the first message, as an operator brings a deployment up before its users come: four
   * processes starting at once on 2 cores take some 10 s, and every Discord conversation opened
   * before the gateway first connected would only be counted apart. Restarts are not waited for.
   */
  async start(): Promise<void> {
    this.spawn('gateway');
    for (let i = 0; i < AGENTS; i++) this.spawn('agent');
    await this.ready(60_000);
  }

  victim(): Member {
    return this.rng.pick(this.live());
  }

  replace(killed: Member): void {
    this.spawn(killed.role);
  }

  processes(): ChaosProcess[] {
    return this.members;
  }

  restarts(): number {
    return this.members.length - 1 - AGENTS;
  }

  async ready(timeoutMs: number): Promise<void> {
    await Promise.all(this.live().map((p) => p.daemon.ready(timeoutMs)));
  }

  async accepted(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const found = await this.client.pipeline(ids.map((id) => ['exists', this.keys.seen(id)])).exec();
    return new Set(ids.filter((_, i) => found?.[i]?.[1] === 1));
  }

  async idle(): Promise<boolean> {
    const outbound: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.client.scan(cursor, 'MATCH', this.keys.outbound('*'), 'COUNT', 1000, 'TYPE', 'stream');
      outbound.push(...keys);
      cursor = next;
    } while (cursor !== '0');
    const streams = [...Array.from({ length: PARTITIONS }, (_, n) => this.keys.inbound(n)), ...outbound];
    const lengths = await this.client.pipeline(streams.map((stream) => ['xlen', stream])).exec();
    return (lengths ?? []).every(([err, length]) => !err && length === 0);
  }

  async stop(): Promise<boolean> {
    const codes = await Promise.all(this.live().map((p) => p.daemon.kill('SIGTERM')));
    return codes.every((code) => code === 0);
  }

  async dispose(): Promise<void> {
    this.client.disconnect();
    await this.deployment.dispose();
    await this.redis.dispose();
  }

  private spawn(role: Role): void {
    const daemon = this.deployment.spawn(role, this.clock.daemonOptions());
    this.members.push({ name: `${role} #${this.members.length + 1}`, role, daemon, delivers: role === 'gateway' });
  }

  private live(): Member[] {
    return this.members.filter((p) => p.daemon.exitCode === undefined);
  }
}
