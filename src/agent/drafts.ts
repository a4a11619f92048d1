import type { EventBus } from '../core/bus.ts';
import { createEvent, type DraftEvent, type InboundEvent } from '../core/events.ts';
import type { OnText } from './llm.ts';

/** The id of the OutboundEvent that answers an inbound event: derived from it, so a replay cannot publish a second answer. */
export function replyIdFor(inboundId: string): string {
  return `${inboundId}:reply`;
}

/** Publishes the answer so far as DraftEvents while the model writes it; channels that can edit messages show them. */
export function draftPublisher(bus: EventBus, inbound: InboundEvent): OnText {
  const replyId = replyIdFor(inbound.id);
  return (text) => {
    // a lost draft only delays what the user sees: the final reply is journaled
    bus.publish(createEvent<DraftEvent>({ type: 'draft', sessionId: inbound.sessionId, source: inbound.source, replyId, text })).catch(() => undefined);
  };
}
