import type { AnyEvent, EventMap, EventType, InboundEvent } from './events.ts';

export type Handler<T extends EventType> = (event: EventMap[T]) => void | Promise<void>;

/**
 * How far the delivery of an outbound event has come (survives restarts), so a replay resumes
 * where the last run stopped instead of showing anything twice.
 */
export interface DeliveryProgress {
  /** Chunks of the rendered reply the platform has taken. */
  chunks: number;
  /** Of the chunk after those: pieces sent in the safe form, after the platform refused the chunk whole. */
  pieces?: number;
  /**
   * The platform's ids of the messages the reply's drafts put up while the model wrote it, in
   * order. Recorded before the reply itself is published: a replay edits them to the final text.
   */
  drafts?: string[];
}

export interface BusStats {
  /** Events waiting in session queues, not yet handed to a handler. */
  queued: number;
  /** Session queues being worked on right now. */
  activeSessions: number;
  /** Durable events published and not yet acknowledged. */
  unacked: number;
  /** Events given up on for good (see `deadLetter`), since the workspace was made. */
  deadLetters: number;
  /** What keeps the bus from working right now, in words (a broker out of reach); absent when nothing does. */
  problem?: string;
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
  /**
   * Records how far the delivery of an outbound event has come; may come before the event itself
   * is published (its drafts are shown while the agent still writes it). Forgotten with its ack.
   */
  saveProgress(eventId: string, progress: DeliveryProgress): Promise<void>;
  /** What `saveProgress` recorded last for this event, also after a restart. */
  progress(eventId: string): DeliveryProgress | undefined;
  /**
   * Gives up on an event for good (a reply the platform refuses in every form): it is kept in the
   * dead letters with the reason, for the owner to read, and acknowledged, so it never blocks or
   * comes back.
   */
  deadLetter(event: AnyEvent, reason: string): Promise<void>;
  /**
   * For a handler of an inbound event: takes the inbound events queued behind it in its session,
   * oldest first, up to the first one `accept` refuses. They stay durable until acknowledged.
   */
  takeQueued(sessionId: string, accept: (event: InboundEvent) => boolean): InboundEvent[];
  /**
   * For a handler of an inbound event: `onQueued` is called each time another inbound event of
   * its session is queued behind it, until the returned function is called.
   */
  watchQueued(sessionId: string, onQueued: () => void): () => void;
  /** Hands an inbound event back, with a higher retryCount, ahead of the rest of its session. */
  republish(event: InboundEvent): Promise<void>;
  /** Replays what was never acknowledged, then dispatches until `stop`. */
  run(): Promise<void>;
  /** Stops dispatching; waits up to `deadlineMs` for handlers that are running. Pending events stay durable. */
  stop(deadlineMs: number): Promise<void>;
  stats(): BusStats;
  /** Lets go of what the bus holds outside the process (connections); after `stop`, once nothing publishes any more. */
  close?(): Promise<void>;
}
