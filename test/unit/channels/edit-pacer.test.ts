import { describe, expect, it } from 'vitest';
import { EditPacer } from '../../../src/channels/edit-pacer.ts';

describe('EditPacer', () => {
  it('gives each edit of a chat the next slot, an interval after the one before; other chats are not held up', () => {
    const pacer = new EditPacer();
    expect(pacer.reserve('tg:1', 1000, 10_000)).toBe(0);
    expect(pacer.reserve('tg:1', 1000, 10_000)).toBe(1000);
    expect(pacer.reserve('tg:1', 1000, 10_400)).toBe(1600);
    expect(pacer.reserve('tg:2', 1000, 10_400)).toBe(0);
    expect(pacer.reserve('tg:1', 1000, 20_000)).toBe(0); // long after: at once
  });

  it('counts the interval from when a message went out, so a slow edit does not let the next one crowd it', () => {
    const pacer = new EditPacer();
    expect(pacer.reserve('dc:7', 1000, 0)).toBe(0);
    pacer.sent('dc:7', 1000, 700); // the edit took 700 ms to go through
    expect(pacer.reserve('dc:7', 1000, 1000)).toBe(700);
    pacer.sent('dc:8', 3000, 0); // a send counts too
    expect(pacer.reserve('dc:8', 3000, 1000)).toBe(2000);
  });
});
