import { createEvent, type InboundEvent, type OutboundEvent } from '../../src/core/events.ts';

export function inbound(sessionId: string, content: string, id?: string): InboundEvent {
  return createEvent<InboundEvent>({
    type: 'inbound',
    sessionId,
    content,
    retryCount: 0,
    source: { channel: 'test', chatId: sessionId },
    ...(id ? { id } : {}),
  });
}

export function outbound(sessionId: string, content: string, inReplyTo = 'x'): OutboundEvent {
  return createEvent<OutboundEvent>({ type: 'outbound', sessionId, content, inReplyTo, source: { channel: 'test', chatId: sessionId } });
}
