/**
 * Typing: from a user's message leaving the fake platform to the first typing request reaching it,
 * for answers that take a while (fake LLM 1 s), with the default config. The indicator waits a
 * grace period first (an instant answer should not flash it), and must show within 500 ms. Also
 * counted: typing requests that reached the platform after their reply (must be none: "typing…"
 * would show under the answer).
 *
 * Messages go to chats of their own, 100 ms apart, so several are being answered at once, as in a
 * busy bot; the platforms' rate limits are far away.
 */
import { FakeDiscord } from '../test/fakes/discord.ts';
import { FakeOpenAI } from '../test/fakes/openai.ts';
import { FakeTelegram } from '../test/fakes/telegram.ts';
import { fakesConfig } from '../test/helpers/config.ts';
import { Daemon } from '../test/helpers/daemon.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { percentile, type BenchRow } from './table.ts';
import type { Bench } from './table.ts';

const LLM_MS = 1_000;
const GAP_MS = 100;
const TARGET_MS = 500;

interface Sample {
  /** Message to first typing request, at the fake. */
  delay: number;
  /** Typing requests that reached the fake after the reply did. */
  late: number;
}

export const run: Bench = async ({ quick }) => {
  const n = quick ? 8 : 60;
  const [telegram, discord, llm] = await Promise.all([FakeTelegram.start(), FakeDiscord.start(), FakeOpenAI.start()]);
  const daemon = await Daemon.start({ config: fakesConfig({ llm, telegram, discord }), env: { MYBOT_LOG_LEVEL: 'info' } });
  try {
    llm.setLatency(LLM_MS);
    const tg = await measure(n, (i) => {
      const chatId = 50_000 + i;
      const sentAt = Date.now();
      telegram.userSays({ chatId, text: `think ${i}` });
      return async () => {
        const replyAt = await waitFor(() => telegram.requests.find((r) => r.method === 'sendMessage' && Number(r.params.chat_id) === chatId && r.status === 200)?.at, 30_000, 'a reply');
        const typing = telegram.chatActions.filter((a) => a.chatId === chatId).map((a) => a.at);
        return sample(sentAt, typing, replyAt);
      };
    });
    const dc = await measure(n, (i) => {
      const channel = discord.dmChannelFor(String(880_000_000_000_000_000n + BigInt(i)), `typist${i}`);
      const sentAt = Date.now();
      discord.userSays({ channelId: channel.id, content: `think ${i}` });
      return async () => {
        const replyAt = await waitFor(() => discord.requests.find((r) => r.method === 'POST' && r.path === `/channels/${channel.id}/messages` && r.status === 200)?.at, 30_000, 'a reply');
        const typing = discord.typingCalls.filter((t) => t.channelId === channel.id).map((t) => t.at);
        return sample(sentAt, typing, replyAt);
      };
    });
    return [...rows('telegram', tg), ...rows('discord', dc)];
  } finally {
    await daemon.dispose();
    await Promise.all([telegram.close(), discord.close(), llm.close()]);
  }
};

/** Starts `n` conversations GAP_MS apart, then collects what each saw. */
async function measure(n: number, start: (i: number) => () => Promise<Sample>): Promise<Sample[]> {
  const pending: Array<() => Promise<Sample>> = [];
  for (let i = 0; i < n; i++) {
    pending.push(start(i));
    await new Promise((resolve) => setTimeout(resolve, GAP_MS)); // the users' pace
  }
  return Promise.all(pending.map((collect) => collect()));
}

function sample(sentAt: number, typing: number[], replyAt: number): Sample {
  if (typing.length === 0) throw new Error('no typing before a reply that took a second');
  return { delay: typing[0]! - sentAt, late: typing.filter((at) => at > replyAt).length };
}

function rows(platform: string, samples: Sample[]): BenchRow[] {
  const delays = samples.map((s) => s.delay).sort((a, b) => a - b);
  const late = samples.reduce((sum, s) => sum + s.late, 0);
  return [50, 99].map((p) => {
    const value = percentile(delays, p);
    return {
      figure: `${platform}: typing shown after a message, LLM ${LLM_MS} ms, default config, p${p} (${samples.length} msgs); typing after the reply: ${late}`,
      value,
      unit: 'ms',
      target: `<= ${TARGET_MS} ms, none after the reply`,
      pass: value <= TARGET_MS && late === 0,
    };
  });
}
