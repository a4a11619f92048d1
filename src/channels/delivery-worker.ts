import type { EventBus } from '../core/bus.ts';
import { OutboundEvent, TypingEvent } from '../core/events.ts';
import { ChannelError } from '../core/errors.ts';
import type { Worker } from '../core/worker.ts';
import type { Logger } from '../log.ts';
import type { Channel } from './channel.ts';

const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 16000];
/** Typing is never shown longer than this, even if the agent never says it stopped. */
const TYPING_MAX_MS = 5 * 60_000;

/**
 * Outbound → the channel that owns the session → the platform, chunk by chunk, in order.
 * Each chunk is marked delivered as soon as the platform took it, so a replay after a crash
 * resumes at the first chunk not yet sent. The platform clients retry rate limits and 5xx
 * themselves; what still fails is retried here with backoff, then left unacknowledged on the
 * bus so the next start tries again.
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
      if (err instanceof ChannelError && !err.retryable) {
        this.log.error({ err, sessionId: event.sessionId, eventId: event.id }, 'the platform refused the reply for good; dropped');
        await this.bus.ack(event.id);
      } else {
        this.log.error({ err, sessionId: event.sessionId, eventId: event.id }, 'reply not delivered after retries; kept for the next start');
      }
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
        const delay = this.retryDelaysMs[attempt];
        if (!retryable || delay === undefined || this.abort.signal.aborted) throw err;
        this.log.warn({ err, sessionId: event.sessionId, eventId: event.id, chunk: index, retryInMs: delay }, 'send failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, delay));
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
