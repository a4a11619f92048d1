import type { DeliveryProgress, EventBus } from '../core/bus.ts';
import { DraftEvent, OutboundEvent, TypingEvent } from '../core/events.ts';
import { ChannelError } from '../core/errors.ts';
import { pause } from '../core/pause.ts';
import type { Worker } from '../core/worker.ts';
import type { Logger } from '../log.ts';
import type { Channel } from './channel.ts';
import { chatKey, EditPacer } from './edit-pacer.ts';
import { sendOutboundFile } from './file-delivery.ts';
import { ReplyDrafts, type DraftTiming, type ShownMessage } from './reply-drafts.ts';
import { TypingIndicators } from './typing-indicators.ts';

/** Backoff between tries of a send that failed in a way worth retrying; the last delay repeats. */
const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 16000, 30000];
const DRAFT_TIMING: DraftTiming = { editIntervalMs: 1000 };

/**
 * Outbound → the channel that owns the session → the platform, chunk by chunk, in order.
 * Each chunk is marked delivered as soon as the platform took it, so a replay after a crash
 * resumes at the first chunk not yet sent. The platform clients retry rate limits and 5xx
 * themselves; what still fails that way (or the network) is retried here with backoff for as
 * long as the daemon runs, holding back the session's later replies so they stay in order.
 *
 * A chunk the platform refuses for good (too long, entities it cannot parse, bot blocked, chat
 * gone) is tried once more in the safest form: plain text, split again at half the size. If that
 * is refused too, the reply goes to the dead letters with the platform's reason and is
 * acknowledged: it never blocks the session or comes back at the next start.
 *
 * A reply streamed as drafts (see ReplyDrafts) already has messages up: the final reply edits them
 * to its own chunks, sends the chunks beyond them and removes any left over, so what the platform
 * shows in the end is exactly what a reply sent whole would show. The drafts' message ids are
 * journaled, so this holds for a reply replayed after a crash too.
 */
export class DeliveryWorker implements Worker {
  readonly name = 'delivery';
  private readonly abort = new AbortController();
  private readonly onOutbound = (event: OutboundEvent) => this.deliver(event);
  private readonly onTyping = (event: TypingEvent) => (event.active ? this.typing.start(event) : void this.typing.stop(event.sessionId));
  private readonly onDraft = (event: DraftEvent) => this.drafts.update(event);
  private readonly pacer = new EditPacer();
  private readonly typing: TypingIndicators;
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
    this.typing = new TypingIndicators(channels, log);
    this.drafts = new ReplyDrafts(channels, bus, this.pacer, draftTiming, log, {
      busy: (sessionId) => this.delivering.has(sessionId),
      beforeFirst: (sessionId) => this.typing.stop(sessionId),
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
    this.typing.stopAll();
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
    const progress: DeliveryProgress = this.bus.progress(event.id) ?? { chunks: 0 };
    try {
      // before anything goes out: a typing request landing after the reply would show "typing…" under it
      await this.typing.stop(event.sessionId, event.createdAt);
      for (let index = progress.chunks; index < chunks.length; index++) {
        const piecesSent = index === progress.chunks ? (progress.pieces ?? 0) : 0;
        if (!(await this.putChunk(channel, event, chunks[index]!, index, shown[index], piecesSent, progress))) return;
        await this.bus.saveProgress(event.id, { ...progress, chunks: index + 1, pieces: 0 });
      }
      await this.removeLeftovers(channel, event, shown.slice(chunks.length));
      await this.bus.ack(event.id);
      this.log.info({ sessionId: event.sessionId, eventId: event.id, chunks: chunks.length, error: event.error }, 'reply delivered');
    } catch (err) {
      this.log.error({ err, sessionId: event.sessionId, eventId: event.id }, 'reply not delivered before the stop; kept for the next start');
    }
  }

  /**
   * One chunk onto the platform; `piecesSent` > 0 resumes its safe form after a restart. False
   * when the platform refused it in every form: the reply is then in the dead letters.
   */
  private async putChunk(channel: Channel, event: OutboundEvent, text: string, index: number, draft: ShownMessage | undefined, piecesSent: number, progress: DeliveryProgress): Promise<boolean> {
    if (event.file) return this.putFile(channel, { ...event, file: event.file });
    if (piecesSent === 0) {
      try {
        await this.put(channel, event, text, index, draft);
        return true;
      } catch (err) {
        if (!isRefusal(err)) throw err;
        this.log.warn({ err, sessionId: event.sessionId, eventId: event.id, chunk: index }, 'the platform refused a chunk of the reply; trying it once more as plain text in smaller pieces');
      }
    }
    const pieces = channel.render(text, 'safe');
    try {
      for (let piece = piecesSent; piece < pieces.length; piece++) {
        await this.withRetry(event, index, () => channel.send({ target: event.source, text: pieces[piece]!, index, eventId: event.id, safe: { piece } }));
        if (piece + 1 < pieces.length) await this.bus.saveProgress(event.id, { ...progress, chunks: index, pieces: piece + 1 });
      }
      return true;
    } catch (err) {
      if (!isRefusal(err)) throw err;
      this.log.error({ err, sessionId: event.sessionId, eventId: event.id, chunk: index }, 'the platform refused the reply in every form; it is kept in .mybot/dead-letters.jsonl and not tried again');
      await this.bus.deadLetter(event, err.message);
      return false;
    }
  }

  /** A file has no safer form: refused (too large, chat gone), it goes to the dead letters. */
  private async putFile(channel: Channel, event: Parameters<typeof sendOutboundFile>[1]): Promise<boolean> {
    try {
      await this.withRetry(event, 0, () => sendOutboundFile(channel, event));
      return true;
    } catch (err) {
      if (!isRefusal(err)) throw err;
      this.log.error({ err, sessionId: event.sessionId, eventId: event.id, file: event.file.name }, 'the platform refused the file; it is kept in .mybot/dead-letters.jsonl and not tried again');
      await this.bus.deadLetter(event, err.message);
      return false;
    }
  }

  /** One chunk in its normal form: the draft message at its place is edited to it, or a new message is sent. */
  private async put(channel: Channel, event: OutboundEvent, text: string, index: number, draft: ShownMessage | undefined): Promise<void> {
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
        if (!isRefusal(err)) throw err;
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
        if (isRefusal(err) || this.abort.signal.aborted) throw err;
        const delay = this.retryDelaysMs[Math.min(tries, this.retryDelaysMs.length - 1)]!;
        this.log.warn({ err, sessionId: event.sessionId, eventId: event.id, chunk: index, attempt: tries + 1, retryInMs: delay }, 'send failed; retrying');
        if (!(await pause(delay, this.abort.signal))) throw err;
      }
    }
  }
}

/** The platform said no in a way that trying again the same way cannot change. */
function isRefusal(err: unknown): err is ChannelError {
  return err instanceof ChannelError && !err.retryable;
}
