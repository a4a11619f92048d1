/**
 * Added latency of the Telegram path: from an update reaching the daemon's held getUpdates to the
 * reply's sendMessage reaching the fake, with an instant fake LLM, minus the fake's own loopback
 * round trip (a getMe from this process, measured in the same run).
 *
 * Messages go one at a time, paced under Telegram's ~30 messages/s per bot and spread over 50
 * chats (~1 message/s per chat), so the throttler the channel uses never has to hold one back:
 * the figure is the pipeline's latency, not a rate limit. The daemon logs at info, as in production.
 */
import { request, Agent } from 'node:http';
import { FakeOpenAI } from '../test/fakes/openai.ts';
import { FakeTelegram, type RecordedRequest } from '../test/fakes/telegram.ts';
import { Daemon } from '../test/helpers/daemon.ts';
import { percentile, type Bench, type BenchRow } from './table.ts';

const CHATS = 50;
/** 25 messages/s: under the global 30/s, so no send waits for the throttler's reservoir. */
const PACE_MS = 40;
const WARMUP = 20;
const TARGET_P50_MS = 3;
const TARGET_P99_MS = 15;

export const run: Bench = async ({ quick }) => {
  const n = quick ? 100 : 1_000;
  const [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
  const daemon = await Daemon.start({
    config: { llm: { api_base: llm.url, model: 'fake', max_retries: 0 }, channels: { telegram: { enabled: true, bot_token: telegram.token, api_root: telegram.apiRoot } } },
    env: { MYBOT_LOG_LEVEL: 'info' },
  });
  try {
    const arrived = watchSends(telegram);
    const samples: number[] = [];
    let nextAt = 0;
    for (let i = 0; i < WARMUP + n; i++) {
      await pace(nextAt - performance.now());
      // the daemon asks for the next batch once the last update was handled: inject into a held poll
      await until(() => telegram.heldPolls > 0);
      nextAt = performance.now() + PACE_MS;
      const reply = arrived.next();
      const t0 = performance.now();
      telegram.userSays({ chatId: 10_000 + (i % CHATS), text: `message ${i}` });
      const t1 = await reply;
      if (i >= WARMUP) samples.push(t1 - t0);
    }
    const rtt = await loopbackRoundTrips(telegram, 200);
    const added = samples.map((s) => s - rtt).sort((a, b) => a - b);
    const row = (p: number, target: number): BenchRow => {
      const value = percentile(added, p);
      return {
        figure: `telegram: added latency update → reply, p${p} (${n} msgs)`,
        value,
        unit: 'ms',
        baseline: { label: 'fake round trip', value: rtt },
        target: `p${p} <= ${target} ms`,
        pass: value <= target,
      };
    };
    return [row(50, TARGET_P50_MS), row(99, TARGET_P99_MS)];
  } finally {
    await daemon.dispose();
    await Promise.all([telegram.close(), llm.close()]);
  }
};

/** Resolves, one sendMessage at a time, with the moment its request reached the fake. */
function watchSends(telegram: FakeTelegram): { next(): Promise<number> } {
  let waiter: ((at: number) => void) | undefined;
  const push = telegram.requests.push.bind(telegram.requests);
  // the fake records a request as soon as its headers arrive, with the method already known
  telegram.requests.push = (...records: RecordedRequest[]) => {
    const at = performance.now();
    if (waiter && records.some((r) => r.method === 'sendMessage')) {
      const resolve = waiter;
      waiter = undefined;
      resolve(at);
    }
    return push(...records);
  };
  return { next: () => new Promise<number>((resolve) => (waiter = resolve)) };
}

/** Median of `count` getMe round trips from this process over a kept-alive connection. */
async function loopbackRoundTrips(telegram: FakeTelegram, count: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = new URL(`${telegram.apiRoot}/bot${telegram.token}/getMe`);
  const once = () =>
    new Promise<number>((resolve, reject) => {
      const start = performance.now();
      const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': 2 } }, (res) => {
        res.resume();
        res.on('end', () => resolve(performance.now() - start));
      });
      req.on('error', reject);
      req.end('{}');
    });
  const times: number[] = [];
  for (let i = 0; i < count + 10; i++) times.push(await once());
  agent.destroy();
  return percentile(times.slice(10).sort((a, b) => a - b), 50);
}

/** Keeps the message rate under Telegram's limits (a load setting, not a wait for a condition). */
function pace(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** Waits for a condition by yielding to the event loop, not by sleeping a fixed time. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}
