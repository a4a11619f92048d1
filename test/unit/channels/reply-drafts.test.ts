import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Channel, OutgoingChunk } from '../../../src/channels/channel.ts';
import { DeliveryWorker } from '../../../src/channels/delivery-worker.ts';
import { splitMessage } from '../../../src/channels/split.ts';
import { ChannelError } from '../../../src/core/errors.ts';
import { createEvent, type DraftEvent, type EventSource, type OutboundEvent } from '../../../src/core/events.ts';
import { Journal } from '../../../src/core/journal.ts';
import { LocalBus } from '../../../src/core/local-bus.ts';
import { memoryLogger } from '../../helpers/log.ts';
import { waitFor } from '../../helpers/wait.ts';

const TIMING = { editIntervalMs: 100 };
/** Long enough for anything that was going to happen to have happened: for asserting that nothing does. */
const QUIET_MS = TIMING.editIntervalMs * 3;
/** setTimeout may fire a millisecond early. */
const TIMER_SLACK_MS = 3;
const SOURCE: EventSource = { channel: 'test', chatId: 'chat-1' };

type Op = { kind: 'send' | 'edit' | 'remove'; id: string; text?: string; at: number };

/** A channel whose messages can be edited: 40 characters a message; records every call. */
function editableChannel() {
  let nextId = 1;
  const messages = new Map<string, string>();
  const ops: Op[] = [];
  const refuseEdits = new Set<string>();
  /** While set, sends of this reply wait for it (a platform slow to take one message). */
  const gate: { eventId?: string; hold?: Promise<void> } = {};
  const channel: Channel = {
    name: 'test',
    typingIntervalMs: 60_000,
    async start() {},
    async stop() {},
    async pause() {},
    render: (content: string) => splitMessage(content, 40),
    async send(chunk: OutgoingChunk) {
      if (chunk.eventId === gate.eventId) await gate.hold;
      const id = String(nextId++);
      messages.set(id, chunk.text);
      ops.push({ kind: 'send', id, text: chunk.text, at: Date.now() });
      return id;
    },
    async edit(_target, id, text) {
      if (refuseEdits.has(id)) throw new ChannelError('Test edit failed (400: message to edit not found)', false);
      messages.set(id, text);
      ops.push({ kind: 'edit', id, text, at: Date.now() });
    },
    async remove(_target, id) {
      messages.delete(id);
      ops.push({ kind: 'remove', id, at: Date.now() });
    },
    async sendTyping() {},
    status: () => ({ state: 'connected' as const }),
  };
  return { channel, ops, refuseEdits, gate, shown: () => [...messages.values()] };
}

let stopAll: () => Promise<void> = async () => undefined;
afterEach(() => stopAll());

/** With `journalPath`, a journaled bus: a second setup on the same path is the daemon after a restart. */
async function setup(journalPath?: string, platform = editableChannel()) {
  const { logger, lines } = memoryLogger();
  const journal = journalPath ? new Journal(journalPath, { log: logger }) : undefined;
  const bus = new LocalBus({ log: logger, ...(journal ? { journal } : {}) });
  const worker = new DeliveryWorker(bus, () => new Map([['test', platform.channel]]), logger, [1, 1, 1], TIMING);
  await worker.start();
  await bus.run();
  stopAll = async () => {
    await bus.stop(1000);
    await worker.stop();
    journal?.close();
  };
  const draft = (text: string, replyId = 'in-1:reply') => bus.publish(createEvent<DraftEvent>({ type: 'draft', sessionId: 's', source: SOURCE, replyId, text }));
  const final = (content: string, replyId = 'in-1:reply') =>
    bus.publish(createEvent<OutboundEvent>({ id: replyId, type: 'outbound', sessionId: 's', source: SOURCE, content, inReplyTo: replyId.replace(/:reply$/, '') }));
  const delivered = (replyId = 'in-1:reply') => waitFor(() => lines.find((l) => l.msg === 'reply delivered' && l.eventId === replyId), 5000, 'the reply to be delivered');
  /** Writes `words` one by one, `everyMs` apart, as a model would; returns the whole text. */
  const write = async (words: string[], everyMs: number) => {
    let text = '';
    for (const word of words) {
      text += word;
      await draft(text);
      await new Promise((resolve) => setTimeout(resolve, everyMs)); // the model's pace, not a synchronization
    }
    return text;
  };
  return { ...platform, platform, bus, draft, final, delivered, write };
}

const gaps = (ops: Op[]) => ops.slice(1).map((op, i) => op.at - ops[i]!.at);

describe('streamed replies in the DeliveryWorker', () => {
  it('drafts become one message edited in place, paced and coalesced; the final reply makes it exactly the answer', async () => {
    const t = await setup();
    const text = await t.write(Array.from({ length: 60 }, (_, i) => `${i % 10}`), 10); // 60 characters over ~0.6 s
    await t.final(text);
    await t.delivered();
    const sends = t.ops.filter((o) => o.kind === 'send');
    const edits = t.ops.filter((o) => o.kind === 'edit');
    expect(sends[0]!.text!.length).toBeLessThan(40);
    expect(text.startsWith(sends[0]!.text!)).toBe(true); // the first draft, while the model was still writing
    expect(edits.length).toBeGreaterThanOrEqual(3);
    expect(edits.length).toBeLessThan(15); // 60 drafts coalesced
    expect(Math.min(...gaps(edits))).toBeGreaterThanOrEqual(TIMING.editIntervalMs - TIMER_SLACK_MS);
    expect(edits[0]!.at - sends[0]!.at).toBeGreaterThanOrEqual(TIMING.editIntervalMs - TIMER_SLACK_MS);
    expect(t.shown()).toEqual(splitMessage(text, 40)); // what a reply sent whole would show
    expect(sends).toHaveLength(2); // 60 characters: the second message continues the first
  });

  it('the first draft shows at once (the agent holds drafts back until the model has written for a while)', async () => {
    const t = await setup();
    await t.draft('Hello');
    await waitFor(() => t.ops.length === 1, 1000, 'the first draft message');
    expect(t.ops[0]).toMatchObject({ kind: 'send', text: 'Hello' });
  });

  it('a draft that arrives after its final reply adds nothing', async () => {
    const t = await setup();
    await t.final('Hello there, friend.');
    await t.delivered();
    await t.draft('Hello there, fr'); // arrived after the final (drafts and replies travel in different lanes)
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS)); // nothing may happen: give it the time it would need
    expect(t.ops).toEqual([{ kind: 'send', id: '1', text: 'Hello there, friend.', at: expect.any(Number) }]);
  });

  it('after a restart, the drafts shown before it are edited to the final reply instead of being shown twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mybot-drafts-'));
    try {
      const before = await setup(join(dir, 'journal.jsonl'));
      await before.draft('x'.repeat(35) + ' ' + 'y'.repeat(20));
      await waitFor(() => before.ops.filter((o) => o.kind === 'send').length === 2, 5000, 'two draft messages');
      expect(before.bus.progress('in-1:reply')).toEqual({ chunks: 0, drafts: ['1', '2'] });
      await stopAll(); // the crash: the final reply was never written
      // the same platform; the replayed turn answers differently, and shorter
      const after = await setup(join(dir, 'journal.jsonl'), before.platform);
      await after.final('A different, shorter answer.');
      await after.delivered();
      expect(after.shown()).toEqual(['A different, shorter answer.']);
      expect(after.ops.slice(2).map((o) => [o.kind, o.id])).toEqual([
        ['edit', '1'],
        ['remove', '2'],
      ]);
      expect(after.bus.progress('in-1:reply')).toBeUndefined(); // acknowledged: forgotten
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("after a restart, the replayed turn's drafts edit the messages shown before it", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mybot-drafts-'));
    try {
      const before = await setup(join(dir, 'journal.jsonl'));
      await before.draft('The first words');
      await waitFor(() => before.ops.length === 1, 5000, 'the draft message');
      await stopAll();
      const after = await setup(join(dir, 'journal.jsonl'), before.platform);
      await after.draft('Other first words');
      await waitFor(() => after.ops.length === 2, 5000, 'the draft edited');
      await after.final('Other first words, and more.');
      await after.delivered();
      expect(after.ops.map((o) => [o.kind, o.id, o.text])).toEqual([
        ['send', '1', 'The first words'],
        ['edit', '1', 'Other first words'],
        ['edit', '1', 'Other first words, and more.'],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a reply does not show before the session\'s earlier replies, however long those take: replies keep their order', async () => {
    const t = await setup();
    let release = () => {};
    t.gate.eventId = 'in-1:reply';
    t.gate.hold = new Promise((resolve) => (release = resolve));
    await t.final('The first answer.', 'in-1:reply');
    await t.draft('The second answer, being written', 'in-2:reply');
    await t.draft('The third answer, being written', 'in-3:reply');
    const pastFirstDraftTime = () => new Promise((resolve) => setTimeout(resolve, QUIET_MS)); // nothing may show: give it the time it would need
    await pastFirstDraftTime();
    expect(t.ops).toEqual([]);
    release();
    await waitFor(() => t.ops.length === 2, 5000, 'the first reply, then the second one\'s draft');
    await t.draft('The third answer, being written on', 'in-3:reply');
    await pastFirstDraftTime();
    expect(t.ops).toHaveLength(2); // the third waits for the second
    await t.final('The second answer, being written down.', 'in-2:reply');
    await t.delivered('in-2:reply');
    await waitFor(() => t.ops.length === 4, 5000, 'the third reply\'s draft');
    await t.final('The third answer, being written on.', 'in-3:reply');
    await t.delivered('in-3:reply');
    expect(t.ops.map((o) => [o.kind, o.text])).toEqual([
      ['send', 'The first answer.'],
      ['send', 'The second answer, being written'],
      ['edit', 'The second answer, being written down.'],
      ['send', 'The third answer, being written on'],
      ['edit', 'The third answer, being written on.'],
    ]);
  });

  it('a final reply shorter than its drafts (a tool round superseded them): the extra draft messages are removed', async () => {
    const t = await setup();
    const long = 'x'.repeat(35) + ' ' + 'y'.repeat(35) + ' ' + 'z'.repeat(30);
    await t.draft(long);
    await waitFor(() => t.ops.filter((o) => o.kind === 'send').length === 3, 5000, 'three draft messages');
    await t.final('Short answer.');
    await t.delivered();
    expect(t.shown()).toEqual(['Short answer.']);
    expect(t.ops.filter((o) => o.kind === 'remove').map((o) => o.id)).toEqual(['2', '3']);
  });

  it('a draft message the platform will not edit any more: the final chunk is sent as a new message', async () => {
    const t = await setup();
    await t.draft('The beginning of');
    await waitFor(() => t.ops.length === 1, 5000, 'the first draft message');
    t.refuseEdits.add('1');
    await t.final('The beginning of the answer.');
    await t.delivered();
    expect(t.ops.map((o) => [o.kind, o.text])).toEqual([
      ['send', 'The beginning of'],
      ['send', 'The beginning of the answer.'],
    ]);
  });
});
