/**
 * Events/s through the Redis bus (src/core/redis-bus.ts) in this process, against a bare loop on
 * the same client (ioredis) and the same redis-server: XADD each event to one stream, XREADGROUP
 * (COUNT, BLOCK) on another connection, XACK each one handled. Both are fed as bus.bench.ts feeds
 * the local bus (inbound events of 100 sessions, at most a window of them unhandled), do the same
 * light work per event, and count an event handled once its acknowledgement is back. What the bus
 * adds: the dedupe record and the entry in one script, 32 partition streams, the lanes (per-session
 * order, concurrency), and the deletion of the entry with its acknowledgement.
 */
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { InboundEvent } from '../src/core/events.ts';
import { RedisBus } from '../src/core/redis-bus.ts';
import { RedisServer } from '../test/helpers/redis-server.ts';
import { feeder, makeEvents, work } from './bus.bench.ts';
import { redisCpuMs } from './redis-rig.ts';
import type { Bench } from './table.ts';

const TARGET = 2;
const STREAM = 'bare:in';
const GROUP = 'bare';
/** As the bus reads. */
const READ_COUNT = 256;
const BLOCK_MS = 1000;

interface Contest {
  ms: number;
  /** redis-server's CPU time over the run, in ms. */
  redisCpuMs: number;
  /** This process's CPU time over the run, in ms. */
  ownCpuMs: number;
}

type Entries = Array<[string, Array<[string, string[]]>]> | null;

async function bare(url: string, events: InboundEvent[]): Promise<number> {
  const cmd = new Redis(url);
  const reader = new Redis(url);
  try {
    await cmd.xgroup('CREATE', STREAM, GROUP, '0', 'MKSTREAM');
    const feed = feeder(events, (e) => void cmd.xadd(STREAM, '*', 'e', JSON.stringify(e)));
    let done = false;
    const reading = (async () => {
      while (!done) {
        const reply = (await reader.call('XREADGROUP', 'GROUP', GROUP, 'bench', 'COUNT', READ_COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', STREAM, '>')) as Entries;
        for (const [, list] of reply ?? []) {
          for (const [entryId, fields] of list) {
            work(JSON.parse(fields[1]!) as InboundEvent);
            void cmd.xack(STREAM, GROUP, entryId).then(feed.handled);
          }
        }
      }
    })();
    const start = performance.now();
    feed.start();
    await feed.finished;
    const ms = performance.now() - start;
    done = true;
    await reading;
    return ms;
  } finally {
    cmd.disconnect();
    reader.disconnect();
  }
}

async function bus(url: string, events: InboundEvent[]): Promise<number> {
  const redisBus = new RedisBus({
    url,
    prefix: 'bench',
    partitions: 32,
    claimIdleMs: 10_000,
    maxConcurrency: 256,
    role: 'agent',
    runsAgents: true,
    runsChannels: false,
    channels: () => [],
    log: pino({ level: 'silent' }),
  });
  try {
    const feed = feeder(events, (e) => void redisBus.publish(e));
    redisBus.subscribe(InboundEvent, (e) => {
      work(e);
      void redisBus.ack(e.id).then(feed.handled);
    });
    // takes every partition's lease: the only agent of its deployment
    await redisBus.run();
    const start = performance.now();
    feed.start();
    await feed.finished;
    const ms = performance.now() - start;
    await redisBus.stop(1000);
    return ms;
  } finally {
    await redisBus.close();
  }
}

/** Runs one contestant on an empty Redis and measures its time and the CPU it and Redis used. */
async function contest(probe: Redis, run: () => Promise<number>): Promise<Contest> {
  await probe.flushall();
  const redisBefore = await redisCpuMs(probe);
  const ownBefore = process.cpuUsage();
  const ms = await run();
  const own = process.cpuUsage(ownBefore);
  return { ms, redisCpuMs: (await redisCpuMs(probe)) - redisBefore, ownCpuMs: (own.user + own.system) / 1000 };
}

export const run: Bench = async ({ quick }) => {
  const n = quick ? 10_000 : 100_000;
  const rounds = 3;
  const redis = await RedisServer.start();
  const probe = new Redis(redis.url);
  try {
    let best: Record<'bare' | 'bus', Contest | undefined> = { bare: undefined, bus: undefined };
    const keep = (old: Contest | undefined, next: Contest) => (old && old.ms <= next.ms ? old : next);
    // interleaved rounds, best of each: the machine's noise hits both alike
    for (let r = 0; r < rounds; r++) {
      best = { ...best, bare: keep(best.bare, await contest(probe, () => bare(redis.url, makeEvents(n)))) };
      best = { ...best, bus: keep(best.bus, await contest(probe, () => bus(redis.url, makeEvents(n)))) };
    }
    const [b, m] = [best.bare!, best.bus!];
    const rate = (ms: number) => n / (ms / 1000);
    const us = (ms: number) => ((ms * 1000) / n).toFixed(0);
    const ratio = m.ms / b.ms;
    return [
      {
        figure: `redis bus throughput, in-process, ${n.toLocaleString('en')} events; CPU per event: redis-server ${us(m.redisCpuMs)} µs vs ${us(b.redisCpuMs)} µs bare, this process ${us(m.ownCpuMs)} µs vs ${us(b.ownCpuMs)} µs bare`,
        value: rate(m.ms),
        unit: 'events/s',
        baseline: { label: 'bare XADD/XREADGROUP/XACK, ioredis', value: rate(b.ms) },
        ratio,
        target: `<= ${TARGET}x slower`,
        pass: ratio <= TARGET,
      },
    ];
  } finally {
    probe.disconnect();
    await redis.dispose();
  }
};
