/**
 * Added latency of the Redis bus over the local bus: the same paced flow as
 * bench/telegram-latency.bench.ts (a message in at the fake Telegram → the reply's sendMessage at
 * the fake, an LLM that answers at once) through the default daemon (one process, local bus and
 * journal) and through a deployment of one gateway and one agent on a redis-server of its own.
 * Both run side by side and take the messages in turn, one at a time, so the noise of the machine
 * falls on both alike. The difference of the medians is what the hops through Redis add: the
 * inbound entry, the agent's read, the outbound entry, the gateway's read, the acknowledgements.
 */
import { FakeOpenAI } from '../test/fakes/openai.ts';
import { FakeTelegram } from '../test/fakes/telegram.ts';
import { fakesConfig } from '../test/helpers/config.ts';
import { Daemon } from '../test/helpers/daemon.ts';
import { Deployment } from '../test/helpers/deployment.ts';
import { RedisServer } from '../test/helpers/redis-server.ts';
import { timeRoundTrips } from './loopback.ts';
import { percentile, type Bench } from './table.ts';
import { watchSends } from './telegram-latency.bench.ts';

const CHATS = 50;
/** 25 messages/s in all, each daemon every other one: far under Telegram's limits, as in telegram-latency. */
const PACE_MS = 40;
const TARGET_ADDED_MS = 2;
const INFO = { MYBOT_LOG_LEVEL: 'info' };

export const run: Bench = async ({ quick }) => {
  const perSide = quick ? 100 : 1_000;
  const fakes = await Promise.all([0, 1].map(async () => ({ telegram: await FakeTelegram.start(), llm: await FakeOpenAI.start() })));
  const [local, viaRedis] = fakes as [(typeof fakes)[0], (typeof fakes)[0]];
  let daemon: Daemon | undefined;
  let redis: RedisServer | undefined;
  let deployment: Deployment | undefined;
  try {
    daemon = Daemon.spawn({ config: fakesConfig(local), env: INFO });
    await daemon.ready();
    redis = await RedisServer.start();
    deployment = new Deployment(redis, () => fakesConfig(viaRedis));
    await deployment.start('gateway', { env: INFO });
    await deployment.start('agent', { env: INFO });
    const answers = fakes.map(({ telegram }) => watchSends(telegram));
    // message i goes to side i % 2; the loop asks whether the next side is ready, then for its answer, then sends
    let next = 0;
    const times = await timeRoundTrips({
      count: 2 * perSide,
      warmup: 2 * (quick ? 10 : 20),
      paceMs: PACE_MS,
      ready: () => fakes[next % 2]!.telegram.heldPolls > 0,
      nextAnswer: () => answers[next % 2]!(),
      send: (i) => {
        fakes[i % 2]!.telegram.userSays({ chatId: 20_000 + (Math.floor(i / 2) % CHATS), text: `message ${i}` });
        next = i + 1;
      },
    });
    // the warm-up is even: the measured times alternate local, Redis from the first one
    const side = (s: number) => times.filter((_, j) => j % 2 === s).sort((a, b) => a - b);
    const [localTimes, redisTimes] = [side(0), side(1)];
    const p50 = percentile(redisTimes, 50);
    const localP50 = percentile(localTimes, 50);
    return [
      {
        figure: `redis bus: message → reply, 1 gateway + 1 agent on Redis vs the default daemon, p50 (${perSide.toLocaleString('en')} msgs each); p99 ${percentile(redisTimes, 99).toFixed(1)} ms vs ${percentile(localTimes, 99).toFixed(1)} ms local`,
        value: p50,
        unit: 'ms',
        baseline: { label: 'local bus p50', value: localP50 },
        ratio: p50 / localP50,
        target: `p50 <= local + ${TARGET_ADDED_MS} ms`,
        pass: p50 - localP50 <= TARGET_ADDED_MS,
      },
    ];
  } finally {
    await daemon?.dispose();
    await deployment?.dispose();
    await redis?.dispose();
    await Promise.all(fakes.flatMap(({ telegram, llm }) => [telegram.close(), llm.close()]));
  }
};
