/**
 * What the default receipt (ack_reaction: 👀 on group messages addressed to the bot) costs a
 * reply: the time from a group mention reaching the daemon's held getUpdates to the reply's
 * sendMessage reaching the fake, with an instant fake LLM, with receipts on (the default) and off
 * in the same run. Each message goes to a group of its own, paced under Telegram's 30/s, so no
 * limit holds one back: the difference is the reaction call beside the reply, nothing else.
 */
import { FakeOpenAI } from '../test/fakes/openai.ts';
import { FakeTelegram } from '../test/fakes/telegram.ts';
import { fakesConfig } from '../test/helpers/config.ts';
import { Daemon } from '../test/helpers/daemon.ts';
import { timeRoundTrips } from './loopback.ts';
import { percentile, type Bench } from './table.ts';
import { watchSends } from './telegram-latency.bench.ts';

const PACE_MS = 40;
/** The receipt may cost a reply at most this much at p50. */
const TARGET_MS = 1;

export const run: Bench = async ({ quick }) => {
  const n = quick ? 50 : 500;
  const on = await groupReplyLatency(n, '👀');
  const off = await groupReplyLatency(n, '');
  const value = percentile(on, 50) - percentile(off, 50);
  return [
    {
      figure: `telegram groups: reply p50 with the default ack_reaction, minus without (${n} msgs each)`,
      value,
      unit: 'ms',
      baseline: { label: 'p50 without receipts', value: percentile(off, 50) },
      target: `<= ${TARGET_MS} ms`,
      pass: value <= TARGET_MS,
    },
  ];
};

async function groupReplyLatency(n: number, ackReaction: string): Promise<number[]> {
  const [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
  const config = fakesConfig({ llm, telegram });
  Object.assign((config.channels as { telegram: Record<string, unknown> }).telegram, { ack_reaction: ackReaction });
  const daemon = await Daemon.start({ config, env: { MYBOT_LOG_LEVEL: 'info' } });
  try {
    const samples = await timeRoundTrips({
      count: n,
      warmup: 10,
      paceMs: PACE_MS,
      ready: () => telegram.heldPolls > 0,
      send: (i) => telegram.userSays({ chatId: -1_002_000_000_000 - i, userId: 4242, mention: true, text: `message ${i}` }),
      nextAnswer: watchSends(telegram),
    });
    return samples.sort((a, b) => a - b);
  } finally {
    await daemon.dispose();
    await Promise.all([telegram.close(), llm.close()]);
  }
}
