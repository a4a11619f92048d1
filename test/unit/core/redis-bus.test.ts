import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InboundEvent, OutboundEvent } from '../../../src/core/events.ts';
import { RedisBus, type RedisBusOptions } from '../../../src/core/redis-bus.ts';
import { partitionOf } from '../../../src/core/redis/keys.ts';
import { inbound, outbound } from '../../helpers/events.ts';
import { memoryLogger } from '../../helpers/log.ts';
import { RedisServer } from '../../helpers/redis-server.ts';
import { waitFor } from '../../helpers/wait.ts';

/** RedisBus instances as the processes of a deployment hold them, on the test's own redis-server. */
describe('RedisBus', () => {
  let redis: RedisServer;
  const buses: RedisBus[] = [];

  function bus(options: Partial<RedisBusOptions> = {}): RedisBus {
    const made = new RedisBus({
      url: redis.url,
      prefix: 'unit',
      partitions: 8,
      claimIdleMs: 600,
      maxConcurrency: 16,
      role: 'agent',
      runsAgents: true,
      runsChannels: false,
      channels: () => [],
      log: memoryLogger().logger,
      ...options,
    });
    buses.push(made);
    return made;
  }

  /** A process gone without a word (SIGKILL): its connections drop, its leases stay until it is found silent. */
  async function die(gone: RedisBus): Promise<void> {
    await gone.close();
  }

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterEach(async () => {
    await Promise.all(buses.splice(0).map(async (b) => (await b.stop(100).catch(() => undefined), await b.close())));
    await redis.command('FLUSHALL');
  });
  afterAll(async () => {
    await redis?.dispose();
  });

  it('spreads sessions over partitions the same way on every process', () => {
    expect(partitionOf('telegram:42', 32)).toBe(partitionOf('telegram:42', 32));
    const used = new Set(Array.from({ length: 400 }, (_, i) => partitionOf(`telegram:${-1000 - i}`, 32)));
    expect(used.size).toBe(32);
  });

  it('publishes an event id once: a redelivery is a duplicate, handled by nobody', async () => {
    const agent = bus();
    const seen: string[] = [];
    agent.subscribe(InboundEvent, async (e) => {
      seen.push(e.content);
      await agent.ack(e.id);
    });
    await agent.run();
    expect(await agent.publish(inbound('s1', 'first', 'tg:1:1'))).toBe(true);
    expect(await agent.publish(inbound('s1', 'again', 'tg:1:1'))).toBe(false);
    expect(await agent.publish(inbound('s1', 'second', 'tg:1:2'))).toBe(true);
    await waitFor(() => seen.length === 2, 5000, 'two events handled');
    expect(seen).toEqual(['first', 'second']);
    // acknowledged entries leave their stream
    await waitFor(async () => (await redis.command('XLEN', `unit:in:${partitionOf('s1', 8)}`)) === ':0\r\n', 5000, 'the stream to be empty');
  });

  it('two agents share the sessions; each session is handled in order, every event once', async () => {
    const publisher = bus({ runsAgents: false });
    const handled = new Map<string, string[]>();
    const byAgent = [0, 0];
    for (const [i, agent] of [bus(), bus()].entries()) {
      agent.subscribe(InboundEvent, async (e) => {
        byAgent[i]!++;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
        handled.set(e.sessionId, [...(handled.get(e.sessionId) ?? []), e.content]);
        await agent.ack(e.id);
      });
      await agent.run();
    }
    await publisher.run();
    await waitFor(() => buses[1]!.stats().unacked === 0 && buses.slice(1).every((b) => (b as unknown as { ownership: { reading(): string[] } }).ownership.reading().length === 4), 10_000, 'the partitions split 4 and 4');
    for (let m = 0; m < 10; m++) for (let s = 0; s < 20; s++) await publisher.publish(inbound(`s${s}`, `m${m}`));
    await waitFor(() => [...handled.values()].reduce((n, list) => n + list.length, 0) === 200, 10_000, "200 events handled");
    for (let s = 0; s < 20; s++) expect(handled.get(`s${s}`)).toEqual(Array.from({ length: 10 }, (_, m) => `m${m}`));
    expect(byAgent.every((n) => n > 0), `events per agent: ${byAgent.join(', ')}`).toBe(true);
  });

  it('hands a partition to a newcomer: what arrives while its last owner still blocks in a read is handled, in order', async () => {
    const handled: string[] = [];
    const agent = () => {
      const log = memoryLogger();
      const made = bus({ partitions: 2, log: log.logger });
      made.subscribe(InboundEvent, async (e) => {
        handled.push(e.content);
        await made.ack(e.id);
      });
      return { bus: made, lines: log.lines };
    };
    const publisher = bus({ partitions: 2, runsAgents: false });
    const first = agent();
    const newcomer = agent();
    // partition n goes to the n-th agent by id: the session lives on the partition the newcomer will take
    const moving = [first.bus.id, newcomer.bus.id].sort().indexOf(newcomer.bus.id);
    const sessionId = Array.from({ length: 64 }, (_, i) => `s${i}`).find((s) => partitionOf(s, 2) === moving)!;
    await Promise.all([publisher.run(), first.bus.run()]);
    let sent = 0;
    const publish = async (count: number, gapMs: number) => {
      for (const end = sent + count; sent < end; sent++) {
        await publisher.publish(inbound(sessionId, String(sent)));
        await new Promise((resolve) => setTimeout(resolve, gapMs));
      }
    };
    await publish(5, 5);
    await waitFor(() => handled.length === 5, 5000, 'the first agent to handle the first events');
    await newcomer.bus.run();
    await waitFor(() => newcomer.lines.some((l) => l.msg === 'streams changed'), 10_000, 'the newcomer to take the stream');
    // the first agent's read of its other partition blocks up to a second: these land in it unless it ended before the handover
    await publish(10, 100);
    await waitFor(() => handled.length >= sent, 5000, `all ${sent} events handled (${handled.join(' ')})`);
    expect(handled).toEqual(Array.from({ length: sent }, (_, i) => String(i)));
    expect(first.lines.some((l) => l.msg === 'handed a stream over to another process')).toBe(true);
  });

  it('takes over what a silent agent left unfinished, with the retry count it had reached', async () => {
    const doomed = bus();
    let republished = false;
    doomed.subscribe(InboundEvent, async (e) => {
      // fails once, is handed back, then hangs: the process dies in the middle of its second try
      if (!republished) {
        republished = true;
        await doomed.republish({ ...e, retryCount: e.retryCount + 1 });
      }
    });
    await doomed.run();
    await doomed.publish(inbound('s1', 'unfinished', 'tg:9:1'));
    await waitFor(() => republished && doomed.stats().unacked === 1, 5000, 'the event to be in flight');
    const diedAt = Date.now();
    await die(doomed);
    const heir = bus();
    const taken: Array<{ content: string; retryCount: number; at: number }> = [];
    heir.subscribe(InboundEvent, async (e) => {
      taken.push({ content: e.content, retryCount: e.retryCount, at: Date.now() });
      await heir.ack(e.id);
    });
    await heir.run();
    await waitFor(() => taken.length === 1, 10_000, 'the heir to handle the event');
    expect(taken[0]).toMatchObject({ content: 'unfinished', retryCount: 1 });
    // not before the dead process was silent for claim_idle_ms
    expect(taken[0]!.at - diedAt).toBeGreaterThanOrEqual(400);
  });

  it('a new gateway resumes a reply where the dead one was: its delivery progress is in Redis', async () => {
    const gateway = (channels: string[]) => bus({ role: 'gateway', runsAgents: false, runsChannels: true, channels: () => channels });
    const first = gateway(['test']);
    const reply = outbound('s1', 'a long reply');
    first.subscribe(OutboundEvent, async (e) => {
      await first.saveProgress(e.id, { chunks: 2, drafts: ['m1', 'm2'] });
      // dies before the rest of the reply went out
    });
    await first.run();
    await first.publish(reply);
    await waitFor(() => first.progress(reply.id)?.chunks === 2, 5000, 'the progress to be saved');
    await die(first);
    const second = gateway(['test']);
    const resumed: unknown[] = [];
    second.subscribe(OutboundEvent, async (e) => {
      resumed.push(second.progress(e.id));
      await second.ack(e.id);
    });
    await second.run();
    await waitFor(() => resumed.length === 1, 10_000, 'the new gateway to take the reply');
    expect(resumed[0]).toEqual({ chunks: 2, drafts: ['m1', 'm2'] });
  });

  it('takes back what a process read of a stream after losing it (frozen past claim_idle_ms), and handles it', async () => {
    const owner = bus();
    const seen: string[] = [];
    owner.subscribe(InboundEvent, async (e) => {
      seen.push(e.content);
      await owner.ack(e.id);
    });
    await owner.run();
    const event = inbound('s1', 'read by a ghost');
    const stream = `unit:in:${partitionOf('s1', 8)}`;
    // one atomic step, so the owner's blocking read cannot take it first: added, then read by a consumer that no longer owns the stream
    const script = "redis.call('XADD', KEYS[1], '*', 'e', ARGV[1]); redis.call('XREADGROUP', 'GROUP', 'mybot', 'ghost', 'COUNT', '1', 'STREAMS', KEYS[1], '>'); return 1";
    expect(await redis.command('EVAL', script, '1', stream, JSON.stringify(event))).toBe(':1\r\n');
    await waitFor(() => seen.length === 1, 5000, 'the owner to take the entry back');
    expect(seen).toEqual(['read by a ghost']);
    await waitFor(async () => (await redis.command('XPENDING', stream, 'mybot')).startsWith('*4\r\n:0\r\n'), 5000, 'nothing pending');
  });
});
