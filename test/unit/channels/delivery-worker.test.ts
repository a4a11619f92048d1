import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Channel, OutgoingChunk } from '../../../src/channels/channel.ts';
import { DeliveryWorker } from '../../../src/channels/delivery-worker.ts';
import { ChannelError } from '../../../src/core/errors.ts';
import { Journal } from '../../../src/core/journal.ts';
import { LocalBus } from '../../../src/core/local-bus.ts';
import { createEvent, type TypingEvent } from '../../../src/core/events.ts';
import { outbound } from '../../helpers/events.ts';
import { memoryLogger } from '../../helpers/log.ts';
import { waitFor } from '../../helpers/wait.ts';

/** A channel named 'test' whose sends fail as `failures` says, in order, then succeed. */
function flakyChannel(failures: Array<ChannelError | Error>): Channel & { sent: string[]; attempts: number; typingCalls: number } {
  const queue = [...failures];
  const channel = {
    name: 'test',
    typingIntervalMs: 1000,
    sent: [] as string[],
    attempts: 0,
    async start() {},
    async stop() {},
    async pause() {},
    render: (content: string) => [content],
    async send(chunk: OutgoingChunk) {
      channel.attempts++;
      const failure = queue.shift();
      if (failure) throw failure;
      channel.sent.push(chunk.text);
    },
    typingCalls: 0,
    async sendTyping() {
      channel.typingCalls++;
    },
    status: () => ({ state: 'connected' as const }),
  };
  return channel;
}

async function setup(channel: Channel) {
  const { logger, lines } = memoryLogger();
  const journal = new Journal(join(mkdtempSync(join(tmpdir(), 'mybot-delivery-')), 'journal.jsonl'), { log: logger });
  const bus = new LocalBus({ log: logger, journal });
  const worker = new DeliveryWorker(bus, () => new Map([[channel.name, channel]]), logger, [1, 1, 1]);
  await worker.start();
  await bus.run();
  return { bus, journal, lines, worker };
}

describe('DeliveryWorker', () => {
  it('a send the platform refuses for good stays unacknowledged for the next start, logged with its session id', async () => {
    const channel = flakyChannel([new ChannelError('Telegram sendMessage failed (403: Forbidden: bot was blocked by the user)', false)]);
    const { bus, journal, lines, worker } = await setup(channel);
    const event = outbound('telegram:42', 'the reply');
    await bus.publish(event);
    const logged = await waitFor(() => lines.find((l) => l.eventId === event.id && l.level === 50), 2000, 'the failure to be logged');
    expect(logged).toMatchObject({ sessionId: 'telegram:42' });
    await bus.stop(1000);
    await worker.stop();
    expect(channel.attempts).toBe(1); // not retried: it would fail the same way
    expect(journal.pendingEvents().map((p) => p.event.id)).toEqual([event.id]);
    journal.close();
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
