import type { Redis } from 'ioredis';
import type { Logger } from '../../log.ts';
import type { RedisKeys } from './keys.ts';
import { heartbeat, leave, releaseLease, takeLease } from './scripts.ts';

/** What a process tells the others (and `npm run status`) about itself at each heartbeat. */
export interface ProcessReport {
  id: string;
  role: string;
  pid: number;
  host: string;
  startedAt: number;
  /** Sessions being answered or delivered right now. */
  inFlight: number;
  queued: number;
  /** Streams this process works on. */
  streams: string[];
}

export interface OwnershipOptions {
  redis: Redis;
  keys: RedisKeys;
  /** This process's id: unique per start. */
  me: string;
  claimIdleMs: number;
  partitions: number;
  /** Runs agents: takes its share of the inbound partitions. */
  runsAgents: boolean;
  /** The channels running here: their outbound streams are read here. */
  channels: () => string[];
  report: () => Omit<ProcessReport, 'id' | 'streams'>;
  /** A stream became ours: take over what its last owner left pending, then read it. */
  gained: (stream: string) => Promise<void>;
  /** A stream is no longer ours (we were silent too long and another process took it): drop what is queued of it. */
  lost: (stream: string) => void;
  /** Nothing of the stream is queued or being handled here: it can be handed over. */
  idle: (stream: string) => boolean;
  /** At each heartbeat, for each stream kept: takes back what another process read of it after losing it. */
  sweep: (stream: string) => Promise<void>;
  log: Logger;
}

/** Processes forgotten by the heartbeat after this long without one (status stops listing them). */
const FORGET_AFTER_MS = 3_600_000;

/**
 * Which process works on which stream. Each stream (an inbound partition, a channel's outbound
 * stream) has a lease naming its owner; only the owner reads it, which is what keeps a session's
 * events in order across processes. Inbound partitions are spread over the live agent processes
 * (partition n goes to the (n mod count)-th, by id); a process that stops beating for
 * `claimIdleMs` is dead and its leases are taken over, with what it left pending. A stream that
 * should move to a newcomer is handed over once nothing of it is in flight here.
 */
export class Ownership {
  private readonly held = new Set<string>();
  private readonly leaving = new Set<string>();
  private timer?: NodeJS.Timeout;
  private ticking: Promise<void> | undefined;
  /** After a lost connection, no lease is taken from another process until every process had the time to beat again. */
  private graceUntil = 0;
  private stopped = false;

  constructor(private readonly options: OwnershipOptions) {
    options.redis.on('ready', () => {
      if (this.timer) this.graceUntil = Date.now() + options.claimIdleMs;
    });
  }

  /** The streams to read now. */
  reading(): string[] {
    return [...this.held].filter((stream) => !this.leaving.has(stream));
  }

  owns(stream: string): boolean {
    return this.held.has(stream);
  }

  async start(): Promise<void> {
    await this.tick();
    const every = Math.min(Math.max(Math.floor(this.options.claimIdleMs / 5), 100), 2000);
    this.timer = setInterval(() => void this.tick(), every);
  }

  /** Hands every stream back and leaves the deployment, so nobody waits out this process's silence. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.ticking;
    const { redis, keys, me } = this.options;
    await Promise.all([...this.held].map((stream) => releaseLease.run(redis, [keys.lease(stream)], [me])));
    this.held.clear();
    await leave.run(redis, [keys.beats, keys.agents, keys.processes], [me]);
  }

  tick(): Promise<void> {
    if (this.ticking || this.stopped) return this.ticking ?? Promise.resolve();
    this.ticking = this.settle()
      .catch((err: unknown) => this.options.log.warn({ err }, 'could not settle which streams this process works on; retrying'))
      .finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async settle(): Promise<void> {
    const before = this.held.size;
    await this.rebalance();
    if (this.held.size !== before) this.options.log.debug({ streams: this.held.size }, 'streams changed');
  }

  private async rebalance(): Promise<void> {
    const { redis, keys, me, claimIdleMs, runsAgents } = this.options;
    const report: ProcessReport = { id: me, ...this.options.report(), streams: [...this.held].sort() };
    const [now, beatList, agentIds] = (await heartbeat.run(redis, [keys.beats, keys.agents, keys.processes], [me, runsAgents ? 1 : 0, JSON.stringify(report), FORGET_AFTER_MS])) as [number, string[], string[]];
    const lastBeat = new Map<string, number>();
    for (let i = 0; i < beatList.length; i += 2) lastBeat.set(beatList[i]!, Number(beatList[i + 1]));
    const alive = (id: string) => now - (lastBeat.get(id) ?? 0) < claimIdleMs;
    const agents = agentIds.filter(alive).sort();
    const candidates = this.candidates();
    if (candidates.length === 0) return;
    const holders = await redis.mget(candidates.map((stream) => keys.lease(stream)));
    const sweeps: Array<Promise<void>> = [];
    for (const [i, stream] of candidates.entries()) {
      if (this.stopped) return;
      const holder = holders[i] ?? '';
      const wanted = this.wants(stream, agents);
      if (this.held.has(stream)) {
        if (holder !== me) this.drop(stream, holder);
        else if (!wanted) await this.handOver(stream);
        else {
          this.leaving.delete(stream);
          sweeps.push(this.options.sweep(stream).catch((err: unknown) => this.options.log.warn({ err, stream }, 'could not look for entries left by another process; retrying')));
        }
        continue;
      }
      if (!wanted) continue;
      const mayTake = holder === '' || holder === me || (!alive(holder) && Date.now() >= this.graceUntil);
      if (!mayTake) continue;
      if (holder !== me && (await takeLease.run(redis, [keys.lease(stream)], [holder, me])) !== 1) continue;
      if (holder !== '' && holder !== me) this.options.log.info({ stream, from: holder, silentMs: now - (lastBeat.get(holder) ?? 0) }, 'took over the stream of a process gone silent');
      await this.options.gained(stream);
      this.held.add(stream);
    }
    await Promise.all(sweeps);
  }

  private candidates(): string[] {
    const { keys, partitions, runsAgents } = this.options;
    const inbound = runsAgents ? Array.from({ length: partitions }, (_, n) => keys.inbound(n)) : [];
    const outbound = this.options.channels().map((channel) => keys.outbound(channel));
    return [...inbound, ...outbound, ...[...this.held].filter((s) => !inbound.includes(s) && !outbound.includes(s))];
  }

  private wants(stream: string, agents: string[]): boolean {
    const { keys, me } = this.options;
    if (keys.isInbound(stream)) {
      const n = Number(stream.slice(stream.lastIndexOf(':') + 1));
      return this.options.runsAgents && agents.length > 0 && agents[n % agents.length] === me;
    }
    return this.options.channels().some((channel) => keys.outbound(channel) === stream);
  }

  private async handOver(stream: string): Promise<void> {
    this.leaving.add(stream);
    if (!this.options.idle(stream)) return;
    await releaseLease.run(this.options.redis, [this.options.keys.lease(stream)], [this.options.me]);
    this.held.delete(stream);
    this.leaving.delete(stream);
    this.options.log.info({ stream }, 'handed a stream over to another process');
  }

  private drop(stream: string, holder: string): void {
    this.held.delete(stream);
    this.leaving.delete(stream);
    this.options.log.warn({ stream, holder: holder || 'nobody' }, 'lost a stream while silent: dropping what is queued of it (its new owner answers it)');
    this.options.lost(stream);
  }
}
