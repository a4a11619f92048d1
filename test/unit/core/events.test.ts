import { describe, expect, it } from 'vitest';
import { createEvent, type InboundEvent, type TypingEvent } from '../../../src/core/events.ts';

const source = { channel: 'telegram', chatId: '42' };

describe('createEvent', () => {
  it('keeps a platform-derived id and a given creation time, and every field of the draft', () => {
    const event = createEvent<InboundEvent>({ id: 'telegram:42:7', createdAt: 1_000, type: 'inbound', sessionId: 'telegram:42', content: 'hi', retryCount: 2, source });
    expect(event).toEqual({ id: 'telegram:42:7', createdAt: 1_000, type: 'inbound', sessionId: 'telegram:42', content: 'hi', retryCount: 2, source });
  });

  it('fills in a fresh id and the current time when the draft has none, or has them undefined', () => {
    const before = Date.now();
    const a = createEvent<TypingEvent>({ type: 'typing', sessionId: 's', source, active: true });
    const b = createEvent<TypingEvent>({ id: undefined, createdAt: undefined, type: 'typing', sessionId: 's', source, active: true });
    for (const event of [a, b]) {
      expect(event.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(event.createdAt).toBeGreaterThanOrEqual(before);
      expect(event.createdAt).toBeLessThanOrEqual(Date.now());
    }
    expect(a.id).not.toBe(b.id);
  });

  it('does not touch the draft', () => {
    const draft = { type: 'typing' as const, sessionId: 's', source, active: false };
    createEvent<TypingEvent>(draft);
    expect(draft).toEqual({ type: 'typing', sessionId: 's', source, active: false });
  });
});
