import type { BusStats, DeliveryProgress, EventBus, Handler } from './bus.ts';
import { giveUp, type DeadLetters } from './dead-letters.ts';
import { StorageError } from './errors.ts';
import { DURABLE_TYPES, type AnyEvent, type EventType, type InboundEvent } from './events.ts';
import { ALREADY_JOURNALED, type Journal } from './journal.ts';
import type { Logger } from '../log.ts';

type AnyHandler = (event: AnyEvent) => void | Promise<void>;

const PUBLISHED = Promise.resolve(true);
const NOTHING_TO_DO = Promise.resolve();

interface Lane {
  type: EventType;
  sessionId: string;
  events: AnyEvent[];
  active: boolean;
  waiting: boolean;
}

export interface LocalBusOptions {
  log: Logger;
  /** Without a journal the bus is in-memory only (tests, benchmarks, the terminal chat). */
  journal?: Journal;
  /** Where `deadLetter` keeps what it gives up on; without it, only the log says. */
  deadLetters?: DeadLetters;
  /** How many session queues are worked on at once. */
  maxConcurrency?: number;
  /**
   * When sessions wait for a slot, a session gives its slot up after each event instead of keeping
   * it until its queue is empty. The Redis bus sets it: a deployment runs its agents at their
   * max_concurrency, where whole queues in turn leave slots idle at the end (bench/redis-scaling).
   * Off by default, so the single-process daemon keeps the order it always had.
   */
  takeTurns?: boolean;
}

/**
 * In-process EventBus. One FIFO queue per (event type, session): a session's events are handled
 * one at a time, in order, while up to `maxConcurrency` sessions run side by side. A handler that
 * throws is logged with the event id and the queue moves on.
 */
export class LocalBus implements EventBus {
  // records, not maps, keyed by the few event types: a property load per event instead of a hash lookup
  private readonly handlers: Record<EventType, AnyHandler[]> = { inbound: [], outbound: [], typing: [], draft: [] };
  /** One lane per (event type, session); a lane is gone once empty and idle. */
  private readonly lanes: Record<EventType, Map<string, Lane>> = { inbound: new Map(), outbound: new Map(), typing: new Map(), draft: new Map() };
  private active = 0;
  private readonly waiting: Lane[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  /** The events of the journal write under way, queued together once it is done. */
  private writing: { written: Promise<boolean>; events: AnyEvent[]; published: Promise<boolean> } | undefined;
  /** Ids queued by the replay; the publish that wrote one of them must not queue it a second time. */
  private readonly replayed = new Set<string>();
  /** Per session: told when an inbound event is queued behind the one its handler works on. */
  private readonly watchers = new Map<string, () => void>();
  private running = false;
  /** Draining: no new inbound event starts; replies of turns in flight still go out. */
  private draining = false;
  private queued = 0;
  private readonly log: Logger;
  private readonly journal: Journal | undefined;
  private readonly deadLetters: DeadLetters | undefined;
  private readonly maxConcurrency: number;
  private readonly takeTurns: boolean;

  constructor(options: LocalBusOptions) {
    this.log = options.log;
    this.journal = options.journal;
    this.deadLetters = options.deadLetters;
    this.maxConcurrency = options.maxConcurrency ?? 256;
    this.takeTurns = options.takeTurns ?? false;
  }

  subscribe<T extends EventType>(type: T, handler: Handler<T>): void {
    this.handlers[type] = [...this.handlers[type], handler as AnyHandler];
  }

  unsubscribe<T extends EventType>(type: T, handler: Handler<T>): void {
    this.handlers[type] = this.handlers[type].filter((h) => h !== (handler as AnyHandler));
  }

  publish(event: AnyEvent): Promise<boolean> {
    if (this.journal && DURABLE_TYPES.has(event.type)) return this.publishDurable(this.journal, event);
    this.enqueue(event, false);
    return PUBLISHED;
  }

  /**
   * Handled once durable. The events of one journal write share one promise and are queued
   * together when it is done. An event the journal cannot take (disk full or read-only) is still
   * handled, from memory: the daemon keeps answering, only without the crash guarantee for that
   * event (the journal logs the outage once; the agent tells the user it could not save the conversation).
   */
  private publishDurable(journal: Journal, event: AnyEvent): Promise<boolean> {
    const written = journal.append(event);
    if (written === ALREADY_JOURNALED) return written;
    let group = this.writing;
    if (group?.written !== written) {
      const events: AnyEvent[] = [];
      group = { written, events, published: written.then(() => this.written(events), (err: unknown) => this.notWritten(events, err)) };
      this.writing = group;
    }
    group.events.push(event);
    return group.published;
  }

  private written(events: AnyEvent[]): true {
    if (this.writing?.events === events) this.writing = undefined;
    // Before `run`, the replay takes them from the journal, behind the older events of their session:
    // queued now, they would overtake them (a channel can publish while another is still connecting).
    if (!this.running) return true;
    for (const event of events) if (!this.replayed.delete(event.id)) this.enqueue(event, false);
    return true;
  }

  private notWritten(events: AnyEvent[], err: unknown): true {
    if (this.writing?.events === events) this.writing = undefined;
    if (!(err instanceof StorageError)) throw err;
    for (const event of events) {
      this.log.warn({ sessionId: event.sessionId, eventId: event.id, type: event.type, code: err.code }, 'event not journaled (disk trouble): handling it from memory, without the crash guarantee');
      this.enqueue(event, false);
    }
    return true;
  }

  ack(eventId: string): Promise<void> {
    return this.journal?.ack(eventId) ?? NOTHING_TO_DO;
  }

  saveProgress(eventId: string, progress: DeliveryProgress): Promise<void> {
    return this.journal?.saveProgress(eventId, progress) ?? NOTHING_TO_DO;
  }

  progress(eventId: string): DeliveryProgress | undefined {
    return this.journal?.progress(eventId);
  }

  deadLetter(event: AnyEvent, reason: string): Promise<void> {
    return giveUp(this.deadLetters, event, reason, (id) => this.ack(id), this.log);
  }

  takeQueued(sessionId: string, accept: (event: InboundEvent) => boolean): InboundEvent[] {
    const lane = this.lanes.inbound.get(sessionId);
    // draining: a stop does not wait for more work than was started
    if (!lane || this.draining) return [];
    const taken: InboundEvent[] = [];
    while (lane.events.length > 0 && accept(lane.events[0] as InboundEvent)) {
      taken.push(lane.events.shift() as InboundEvent);
      this.queued--;
    }
    return taken;
  }

  watchQueued(sessionId: string, onQueued: () => void): () => void {
    this.watchers.set(sessionId, onQueued);
    return () => {
      if (this.watchers.get(sessionId) === onQueued) this.watchers.delete(sessionId);
    };
  }

  async republish(event: InboundEvent): Promise<void> {
    await this.journal?.setRetryCount(event.id, event.retryCount);
    this.enqueue(event, true);
  }

  async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const replay = this.journal?.pendingEvents() ?? [];
    if (replay.length > 0) this.log.info({ count: replay.length }, 'replaying events not acknowledged before the last stop');
    for (const { event } of replay) {
      this.enqueue(event, false);
      // published just before `run` and still waiting for its write: queued here, not again then
      this.replayed.add(event.id);
    }
    // their writes finish within this tick; later publishes are new events
    if (this.replayed.size > 0) setImmediate(() => this.replayed.clear());
    for (const byType of Object.values(this.lanes)) for (const lane of byType.values()) this.schedule(lane);
  }

  async stop(deadlineMs: number): Promise<void> {
    this.draining = true;
    const deadline = Date.now() + deadlineMs;
    // in-flight turns publish replies while we wait, which start new work: wait until all is quiet
    while (this.inFlight.size > 0 && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, deadline - Date.now())));
      await Promise.race([Promise.allSettled([...this.inFlight]), timeout]);
      clearTimeout(timer);
    }
    this.running = false;
  }

  stats(): BusStats {
    return { queued: this.queued, activeSessions: this.active, unacked: this.journal?.pendingCount ?? 0, deadLetters: this.deadLetters?.size ?? 0 };
  }

  /** Whether an event of this type and session is queued or being handled. */
  hasWork(type: EventType, sessionId: string): boolean {
    return this.lanes[type].has(sessionId);
  }

  /** Forgets what is queued (not what is being handled) for this type and session; returns the ids dropped. */
  dropQueued(type: EventType, sessionId: string): string[] {
    const lane = this.lanes[type].get(sessionId);
    if (!lane) return [];
    const dropped = lane.events.splice(0).map((event) => event.id);
    this.queued -= dropped.length;
    if (lane.waiting) {
      this.waiting.splice(this.waiting.indexOf(lane), 1);
      lane.waiting = false;
    }
    if (!lane.active) this.lanes[type].delete(sessionId);
    return dropped;
  }

  private enqueue(event: AnyEvent, front: boolean): void {
    const byType = this.lanes[event.type];
    let lane = byType.get(event.sessionId);
    if (!lane) {
      lane = { type: event.type, sessionId: event.sessionId, events: [], active: false, waiting: false };
      byType.set(event.sessionId, lane);
    }
    if (front) lane.events.unshift(event);
    else lane.events.push(event);
    this.queued++;
    if (this.running && !lane.active) this.schedule(lane);
    else if (lane.active && !front && this.watchers.size > 0 && event.type === 'inbound') this.watchers.get(event.sessionId)?.();
  }

  private schedule(lane: Lane): void {
    if (lane.active || lane.events.length === 0) return;
    if (this.draining && lane.type === 'inbound') return;
    if (this.active >= this.maxConcurrency) {
      if (!lane.waiting) {
        lane.waiting = true;
        this.waiting.push(lane);
      }
      return;
    }
    lane.active = true;
    this.active++;
    const work = this.drain(lane);
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private async drain(lane: Lane): Promise<void> {
    const { events } = lane;
    while (this.running && events.length > 0) {
      if (this.draining && lane.type === 'inbound') break;
      const event = events.shift()!;
      this.queued--;
      // one turn of the microtask queue per event even when no handler is asynchronous: sessions take turns
      await this.dispatch(event);
      // sessions wait for a slot: this one takes its next turn after them, not before them all
      if (this.takeTurns && this.waiting.length > 0) break;
    }
    lane.active = false;
    this.active--;
    if (events.length === 0 && !lane.waiting) this.lanes[lane.type].delete(lane.sessionId);
    if (!this.running) return;
    if (!this.takeTurns) this.schedule(lane);
    while (this.waiting.length > 0 && this.active < this.maxConcurrency) {
      const next = this.waiting.shift()!;
      next.waiting = false;
      this.schedule(next);
    }
    if (this.takeTurns) this.schedule(lane);
  }

  /** Runs the handlers; the promise, if any, settles when the asynchronous ones are done. */
  private dispatch(event: AnyEvent): Promise<unknown> | undefined {
    const handlers = this.handlers[event.type];
    let pending: Promise<unknown> | undefined;
    for (const handler of handlers) {
      try {
        const result = handler(event);
        if (!(result instanceof Promise)) continue;
        const settled = result.catch((err: unknown) => this.handlerFailed(event, err));
        pending = pending ? Promise.all([pending, settled]) : settled;
      } catch (err) {
        this.handlerFailed(event, err);
      }
    }
    return pending;
  }

  private handlerFailed(event: AnyEvent, err: unknown): void {
    this.log.error({ err, eventId: event.id, sessionId: event.sessionId, type: event.type }, 'event handler failed');
  }
}
