import type { EventBus } from '../core/bus.ts';
import { DraftEvent, OutboundEvent, TypingEvent } from '../core/events.ts';
import { ChannelError } from '../core/errors.ts';
import { pause } from '../core/pause.ts';
import type { Worker } from '../core/worker.ts';
import type { Logger } from '../log.ts';
import type { Channel } from './channel.ts';
import { chatKey, EditPacer } from './edit-pacer.ts';
import { sendOutboundFile } from './file-delivery.ts';
import { ReplyDrafts, type DraftTiming, type ShownMessage } from './reply-drafts.ts';

/** Backoff between tries of a send that failed in a way worth retrying; the last delay repeats. */
const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 16000, 30000];
/**
 * Typing shows only if the reply is not out by then: the platforms clear the indicator when the
 * bot's message arrives, so a quick answer would only flash it, at the cost of a request that
 * counts against the chat's limits and goes out ahead of the reply.
 */
const TYPING_GRACE_MS = 500;
/** Typing is never shown longer than this, even if the agent never says it stopped. */
const TYPING_MAX_MS = 5 * 60_000;
const DRAFT_TIMING: DraftTiming = { firstAfterMs: 1000, editIntervalMs: 1000 };

/**
 * Outbound → the channel that owns the session → the platform, chunk by chunk, in order.
 * Each chunk is marked delivered as soon as the platform took it, so a replay after a crash
 * resumes at the first chunk not yet sent. The platform clients retry rate limits and 5xx
 * themselves; what still fails that way (or the network) is retried here with backoff for as
 * long as the daemon runs, holding back the session's later replies so they stay in order. A
 * send the platform refuses for good (blocked, chat gone) is logged with its session id and left
 * unacknowledged on the bus, so the next start tries it again; the session's next replies go on.
 *
 * A reply streamed as drafts (see ReplyDrafts) already has messages up: the final reply edits them
 * to its own chunks, sends the chunks beyond them and removes any left over, so what the platform
 * shows in the end is exactly what a reply sent whole would show.
 */
export class DeliveryWorker implements Worker {
  readonly name = 'delivery';
  private readonly typing = new Map<string, { timer: NodeJS.Timeout; since: number }>();
  private readonly abort = new AbortController();
  private readonly onOutbound = (event: OutboundEvent) => this.deliver(event);
  private readonly onTyping = (event: TypingEvent) => this.setTyping(event);
  private readonly onDraft = (event: DraftEvent) => this.drafts.update(event);
  private readonly pacer = new EditPacer();
  private readonly drafts: ReplyDrafts;
  /** Sessions with a reply being delivered right now (retries included). */
  private readonly delivering = new Set<string>();

  constructor(
    private readonly bus: EventBus,
    private readonly channels: () => ReadonlyMap<string, Channel>,
    private readonly log: Logger,
    private readonly retryDelaysMs: readonly number[] = RETRY_DELAYS_MS,
    draftTiming: DraftTiming = DRAFT_TIMING,
  ) {
    this.drafts = new ReplyDrafts(channels, this.pacer, draftTiming, log, {
      busy: (sessionId) => this.delivering.has(sessionId),
      firstShown: (sessionId) => this.stopTyping(sessionId),
    });
  }

  async start(): Promise<void> {
    this.bus.subscribe(OutboundEvent, this.onOutbound);
    this.bus.subscribe(TypingEvent, this.onTyping);
    this.bus.subscribe(DraftEvent, this.onDraft);
  }

  async stop(): Promise<void> {
    this.bus.unsubscribe(OutboundEvent, this.onOutbound);
    this.bus.unsubscribe(TypingEvent, this.onTyping);
    this.bus.unsubscribe(DraftEvent, this.onDraft);
    this.drafts.stop();
    this.abort.abort();
    for (const sessionId of [...this.typing.keys()]) this.stopTyping(sessionId);
  }

  private async deliver(event: OutboundEvent): Promise<void> {
    // one at a time per session: the bus hands a session's replies over in order
    this.delivering.add(event.sessionId);
    try {
      await this.deliverChunks(event);
    } finally {
      this.delivering.delete(event.sessionId);
      // after the bus has handed over the session's next reply, if one is waiting: that one goes first
      setImmediate(() => this.drafts.resume(event.sessionId));
    }
  }

  private async deliverChunks(event: OutboundEvent): Promise<void> {
    const shown = await this.drafts.settle(event.id);
    const channel = this.channels().get(event.source.channel);
    if (!channel) {
      this.log.warn({ sessionId: event.sessionId, eventId: event.id, channel: event.source.channel }, 'reply for a channel that is not running; kept for the next start');
      return;
    }
    // a file (send_file) is one send, its caption the content
    const chunks = event.file ? [event.content] : channel.render(event.content);
    const first = this.bus.deliveredCount(event.id);
    try {
      for (let index = first; index < chunks.length; index++) {
        await this.put(channel, event, chunks[index]!, index, shown[index]);
        await this.bus.markDelivered(event.id, index + 1);
        if (index === 0) this.stopTyping(event.sessionId, event.createdAt);
      }
      await this.removeLeftovers(channel, event, shown.slice(chunks.length));
      await this.bus.ack(event.id);
      this.log.info({ sessionId: event.sessionId, eventId: event.id, chunks: chunks.length, error: event.error }, 'reply delivered');
    } catch (err) {
      const refused = err instanceof ChannelError && !err.retryable;
      this.log.error(
        { err, sessionId: event.sessionId, eventId: event.id },
        refused ? 'the platform refused the reply; kept unacknowledged for the next start' : 'reply not delivered before the stop; kept for the next start',
      );
    } finally {
      this.stopTyping(event.sessionId, event.createdAt);
    }
  }

  /** One chunk onto the platform: the draft message at its place is edited to it, or a new message is sent. */
  private async put(channel: Channel, event: OutboundEvent, text: string, index: number, draft: ShownMessage | undefined): Promise<void> {
    if (event.file) return this.withRetry(event, index, () => sendOutboundFile(channel, { ...event, file: event.file! }));
    if (draft && channel.edit) {
      if (draft.text === text) return;
      const key = chatKey(event.source);
      const interval = this.drafts.intervalFor(channel, event.source);
      try {
        await this.withRetry(event, index, async () => {
          await pause(this.pacer.reserve(key, interval), this.abort.signal);
          await channel.edit!(event.source, draft.id, text);
          this.pacer.sent(key, interval);
        });
        return;
      } catch (err) {
        if (!(err instanceof ChannelError) || err.retryable) throw err;
        // e.g. the user deleted the draft message: the chunk still reaches them
        this.log.warn({ err, sessionId: event.sessionId, eventId: event.id, chunk: index }, 'could not edit the streamed message; sending the chunk as a new one');
      }
    }
    await this.withRetry(event, index, () => channel.send({ target: event.source, text, index, eventId: event.id }));
  }

  /** Draft messages beyond the final reply's chunks (its text got shorter): removed, best effort. */
  private async removeLeftovers(channel: Channel, event: OutboundEvent, leftovers: ShownMessage[]): Promise<void> {
    for (const message of leftovers) {
      await channel.remove?.(event.source, message.id).catch((err: unknown) =>
        this.log.warn({ err, sessionId: event.sessionId, eventId: event.id }, 'could not remove a draft message the final reply did not need'),
      );
    }
  }

  private async withRetry(event: OutboundEvent, index: number, attempt: () => Promise<unknown>): Promise<void> {
    for (let tries = 0; ; tries++) {
      try {
        await attempt();
        return;
      } catch (err) {
        const retryable = !(err instanceof ChannelError) || err.retryable;
        if (!retryable || this.abort.signal.aborted) throw err;
        const delay = this.retryDelaysMs[Math.min(tries, this.retryDelaysMs.length - 1)]!;
        this.log.warn({ err, sessionId: event.sessionId, eventId: event.id, chunk: index, attempt: tries + 1, retryInMs: delay }, 'send failed; retrying');
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
    const entry = {
      timer: setTimeout(() => {
        entry.timer = setInterval(pulse, channel.typingIntervalMs);
        pulse();
      }, TYPING_GRACE_MS),
      since: Date.now(),
    };
    this.typing.set(event.sessionId, entry);
  }

  /**
   * With `answeredAt` (when the reply being delivered was written), typing the agent started after
   * it is left alone: it is for the session's next turn, which the agent began meanwhile.
   */
  private stopTyping(sessionId: string, answeredAt = Infinity): void {
    const entry = this.typing.get(sessionId);
    if (!entry || entry.since > answeredAt) return;
    clearTimeout(entry.timer);
    this.typing.delete(sessionId);
  }
}
