import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InboundEvent } from '../../../src/core/events.ts';
import { RedisBus, type RedisBusOptions } from '../../../src/core/redis-bus.ts';
import { partitionOf } from '../../../src/core/redis/keys.ts';
import { inbound } from '../../helpers/events.ts';
import { memoryLogger } from '../../helpers/log.ts';
import { RedisServer } from '../../helpers/redis-server.ts';
import { waitFor } from '../../helpers/wait.ts';

/** RedisBus on a real redis-server, several buses in one test process standing for the processes of a deployment. */
describe('RedisBus', () => {
  let redis: RedisServer;
  const buses: RedisBus[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterEach(async () => {
    await Promise.all(buses.splice(0).map(async (bus) => {
      await bus.stop(1000);
      await bus.close();
    }));
    await redis.command('FLUSHALL');
  });
  afterAll(async () => {
    await redis?.dispose();
  });

  it('hands a partition to a newcomer: what arrives while its last owner still blocks in a read is handled, in order', async () => {
    const options = (log: ReturnType<typeof memoryLogger>['logger']): RedisBusOptions => ({ url: redis.url, prefix: 'handover', partitions: 2, claimIdleMs: 600, maxConcurrency: 4, role: 'agent', runsAgents: true, runsChannels: false, channels: () => [], log });
    const handled: string[] = [];
    const agent = (log = memoryLogger()) => {
      const bus = new RedisBus(options(log.logger));
      bus.subscribe(InboundEvent, async (event) => {
        handled.push(event.content);
        await bus.ack(event.id);
      });
      buses.push(bus);
      return { bus, lines: log.lines };
    };
    const publisher = new RedisBus({ ...options(memoryLogger().logger), runsAgents: false });
    buses.push(publisher);
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
    // the first agent's read of its streams blocks up to a second: these land in it unless it ended before the handover
    await publish(10, 100);
    await waitFor(() => handled.length >= sent, 5000, `all ${sent} events handled (${handled.join(' ')})`);
    expect(handled).toEqual(Array.from({ length: sent }, (_, i) => String(i)));
    expect(first.lines.some((l) => l.msg === 'handed a stream over to another process')).toBe(true);
  }, 30_000);
});
