import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeOpenAI, type FakeRequest } from '../fakes/openai.ts';
import { FakeTelegram, type RecordedRequest } from '../fakes/telegram.ts';
import { fakesConfig } from '../helpers/config.ts';
import { Daemon } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/wait.ts';

const GROUP = -1_001_000_000_031;
const FORUM = -1_001_000_000_032;
const CHAT_A = 3101;
const CHAT_B = 3102;

/** The question number in the last user message ("question 7" → 7). */
function questionOf(req: FakeRequest): number {
  const user = [...req.messages].reverse().find((m) => m?.role === 'user');
  return Number(/question (\d+)/.exec(String(user?.content))?.[1] ?? 0);
}

/**
 * Every send to a Telegram chat goes through that chat's one queue: replies produced at once keep
 * their order within Telegram's limits, and a 429 pauses that chat alone, for every producer.
 */
describe('outbound queues per chat, end to end against the fake Telegram', () => {
  let telegram: FakeTelegram;
  let llm: FakeOpenAI;
  let daemon: Daemon;
  const toChat = (chatId: number, from = 0): RecordedRequest[] => telegram.requests.slice(from).filter((r) => Number(r.params.chat_id) === chatId);

  beforeAll(async () => {
    [telegram, llm] = await Promise.all([FakeTelegram.start(), FakeOpenAI.start()]);
    const config = fakesConfig({ llm, telegram });
    // receipts go beside the queue and ignore 429s by design (test/e2e/receipts.test.ts): these tests count the queue's own calls
    Object.assign((config.channels as { telegram: Record<string, unknown> }).telegram, { ack_reaction: '' });
    daemon = await Daemon.start({ config });
  });

  beforeEach(() => llm.setResponder((req) => ({ content: `echo: ${[...req.messages].reverse().find((m) => m.role === 'user')?.content}` })));

  afterAll(async () => {
    await daemon?.dispose();
    await Promise.all([telegram?.close(), llm?.close()]);
  });

  it('10 replies to one group, produced at once, arrive in order without one 429 from a fake holding it to 20 a minute', async () => {
    telegram.limitGroupSends(20);
    for (let i = 0; i < 10; i++) telegram.userSays({ chatId: GROUP, userId: 4100 + i, firstName: `User${i}`, mention: true, text: `question ${i}` });
    const replies = await waitFor(() => telegram.botMessages(GROUP).length >= 10 && telegram.botMessages(GROUP), 20_000, '10 replies in the group');
    expect(replies.map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `echo: question ${i}`));
    expect(toChat(GROUP).filter((r) => r.status === 429)).toEqual([]);
    telegram.limitGroupSends(undefined);
  });

  it('a 429 pauses the whole chat, for every session sending to it, and each reply still arrives once, in the order produced', async () => {
    const from = telegram.requests.length;
    const asked = llm.requests.length;
    // ten forum topics are ten sessions answered side by side; their replies come out of the LLM 100 ms apart
    llm.setResponder((req) => ({ content: `echo: question ${questionOf(req)}`, delayMs: 300 + questionOf(req) * 100 }));
    for (let i = 0; i < 10; i++) telegram.userSays({ chatId: FORUM, chatType: 'supergroup', isForum: true, threadId: 20 + i, userId: 4200 + i, mention: true, text: `question ${i}` });
    await llm.waitForRequests(asked + 1);
    telegram.rateLimitChat(FORUM, 2);
    const replies = await waitFor(() => telegram.botMessages(FORUM).length >= 10 && telegram.botMessages(FORUM), 20_000, '10 replies in the forum');

    expect(replies.map((m) => m.text)).toEqual(Array.from({ length: 10 }, (_, i) => `echo: question ${i}`));
    expect(replies.map((m) => m.message_thread_id)).toEqual(Array.from({ length: 10 }, (_, i) => 20 + i));
    // the fake answers 429 to anything sent to the chat before retry_after has passed: one means all waited
    const calls = toChat(FORUM, from);
    const limited = calls.filter((r) => r.status === 429);
    expect(limited).toHaveLength(1);
    const next = calls.find((r) => r.at > limited[0]!.at)!;
    expect(next.at - limited[0]!.at).toBeGreaterThanOrEqual(1_950);
    await daemon.waitForLog('Telegram asked to slow down (429): pausing sends to this chat only', (l) => l['chatId'] === String(FORUM));
  });

  it('a 429 with retry_after in one chat does not delay the reply in another', async () => {
    const from = telegram.requests.length;
    telegram.rateLimitChat(CHAT_A, 5);
    telegram.userSays({ chatId: CHAT_A, text: 'question in A' });
    telegram.userSays({ chatId: CHAT_B, text: 'question in B' });
    const inB = await waitFor(() => telegram.botMessages(CHAT_B)[0], 10_000, 'the reply in B');
    const inA = await waitFor(() => telegram.botMessages(CHAT_A)[0], 15_000, 'the reply in A');
    expect([inA.text, inB.text]).toEqual(['echo: question in A', 'echo: question in B']);

    const limited = toChat(CHAT_A, from).find((r) => r.status === 429)!;
    const sentA = toChat(CHAT_A, from).find((r) => r.method === 'sendMessage' && r.status === 200)!;
    const sentB = toChat(CHAT_B, from).find((r) => r.method === 'sendMessage' && r.status === 200)!;
    expect(sentA.at - limited.at).toBeGreaterThanOrEqual(4_950);
    expect(sentB.at - limited.at).toBeLessThan(2_000);
    expect(toChat(CHAT_A, from).filter((r) => r.status === 429)).toHaveLength(1);
  });
});
