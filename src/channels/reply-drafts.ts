import type { DraftEvent, EventSource } from '../core/events.ts';
import { pause } from '../core/pause.ts';
import type { Logger } from '../log.ts';
import type { Channel } from './channel.ts';
import { chatKey, type EditPacer } from './edit-pacer.ts';

/** A platform message a draft put up, and the rendered chunk it shows now. */
export interface ShownMessage {
  id: string;
  text: string;
}

export interface DraftTiming {
  /**
   * How long the model must have been writing before its first message goes up: an answer that is
   * complete by then goes out once, whole, with no edits after it.
   */
  firstAfterMs: number;
  /** Edit spacing for a channel that does not name its own. */
  editIntervalMs: number;
}

interface Draft {
  replyId: string;
  sessionId: string;
  channel: Channel;
  target: EventSource;
  /** The latest text: a flush always shows this one, whatever came between (coalescing). */
  text: string;
  shown: ShownMessage[];
  /** Waiting out `firstAfterMs`. */
  timer: NodeJS.Timeout | undefined;
  flushing: Promise<void> | undefined;
  /** Text came while a flush was running: another one follows. */
  dirty: boolean;
  /** Aborted when the final reply takes over. */
  done: AbortController;
  lastSeen: number;
}

/** A reply that never got its final event (its turn was cancelled) is forgotten after this. */
const FORGET_AFTER_MS = 10 * 60_000;
/** Finished replies remembered so a draft that arrives late does not put up a new message. */
const REMEMBER_FINISHED = 1000;

/**
 * Replies shown while the model writes them: the first DraftEvent of a reply, once `firstAfterMs`
 * has passed, sends a message; later ones edit it in place, paced per chat, always to the latest
 * text; text beyond one message continues in the next. A reply shows only after the session's
 * earlier replies (see `mayShow`), so replies keep their order. Drafts are best effort: a failed
 * edit waits for the next draft, and the final reply (see `settle`) makes the messages right.
 */
export class ReplyDrafts {
  private readonly drafts = new Map<string, Draft>();
  private readonly finished = new Set<string>();

  constructor(
    private readonly channels: () => ReadonlyMap<string, Channel>,
    private readonly pacer: EditPacer,
    private readonly timing: DraftTiming,
    private readonly log: Logger,
    private readonly hooks: {
      /** A reply of the session is being delivered: a later one must not show before it. */
      busy: (sessionId: string) => boolean;
      /** The first message of a reply is up (the typing indicator can stop). */
      firstShown: (sessionId: string) => void;
    },
  ) {}

  update(event: DraftEvent): void {
    if (this.finished.has(event.replyId)) return;
    const draft = this.drafts.get(event.replyId) ?? this.open(event);
    if (!draft) return;
    draft.text = event.text;
    draft.lastSeen = Date.now();
    this.flushSoon(draft);
  }

  /**
   * The final reply is here: no more draft work for it. Resolves, once a flush in flight is done,
   * with the messages its drafts put up (none if the answer came before the first one).
   */
  async settle(replyId: string): Promise<ShownMessage[]> {
    this.remember(replyId);
    const draft = this.drafts.get(replyId);
    if (!draft) return [];
    this.drafts.delete(replyId);
    this.close(draft);
    await draft.flushing;
    return draft.shown;
  }

  /** The session's reply is delivered: its drafts waiting for that may show now. */
  resume(sessionId: string): void {
    for (const draft of this.drafts.values()) if (draft.sessionId === sessionId) this.flushSoon(draft);
  }

  /** How far apart edits to this chat must be. */
  intervalFor(channel: Channel, target: EventSource): number {
    return channel.editIntervalMs?.(target) ?? this.timing.editIntervalMs;
  }

  stop(): void {
    for (const draft of this.drafts.values()) this.close(draft);
    this.drafts.clear();
  }

  private open(event: DraftEvent): Draft | undefined {
    const channel = this.channels().get(event.source.channel);
    if (!channel?.edit) return undefined;
    this.forgetAbandoned();
    const draft: Draft = {
      replyId: event.replyId,
      sessionId: event.sessionId,
      channel,
      target: event.source,
      text: event.text,
      shown: [],
      timer: undefined,
      flushing: undefined,
      dirty: false,
      done: new AbortController(),
      lastSeen: Date.now(),
    };
    draft.timer = setTimeout(() => {
      draft.timer = undefined;
      this.flushSoon(draft);
    }, this.timing.firstAfterMs);
    this.drafts.set(event.replyId, draft);
    return draft;
  }

  private flushSoon(draft: Draft): void {
    if (draft.done.signal.aborted || draft.timer) return;
    if (draft.flushing) {
      draft.dirty = true;
      return;
    }
    draft.flushing = this.flush(draft).finally(() => (draft.flushing = undefined));
  }

  private async flush(draft: Draft): Promise<void> {
    do {
      draft.dirty = false;
      try {
        await this.step(draft);
      } catch (err) {
        this.log.debug({ err, sessionId: draft.sessionId, eventId: draft.replyId }, 'could not update a streamed reply; the next draft or the final reply will');
        return;
      }
    } while (draft.dirty && !draft.done.signal.aborted);
  }

  /** Brings the platform one step closer to the latest text: at most one edit (paced), then the messages that are new. */
  private async step(draft: Draft): Promise<void> {
    const { channel, target, shown, done } = draft;
    if (shown.length === 0 && !this.mayShow(draft)) return;
    const key = chatKey(target);
    const interval = this.intervalFor(channel, target);
    let chunks = channel.render(draft.text);
    const stale = () => chunks.findIndex((chunk, i) => i < shown.length && shown[i]!.text !== chunk);
    if (stale() >= 0) {
      if (!(await pause(this.pacer.reserve(key, interval), done.signal))) return;
      // the text grew while this waited for its slot: the edit shows the latest
      chunks = channel.render(draft.text);
      const index = stale();
      if (index >= 0) {
        await channel.edit!(target, shown[index]!.id, chunks[index]!);
        this.pacer.sent(key, interval);
        shown[index]!.text = chunks[index]!;
        if (stale() >= 0) draft.dirty = true;
      }
    }
    for (let index = shown.length; index < chunks.length && !done.signal.aborted; index++) {
      const text = chunks[index]!;
      if (!text.trim()) return;
      // its own nonce: a replayed final reply must not be collapsed into this draft on Discord
      const id = await channel.send({ target, text, index, eventId: `${draft.replyId}:draft` });
      if (!id) return;
      this.pacer.sent(key, interval);
      shown.push({ id, text });
      if (index === 0) this.hooks.firstShown(draft.sessionId);
    }
  }

  /**
   * Replies show in the order the session's turns made them: none while an earlier reply is being
   * delivered, and none before the session's older drafts (drafts open in turn order, and each
   * stays open until its final reply is on its way).
   */
  private mayShow(draft: Draft): boolean {
    if (this.hooks.busy(draft.sessionId)) return false;
    for (const other of this.drafts.values()) if (other.sessionId === draft.sessionId) return other === draft;
    return false;
  }

  private close(draft: Draft): void {
    clearTimeout(draft.timer);
    draft.timer = undefined;
    draft.done.abort();
  }

  private remember(replyId: string): void {
    this.finished.add(replyId);
    if (this.finished.size > REMEMBER_FINISHED) this.finished.delete(this.finished.values().next().value!);
  }

  private forgetAbandoned(): void {
    const now = Date.now();
    for (const [replyId, draft] of this.drafts) {
      if (now - draft.lastSeen < FORGET_AFTER_MS) continue;
      this.close(draft);
      this.drafts.delete(replyId);
    }
  }
}
