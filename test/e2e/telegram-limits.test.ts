import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeOpenAI } from '../fakes/openai.ts';
import { FakeTelegram } from '../fakes/telegram.ts';
import { fakesConfig } from '../helpers/config.ts';
import { Daemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

const GROUP = -1_001_000_000_020;
const USER = 2001;
const MESSAGES = 25;

/**
 * Telegram's 20 messages a minute per group, with the daemon's own limits: the fake answers a 21st
 * send within a rolling minute with 429, so no 429 at all means the daemon held the replies back.
 * Slow by nature: the replies past the 20th wait for the minute to pass.
 */
describe('Telegram flood limits, end to end', () => {
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  let daemon: Daemon;

  beforeAll(async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    daemon = await Daemon.start({
      config: fakesConfig({ llm, telegram }),
    });
  });

  afterAll(async () => {
    await daemon?.dispose();
    await Promise.all([telegram?.close(), llm?.close()]);
  });

  it(`answers ${MESSAGES} mentions in one group within its 20 a minute, without a single 429`, { timeout: 100_000 }, async () => {
    telegram.limitGroupSends(20);
    // a member each: one user's messages queued in one chat would be answered as one turn
    for (let i = 0; i < MESSAGES; i++) telegram.userSays({ chatId: GROUP, userId: USER + i, mention: true, text: `question ${i}` });
    const replies = await waitFor(() => telegram.botMessages(GROUP).length >= MESSAGES && telegram.botMessages(GROUP), 90_000, `${MESSAGES} replies`);
    const sends = telegram.requests.filter((r) => r.method === 'sendMessage' && Number(r.params.chat_id) === GROUP);
    expect(sends.filter((r) => r.status === 429)).toHaveLength(0);
    expect(replies.map((m) => m.text)).toEqual(Array.from({ length: MESSAGES }, (_, i) => `echo: question ${i}`));
    expect(sends[20]!.at - sends[0]!.at).toBeGreaterThanOrEqual(60_000);
  });
});
