import type { AnyEvent, EventMap, EventType, InboundEvent } from './events.ts';

export type Handler<T extends EventType> = (event: EventMap[T]) => void | Promise<void>;

export interface BusStats {
  /** Events waiting in session queues, not yet handed to a handler. */
  queued: number;
  /** Session queues being worked on right now. */
  activeSessions: number;
  /** Durable events published and not yet acknowledged. */
  unacked: number;
}

/**
 * Typed publish/subscribe between workers. In-process today (LocalBus); a broker-backed bus can
 * replace it without touching the workers, which only see this interface.
 *
 * Events of one session and type are handled in order; sessions run concurrently. Durable events
 * (inbound, outbound) stay pending until their consumer calls `ack`, and are replayed by `run`
 * after a restart if that never happened.
 */
export interface EventBus {
  subscribe<T extends EventType>(type: T, handler: Handler<T>): void;
  unsubscribe<T extends EventType>(type: T, handler: Handler<T>): void;
  /** Resolves once the event is durable. Resolves false when an event with this id was already published (a duplicate). */
  publish(event: AnyEvent): Promise<boolean>;
  /** The consumer is done with this event: it will not be replayed. */
  ack(eventId: string): Promise<void>;
  /** Records that the first `count` chunks of an outbound event reached the platform. */
  markDelivered(eventId: string, count: number): Promise<void>;
  /** How many chunks of an outbound event already reached the platform (survives restarts). */
  deliveredCount(eventId: string): number;
  /**
   * For a handler of an inbound event: takes the inbound events queued behind it in its session,
   * oldest first, up to the first one `accept` refuses. They stay durable until acknowledged.
   */
  takeQueued(sessionId: string, accept: (event: InboundEvent) => boolean): InboundEvent[];
  /** Hands an inbound event back, with a higher retryCount, ahead of the rest of its session. */
  republish(event: InboundEvent): Promise<void>;
  /** Replays what was never acknowledged, then dispatches until `stop`. */
  run(): Promise<void>;
  /** Stops dispatching; waits up to `deadlineMs` for handlers that are running. Pending events stay durable. */
  stop(deadlineMs: number): Promise<void>;
  stats(): BusStats;
}
