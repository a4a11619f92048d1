import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InboundEvent, OutboundEvent } from '../../../src/core/events.ts';
import { Journal } from '../../../src/core/journal.ts';
import { LocalBus } from '../../../src/core/local-bus.ts';
import { inbound, outbound } from '../../helpers/events.ts';
import { memoryLogger } from '../../helpers/log.ts';
import { waitFor } from '../../helpers/wait.ts';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('LocalBus', () => {
  it('handles the events of one session in order, one at a time', async () => {
    const { logger } = memoryLogger();
    const bus = new LocalBus({ log: logger });
    const seen: string[] = [];
    let running = 0;
    let overlap = false;
    bus.subscribe(InboundEvent, async (e) => {
      running++;
      if (running > 1) overlap = true;
      await new Promise((r) => setTimeout(r, Math.random() * 3));
      seen.push(e.content);
      running--;
    });
    await bus.run();
    for (let i = 0; i < 20; i++) await bus.publish(inbound('s1', String(i)));
    await waitFor(() => seen.length === 20, 5000, '20 events');
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    expect(overlap).toBe(false);
  });

  it('runs different sessions concurrently, up to the limit', async () => {
    const { logger } = memoryLogger();
    const bus = new LocalBus({ log: logger, maxConcurrency: 3 });
    const gate = deferred();
    let running = 0;
    let peak = 0;
    bus.subscribe(InboundEvent, async () => {
      running++;
      peak = Math.max(peak, running);
      await gate.promise;
      running--;
    });
    await bus.run();
    for (let i = 0; i < 5; i++) await bus.publish(inbound(`s${i}`, 'x'));
    await waitFor(() => running === 3, 2000, 'three sessions running');
    expect(bus.stats().queued).toBe(2);
    gate.resolve();
    await waitFor(() => running === 0 && bus.stats().queued === 0, 2000, 'all sessions done');
    expect(peak).toBe(3);
  });

  it.each([
    [false, ['s1:a', 's1:b', 's1:c', 's2:x', 's3:y']],
    [true, ['s1:a', 's2:x', 's3:y', 's1:b', 's1:c']],
  ])('with takeTurns %s, a session with more queued keeps its slot (false) or gives it up after each event to those waiting (true)', async (takeTurns, expected) => {
    const { logger } = memoryLogger();
    const bus = new LocalBus({ log: logger, maxConcurrency: 1, takeTurns });
    const seen: string[] = [];
    bus.subscribe(InboundEvent, async (e) => {
      await new Promise((r) => setTimeout(r, 1));
      seen.push(`${e.sessionId}:${e.content}`);
    });
    for (const [session, content] of [['s1', 'a'], ['s1', 'b'], ['s1', 'c'], ['s2', 'x'], ['s3', 'y']]) await bus.publish(inbound(session!, content!));
    await bus.run();
    await waitFor(() => seen.length === 5, 2000, 'five events');
    // each session in its own order either way
    expect(seen).toEqual(expected);
  });

  it('isolates a handler that throws or rejects: others still run, the queue goes on, the error is logged with the event id', async () => {
    const { logger, lines } = memoryLogger();
    const bus = new LocalBus({ log: logger });
    const good: string[] = [];
    bus.subscribe(InboundEvent, () => {
      throw new Error('sync boom');
    });
    bus.subscribe(InboundEvent, async () => {
      throw new Error('async boom');
    });
    bus.subscribe(InboundEvent, (e) => void good.push(e.content));
    await bus.run();
    const first = inbound('s', 'a');
    await bus.publish(first);
    await bus.publish(inbound('s', 'b'));
    await waitFor(() => good.length === 2, 2000, 'both events');
    expect(good).toEqual(['a', 'b']);
    const failures = lines.filter((l) => l.msg === 'event handler failed');
    expect(failures).toHaveLength(4);
    expect(failures[0]).toMatchObject({ eventId: first.id, sessionId: 's' });
  });

  it('stops calling a handler after unsubscribe', async () => {
    const { logger } = memoryLogger();
    const bus = new LocalBus({ log: logger });
    const a: string[] = [];
    const b: string[] = [];
    const handlerA = (e: InboundEvent) => void a.push(e.content);
    bus.subscribe(InboundEvent, handlerA);
    bus.subscribe(InboundEvent, (e) => void b.push(e.content));
    await bus.run();
    await bus.publish(inbound('s', '1'));
    await waitFor(() => b.length === 1);
    bus.unsubscribe(InboundEvent, handlerA);
    await bus.publish(inbound('s', '2'));
    await waitFor(() => b.length === 2);
    expect(a).toEqual(['1']);
  });

  it('gives each event type its own handlers', async () => {
    const { logger } = memoryLogger();
    const bus = new LocalBus({ log: logger });
    const kinds: string[] = [];
    bus.subscribe(OutboundEvent, (e) => void kinds.push(`out:${e.inReplyTo}`));
    bus.subscribe(InboundEvent, (e) => void kinds.push(`in:${e.retryCount}`));
    await bus.run();
    await bus.publish(outbound('s', 'x', 'q'));
    await bus.publish(inbound('s', 'y'));
    await waitFor(() => kinds.length === 2);
    expect(kinds.sort()).toEqual(['in:0', 'out:q']);
  });

  it('puts a republished event ahead of the rest of its session', async () => {
    const { logger } = memoryLogger();
    const bus = new LocalBus({ log: logger });
    const seen: string[] = [];
    bus.subscribe(InboundEvent, async (e) => {
      seen.push(`${e.content}#${e.retryCount}`);
      if (e.content === 'a' && e.retryCount === 0) await bus.republish({ ...e, retryCount: 1 });
    });
    await bus.publish(inbound('s', 'a'));
    await bus.publish(inbound('s', 'b'));
    await bus.run();
    await waitFor(() => seen.length === 3);
    expect(seen).toEqual(['a#0', 'a#1', 'b#0']);
  });

  it('replays events that were never acknowledged, and ignores a duplicate id', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mybot-bus-'));
    const { logger } = memoryLogger();
    const journal = new Journal(join(dir, 'journal.jsonl'), { log: logger });
    const bus = new LocalBus({ log: logger, journal });
    const acked = inbound('s', 'done', 'm1');
    const open = inbound('s', 'open', 'm2');
    await bus.publish(acked);
    await bus.publish(open);
    await bus.ack(acked.id);
    expect(await bus.publish(inbound('s', 'again', 'm1'))).toBe(false);
    journal.close();

    const replayed: string[] = [];
    const journal2 = new Journal(join(dir, 'journal.jsonl'), { log: logger });
    const bus2 = new LocalBus({ log: logger, journal: journal2 });
    bus2.subscribe(InboundEvent, (e) => void replayed.push(e.id));
    await bus2.run();
    await waitFor(() => replayed.length === 1);
    expect(replayed).toEqual(['m2']);
    expect(await bus2.publish(inbound('s', 'again', 'm1'))).toBe(false);
    journal2.close();
  });

  it('a message published while channels still connect, before the replay, waits behind the older events of its session', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mybot-bus-'));
    const { logger } = memoryLogger();
    const journal = new Journal(join(dir, 'journal.jsonl'), { log: logger });
    await journal.append(inbound('s', 'older, unanswered before the crash', 'm1'));
    journal.close();

    const journal2 = new Journal(join(dir, 'journal.jsonl'), { log: logger });
    const bus = new LocalBus({ log: logger, journal: journal2 });
    const seen: string[] = [];
    bus.subscribe(InboundEvent, (e) => void seen.push(e.id));
    // Telegram is polling already while Discord still connects: a new message arrives before run()
    expect(await bus.publish(inbound('s', 'newer', 'm2'))).toBe(true);
    expect(await bus.publish(inbound('s', 'older, redelivered', 'm1'))).toBe(false);
    await bus.run();
    await waitFor(() => seen.length === 2);
    await bus.stop(1000);
    expect(seen).toEqual(['m1', 'm2']);
    journal2.close();
  });

  it('stop drains: turns in flight finish and their replies go out, queued inbound waits for the next start', async () => {
    const { logger } = memoryLogger();
    const bus = new LocalBus({ log: logger });
    const gate = deferred();
    const delivered: string[] = [];
    const started: string[] = [];
    bus.subscribe(InboundEvent, async (e) => {
      started.push(e.content);
      await gate.promise;
      await bus.publish(outbound(e.sessionId, `re:${e.content}`));
    });
    bus.subscribe(OutboundEvent, (e) => void delivered.push(e.content));
    await bus.run();
    await bus.publish(inbound('s', 'first'));
    await bus.publish(inbound('s', 'second'));
    await waitFor(() => started.length === 1);
    const stopped = bus.stop(5000);
    gate.resolve();
    await stopped;
    expect(delivered).toEqual(['re:first']);
    expect(started).toEqual(['first']);
  });

  it('takeQueued hands a handler the queued inbound events of its session, in order, up to the first one refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mybot-bus-'));
    const { logger } = memoryLogger();
    const journal = new Journal(join(dir, 'journal.jsonl'), { log: logger });
    const bus = new LocalBus({ log: logger, journal });
    const gate = deferred();
    const handled: string[] = [];
    const taken: string[][] = [];
    bus.subscribe(InboundEvent, async (e) => {
      handled.push(e.content);
      if (e.content !== 'first') return;
      await gate.promise;
      taken.push(bus.takeQueued('s', (q) => !q.content.startsWith('/')).map((q) => q.content));
      await bus.ack(e.id);
    });
    await bus.run();
    await bus.publish(inbound('s', 'first', 'm1'));
    await waitFor(() => handled.length === 1);
    for (const [content, id] of [['a', 'm2'], ['b', 'm3'], ['/cmd', 'm4'], ['c', 'm5']]) await bus.publish(inbound('s', content!, id));
    await bus.publish(inbound('other', 'elsewhere', 'm6'));
    await waitFor(() => handled.includes('elsewhere'));
    expect(bus.stats().queued).toBe(4);
    gate.resolve();
    await waitFor(() => handled.length === 4);
    expect(taken).toEqual([['a', 'b']]);
    // what was not taken is handled as before, in order; what was taken is not handled again
    expect(handled).toEqual(['first', 'elsewhere', '/cmd', 'c']);
    expect(bus.stats().queued).toBe(0);
    // taken, never acknowledged: still durable, so a restart replays them
    journal.close();
    const replay = new Journal(join(dir, 'journal.jsonl'), { log: logger });
    expect(replay.pendingEvents().map((p) => p.event.id)).toEqual(['m2', 'm3', 'm4', 'm5', 'm6']);
    replay.close();
  });

  it('takeQueued gives nothing for a session with nothing queued, or while the bus drains', async () => {
    const { logger } = memoryLogger();
    const bus = new LocalBus({ log: logger });
    const gate = deferred();
    const taken: number[] = [];
    bus.subscribe(InboundEvent, async (e) => {
      taken.push(bus.takeQueued(e.sessionId, () => true).length);
      if (e.content === 'first') await gate.promise;
      taken.push(bus.takeQueued(e.sessionId, () => true).length);
    });
    await bus.run();
    expect(bus.takeQueued('nobody', () => true)).toEqual([]);
    await bus.publish(inbound('s', 'first'));
    await waitFor(() => taken.length === 1);
    await bus.publish(inbound('s', 'second'));
    const stopped = bus.stop(5000);
    gate.resolve();
    await stopped;
    expect(taken).toEqual([0, 0]);
  });
});
