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
const READ_COUNT = 256;
/** Past this many events queued here, reading waits: the rest stay in Redis, where another process can get them after a crash. */
const HIGH_WATER = 4096;
const BLOCK_MS = 1000;
const IDLE_POLL_MS = 100;

const PUBLISHED = Promise.resolve(true);
const NOTHING_TO_DO = Promise.resolve();

interface Entry {
  stream: string;
  entryId: string;
}

type StreamReply = Array<[string, Array<[string, string[] | null]>]> | null;

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
  private readonly reader: Redis;
  private readonly health: RedisHealth;
  private subscriber: Redis | undefined;
  private readonly ownership: Ownership;
  /** Events read and not yet acknowledged, by event id. */
  private readonly entries = new Map<string, Entry>();
  private readonly progressCache = new Map<string, DeliveryProgress>();
  /** Per stream: the sessions read from it here, to know when nothing of it is in flight. */
  private readonly sessionsOf = new Map<string, Set<string>>();
  private readerClientId: number | undefined;
  /** The streams of the read under way: none of them can be handed over before it returns (what it brings would be stranded). */
  private readonly inRead = new Set<string>();
  private reading: Promise<void> | undefined;
  private running = false;
  private draining = false;
  private readonly startedAt = Date.now();

  constructor(private readonly options: RedisBusOptions) {
    const { log } = options;
    this.lanes = new LocalBus({ log, maxConcurrency: options.maxConcurrency });
    this.keys = new RedisKeys(options.prefix);
    this.health = new RedisHealth(options.url, log);
    this.cmd = connectRedis(options.url, `mybot-${options.role}`, this.health);
    this.reader = connectRedis(options.url, `mybot-${options.role}-reader`, this.health);
    this.reader.on('ready', () => void this.identifyReader());
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
    this.reading = this.readLoop();
  }

  async stop(deadlineMs: number): Promise<void> {
    // replies of the turns in flight here still go out; no new inbound event is read
    this.draining = true;
    this.wakeReader();
    await this.lanes.stop(deadlineMs);
    this.running = false;
    this.wakeReader();
    await this.reading;
    await this.ownership.stop();
  }

  async close(): Promise<void> {
    // the reader may sit in a blocking read: QUIT would wait for it to end
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

  private async readLoop(): Promise<void> {
    while (this.running) {
      const streams = this.ownership.reading().filter((stream) => !this.draining || !this.isInbound(stream));
      if (streams.length === 0 || this.lanes.stats().queued > HIGH_WATER) {
        await pause(IDLE_POLL_MS);
        continue;
      }
      let reply: StreamReply;
      try {
        for (const stream of streams) this.inRead.add(stream);
        reply = (await this.reader.call('XREADGROUP', 'GROUP', GROUP, this.id, 'COUNT', READ_COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', ...streams, ...streams.map(() => '>'))) as StreamReply;
      } catch (err) {
        if (!this.running) return;
        if (err instanceof Error && err.message.startsWith('NOGROUP')) await Promise.all(streams.map((stream) => this.ensureGroup(stream)));
        else this.options.log.warn({ err }, 'reading the streams failed; retrying');
        await pause(IDLE_POLL_MS);
        continue;
      } finally {
        this.inRead.clear();
      }
      for (const [stream, list] of reply ?? []) {
        // an owner that lost the stream while blocked does not hand out what it read: the new owner claims it
        if (this.ownership.owns(stream)) this.accept(stream, list, undefined);
      }
    }
  }

  private accept(stream: string, list: Array<[string, string[] | null]>, retries: Map<string, number> | undefined): void {
    for (const [entryId, fields] of list) {
      const event = fields && parseEntry(fields);
      if (!event) {
        // deleted under us, or not ours to read: nothing a handler could do with it
        this.options.log.error({ stream, entryId }, 'unreadable stream entry: dropped');
        void ackEntry.run(this.cmd, [stream, this.keys.progress, this.keys.retries], [GROUP, entryId, '']).catch(() => undefined);
        continue;
      }
      const retryCount = retries?.get(event.id);
      if (retryCount !== undefined && event.type === 'inbound') event.retryCount = retryCount;
      this.entries.set(event.id, { stream, entryId });
      let sessions = this.sessionsOf.get(stream);
      if (!sessions) this.sessionsOf.set(stream, (sessions = new Set()));
      sessions.add(event.sessionId);
      void this.lanes.publish(event);
    }
  }

  /**
   * A stream just became ours: what its last owner read and never acknowledged is handled first, in
   * order. XAUTOCLAIM takes every pending entry (min idle 0): the lease says the owner is gone
   * (silent for claim_idle_ms, or it handed the stream over). An idle time on the entries alone
   * could not say it: a turn with a slow model or a long tool run stays pending for minutes while
   * its owner is alive, and claiming it would answer it twice.
   */
  private async takeOver(stream: string): Promise<void> {
    await this.ensureGroup(stream);
    let cursor = '0-0';
    do {
      const reply = (await this.cmd.call('XAUTOCLAIM', stream, GROUP, this.id, 0, cursor, 'COUNT', 500, 'JUSTID')) as [string, ...unknown[]];
      cursor = reply[0];
    } while (cursor !== '0-0');
    if (!this.isInbound(stream)) {
      const saved = await this.cmd.hgetall(this.keys.progress);
      for (const [eventId, json] of Object.entries(saved)) if (!this.progressCache.has(eventId)) this.progressCache.set(eventId, JSON.parse(json) as DeliveryProgress);
    }
    let after = '0';
    for (;;) {
      const reply = (await this.cmd.call('XREADGROUP', 'GROUP', GROUP, this.id, 'COUNT', 500, 'STREAMS', stream, after)) as StreamReply;
      const list = reply?.[0]?.[1] ?? [];
      if (list.length === 0) break;
      this.accept(stream, list, await this.retriesOf(list));
      after = list.at(-1)![0];
    }
    this.wakeReader();
  }

  private async retriesOf(list: Array<[string, string[] | null]>): Promise<Map<string, number>> {
    const ids = list.map(([, fields]) => (fields && parseEntry(fields)?.id) || '').filter(Boolean);
    if (ids.length === 0) return new Map();
    const counts = await this.cmd.hmget(this.keys.retries, ...ids);
    return new Map(ids.flatMap((id, i) => (counts[i] ? [[id, Number(counts[i])] as const] : [])));
  }

  /** Another process owns the stream now: what is queued of it here is its to handle. */
  private forget(stream: string): void {
    const type = this.isInbound(stream) ? 'inbound' : 'outbound';
    for (const sessionId of this.sessionsOf.get(stream) ?? []) {
      for (const eventId of this.lanes.dropQueued(type, sessionId)) this.entries.delete(eventId);
    }
    this.sessionsOf.delete(stream);
  }

  private idle(stream: string): boolean {
    if (this.inRead.has(stream)) {
      this.wakeReader();
      return false;
    }
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

  private async ensureGroup(stream: string): Promise<void> {
    try {
      // from the start of the stream: events published before any process read it are not skipped
      await this.cmd.call('XGROUP', 'CREATE', stream, GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('BUSYGROUP'))) throw err;
    }
  }

  private async identifyReader(): Promise<void> {
    try {
      this.readerClientId = Number(await this.reader.call('CLIENT', 'ID'));
    } catch {
      this.readerClientId = undefined;
    }
  }

  /** Ends the reader's blocking read, so a change of streams (or a stop) applies now, not after the block. */
  private wakeReader(): void {
    if (this.inRead.size === 0 || this.readerClientId === undefined) return;
    this.cmd.call('CLIENT', 'UNBLOCK', this.readerClientId).catch(() => undefined);
  }
}

function parseEntry(fields: string[]): AnyEvent | undefined {
  const at = fields.indexOf('e');
  if (at < 0 || at + 1 >= fields.length) return undefined;
  try {
    return JSON.parse(fields[at + 1]!) as AnyEvent;
  } catch {
    return undefined;
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
