/**
 * Added latency of the Telegram path (bench/loopback.ts): from an update reaching the daemon's
 * held getUpdates to the reply's sendMessage reaching the fake, with an instant fake LLM, minus
 * the same round trip through a relay.
 *
 * Messages go one at a time, paced under Telegram's ~30 messages/s per bot and spread over 50
 * chats (~1 message/s per chat), so the limiter the channel uses never has to hold one back:
 * the figure is the pipeline's latency, not a rate limit. The daemon logs at info, as in production.
 */
import { FakeOpenAI } from '../test/fakes/openai.ts';
import { FakeTelegram, type RecordedRequest } from '../test/fakes/telegram.ts';
import { fakesConfig } from '../test/helpers/config.ts';
import { Daemon } from '../test/helpers/daemon.ts';
import { addedLatencyRows, relayRoundTrip, timeRoundTrips, type RoundTrips } from './loopback.ts';
import type { Bench } from './table.ts';

const CHATS = 50;
/** 25 messages/s: under the global 30/s, so no send waits for the limiter. */
const PACE_MS = 40;

export const run: Bench = async ({ quick }) => {
  const n = quick ? 50 : 1_000;
  const warmup = quick ? 10 : 20;
  const [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
  const daemon = await Daemon.start({
    config: fakesConfig({ llm, telegram }),
    env: { MYBOT_LOG_LEVEL: 'info' },
  });
  try {
    const nextAnswer = watchSends(telegram);
    const roundTrips = (count: number): RoundTrips => ({
      count,
      warmup,
      paceMs: PACE_MS,
      // the client asks for the next batch once the last update was handled: inject into a held poll
      ready: () => telegram.heldPolls > 0,
      send: (i) => telegram.userSays({ chatId: 10_000 + (i % CHATS), text: `message ${i}` }),
      nextAnswer,
    });
    const samples = await timeRoundTrips(roundTrips(n));
    await daemon.dispose();
    const roundTrip = await relayRoundTrip(RELAY, [telegram.apiRoot, telegram.token], () => timeRoundTrips(roundTrips(quick ? 30 : 200)));
    return addedLatencyRows('telegram: added latency update → reply', samples, roundTrip);
  } finally {
    await daemon.dispose();
    await Promise.all([telegram.close(), llm.close()]);
  }
};

/** Resolves, one sendMessage at a time, with the moment its request reached the fake. */
export function watchSends(telegram: FakeTelegram): () => Promise<number> {
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
  return () => new Promise<number>((resolve) => (waiter = resolve));
}

/** The relay: a bare Bot API client that long-polls and answers each message with one sendMessage, nothing else. */
const RELAY = `
const [apiRoot, token] = process.argv.slice(1);
const call = (method, body) =>
  fetch(apiRoot + '/bot' + token + '/' + method, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((res) => res.json());
let offset = 0;
process.stdout.write('ready\\n');
for (;;) {
  const { result } = await call('getUpdates', { offset, timeout: 30, allowed_updates: ['message'] });
  for (const update of result) {
    offset = update.update_id + 1;
    if (update.message) call('sendMessage', { chat_id: update.message.chat.id, text: 'relay' }).catch(() => undefined);
  }
}
`;
