import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { BusStats, DeliveryProgress, EventBus, Handler } from './bus.ts';
import { giveUp, type DeadLetters } from './dead-letters.ts';
import { DURABLE_TYPES, type AnyEvent, type EventType, type InboundEvent } from './events.ts';
import { LocalBus } from './local-bus.ts';
import { connectRedis, RedisHealth } from './redis/client.ts';
import { GROUP, partitionOf, RedisKeys } from './redis/keys.ts';
import { Ownership } from './redis/ownership.ts';
import { ackEntry, publishOnce } from './redis/scripts.ts';
import { parseEntry, StreamReader, type StreamEntries } from './redis/stream-reader.ts';
import type { Logger } from '../log.ts';

export interface RedisBusOptions {
  url: string;
  prefix: string;
  partitions: number;
  claimIdleMs: number;
  /** Sessions worked on at once in this process. */
  maxConcurrency: number;
  /** server.role, for the status of the deployment. */
  role: string;
  /** Takes a share of the inbound partitions (role all or agent). */
  runsAgents: boolean;
  /** Runs channels (role all or gateway): reads their outbound streams and the live events. */
  runsChannels: boolean;
  /** The channels running here now. */
  channels: () => string[];
  deadLetters?: DeadLetters;
  log: Logger;
}

/**
 * How long an event id is remembered for the dedupe of redeliveries: longer than any platform
 * redelivers (Telegram keeps an unconfirmed update 24 h; Discord's catch-up reaches back
 * catch_up_max_age_s, an hour by default), and short enough that the keys stay a small part of Redis.
 */
const SEEN_TTL_S = 2 * 86_400;
/** Past this many events queued here, reading waits: the rest stay in Redis, where another process can get them after a crash. */
const HIGH_WATER = 4096;

const PUBLISHED = Promise.resolve(true);
const NOTHING_TO_DO = Promise.resolve();

interface Entry {
  stream: string;
  entryId: string;
}

/**
 * EventBus over Redis Streams, for a deployment of several processes (README "Run on several
 * processes"). Inbound events go to one of `partitions` streams by a hash of their session, outbound
 * events to the stream of their channel; typing and drafts, which nobody needs after a crash, go
 * over pub/sub. A stream is read by the one process holding its lease (Ownership), so a session's
 * events are handled in order, one at a time, while sessions spread over every agent process.
 * What a process reads is handed to its handlers through a LocalBus without journal: the same
 * lanes, concurrency limit and burst hooks as the single-process daemon. An entry is acknowledged
 * (and deleted) by `ack`; until then a crash leaves it pending, for the next owner to claim.
 */
export class RedisBus implements EventBus {
  readonly id = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  private readonly lanes: LocalBus;
  private readonly keys: RedisKeys;
  private readonly cmd: Redis;
  private readonly reader: StreamReader;
  private readonly health: RedisHealth;
  private subscriber: Redis | undefined;
  private readonly ownership: Ownership;
  /** Events read and not yet acknowledged, by event id; and as `<stream> <entry id>` (entry ids are per stream). */
  private readonly entries = new Map<string, Entry>();
  private readonly entryKeys = new Set<string>();
  private readonly progressCache = new Map<string, DeliveryProgress>();
  /** Per stream: the sessions read from it here, to know when nothing of it is in flight. */
  private readonly sessionsOf = new Map<string, Set<string>>();
  private running = false;
  private draining = false;
  private readonly startedAt = Date.now();

  constructor(private readonly options: RedisBusOptions) {
    const { log } = options;
    this.lanes = new LocalBus({ log, maxConcurrency: options.maxConcurrency, takeTurns: true });
    this.keys = new RedisKeys(options.prefix);
    this.health = new RedisHealth(options.url, log);
    this.cmd = connectRedis(options.url, `mybot-${options.role}`, this.health);
    this.reader = new StreamReader({
      reader: connectRedis(options.url, `mybot-${options.role}-reader`, this.health),
      cmd: this.cmd,
      keys: this.keys,
      me: this.id,
      // draining: replies of the turns in flight here still go out; no new inbound event is read
      streams: () => this.ownership.reading().filter((stream) => !this.draining || !this.keys.isInbound(stream)),
      owns: (stream) => this.ownership.owns(stream),
      full: () => this.lanes.stats().queued > HIGH_WATER,
      known: (stream, entryId) => this.entryKeys.has(`${stream} ${entryId}`),
      deliver: (stream, entries, retries) => this.accept(stream, entries, retries),
      log,
    });
    this.ownership = new Ownership({
      redis: this.cmd,
      keys: this.keys,
      me: this.id,
      claimIdleMs: options.claimIdleMs,
      partitions: options.partitions,
      runsAgents: options.runsAgents,
      channels: options.runsChannels ? options.channels : () => [],
      report: () => this.report(),
      gained: (stream) => this.takeOver(stream),
      lost: (stream) => this.forget(stream),
      idle: (stream) => this.idle(stream),
      sweep: (stream) => this.reader.sweep(stream),
      log,
    });
  }

  subscribe<T extends EventType>(type: T, handler: Handler<T>): void {
    this.lanes.subscribe(type, handler);
  }

  unsubscribe<T extends EventType>(type: T, handler: Handler<T>): void {
    this.lanes.unsubscribe(type, handler);
  }

  publish(event: AnyEvent): Promise<boolean> {
    if (!DURABLE_TYPES.has(event.type)) {
      this.cmd.publish(this.keys.live, JSON.stringify(event)).catch((err: unknown) => this.options.log.debug({ err, type: event.type }, 'live event not sent'));
      return PUBLISHED;
    }
    const stream = event.type === 'inbound' ? this.keys.inbound(partitionOf(event.sessionId, this.options.partitions)) : this.keys.outbound(event.source.channel);
    return publishOnce.run(this.cmd, [this.keys.seen(event.id), stream], [SEEN_TTL_S, JSON.stringify(event)]).then((entryId) => entryId !== null);
  }

  ack(eventId: string): Promise<void> {
    this.progressCache.delete(eventId);
    const entry = this.entries.get(eventId);
    if (!entry) return NOTHING_TO_DO;
    this.entries.delete(eventId);
    this.entryKeys.delete(`${entry.stream} ${entry.entryId}`);
    return ackEntry.run(this.cmd, [entry.stream, this.keys.progress, this.keys.retries], [GROUP, entry.entryId, eventId]).then(() => undefined);
  }

  async saveProgress(eventId: string, progress: DeliveryProgress): Promise<void> {
    this.progressCache.set(eventId, progress);
    await this.cmd.hset(this.keys.progress, eventId, JSON.stringify(progress));
  }

  progress(eventId: string): DeliveryProgress | undefined {
    return this.progressCache.get(eventId);
  }

  deadLetter(event: AnyEvent, reason: string): Promise<void> {
    return giveUp(this.options.deadLetters, event, reason, (id) => this.ack(id), this.options.log);
  }

  takeQueued(sessionId: string, accept: (event: InboundEvent) => boolean): InboundEvent[] {
    return this.lanes.takeQueued(sessionId, accept);
  }

  watchQueued(sessionId: string, onQueued: () => void): () => void {
    return this.lanes.watchQueued(sessionId, onQueued);
  }

  async republish(event: InboundEvent): Promise<void> {
    await this.cmd.hset(this.keys.retries, event.id, String(event.retryCount));
    await this.lanes.republish(event);
  }

  async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.lanes.run();
    if (this.options.runsChannels) await this.listenLive();
    await this.ownership.start();
    this.reader.start();
  }

  async stop(deadlineMs: number): Promise<void> {
    this.draining = true;
    this.reader.wake();
    await this.lanes.stop(deadlineMs);
    this.running = false;
    await this.reader.stop();
    await this.ownership.stop();
  }

  async close(): Promise<void> {
    this.reader.disconnect();
    await Promise.all([this.cmd, this.subscriber].map((redis) => redis?.quit().catch(() => redis.disconnect())));
  }

  stats(): BusStats {
    const { queued, activeSessions } = this.lanes.stats();
    const problem = this.health.reachable ? {} : { problem: 'Redis (bus.redis_url) is unreachable: events wait until it is back' };
    return { queued, activeSessions, unacked: this.entries.size, deadLetters: this.options.deadLetters?.size ?? 0, ...problem };
  }

  /** At each heartbeat: what this process says of itself; the sessions it is done with are forgotten. */
  private report(): { role: string; pid: number; host: string; startedAt: number; inFlight: number; queued: number } {
    for (const stream of this.sessionsOf.keys()) this.busySessions(stream);
    const { activeSessions, queued } = this.lanes.stats();
    return { role: this.options.role, pid: process.pid, host: hostname(), startedAt: this.startedAt, inFlight: activeSessions, queued };
  }

  /** Typing and drafts from every agent process, for the channels running here. */
  private async listenLive(): Promise<void> {
    const subscriber = (this.subscriber = connectRedis(this.options.url, `mybot-${this.options.role}-live`, this.health));
    subscriber.on('message', (_topic: string, message: string) => {
      let event: AnyEvent;
      try {
        event = JSON.parse(message) as AnyEvent;
      } catch {
        return;
      }
      if (this.options.channels().includes(event.source.channel)) void this.lanes.publish(event);
    });
    await subscriber.subscribe(this.keys.live);
  }

  private accept(stream: string, list: StreamEntries, retries: ReadonlyMap<string, number>): void {
    for (const [entryId, fields] of list) {
      // the reader and a sweep (two connections) may both bring an entry: it is handed out once
      if (this.entryKeys.has(`${stream} ${entryId}`)) continue;
      const event = fields && parseEntry(fields);
      if (!event) {
        // deleted under us, or not ours to read: nothing a handler could do with it
        this.options.log.error({ stream, entryId }, 'unreadable stream entry: dropped');
        void ackEntry.run(this.cmd, [stream, this.keys.progress, this.keys.retries], [GROUP, entryId, '']).catch(() => undefined);
        continue;
      }
      const retryCount = retries.get(event.id);
      if (retryCount !== undefined && event.type === 'inbound') event.retryCount = retryCount;
      this.entries.set(event.id, { stream, entryId });
      this.entryKeys.add(`${stream} ${entryId}`);
      let sessions = this.sessionsOf.get(stream);
      if (!sessions) this.sessionsOf.set(stream, (sessions = new Set()));
      sessions.add(event.sessionId);
      void this.lanes.publish(event);
    }
  }

  /** A stream became ours: an outbound stream's delivery progress is loaded first, then what its last owner left is read. */
  private async takeOver(stream: string): Promise<void> {
    if (!this.keys.isInbound(stream)) {
      const saved = await this.cmd.hgetall(this.keys.progress);
      for (const [eventId, json] of Object.entries(saved)) if (!this.progressCache.has(eventId)) this.progressCache.set(eventId, JSON.parse(json) as DeliveryProgress);
    }
    await this.reader.takeOver(stream);
  }

  /** Another process owns the stream now: what is queued of it here is its to handle. */
  private forget(stream: string): void {
    const type = this.isInbound(stream) ? 'inbound' : 'outbound';
    for (const sessionId of this.sessionsOf.get(stream) ?? []) {
      for (const eventId of this.lanes.dropQueued(type, sessionId)) {
        this.entryKeys.delete(`${stream} ${this.entries.get(eventId)?.entryId}`);
        this.entries.delete(eventId);
      }
    }
    this.sessionsOf.delete(stream);
  }

  private idle(stream: string): boolean {
    if (this.reader.reading(stream)) return false;
    return this.busySessions(stream) === 0;
  }

  /** How many sessions read from the stream have work here; the others are forgotten. */
  private busySessions(stream: string): number {
    const sessions = this.sessionsOf.get(stream);
    if (!sessions) return 0;
    const type = this.isInbound(stream) ? 'inbound' : 'outbound';
    for (const sessionId of sessions) if (!this.lanes.hasWork(type, sessionId)) sessions.delete(sessionId);
    if (sessions.size === 0) this.sessionsOf.delete(stream);
    return sessions.size;
  }

  private isInbound(stream: string): boolean {
    return this.keys.isInbound(stream);
  }
}
