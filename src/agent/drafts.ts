import type { EventBus } from '../core/bus.ts';
import { createEvent, type DraftEvent, type InboundEvent } from '../core/events.ts';
import type { OnText } from './llm.ts';

/**
 * How long the model must have been writing before its answer shows as a draft: an answer that is
 * complete by then goes out once, whole, with no edits after it.
 */
export const FIRST_DRAFT_AFTER_MS = 1000;

/** The id of the OutboundEvent that answers an inbound event: derived from it, so a replay cannot publish a second answer. */
export function replyIdFor(inboundId: string): string {
  return `${inboundId}:reply`;
}

/**
 * Publishes the answer so far as DraftEvents while the model writes it; channels that can edit
 * messages show them. Nothing goes out before the model has written for `firstAfterMs`; from the
 * first draft on, the answer counts as shown (`shown`): the user may be reading it.
 */
export class DraftPublisher {
  shown = false;
  readonly onText: OnText;
  private latest = '';
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(bus: EventBus, inbound: InboundEvent, firstAfterMs = FIRST_DRAFT_AFTER_MS) {
    const replyId = replyIdFor(inbound.id);
    const publish = () => {
      // a lost draft only delays what the user sees: the final reply is journaled
      bus.publish(createEvent<DraftEvent>({ type: 'draft', sessionId: inbound.sessionId, source: inbound.source, replyId, text: this.latest })).catch(() => undefined);
    };
    this.onText = (text) => {
      if (this.closed) return;
      this.latest = text;
      if (this.shown) return publish();
      this.timer ??= setTimeout(() => {
        this.shown = true;
        publish();
      }, firstAfterMs);
    };
  }

  /** The answer is complete or cancelled: nothing more is published. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}
