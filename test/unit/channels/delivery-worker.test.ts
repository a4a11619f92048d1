import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Channel, OutgoingChunk } from '../../../src/channels/channel.ts';
import { DeliveryWorker } from '../../../src/channels/delivery-worker.ts';
import { ChannelError } from '../../../src/core/errors.ts';
import { DeadLetters } from '../../../src/core/dead-letters.ts';
import { Journal } from '../../../src/core/journal.ts';
import { LocalBus } from '../../../src/core/local-bus.ts';
import { createEvent, type TypingEvent } from '../../../src/core/events.ts';
import { outbound } from '../../helpers/events.ts';
import { memoryLogger } from '../../helpers/log.ts';
import { waitFor } from '../../helpers/wait.ts';

/**
 * A channel named 'test' whose sends fail as `failures` says, in order, then succeed. A reply is
 * one chunk; its safe form is pieces of 10 characters.
 */
function flakyChannel(failures: Array<ChannelError | Error>): Channel & { sent: string[]; chunks: OutgoingChunk[]; attempts: number; typingCalls: number; down: boolean; downAfterPiece: boolean } {
  const queue = [...failures];
  const channel = {
    name: 'test',
    typingIntervalMs: 1000,
    sent: [] as string[],
    chunks: [] as OutgoingChunk[],
    attempts: 0,
    /** Every send fails as a network error would, once the queue of failures is empty. */
    down: false,
    downAfterPiece: false,
    async start() {},
    async stop() {},
    async pause() {},
    render: (content: string, form?: 'safe') => (form === 'safe' ? (content.match(/.{1,10}/g) ?? []) : [content]),
    async send(chunk: OutgoingChunk) {
      channel.attempts++;
      const failure = queue.shift() ?? (channel.down ? new Error('ECONNRESET') : undefined);
      if (failure) throw failure;
      channel.sent.push(chunk.text);
      channel.chunks.push(chunk);
      if (chunk.safe && channel.downAfterPiece) channel.down = true;
    },
    typingCalls: 0,
    async sendTyping() {
      channel.typingCalls++;
    },
    status: () => ({ state: 'connected' as const }),
  };
  return channel;
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function setup(channel: Channel, dir = mkdtempSync(join(tmpdir(), 'mybot-delivery-'))) {
  dirs.push(dir);
  const { logger, lines } = memoryLogger();
  const journal = new Journal(join(dir, 'journal.jsonl'), { log: logger });
  const deadLetters = new DeadLetters(join(dir, 'dead-letters.jsonl'));
  const bus = new LocalBus({ log: logger, journal, deadLetters });
  const worker = new DeliveryWorker(bus, () => new Map([[channel.name, channel]]), logger, [1, 1, 1]);
  await worker.start();
  await bus.run();
  const stop = async () => {
    await bus.stop(1000);
    await worker.stop();
    journal.close();
  };
  return { bus, journal, deadLetters, lines, worker, dir, stop };
}

const tooLong = () => new ChannelError('Telegram sendMessage failed (400: Bad Request: message is too long)', false);
const blocked = () => new ChannelError('Telegram sendMessage failed (403: Forbidden: bot was blocked by the user)', false);

describe('DeliveryWorker', () => {
  it('a chunk the platform refuses for good is tried once more as plain pieces of half the size, and the reply is done', async () => {
    const channel = flakyChannel([tooLong()]);
    const { bus, journal, stop } = await setup(channel);
    const event = outbound('telegram:42', 'twenty-five characters!!');
    await bus.publish(event);
    await waitFor(() => journal.pendingCount === 0, 2000, 'the reply to be acknowledged');
    expect(channel.sent).toEqual(['twenty-fiv', 'e characte', 'rs!!']);
    expect(channel.chunks.map((c) => c.safe)).toEqual([{ piece: 0 }, { piece: 1 }, { piece: 2 }]);
    await stop();
  });

  it('a reply refused in every form goes to the dead letters with the reason, is acknowledged, and the session goes on', async () => {
    const channel = flakyChannel([blocked(), blocked()]);
    const { bus, journal, deadLetters, lines, stop } = await setup(channel);
    const refused = outbound('telegram:42', 'the reply');
    await bus.publish(refused);
    await bus.publish(outbound('telegram:42', 'the next reply'));
    await waitFor(() => channel.sent.includes('the next reply'), 2000, 'the next reply of the session');
    expect(channel.attempts).toBe(3); // whole, then safe, then the next reply: nothing retried for ever
    expect(journal.pendingCount).toBe(0);
    expect(deadLetters.size).toBe(1);
    const [letter] = readFileSync(deadLetters.path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(letter).toMatchObject({ reason: expect.stringContaining('403: Forbidden: bot was blocked'), event: { id: refused.id, content: 'the reply' } });
    expect(new Date(letter.at).getTime()).toBeGreaterThan(Date.now() - 10_000);
    expect(lines.find((l) => l.eventId === refused.id && l.level === 50)).toMatchObject({ sessionId: 'telegram:42' });
    expect(bus.stats().deadLetters).toBe(1);
    await stop();
  });

  it('a restart in the middle of the safe pieces resumes at the next piece', async () => {
    // down after the first piece, as a network outage would be
    const first = flakyChannel([tooLong()]);
    first.downAfterPiece = true;
    const a = await setup(first);
    const event = outbound('telegram:42', 'twenty-five characters!!');
    await a.bus.publish(event);
    await waitFor(() => first.sent.length === 1, 2000, 'the first piece');
    await a.stop(); // the second piece is being retried: the stop leaves it for the next start
    const second = flakyChannel([]);
    const b = await setup(second, a.dir);
    await waitFor(() => b.journal.pendingCount === 0, 2000, 'the reply to be acknowledged after the restart');
    expect([...first.sent, ...second.sent]).toEqual(['twenty-fiv', 'e characte', 'rs!!']);
    expect(second.chunks.map((c) => c.safe)).toEqual([{ piece: 1 }, { piece: 2 }]); // straight to the safe form, at the piece after the last one sent
    await b.stop();
  });

  it('a send that keeps failing with errors worth retrying is tried until it goes through, without waiting for a restart', async () => {
    const failures = Array.from({ length: 8 }, (_, i) => (i % 2 ? new ChannelError('Telegram sendMessage failed (429: Too Many Requests)', true) : new Error('ECONNRESET')));
    const channel = flakyChannel(failures);
    const { bus, journal, worker } = await setup(channel);
    await bus.publish(outbound('s', 'first'));
    await bus.publish(outbound('s', 'second'));
    await waitFor(() => channel.sent.length === 2, 5000, 'both replies');
    expect(channel.sent).toEqual(['first', 'second']);
    expect(channel.attempts).toBe(10);
    await bus.stop(1000);
    await worker.stop();
    expect(journal.pendingCount).toBe(0);
    journal.close();
  });

  it("delivering a reply late does not stop the typing the agent started meanwhile for the session's next turn", async () => {
    const channel = flakyChannel([]);
    const { bus, journal, worker } = await setup(channel);
    // the agent wrote the reply a moment ago, then began the next turn before the reply went out
    const reply = { ...outbound('s', 'the answer to the first message'), createdAt: Date.now() - 1000 };
    await bus.publish(createEvent<TypingEvent>({ type: 'typing', sessionId: 's', source: reply.source, active: true }));
    await bus.publish(reply);
    await waitFor(() => channel.sent.length === 1, 2000, 'the reply');
    // the first pulse comes at once; a stopped indicator would never be renewed
    await waitFor(() => channel.typingCalls >= 2, 3000, 'typing to be renewed after the reply');
    await bus.publish(createEvent<TypingEvent>({ type: 'typing', sessionId: 's', source: reply.source, active: false }));
    await bus.stop(1000);
    await worker.stop();
    journal.close();
  });
});
