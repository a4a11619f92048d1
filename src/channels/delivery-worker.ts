import type { EventBus } from '../core/bus.ts';
import { OutboundEvent, TypingEvent } from '../core/events.ts';
import { ChannelError } from '../core/errors.ts';
import type { Worker } from '../core/worker.ts';
import type { Logger } from '../log.ts';
import type { Channel } from './channel.ts';

/** Backoff between tries of a send that failed in a way worth retrying; the last delay repeats. */
const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 16000, 30000];
/** Typing is never shown longer than this, even if the agent never says it stopped. */
const TYPING_MAX_MS = 5 * 60_000;

/**
 * Outbound → the channel that owns the session → the platform, chunk by chunk, in order.
 * Each chunk is marked delivered as soon as the platform took it, so a replay after a crash
 * resumes at the first chunk not yet sent. The platform clients retry rate limits and 5xx
 * themselves; what still fails that way (or the network) is retried here with backoff for as
 * long as the daemon runs, holding back the session's later replies so they stay in order. A
 * send the platform refuses for good (blocked, chat gone) is logged with its session id and left
 * unacknowledged on the bus, so the next start tries it again; the session's next replies go on.
 */
export class DeliveryWorker implements Worker {
  readonly name = 'delivery';
  private readonly typing = new Map<string, { timer: NodeJS.Timeout; since: number }>();
  private readonly abort = new AbortController();
  private readonly onOutbound = (event: OutboundEvent) => this.deliver(event);
  private readonly onTyping = (event: TypingEvent) => this.setTyping(event);

  constructor(
    private readonly bus: EventBus,
    private readonly channels: () => ReadonlyMap<string, Channel>,
    private readonly log: Logger,
    private readonly retryDelaysMs: readonly number[] = RETRY_DELAYS_MS,
  ) {}

  async start(): Promise<void> {
    this.bus.subscribe(OutboundEvent, this.onOutbound);
    this.bus.subscribe(TypingEvent, this.onTyping);
  }

  async stop(): Promise<void> {
    this.bus.unsubscribe(OutboundEvent, this.onOutbound);
    this.bus.unsubscribe(TypingEvent, this.onTyping);
    this.abort.abort();
    for (const sessionId of [...this.typing.keys()]) this.stopTyping(sessionId);
  }

  private async deliver(event: OutboundEvent): Promise<void> {
    const channel = this.channels().get(event.source.channel);
    if (!channel) {
      this.log.warn({ sessionId: event.sessionId, eventId: event.id, channel: event.source.channel }, 'reply for a channel that is not running; kept for the next start');
      return;
    }
    const chunks = channel.render(event.content);
    const first = this.bus.deliveredCount(event.id);
    try {
      for (let index = first; index < chunks.length; index++) {
        await this.sendWithRetry(channel, event, chunks[index]!, index);
        await this.bus.markDelivered(event.id, index + 1);
        if (index === 0) this.stopTyping(event.sessionId);
      }
      await this.bus.ack(event.id);
      this.log.info({ sessionId: event.sessionId, eventId: event.id, chunks: chunks.length, error: event.error }, 'reply delivered');
    } catch (err) {
      const refused = err instanceof ChannelError && !err.retryable;
      this.log.error(
        { err, sessionId: event.sessionId, eventId: event.id },
        refused ? 'the platform refused the reply; kept unacknowledged for the next start' : 'reply not delivered before the stop; kept for the next start',
      );
    } finally {
      this.stopTyping(event.sessionId);
    }
  }

  private async sendWithRetry(channel: Channel, event: OutboundEvent, text: string, index: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await channel.send({ target: event.source, text, index, eventId: event.id });
        return;
      } catch (err) {
        const retryable = !(err instanceof ChannelError) || err.retryable;
        if (!retryable || this.abort.signal.aborted) throw err;
        const delay = this.retryDelaysMs[Math.min(attempt, this.retryDelaysMs.length - 1)]!;
        this.log.warn({ err, sessionId: event.sessionId, eventId: event.id, chunk: index, attempt: attempt + 1, retryInMs: delay }, 'send failed; retrying');
        if (!(await pause(delay, this.abort.signal))) throw err;
      }
    }
  }

  private setTyping(event: TypingEvent): void {
    if (!event.active) return this.stopTyping(event.sessionId);
    const channel = this.channels().get(event.source.channel);
    if (!channel || this.typing.has(event.sessionId)) return;
    const pulse = () => {
      const entry = this.typing.get(event.sessionId);
      if (!entry) return;
      if (Date.now() - entry.since > TYPING_MAX_MS) return this.stopTyping(event.sessionId);
      channel.sendTyping(event.source).catch((err) => this.log.debug({ err, sessionId: event.sessionId }, 'typing indicator failed'));
    };
    this.typing.set(event.sessionId, { timer: setInterval(pulse, channel.typingIntervalMs), since: Date.now() });
    // A timer, not setImmediate: the LLM client (undici) writes its request from the check phase,
    // after checking its idle keep-alive socket, and the typing request must not go out ahead of it.
    setTimeout(pulse, 0);
  }

  private stopTyping(sessionId: string): void {
    const entry = this.typing.get(sessionId);
    if (!entry) return;
    clearInterval(entry.timer);
    this.typing.delete(sessionId);
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts (the worker stops). */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
