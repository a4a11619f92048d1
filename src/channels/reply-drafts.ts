import type { EventBus } from '../core/bus.ts';
import type { DraftEvent, EventSource } from '../core/events.ts';
import { pause } from '../core/pause.ts';
import type { Logger } from '../log.ts';
import type { Channel } from './channel.ts';
import { chatKey, type EditPacer } from './edit-pacer.ts';

/** A platform message a draft put up, and the rendered chunk it shows now (undefined: put up before a restart). */
export interface ShownMessage {
  id: string;
  text: string | undefined;
}

export interface DraftTiming {
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
 * Replies shown while the model writes them: the first DraftEvent of a reply sends a message (the
 * agent holds drafts back until the model has written for a second, so a quick answer goes out
 * once, whole); later ones edit it in place, paced per chat, always to the latest text; text
 * beyond one message continues in the next. A reply shows only after the session's earlier
 * replies (see `mayShow`), so replies keep their order. Drafts are best effort: a failed edit waits
 * for the next draft, and the final reply (see `settle`) makes the messages right.
 *
 * Each message a draft puts up is journaled (`EventBus.saveProgress`) as soon as the platform
 * took it: after a crash the replayed turn's drafts and its final reply edit those messages
 * instead of showing the reply a second time.
 */
export class ReplyDrafts {
  private readonly drafts = new Map<string, Draft>();
  private readonly finished = new Set<string>();

  constructor(
    private readonly channels: () => ReadonlyMap<string, Channel>,
    private readonly bus: EventBus,
    private readonly pacer: EditPacer,
    private readonly timing: DraftTiming,
    private readonly log: Logger,
    private readonly hooks: {
      /** A reply of the session is being delivered: a later one must not show before it. */
      busy: (sessionId: string) => boolean;
      /** The first message of a reply is about to go up: the typing indicator stops first. */
      beforeFirst: (sessionId: string) => Promise<void>;
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
   * with the messages its drafts put up (none if the answer came before the first one), also
   * those put up before a restart.
   */
  async settle(replyId: string): Promise<ShownMessage[]> {
    this.remember(replyId);
    const draft = this.drafts.get(replyId);
    if (!draft) return this.journaled(replyId);
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
      shown: this.journaled(event.replyId),
      flushing: undefined,
      dirty: false,
      done: new AbortController(),
      lastSeen: Date.now(),
    };
    this.drafts.set(event.replyId, draft);
    return draft;
  }

  /** The messages the reply's drafts put up before a restart, their text unknown. */
  private journaled(replyId: string): ShownMessage[] {
    return (this.bus.progress(replyId)?.drafts ?? []).map((id) => ({ id, text: undefined }));
  }

  private flushSoon(draft: Draft): void {
    if (draft.done.signal.aborted) return;
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
      if (index === 0) await this.hooks.beforeFirst(draft.sessionId);
      // its own nonce: a replayed final reply must not be collapsed into this draft on Discord
      const id = await channel.send({ target, text, index, eventId: `${draft.replyId}:draft` });
      if (!id) return;
      this.pacer.sent(key, interval);
      shown.push({ id, text });
      const progress = this.bus.progress(draft.replyId) ?? { chunks: 0 };
      await this.bus.saveProgress(draft.replyId, { ...progress, drafts: shown.map((message) => message.id) });
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
