import type { BusStats, EventBus, Handler } from './bus.ts';
import { DURABLE_TYPES, type AnyEvent, type EventType, type InboundEvent } from './events.ts';
import type { Journal } from './journal.ts';
import type { Logger } from '../log.ts';

type AnyHandler = (event: AnyEvent) => void | Promise<void>;

export interface LocalBusOptions {
  log: Logger;
  /** Without a journal the bus is in-memory only (tests, benchmarks, the terminal chat). */
  journal?: Journal;
  /** How many session queues are worked on at once. */
  maxConcurrency?: number;
}

/**
 * In-process EventBus. One FIFO queue per (event type, session): a session's events are handled
 * one at a time, in order, while up to `maxConcurrency` sessions run side by side. A handler that
 * throws is logged with the event id and the queue moves on.
 */
export class LocalBus implements EventBus {
  private readonly handlers = new Map<EventType, AnyHandler[]>();
  private readonly queues = new Map<string, AnyEvent[]>();
  private readonly active = new Set<string>();
  private readonly waiting: string[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private running = false;
  /** Draining: no new inbound event starts; replies of turns in flight still go out. */
  private draining = false;
  private queued = 0;
  private readonly log: Logger;
  private readonly journal: Journal | undefined;
  private readonly maxConcurrency: number;

  constructor(options: LocalBusOptions) {
    this.log = options.log;
    this.journal = options.journal;
    this.maxConcurrency = options.maxConcurrency ?? 256;
  }

  subscribe<T extends EventType>(type: T, handler: Handler<T>): void {
    const list = this.handlers.get(type) ?? [];
    this.handlers.set(type, [...list, handler as AnyHandler]);
  }

  unsubscribe<T extends EventType>(type: T, handler: Handler<T>): void {
    const list = this.handlers.get(type) ?? [];
    this.handlers.set(type, list.filter((h) => h !== (handler as AnyHandler)));
  }

  async publish(event: AnyEvent): Promise<boolean> {
    if (this.journal && DURABLE_TYPES.has(event.type)) {
      if (!(await this.journal.append(event))) return false;
    }
    this.enqueue(event, false);
    return true;
  }

  async ack(eventId: string): Promise<void> {
    await this.journal?.ack(eventId);
  }

  async markDelivered(eventId: string, count: number): Promise<void> {
    await this.journal?.markDelivered(eventId, count);
  }

  deliveredCount(eventId: string): number {
    return this.journal?.delivered(eventId) ?? 0;
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
    for (const { event } of replay) this.enqueue(event, false);
    for (const key of this.queues.keys()) this.schedule(key);
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
    return { queued: this.queued, activeSessions: this.active.size, unacked: this.journal?.pendingCount ?? 0 };
  }

  private enqueue(event: AnyEvent, front: boolean): void {
    const key = `${event.type}\u0000${event.sessionId}`;
    let queue = this.queues.get(key);
    if (!queue) {
      queue = [];
      this.queues.set(key, queue);
    }
    if (front) queue.unshift(event);
    else queue.push(event);
    this.queued++;
    if (this.running) this.schedule(key);
  }

  private schedule(key: string): void {
    if (this.active.has(key)) return;
    const queue = this.queues.get(key);
    if (!queue || queue.length === 0) return;
    if (this.draining && queue[0]!.type === 'inbound') return;
    if (this.active.size >= this.maxConcurrency) {
      if (!this.waiting.includes(key)) this.waiting.push(key);
      return;
    }
    this.active.add(key);
    const work = this.drain(key);
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private async drain(key: string): Promise<void> {
    const queue = this.queues.get(key);
    while (this.running && queue && queue.length > 0) {
      if (this.draining && queue[0]!.type === 'inbound') break;
      const event = queue.shift()!;
      this.queued--;
      await this.dispatch(event);
    }
    if (queue && queue.length === 0) this.queues.delete(key);
    this.active.delete(key);
    if (!this.running) return;
    this.schedule(key);
    while (this.waiting.length > 0 && this.active.size < this.maxConcurrency) this.schedule(this.waiting.shift()!);
  }

  private async dispatch(event: AnyEvent): Promise<void> {
    const handlers = this.handlers.get(event.type);
    if (!handlers || handlers.length === 0) return;
    const pending: Promise<void>[] = [];
    for (const handler of handlers) {
      try {
        const result = handler(event);
        if (result instanceof Promise) pending.push(result.catch((err) => this.handlerFailed(event, err)));
      } catch (err) {
        this.handlerFailed(event, err);
      }
    }
    if (pending.length === 1) await pending[0];
    else if (pending.length > 1) await Promise.all(pending);
  }

  private handlerFailed(event: AnyEvent, err: unknown): void {
    this.log.error({ err, eventId: event.id, sessionId: event.sessionId, type: event.type }, 'event handler failed');
  }
}
