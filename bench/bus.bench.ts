/** Events/s through the mybot bus (in-memory and durable) vs a bare EventEmitter + array queue doing the same handler work, and the floor of any JSON-lines journal. */
import { EventEmitter } from 'node:events';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createEvent, InboundEvent, type AnyEvent } from '../src/core/events.ts';
import { Journal } from '../src/core/journal.ts';
import { LocalBus } from '../src/core/local-bus.ts';
import type { Bench, BenchRow } from './table.ts';

const SESSIONS = 100;
const silent = pino({ level: 'silent' });

/** Ids shaped as the channels make them from platform ids (`telegram:<chat>:<message>`), not random UUIDs. */
export function makeEvents(n: number): InboundEvent[] {
  return Array.from({ length: n }, (_, i) =>
    createEvent<InboundEvent>({ id: `bench:c${i % SESSIONS}:${i}`, type: 'inbound', sessionId: `s${i % SESSIONS}`, content: `message number ${i} with some text`, retryCount: 0, source: { channel: 'bench', chatId: `c${i % SESSIONS}` } }),
  );
}

/** The same work for every contestant: what a light handler does with an event (read it, route it). */
let sink = 0;
export function work(event: AnyEvent): void {
  sink += event.sessionId.length + ('content' in event ? event.content.length : 0);
}

/**
 * Publishers keep up to WINDOW events in flight and publish more as earlier ones are handled, as a
 * channel does (Telegram hands over at most 100 updates per poll): a bus is judged on its flow, not
 * on holding a backlog of the whole run. Every contestant is fed the same way.
 */
export const WINDOW = 1000;

export function feeder(events: InboundEvent[], publish: (e: InboundEvent) => void): { start: () => void; handled: () => void; finished: Promise<void> } {
  let published = 0;
  let handled = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const publishUpTo = (count: number) => {
    const end = Math.min(count, events.length);
    while (published < end) publish(events[published++]!);
  };
  return {
    start: () => publishUpTo(WINDOW),
    handled: () => {
      if (++handled === events.length) done();
      else if (handled % (WINDOW / 2) === 0) publishUpTo(handled + WINDOW);
    },
    finished,
  };
}

async function bare(events: InboundEvent[]): Promise<number> {
  const emitter = new EventEmitter();
  let queue: AnyEvent[] = [];
  let head = 0;
  let draining = false;
  const feed = feeder(events, (e) => emitter.emit('event', e));
  const drain = async () => {
    draining = true;
    // an index, not shift(): V8's shift copies the whole array once it is big (200,000 events),
    // which made this baseline quadratic, 50x slower than the bus it is there to judge
    while (head < queue.length) {
      work(queue[head++]!);
      feed.handled();
      await Promise.resolve();
    }
    queue = [];
    head = 0;
    draining = false;
  };
  emitter.on('event', (e: AnyEvent) => {
    queue.push(e);
    if (!draining) void drain();
  });
  const start = performance.now();
  feed.start();
  await feed.finished;
  return performance.now() - start;
}

async function mybot(events: InboundEvent[], durable: boolean): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'mybot-bench-bus-'));
  const journal = durable ? new Journal(join(dir, 'journal.jsonl')) : undefined;
  const bus = new LocalBus({ log: silent, ...(journal ? { journal } : {}) });
  const feed = feeder(events, (e) => void bus.publish(e));
  bus.subscribe(InboundEvent, (e) => {
    work(e);
    if (durable) void bus.ack(e.id);
    feed.handled();
  });
  await bus.run();
  const start = performance.now();
  feed.start();
  await feed.finished;
  const ms = performance.now() - start;
  journal?.close();
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

/**
 * A reference for the durable figure: only what any JSON-lines journal must do with these events,
 * the same records the journal writes here (the events published together, then the
 * acknowledgements of each round of the 100 sessions), serialised and written, with no queue, no
 * de-duplication and no bookkeeping.
 */
function serialiseAndWrite(events: InboundEvent[]): number {
  const dir = mkdtempSync(join(tmpdir(), 'mybot-bench-bus-'));
  const fd = openSync(join(dir, 'floor.jsonl'), 'a');
  const start = performance.now();
  for (let from = 0; from < events.length; from += WINDOW / 2) {
    const published = events.slice(from, from + WINDOW / 2);
    writeSync(fd, `${JSON.stringify({ t: 'E', e: published })}\n`);
    for (let round = 0; round < published.length; round += SESSIONS) {
      writeSync(fd, `${JSON.stringify({ t: 'A', ids: published.slice(round, round + SESSIONS).map((e) => e.id) })}\n`);
    }
  }
  const ms = performance.now() - start;
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

export const run: Bench = async ({ quick }) => {
  const n = quick ? 20_000 : 200_000;
  const rounds = 3;
  const best = { bare: Infinity, memory: Infinity, durable: Infinity, floor: Infinity };
  // interleaved rounds, best of each: the machine's noise hits every contestant alike
  for (let r = 0; r < rounds; r++) {
    best.bare = Math.min(best.bare, await bare(makeEvents(n)));
    best.memory = Math.min(best.memory, await mybot(makeEvents(n), false));
    best.durable = Math.min(best.durable, await mybot(makeEvents(n), true));
    best.floor = Math.min(best.floor, serialiseAndWrite(makeEvents(n)));
  }
  const rate = (ms: number) => n / (ms / 1000);
  const baseline = { label: 'EventEmitter + array', value: rate(best.bare) };
  const rows: BenchRow[] = [
    { figure: 'bus throughput, in-memory', value: rate(best.memory), unit: 'events/s', baseline, ratio: best.memory / best.bare, target: '<= 2x slower', pass: best.memory / best.bare <= 2 },
    { figure: 'bus throughput, durable (journal)', value: rate(best.durable), unit: 'events/s', baseline, ratio: best.durable / best.bare, target: '<= 10x slower', pass: best.durable / best.bare <= 10 },
    { figure: 'bus durable floor: its journal records serialised and written, nothing else', value: rate(best.floor), unit: 'events/s', baseline, ratio: best.floor / best.bare, target: 'reference' },
  ];
  if (sink < 0) throw new Error('unreachable');
  return rows;
};
